/* geocorr — geometry-aware semantic correspondence (Zhang et al., CVPR 2024) in C.
 *
 * The one public header. Conventions:
 *  - every call that can fail returns gc_status; gc_last_error() then holds a message that names
 *    the file, tensor or argument at fault (thread-local, valid until the next failing call);
 *  - objects are opaque handles with <module>_init/_load and <module>_free pairs;
 *  - tensors are float32, row-major; maps are C x H x W, token matrices N x C;
 *  - coordinates in the public API are original image pixels unless a name says "840".
 */
#ifndef GEOCORR_H
#define GEOCORR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GC_OK = 0,
    GC_ERR_ARG = 1,         /* bad argument or option */
    GC_ERR_IO = 2,          /* cannot open, read or write a file */
    GC_ERR_FORMAT = 3,      /* a file is malformed (header, JSON, pickle, image...) */
    GC_ERR_SHAPE = 4,       /* a tensor has the wrong shape or dtype for its use */
    GC_ERR_MISSING = 5,     /* a tensor, key or file that is required is absent */
    GC_ERR_NOMEM = 6,       /* allocation failed or a size overflowed */
    GC_ERR_UNSUPPORTED = 7, /* valid input that geocorr does not handle */
    GC_ERR_REFUSED = 8,     /* input refused for safety (e.g. a pickle that tries to call code) */
    GC_ERR_INTERNAL = 9
} gc_status;

/* The message of the last failure on this thread ("" if none). */
const char *gc_last_error(void);
/* A short name for a status code ("format error", ...). */
const char *gc_status_str(gc_status s);
/* Library version string, e.g. "0.1.0". */
const char *gc_version(void);
/* The compute kernels in use on this machine: GEMM library and instruction set, the version of
 * geocorr's own loops the loader picked, the attention kernel (`geocorr --version --verbose`). */
const char *gc_kernels(void);

/* Thread count of geocorr's OpenMP loops (GEMM tiles included). n <= 0 selects GEOCORR_THREADS from
 * the environment or else all cores. Results are identical for every thread count. */
void gc_set_threads(int n);
int gc_get_threads(void);


/* ---- DINOv2 feature extractor (GeoAware-SC's DINO branch) -------------------------------------- */

typedef struct gc_dinov2 gc_dinov2;
typedef struct {
    int64_t dim;       /* D: 384 ViT-S, 768 ViT-B, 1024 ViT-L, 1536 ViT-g */
    int64_t depth;     /* blocks */
    int64_t heads;
    int64_t registers; /* register tokens (0 for dinov2_vit*14) */
    int64_t patch;     /* 14 */
} gc_dinov2_info;

/* path: a folder with config.json + model.safetensors (HF facebook/dinov2-base layout), or a weights
 * file alone (safetensors or a torch checkpoint; HF or upstream hub naming, e.g. a training
 * checkpoint's teacher.backbone.*). Without config.json: heads = D/64, LayerNorm eps 1e-6, and the
 * upstream position interpolation (offset 0.1, no antialias; registers: antialias, no offset). */
gc_status gc_dinov2_load(const char *path, gc_dinov2 **out);
void gc_dinov2_free(gc_dinov2 *m);
void gc_dinov2_info_get(const gc_dinov2 *m, gc_dinov2_info *info);
/* The GeoAware descriptor: output of the last block before the final LayerNorm, cls and registers
 * dropped, out[D, H/14, W/14]. pixels: ImageNet-normalised RGB [3, H, W], H and W multiples of 14
 * (840 x 840 in GeoAware-SC). */
gc_status gc_dinov2_features(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, float *out);

/* ---- Images and the reference preprocessing (src/io/image.c, src/pipeline/preprocess.c) ----
 * Images are RGB u8, row-major [h][w][3]. Decoding follows Pillow's Image.open(p).convert('RGB')
 * (what the reference does): gray is replicated, palettes expanded, alpha dropped without
 * compositing, 16-bit samples reduced to their high byte except 16-bit gray, which Pillow clamps
 * to 255 (mode "I"). EXIF orientation is ignored, as in the reference. */
typedef struct {
    int32_t w;    /* width (columns) */
    int32_t h;    /* height (rows) */
    uint8_t *rgb; /* [h, w, 3]; owned, release with gc_image_free */
} gc_image;

/* Decode a JPEG or PNG file (recognised by content). Errors name the file. */
gc_status gc_image_load(const char *path, gc_image *out);
/* Same from memory; `label` names the source in messages. */
gc_status gc_image_decode(const void *data, size_t len, const char *label, gc_image *out);
/* Write an 8-bit RGB PNG (atomically: no partial file on failure). */
gc_status gc_image_save_png(const char *path, const gc_image *img);
/* A zero-filled w x h image. */
gc_status gc_image_alloc(gc_image *img, int32_t w, int32_t h);
void gc_image_free(gc_image *img);

/* Canvas sizes of the reference: the DINOv2 / annotation frame and the SD input. */
#define GC_CANVAS_DINO 840
#define GC_CANVAS_SD 960

/* Where resize(img, S) puts a W x H image inside the S x S canvas. */
typedef struct {
    int32_t size;   /* S */
    int32_t band_w; /* W': resized width (S, or round_half_even(S*W/H) for portrait images) */
    int32_t band_h; /* H': resized height (S, or round_half_even(S*H/W) for landscape images) */
    int32_t off_x;  /* first canvas column of the band: (S - W') / 2 */
    int32_t off_y;  /* first canvas row of the band: (S - H') / 2 */
    double scale;   /* S / max(W, H): keypoints and PCK thresholds scale by this */
} gc_canvas_geom;

gc_status gc_canvas_geometry(int32_t w, int32_t h, int32_t size, gc_canvas_geom *g);
/* The reference resize(img, S): optionally flip the ORIGINAL left-right, resize with Pillow's
 * LANCZOS (bit-exact port of Resample.c) to W' x H', paste centred into a zero S x S canvas.
 * `canvas` receives the S x S image; `band` (may be NULL) the resized content before padding. */
gc_status gc_image_to_canvas(const gc_image *img, int32_t size, int flip, gc_image *canvas,
                             gc_image *band);

/* Keypoints are [n, 3] float32 rows (x, y, vis). out may equal kps.
 * to_canvas: preprocess_kps_pad (x,y *= scale, + offset on the padded axis, then x,y,vis *= vis),
 *   from an original w x h image to the S frame.
 * flip: x' = S - x on every row (invisible rows too), for a frame of size S.
 * from_canvas: the inverse of to_canvas, back to original pixels; rows with vis == 0 become 0.
 * to/from_canvas fail (GC_ERR_ARG / GC_ERR_UNSUPPORTED, out untouched) only for sizes that
 * gc_canvas_geometry rejects. */
gc_status gc_kps_to_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
void gc_kps_flip(const float *kps, int64_t n, int32_t size, float *out);
gc_status gc_kps_from_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
/* A PCK threshold (bbox max side or image size, in original pixels) in the S frame. */
double gc_threshold_to_canvas(double thr, int32_t w, int32_t h, int32_t size);

/* ---- Stable Diffusion 1.5 branch: VAE encoder, shared noise, UNet decoder features ----------
 * GeoAware-SC's SD features of one 512x512 crop: image -> gc_sd_encode (VAE posterior mean x
 * scale factor) -> gc_sd_add_noise (t = 50, ODISE's shared seed-42 noise) -> gc_sd_unet_features
 * (UNet with FreeU, stopped after output block 7; returns s5, s4, s3 = the inputs of output blocks
 * 2, 5, 8 including FreeU's in-place backbone scaling, as the reference stores them). */
typedef struct gc_sd gc_sd;

typedef struct {
    int64_t latent_channels;  /* 4 */
    int64_t model_channels;   /* 320 */
    int64_t context_dim;      /* 768 */
    int64_t time_embed_dim;   /* 1280: width of cond_emb */
    float scale_factor;       /* 0.18215 */
    int64_t feat_channels[3]; /* s5, s4, s3 channels (1280, 1280, 640) */
    int64_t feat_stride[3];   /* latent size / feature size (8, 4, 2) */
} gc_sd_info;

/* path: a diffusers folder (unet/ and vae/, each config.json + diffusion_pytorch_model[.fp16].safetensors)
 * or a single-file LDM checkpoint (model.diffusion_model.*, first_stage_model.*; .safetensors or .ckpt);
 * ldm_config: optional LDM config JSON (v1-inference.yaml as JSON) giving heads, scale and schedule
 * for a single file; NULL: config.json where present, else SD-1.5 values. The VAE decoder is never read. */
gc_status gc_sd_load(const char *path, const char *ldm_config, gc_sd **out);
void gc_sd_free(gc_sd *sd);
void gc_sd_get_info(const gc_sd *sd, gc_sd_info *info);
/* image[3, H, W] in [-1, 1] (H, W multiples of 8) -> z0[4, H/8, W/8]. */
gc_status gc_sd_encode(gc_sd *sd, const float *image, int64_t H, int64_t W, float *z0);
/* z_t = sqrt(acp[t]) z0 + sqrt(1 - acp[t]) noise, noise = the shared seed-42 noise resized to h x w. */
gc_status gc_sd_add_noise(gc_sd *sd, const float *z0, int64_t h, int64_t w, int t, float *z_t);
/* z_t[4, h, w] (h, w multiples of 8), context[n_ctx, ctx_dim], cond_emb[time_embed_dim] or NULL ->
 * s5[C0, h/8, w/8], s4[C1, h/4, w/4], s3[C2, h/2, w/2] (any may be NULL). */
gc_status gc_sd_unet_features(gc_sd *sd, const float *z_t, int64_t h, int64_t w, int t, const float *context,
                              int64_t n_ctx, int64_t ctx_dim, const float *cond_emb, float *s5, float *s4,
                              float *s3);
/* ---- Matching and test-time adaptive pose alignment (src/match) ---------------------------------
 * Descriptors are unit rows [3600, C] on the 60x60 grid; points live in the 840 annotation frame
 * (gc_kps_to_canvas / gc_kps_from_canvas with size 840 convert from and to original pixels). */
typedef struct gc_descriptors gc_descriptors;

/* From a feature file (`geocorr features` output, safetensors): map_name NULL -> s3, s4, s5 and
 * dino give the zero-shot descriptor (bilinear upsampling, split normalisation), dino alone the
 * DINO one; map_name names one (post-processed) map [C,60,60], normalised per token. */
gc_status gc_descriptors_load(const char *feature_file, const char *map_name, gc_descriptors **out);
/* Computed by a DINOv2 model on an image (flip != 0: on the mirrored image). */
gc_status gc_descriptors_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors **out);
void gc_descriptors_free(gc_descriptors *d);
int64_t gc_descriptors_channels(const gc_descriptors *d);
const float *gc_descriptors_rows(const gc_descriptors *d); /* [3600, C] */

typedef struct {
    int window;          /* soft-argmax half-width: 5 zero-shot, 7 supervised; 0 all cells; < 0 Gaussian, sigma = -window */
    int hard;            /* 1: hard argmax instead */
    int exclude_outside; /* 1: cells outside the window get no weight (reference: similarity 0, kept in the softmax) */
} gc_match_params;

/* window 5, soft, reference window semantics. */
void gc_match_params_default(gc_match_params *p);
/* Match pts840[K,2] of src in trg: out840[K,2]; score[K] (may be NULL) = best cosine similarity. */
gc_status gc_match_points(const gc_descriptors *src, const gc_descriptors *trg, const float *pts840, int64_t K,
                          const gc_match_params *p, float *out840, float *score);

typedef struct {
    gc_match_params match;
    const char *category;   /* built-in left/right table: SPair-71k class or "ap10k"; NULL: none */
    const char *flip_table; /* or a JSON table file (a list of indices and [a, b] pairs) */
    const uint8_t *mask_src, *mask_src_flip, *mask_trg; /* 960x960 instance masks (0/255) for IMD; NULL: mutual NN */
    int force_flip;         /* 1: take the flipped pose without comparing */
} gc_align_params;

typedef struct {
    double dist_orig, dist_flip; /* IMD or mutual-NN distance of each pose (NaN when undefined) */
    int flip_chosen;
} gc_align_info;

/* Adaptive pose alignment (REFERENCE.md §6.4): match from src and from the mirrored source src_flip
 * (the points flipped and permuted by the table), keep the pose with the smaller distance. ids[K]
 * (may be NULL = 0..K-1) are the points' keypoint ids for the table. out840[K,2], score[K] and
 * from_flip[K] (each may be NULL except out840). */
gc_status gc_align_match(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                         const float *pts840, const int64_t *ids, int64_t K, const gc_align_params *p, float *out840,
                         float *score, int *from_flip, gc_align_info *info);
/* ---- Benchmark evaluation (src/eval; docs/eval.md) ------------------------------------------------
 * PCK of predicted keypoints on SPair-71k, PF-Pascal or the AP-10K benchmark in every convention the
 * reference reports (per image / per keypoint, geometry-aware subset three ways, occurrence ratios,
 * SPair azimuth bins), with the reference's arithmetic so that its numbers reproduce. */
typedef struct {
    const char *dataset;  /* "spair" | "pfpascal" | "ap10k" */
    const char *root;     /* the dataset folder (.../SPair-71k, .../PF-dataset-PASCAL, .../ap-10k) */
    const char *split;    /* NULL = "test" */
    const char *subset;   /* AP-10K: NULL = "intra-species", "cross-species", "cross-family" */
    int n_alpha;          /* 0 = the reference's thresholds (0.1, 0.05, 0.01; PF-Pascal 0.1, 0.05, 0.15) */
    double alpha[8];      /* [n_alpha] */
    int img_threshold;    /* image max side (840) instead of the target bbox max side */
    int geo;              /* geometry-aware metrics (SPair, AP-10K) */
    const char *protocol; /* NULL = "reference", or "corrected" (recorded in the report) */
} gc_eval_config;

/* Score a predictions file (docs/eval.md: {"frame": "pixels"|"anno840", "pairs": [{"src", "trg",
 * "pred": [[x, y] | null, ...]}]}). *report_json receives the JSON report (release with free()). */
gc_status gc_eval_predictions(const gc_eval_config *cfg, const char *predictions_path, char **report_json);

/* ---- The GeoAware feature pipeline (src/pipeline/features.c) ------------------------------------
 * One image -> the reference's cached feature maps: s5 [1280,15,15], s4 [1280,30,30], s3 [640,60,60]
 * (SD-1.5 UNet decoder with FreeU, ODISE implicit captioner, 2x2 sliding window over the 960 canvas)
 * and dino [768,60,60] (DINOv2 ViT-B/14 last block on the 840 canvas). */
typedef struct gc_features gc_features;

/* Where the models are. models_dir finds every file by its usual name (docs/models.md); each other
 * field, when set, overrides what models_dir would give (a folder with config.json + weights, or a
 * weights file). */
typedef struct {
    const char *models_dir;
    const char *dinov2;       /* dinov2-base/ (HF) or dinov2_vitb14_pretrain.pth */
    const char *sd;           /* stable-diffusion-v1-5/ (diffusers) or v1-5-pruned-emaonly.{safetensors,ckpt} */
    const char *sd_config;    /* LDM config JSON (v1-inference.yaml as JSON); NULL: SD-1.5 values */
    const char *clip_vision;  /* clip-vit-large-patch14-336/ (HF) or an open_clip ViT-L-14-336 file */
    const char *text_encoder; /* default: <sd>/text_encoder/ or the SD single file itself */
    const char *captioner;    /* the ODISE checkpoint odise_label_coco_50e-b67d2efc.pth */
    int dino_only;            /* load and run only DINOv2 */
} gc_features_config;

typedef struct {
    int64_t c5, c4, c3, cd;   /* channels (0 for a branch not run) */
    int64_t g5, g4, g3, gd;   /* grid sides (15, 30, 60, 60) */
    float *s5, *s4, *s3;      /* [c5,g5,g5], [c4,g4,g4], [c3,g3,g3]; NULL with dino_only */
    float *dino;              /* [cd, gd, gd] */
} gc_feature_maps;

gc_status gc_features_load(const gc_features_config *cfg, gc_features **out);
void gc_features_free(gc_features *f);
/* The maps of one image; flip mirrors the ORIGINAL image before the canvases are made (the
 * reference's flipped features). Release with gc_feature_maps_free. */
gc_status gc_features_compute(gc_features *f, const gc_image *img, int flip, gc_feature_maps *out);
void gc_feature_maps_free(gc_feature_maps *m);

#ifdef __cplusplus
}
#endif
#endif /* GEOCORR_H */
