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

/* Thread count for GEMM (OpenBLAS) and the OpenMP loops. n <= 0 selects GEOCORR_THREADS from
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
 * from_canvas: the inverse of to_canvas, back to original pixels; rows with vis == 0 become 0. */
void gc_kps_to_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
void gc_kps_flip(const float *kps, int64_t n, int32_t size, float *out);
void gc_kps_from_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out);
/* A PCK threshold (bbox max side or image size, in original pixels) in the S frame. */
double gc_threshold_to_canvas(double thr, int32_t w, int32_t h, int32_t size);

#ifdef __cplusplus
}
#endif
#endif /* GEOCORR_H */
