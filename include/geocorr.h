/* geocorr — geometry-aware semantic correspondence (Zhang et al., CVPR 2024) in C.
 *
 * The one public header. Conventions:
 *  - every call that can fail returns gc_status; gc_last_error() then holds a message that names
 *    the file, tensor or argument at fault (thread-local, valid until the next failing call);
 *  - objects are opaque handles with <module>_init/_load and <module>_free pairs;
 *  - tensors are float32, row-major; maps are C x H x W, token matrices N x C;
 *  - coordinates in the public API are original image pixels unless a name says "840".
 *
 * Threads. Every function is reentrant: no hidden global state except gc_last_error (thread-local)
 * and gc_set_threads (process-wide; call it before starting threads). Handles:
 *  - read-only after loading, shareable by any number of threads at once: gc_descriptors,
 *    gc_postproc, gc_dinov2 (gc_dinov2_features keeps its position tables in a cache behind a lock);
 *  - one call at a time per handle (give each thread its own, or serialise): gc_sd, gc_features
 *    (gc_features_compute accumulates per-stage timings in the handle);
 *  - gc_image, gc_feature_maps: plain data owned by the caller.
 * The heavy ops run on the library's own OpenMP threads (each oneDNN GEMM on the thread that calls
 * it); calling from several threads multiplies them (set gc_set_threads accordingly). A model's
 * scratch arena serves one call at a time; a concurrent call on the same model works in a private
 * one. Results never depend on thread counts, so concurrent calls stay correct and only their speed
 * is affected.
 */
#ifndef GEOCORR_H
#define GEOCORR_H

#include <stddef.h>
#include <stdint.h>

/* The version of this header; gc_version() gives the library's. */
#define GEOCORR_VERSION_MAJOR 0
#define GEOCORR_VERSION_MINOR 1
#define GEOCORR_VERSION_PATCH 0

/* The shared library is built with -fvisibility=hidden and exports exactly what GC_API marks. */
#if defined(__GNUC__) || defined(__clang__)
#define GC_API __attribute__((visibility("default")))
#else
#define GC_API
#endif

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
GC_API const char *gc_last_error(void);
/* A short name for a status code ("format error", ...). */
GC_API const char *gc_status_str(gc_status s);
/* Library version string, e.g. "0.1.0". */
GC_API const char *gc_version(void);
/* The compute kernels in use on this machine: GEMM library and instruction set, the version of
 * geocorr's own loops the loader picked, the attention kernel (`geocorr --version --verbose`). */
GC_API const char *gc_kernels(void);

/* Thread count of geocorr's OpenMP loops (GEMM tiles included). n <= 0 selects GEOCORR_THREADS from
 * the environment or else all cores. Results are identical for every thread count. */
GC_API void gc_set_threads(int n);
GC_API int gc_get_threads(void);


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
GC_API gc_status gc_dinov2_load(const char *path, gc_dinov2 **out);
GC_API void gc_dinov2_free(gc_dinov2 *m);
GC_API void gc_dinov2_info_get(const gc_dinov2 *m, gc_dinov2_info *info);
/* The GeoAware descriptor: output of the last block before the final LayerNorm, cls and registers
 * dropped, out[D, H/14, W/14]. pixels: ImageNet-normalised RGB [3, H, W], H and W multiples of 14
 * (840 x 840 in GeoAware-SC). */
GC_API gc_status gc_dinov2_features(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, float *out);

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
GC_API gc_status gc_image_load(const char *path, gc_image *out);
/* Same from memory; `label` names the source in messages. */
GC_API gc_status gc_image_decode(const void *data, size_t len, const char *label, gc_image *out);
/* Write an 8-bit RGB PNG (atomically: no partial file on failure). */
GC_API gc_status gc_image_save_png(const char *path, const gc_image *img);
/* A zero-filled w x h image. */
GC_API gc_status gc_image_alloc(gc_image *img, int32_t w, int32_t h);
GC_API void gc_image_free(gc_image *img);

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

GC_API gc_status gc_canvas_geometry(int32_t w, int32_t h, int32_t size, gc_canvas_geom *g);
/* The reference resize(img, S): optionally flip the ORIGINAL left-right, resize with Pillow's
 * LANCZOS (bit-exact port of Resample.c) to W' x H', paste centred into a zero S x S canvas.
 * `canvas` receives the S x S image; `band` (may be NULL) the resized content before padding. */
GC_API gc_status gc_image_to_canvas(const gc_image *img, int32_t size, int flip, gc_image *canvas,
                             gc_image *band);

/* Keypoints are [n, 3] float32 rows (x, y, vis). out may equal kps.
 * to_canvas: preprocess_kps_pad (x,y *= scale, + offset on the padded axis, then x,y,vis *= vis),
 *   from an original w x h image to the S frame.
 * flip: x' = S - x on every row (invisible rows too), for a frame of size S.
 * from_canvas: the inverse of to_canvas, back to original pixels; rows with vis == 0 become 0.
 * to/from_canvas fail (GC_ERR_ARG / GC_ERR_UNSUPPORTED, out untouched) only for sizes that
 * gc_canvas_geometry rejects. */
GC_API gc_status gc_kps_to_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
GC_API void gc_kps_flip(const float *kps, int64_t n, int32_t size, float *out);
GC_API gc_status gc_kps_from_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
/* A PCK threshold (bbox max side or image size, in original pixels) in the S frame. */
GC_API double gc_threshold_to_canvas(double thr, int32_t w, int32_t h, int32_t size);

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
GC_API gc_status gc_sd_load(const char *path, const char *ldm_config, gc_sd **out);
GC_API void gc_sd_free(gc_sd *sd);
GC_API void gc_sd_get_info(const gc_sd *sd, gc_sd_info *info);
/* image[3, H, W] in [-1, 1] (H, W multiples of 8) -> z0[4, H/8, W/8]. */
GC_API gc_status gc_sd_encode(gc_sd *sd, const float *image, int64_t H, int64_t W, float *z0);
/* z_t = sqrt(acp[t]) z0 + sqrt(1 - acp[t]) noise, noise = the shared seed-42 noise resized to h x w. */
GC_API gc_status gc_sd_add_noise(gc_sd *sd, const float *z0, int64_t h, int64_t w, int t, float *z_t);
/* z_t[4, h, w] (h, w multiples of 8), context[n_ctx, ctx_dim], cond_emb[time_embed_dim] or NULL ->
 * s5[C0, h/8, w/8], s4[C1, h/4, w/4], s3[C2, h/2, w/2] (any may be NULL). */
GC_API gc_status gc_sd_unet_features(gc_sd *sd, const float *z_t, int64_t h, int64_t w, int t, const float *context,
                              int64_t n_ctx, int64_t ctx_dim, const float *cond_emb, float *s5, float *s4,
                              float *s3);
/* ---- Poses of the adaptive pose alignment (src/match/poses.c) ---------------------------------------
 * The released code compares the source with its mirror image (flip); the paper also turns bottles by
 * +90, 180 and -90 degrees (Supp. C), which geocorr offers for any category (beyond the released code).
 * Poses act on the square canvases like the reference's flip (x' = 840 - x, the 960 mask mirrored):
 * rot90 turns a quarter counter-clockwise, (x, y) -> (y, 840 - x); rot180 (840 - x, 840 - y); rot270
 * (840 - y, x). A rotation swaps no keypoints (no left/right change). */
typedef enum { GC_POSE_ORIGINAL = 0, GC_POSE_FLIP = 1, GC_POSE_ROT90 = 2, GC_POSE_ROT180 = 3, GC_POSE_ROT270 = 4 } gc_pose;
#define GC_N_POSES 5
/* A set of poses has bit (1u << pose) for each pose; GC_POSES_AUTO is the paper's rule, resolved per
 * category by gc_poses_resolve. */
#define GC_POSES_ROTATIONS ((1u << GC_POSE_ROT90) | (1u << GC_POSE_ROT180) | (1u << GC_POSE_ROT270))
#define GC_POSES_AUTO 0x80000000u
/* "original", "flip", "rot90", "rot180", "rot270" ("?" for another value). */
GC_API const char *gc_pose_name(int pose);
/* "flip[,rot90][,rot180][,rot270]" (any order; flip is always among the poses, the rotations are added
 * to it) or "auto" -> *set. Errors name the entry at fault. */
GC_API gc_status gc_poses_parse(const char *text, unsigned *set);
/* The poses for one category: GC_POSES_AUTO -> flip, and the three rotations when the category is
 * "bottle" (the paper's rule); any other set unchanged. */
GC_API unsigned gc_poses_resolve(unsigned set, const char *category);
/* The original image in a pose (out: release with gc_image_free): flip mirrors it; rot90 gives the
 * h x w image out(x', y') = img(w - 1 - y', x') (a quarter turn counter-clockwise), rot180 and rot270
 * likewise. Features of the rotated source are features of this image. */
GC_API gc_status gc_image_pose(const gc_image *img, int pose, gc_image *out);

/* ---- Matching and test-time adaptive pose alignment (src/match) ---------------------------------
 * Descriptors are unit rows [3600, C] on the 60x60 grid; points live in the 840 annotation frame
 * (gc_kps_to_canvas / gc_kps_from_canvas with size 840 convert from and to original pixels). */
typedef struct gc_descriptors gc_descriptors;

/* From a feature file (`geocorr features` output, safetensors): map_name NULL -> s3, s4, s5 and
 * dino give the zero-shot descriptor (bilinear upsampling, split normalisation), dino alone the
 * DINO one; map_name names one (post-processed) map [C,60,60], normalised per token. */
GC_API gc_status gc_descriptors_load(const char *feature_file, const char *map_name, gc_descriptors **out);
/* Computed by a DINOv2 model on an image (flip != 0: on the mirrored image). */
GC_API gc_status gc_descriptors_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors **out);
GC_API void gc_descriptors_free(gc_descriptors *d);
GC_API int64_t gc_descriptors_channels(const gc_descriptors *d);
GC_API const float *gc_descriptors_rows(const gc_descriptors *d); /* [3600, C] */

typedef struct {
    int window;          /* soft-argmax half-width: 5 zero-shot, 7 supervised; 0 all cells; < 0 Gaussian, sigma = -window */
    int hard;            /* 1: hard argmax instead */
    int exclude_outside; /* 1: cells outside the window get no weight (reference: similarity 0, kept in the softmax) */
} gc_match_params;

/* window 5, soft, reference window semantics. */
GC_API void gc_match_params_default(gc_match_params *p);
/* Match pts840[K,2] of src in trg: out840[K,2]; score[K] (may be NULL) = best cosine similarity. */
GC_API gc_status gc_match_points(const gc_descriptors *src, const gc_descriptors *trg, const float *pts840, int64_t K,
                          const gc_match_params *p, float *out840, float *score);

typedef struct {
    gc_match_params match;
    const char *category;   /* built-in left/right table: SPair-71k class or "ap10k"; NULL: none */
    const char *flip_table; /* or a JSON table file (a list of indices and [a, b] pairs) */
    const uint8_t *mask_src, *mask_src_flip, *mask_trg; /* 960x960 instance masks (0/255) for IMD; NULL: mutual NN */
    int force_flip;         /* 1: take the flipped pose without comparing (no rotations then) */
    const struct gc_align_poses *poses; /* rotations compared too (beyond the released code); NULL: the flip alone */
} gc_align_params;

/* The rotated poses of the source (gc_align_params.poses). Their masks for IMD are the source's 960
 * mask turned like the canvas (as the flipped mask is the mirrored one). */
typedef struct gc_align_poses {
    const gc_descriptors *src_rot[3]; /* [pose - GC_POSE_ROT90]: descriptors of gc_image_pose(source, pose);
                                       * NULL: that rotation is not tried */
} gc_align_poses;

typedef struct {
    double dist_orig, dist_flip; /* IMD or mutual-NN distance of each pose (NaN when undefined) */
    int flip_chosen;
    int pose;                    /* the chosen gc_pose: the smallest distance wins (ties and NaN keep the earlier
                                  * pose of original, flip, rot90, rot180, rot270); a rotation gives every point */
    double dist_rot[3];          /* distance of each rotation tried ([pose - GC_POSE_ROT90]), NaN otherwise */
} gc_align_info;

/* Adaptive pose alignment (REFERENCE.md §6.4): match from src and from the mirrored source src_flip
 * (the points flipped and permuted by the table), keep the pose with the smaller distance; with
 * p->poses also from the rotated sources (the points turned with the canvas, no permutation), the
 * smallest distance winning. ids[K] (may be NULL = 0..K-1) are the points' keypoint ids for the table.
 * out840[K,2], score[K] and from_flip[K] (each may be NULL except out840). */
GC_API gc_status gc_align_match(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                         const float *pts840, const int64_t *ids, int64_t K, const gc_align_params *p, float *out840,
                         float *score, int *from_flip, gc_align_info *info);
/* ---- Benchmark evaluation (src/eval; docs/eval.md) ------------------------------------------------
 * PCK of predicted keypoints on SPair-71k, PF-Pascal or the AP-10K benchmark in every convention the
 * reference reports (per image / per keypoint, geometry-aware subset three ways, occurrence ratios,
 * SPair azimuth bins, the error breakdown), with the reference's arithmetic so that its numbers
 * reproduce. Every category of the split is reported; one without scored pairs has n = 0. */
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
    int errors;           /* the Jitter / Miss / Swap / Swap^LR / PCK-dagger breakdown (paper Tab. 9) */
} gc_eval_config;

/* Score a predictions file (docs/eval.md: {"frame": "pixels"|"anno840", "pairs": [{"src", "trg",
 * "pred": [[x, y] | null, ...]}]}). *report_json receives the JSON report (release with free()). */
GC_API gc_status gc_eval_predictions(const gc_eval_config *cfg, const char *predictions_path, char **report_json);

typedef enum { GC_EVAL_ALIGN_OFF, GC_EVAL_ALIGN_FLIP, GC_EVAL_ALIGN_MNN } gc_eval_align;

/* Matching the split's pairs on the feature cache of gc_extract. */
typedef struct {
    const char *cache_dir;
    const char *map_name;    /* NULL: the zero-shot (s3, s4, s5, dino) or DINO descriptor; else one named map */
    gc_match_params match;   /* the eval configs use window 7 (zero-shot: 5) */
    gc_eval_align align;     /* FLIP: IMD with the cache's masks <image>_mask[_flip].png; MNN: mask-free */
    unsigned poses;          /* with FLIP or MNN: the poses compared (gc_poses_parse; GC_POSES_AUTO resolved per
                              * category); 0 = the flip alone. A rotation reads <image>_rot90.safetensors (and with
                              * FLIP <image>_mask_rot90.png), written by gc_extract with those poses */
    int64_t mem_mb;          /* descriptors kept in memory (least recently used evicted), MiB; 0: 2048 */
    int sample;              /* per category the reference's sampling of this many pairs; 0: every pair */
    const char *predictions_out; /* NULL, or a P.json receiving the predictions (frame anno840) */
    /* the supervised recipe (NULL: off; not with map_name): each cached image's s3, s4, s5, dino (or dino
     * alone) fused -> this post-processor (gc_postproc_load) -> per-token normalisation, as
     * gc_descriptors_from_maps; computed once per image and kept within mem_mb */
    const struct gc_postproc *postproc;
    /* called after each batch of pairs (may be NULL): pairs matched of the total, seconds since the start */
    void (*progress)(void *ctx, int64_t done, int64_t total, double seconds);
    void *progress_ctx;
} gc_eval_cache_config;

typedef struct gc_eval_report gc_eval_report;
/* Score the predictions file (cache NULL) or matches on the feature cache (predictions_path NULL). */
GC_API gc_status gc_eval_run(const gc_eval_config *cfg, const char *predictions_path, const gc_eval_cache_config *cache,
                             gc_eval_report **out);
/* The JSON report (TRACE.md §4; release with free()). */
GC_API gc_status gc_eval_report_json(const gc_eval_report *r, char **json);
/* The report as `geocorr eval` prints it: a summary line and the tables, per image (per_keypoint: per
 * keypoint) with the geometry-aware subset of the configured protocol (release with free()). */
GC_API gc_status gc_eval_report_text(const gc_eval_report *r, int per_keypoint, char **text);
GC_API void gc_eval_report_free(gc_eval_report *r);

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

GC_API gc_status gc_features_load(const gc_features_config *cfg, gc_features **out);
GC_API void gc_features_free(gc_features *f);
/* The maps of one image; flip mirrors the ORIGINAL image before the canvases are made (the
 * reference's flipped features). Release with gc_feature_maps_free. */
GC_API gc_status gc_features_compute(gc_features *f, const gc_image *img, int flip, gc_feature_maps *out);
GC_API void gc_feature_maps_free(gc_feature_maps *m);

/* ---- The in-memory pipeline: descriptors from maps, matching in pixels, pictures ------------------
 * image -> gc_features_compute (also on the flipped source) -> gc_descriptors_from_maps (zero-shot, or
 * supervised with a post-processor) -> gc_match_pixels (adaptive pose alignment) -> target pixels. */

/* The authors' post-processor (AggregationNetwork, REFERENCE.md §4). */
typedef struct gc_postproc gc_postproc;
/* The authors' post-processor: safetensors or their .PTH; groups = 0 -> config.json beside it, else 32. */
GC_API gc_status gc_postproc_load(const char *path, int groups, gc_postproc **out);
GC_API void gc_postproc_free(gc_postproc *p);

/* Descriptors from in-memory maps: pp NULL = the zero-shot recipe (dino alone = the DINO
 * descriptor), else fused map -> post-processor -> per-token normalisation. */
GC_API gc_status gc_descriptors_from_maps(const gc_feature_maps *maps, const gc_postproc *pp, gc_descriptors **out);
/* The supervised descriptor of a feature file (s3, s4, s5, dino; or dino for a DINO-only network). */
GC_API gc_status gc_descriptors_load_postproc(const char *feature_file, const gc_postproc *pp, gc_descriptors **out);
/* How the descriptor was made: "zeroshot", "dino", "postproc" or "map:<name>". Descriptors match
 * only descriptors of the same recipe and channel count. */
GC_API const char *gc_descriptors_recipe(const gc_descriptors *d);
/* sim[3600] = cosine similarity of the source cell the matcher queries for (x840, y840) with every
 * target cell (60x60 row-major): the similarity heat map of one query (gc_match_extra.query840). */
GC_API gc_status gc_descriptors_similarity(const gc_descriptors *src, const gc_descriptors *trg, float x840, float y840,
                                    float *sim);

/* An instance mask on the reference's 960 canvas (where its SAM masks live): `mask` is either of the
 * image size w x h (resampled nearest into the canvas band, the padding 0) or already the 960 x 960
 * canvas; object where the R value > 127. canvas960[960*960] receives 0 / 255, mirrored left-right
 * when `mirror` (the flipped source's mask). */
GC_API gc_status gc_mask_to_canvas(const gc_image *mask, int32_t w, int32_t h, int mirror, uint8_t *canvas960);

/* gc_align_match in ORIGINAL pixels: pts[K,2] in the source image (src_w x src_h), out[K,2] in the
 * target image (trg_w x trg_h). mask_src / mask_trg (may be NULL: the params' 960 masks or MNN) are
 * images of the source / target size, object where the R value > 127 (a gray PNG decodes to
 * R = G = B); the mirrored source mask is derived.
 * score, from_flip, info may be NULL.
 * src_flip NULL: no pose alignment (every point matched in the original pose, info distances NaN; no
 * rotations either). Masks of 960 x 960 are taken as canvases already (gc_mask_to_canvas); give both
 * masks or neither. A winning rotation (info->pose) gives every point its match (from_flip 0). */
GC_API gc_status gc_match_pixels(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                          int32_t src_w, int32_t src_h, int32_t trg_w, int32_t trg_h,
                          const float *pts, const int64_t *ids, int64_t K, const gc_align_params *p,
                          const gc_image *mask_src, const gc_image *mask_trg,
                          float *out, float *score, int *from_flip, gc_align_info *info);

/* What gc_match_pixels computes on the way (each array [K,...] may be NULL): */
typedef struct {
    float *src840;    /* [K,2] the source points in the 840 annotation frame */
    float *query840;  /* [K,2] the point whose descriptor was matched: src840, or for a match taken from
                       * the flipped pose the mirrored position (840 - x, y) of its partner, from a rotated
                       * pose the turned position of the point */
    float *out840;    /* [K,2] the matches in the 840 frame (out = these in target pixels) */
    int64_t *partner; /* [K] the point whose mirror the flipped source matched for point k: its
                       * left/right partner under the flip table, k itself otherwise (and for a rotation) */
} gc_match_extra;
/* gc_match_pixels that also fills `extra` (may be NULL). */
GC_API gc_status gc_match_pixels_ex(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                             int32_t src_w, int32_t src_h, int32_t trg_w, int32_t trg_h,
                             const float *pts, const int64_t *ids, int64_t K, const gc_align_params *p,
                             const gc_image *mask_src, const gc_image *mask_trg,
                             float *out, float *score, int *from_flip, gc_align_info *info, gc_match_extra *extra);

/* Pictures (RGB images into *out, release with gc_image_free): both images side by side at a height
 * of 480 pixels with a coloured line from src_xy[k] to trg_xy[k] (original pixels) per point; and the
 * heat map of one query: the source with query_xy marked, the target with sim[3600]
 * (gc_descriptors_similarity) blended in jet colours and match_xy marked. */
GC_API gc_status gc_picture_matches(const gc_image *src, const gc_image *trg, const float *src_xy, const float *trg_xy,
                             int64_t K, gc_image *out);
/* gc_picture_matches with the outlines of instance masks (as gc_match_pixels takes them: the image's
 * size or the 960 canvas, object where R > 127) drawn on their images; either mask may be NULL. */
GC_API gc_status gc_picture_matches_masked(const gc_image *src, const gc_image *trg, const float *src_xy,
                                           const float *trg_xy, int64_t K, const gc_image *mask_src,
                                           const gc_image *mask_trg, gc_image *out);
GC_API gc_status gc_picture_heatmap(const gc_image *src, const gc_image *trg, const float *query_xy, const float *match_xy,
                             const float *sim, gc_image *out);
/* The heat map alone, at the target's own size: trg with sim[3600] blended in the same jet colours,
 * nothing marked (what a viewer lays over the target; gc_picture_heatmap's right half at scale 1). */
GC_API gc_status gc_picture_similarity(const gc_image *trg, const float *sim, gc_image *out);

/* ---- The feature cache of a benchmark split (src/pipeline/feature_cache.c; docs/eval.md) -----------
 * One safetensors file per image and orientation, <cache>/<image without extension>[_flip].safetensors,
 * holding the maps of gc_features_compute and the model's identity; written atomically, resumable
 * (valid files are skipped, invalid ones redone) and shardable. */
typedef struct {
    int64_t total;     /* files this shard owns */
    int64_t computed;  /* written by this run (absent before) */
    int64_t redone;    /* present but invalid, rewritten */
    int64_t skipped;   /* present and valid */
    int64_t by_others; /* computed meanwhile by concurrent runs on the same folder */
} gc_extract_stats;

typedef enum {
    GC_EXTRACT_FILE_STARTED, /* this run claimed a file and computes it (the claim is held until it is done) */
    GC_EXTRACT_FILE_DONE,    /* a file of the shard is settled (computed, redone, skipped, or by another run) */
    GC_EXTRACT_WAITING       /* the rest of the shard is being computed by concurrent runs: waiting for them */
} gc_extract_event;

typedef struct {
    const char *dataset, *root, *split, *subset; /* the split, as in gc_eval_config (split NULL: "test") */
    const char *cache_dir;
    int flip;             /* also the mirrored images */
    unsigned poses;       /* more orientations (gc_poses_parse): flip and rotations <image>_rot90... for every image;
                           * GC_POSES_AUTO: flip, and the rotations for the images of category bottle */
    int masks;            /* also the reference's instance masks <image>_mask[_flip|_rot90...].png of every
                           * orientation: SAM on the image's 960 canvas with its ground-truth box (docs/eval.md) */
    const char *sam, *sam_config; /* with masks: the SAM model and an optional config.json (gc_sam_load) */
    int f16;              /* store float16 (round to nearest even) instead of float32 */
    int shard, n_shards;  /* this run's share: image k of the sorted list when k % n_shards == shard (0: 0/1) */
    /* called at each event (may be NULL) with the counts so far and the seconds since the start */
    void (*progress)(void *ctx, gc_extract_event ev, const gc_extract_stats *st, double seconds);
    void *progress_ctx;
} gc_extract_config;

/* The features of every image of the split, with the models of `models` (loaded once; NULL, or neither
 * models_dir nor dinov2 set: no features, the masks alone), and its instance masks with cfg->masks.
 * Several runs may write one folder at once (files are claimed before they are computed, so each is
 * computed once; claims of dead runs are taken over); a run returns when its whole shard is valid. */
GC_API gc_status gc_extract(const gc_features_config *models, const gc_extract_config *cfg, gc_extract_stats *st);

/* What a cache folder holds for one shard, read without any model: "done" feature files parse as
 * safetensors and carry `model` metadata and the right `flip` (and `pose`); which model made them is
 * counted separately; with cfg->masks the mask files (complete 960 x 960 PNGs) are counted too. */
typedef struct {
    int64_t total;   /* files the shard owns */
    int64_t done;    /* present and readable */
    int64_t invalid; /* present but torn or foreign (a rerun redoes them) */
    int64_t running; /* claimed by a live run */
    int64_t stale;   /* claimed by a run that died (the next run takes them over) */
    int64_t masks, masks_done; /* of total and done: the instance masks (cfg->masks) */
} gc_extract_shard_status;

#define GC_EXTRACT_MAX_MODELS 8
typedef struct {
    int n;           /* distinct model ids among done files (at most GC_EXTRACT_MAX_MODELS) */
    char id[GC_EXTRACT_MAX_MODELS][128];
    int64_t count[GC_EXTRACT_MAX_MODELS];
    int64_t other;   /* done files of further models */
} gc_extract_models;

/* The status of every shard k < cfg->n_shards (shards[k]) of cfg's split in cfg->cache_dir (n_images,
 * may be NULL: the split's distinct images); no model is loaded. */
GC_API gc_status gc_extract_status(const gc_extract_config *cfg, gc_extract_shard_status *shards, gc_extract_models *models,
                                   int *n_images);

/* ---- Training the post-processor on the feature cache (src/train; docs/train.md) ----------------- */
typedef enum { GC_SCHEDULE_DEFAULT, GC_SCHEDULE_ONE_CYCLE, GC_SCHEDULE_CONSTANT } gc_schedule;

typedef struct {
    const char *dataset;   /* "spair" | "ap10k" | "pfpascal" */
    const char *root;      /* the dataset folder */
    const char *cache_dir; /* geocorr extract's folder: s3, s4, s5, dino per image (_flip with pair_augment) */
    const char *out_dir;   /* created if absent: best / last checkpoints, their .state, train.log */
    const char *train_split, *val_split; /* NULL: "trn", "val" */
    const char *init;      /* checkpoint to start from (safetensors, .PTH, folder); NULL: the reference's
                            * initialisation drawn with the seed, widths from feature_dims or the cache */
    int n_feature_dims;    /* 0: from the cache; 4 (s3, s4, s5, dino) or 1 (dino alone) */
    int64_t feature_dims[4];
    int64_t proj_dim;      /* output width (0: 768); not with init */
    int64_t norm_groups;   /* GroupNorm groups (0: init's config.json, else 32) */
    int64_t epochs;        /* 2 */
    double lr, weight_decay, dropout, jitter; /* 1.25e-3, 1e-3, 0.2, 0.1 */
    uint64_t seed;         /* 42 */
    gc_schedule schedule;  /* GC_SCHEDULE_DEFAULT: one-cycle for SPair, constant elsewhere (the reference's configs) */
    int steps_per_epoch_dataset; /* one-cycle over the true pair count instead of the reference's 53,339 */
    int pair_augment;      /* the flipped-pair losses (needs the cache's flipped features) */
    const char *flip_tables; /* training flip tables file; NULL: the shipped one */
    int64_t val_every;     /* steps between validations (0: epoch ends only) */
    int64_t val_pairs;     /* validate on the first N pairs of the split (0: all) */
    int64_t max_steps;     /* stop early with a resumable checkpoint (0: no limit) */
    int resume;            /* continue from out_dir/last */
    /* called after every step (may be NULL): steps done of total, the step's loss, seconds so far */
    void (*progress)(void *ctx, int64_t step, int64_t total, double loss, double seconds);
    void *progress_ctx;
} gc_train_config;

typedef struct {
    int64_t steps;  /* optimiser steps taken in total */
    double best;    /* best validation PCK */
    double alpha;   /* its threshold (0.1; PF-Pascal 0.05) */
} gc_train_result;

/* The defaults above (every pointer NULL). */
GC_API void gc_train_config_default(gc_train_config *c);
/* Train (REFERENCE.md §5): errors name the option or file at fault. */
GC_API gc_status gc_train(const gc_train_config *c, gc_train_result *result);

/* ---- Segment Anything: instance masks (src/models/sam*.c) --------------------------------------
 * SAM (ViT-B / L / H, any size the weights give) as the reference's preprocess_mask_sam.py runs it,
 * i.e. upstream SamPredictor: gc_sam_set_image runs the image encoder once per image (resize the
 * long side to the encoder size with Pillow BILINEAR, normalise, pad), then gc_sam_predict decodes
 * any number of prompts (milliseconds each) into masks of the image's size (logits > 0).
 * Thread safety: a loaded gc_sam and a gc_sam_image are never modified after creation, so several
 * threads may share them. Each call parallelises internally (gc_set_threads threads); calls from
 * several threads at once give the same bytes as serial calls (gc_set_threads(1) keeps them from
 * oversubscribing the cores). */
typedef struct gc_sam gc_sam;
typedef struct gc_sam_image gc_sam_image;

typedef struct {
    int64_t img_size;  /* S: square encoder input (1024 for the released models) */
    int64_t dim;       /* encoder width: 768 ViT-B, 1024 ViT-L, 1280 ViT-H */
    int64_t depth;     /* encoder blocks: 12, 24, 32 */
    int64_t heads;     /* encoder heads: 12, 16, 16 */
    int64_t window;    /* window size of the windowed blocks (14; 0 if every block is global) */
    int64_t n_global;  /* global-attention blocks (4) */
    int64_t out_chans; /* embedding width C (256) */
    int64_t multimask; /* masks of a multimask prediction (3) */
} gc_sam_info;

/* path: a folder with config.json + one weights file (model.safetensors or the official
 * sam_vit_{b,l,h}_*.pth), or a weights file (safetensors or a torch.save state dict, SAM's own names
 * image_encoder.* / prompt_encoder.* / mask_decoder.*, optionally behind a prefix). config: a
 * config.json (sam/README.md layout) that overrides the folder's, or NULL. Sizes come from the
 * weight shapes; the config must agree with them and gives what no shape holds (decoder heads,
 * pixel mean/std, mask threshold, LayerNorm eps); without one, SAM's values apply. */
GC_API gc_status gc_sam_load(const char *path, const char *config, gc_sam **out);
GC_API void gc_sam_free(gc_sam *m);
GC_API void gc_sam_info_get(const gc_sam *m, gc_sam_info *info);

/* Encode an RGB image (any size). Release with gc_sam_image_free. */
GC_API gc_status gc_sam_set_image(const gc_sam *m, const gc_image *img, gc_sam_image **out);
GC_API void gc_sam_image_free(gc_sam_image *im);

/* A prompt in the image's pixels: a box, points, or both. */
typedef struct {
    const float *box;      /* [4] x1, y1, x2, y2 inside [0, w] x [0, h], x1 <= x2, y1 <= y2; or NULL */
    const float *points;   /* [n_points, 2] (x, y) inside the image, or NULL */
    const int32_t *labels; /* [n_points]: 1 foreground, 0 background */
    int64_t n_points;
    int multimask;         /* 0: one mask (SAM's single-mask output); 1: the multimask outputs */
} gc_sam_prompt;

typedef struct {
    int32_t w, h;   /* the image's size */
    int32_t k;      /* masks: 1, or the model's multimask count (3) */
    uint8_t *masks; /* [k, h, w]: 1 inside the object, 0 outside */
    float *scores;  /* [k] predicted IoU of each mask */
    int32_t best;   /* index of the highest score */
} gc_sam_masks;

/* Masks of one prompt. A box outside the image or inverted, a point outside the image, a label
 * other than 0/1 or an empty prompt fail with GC_ERR_ARG. Release with gc_sam_masks_free. */
GC_API gc_status gc_sam_predict(const gc_sam *m, const gc_sam_image *im, const gc_sam_prompt *p, gc_sam_masks *out);
GC_API void gc_sam_masks_free(gc_sam_masks *r);

/* The reference's instance mask: image + box -> mask[h * w] (255 inside, 0 outside), multimask off
 * (set_image + predict in one call). */
GC_API gc_status gc_sam_box_mask(const gc_sam *m, const gc_image *img, const float box[4], uint8_t *mask);

#ifdef __cplusplus
}
#endif
#endif /* GEOCORR_H */
