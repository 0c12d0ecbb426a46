/* The GeoAware-SC feature pipeline (REFERENCE.md §3): image -> 960 SD canvas and 840 DINO canvas ->
 * four 512 crops of the SD canvas, each: CLIP image embedding -> implicit captioner -> VAE mean ->
 * noise at t = 50 -> UNet with FreeU up to output block 7 -> s5, s4, s3; stitched by averaging the
 * overlaps; plus the DINOv2 last-block tokens of the 840 canvas. Everything independent of the crop
 * (weights, the empty-prompt embedding U) is prepared once in gc_features_load. Implements the
 * gc_features_* API of geocorr.h. */
#ifndef GC_FEATURES_H
#define GC_FEATURES_H

#include "models/captioner.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/tap.h"

#define GC_SD_CROP 512  /* ODISE backbone_in_size */
#define GC_SD_T 50      /* num_timesteps */

/* Stages timed by gc_features_run (seconds accumulate in gc_features.stage_s). */
enum { GC_STAGE_TEXT, GC_STAGE_CLIP, GC_STAGE_CAPTIONER, GC_STAGE_VAE, GC_STAGE_NOISE, GC_STAGE_UNET,
       GC_STAGE_STITCH, GC_STAGE_DINO, GC_STAGE_COUNT };
extern const char *const gc_stage_names[GC_STAGE_COUNT];

struct gc_features {
    bool dino_only;       /* no SD branch loaded */
    gc_dinov2 *dino;      /* DINOv2 (ViT-B/14) */
    gc_sd *sd;            /* SD-1.5 UNet + VAE encoder (NULL when dino_only) */
    clip_vision clip;     /* the captioner's CLIP image tower */
    captioner cap;        /* ODISE implicit captioner */
    float *U;             /* [n_ctx, D] text-encoder output on the empty prompt */
    int64_t n_ctx, ctx_dim;
    int64_t time_dim;     /* UNet time-embedding width (cond_emb) */
    int unet_feat[3];     /* output blocks whose inputs are s5, s4, s3 (2, 5, 8 in SD-1.5) */
    int64_t feat_c[3];    /* channels of s5, s4, s3 */
    int64_t feat_g[3];    /* grid side of s5, s4, s3 on one crop (8, 16, 32) */
    int64_t dino_dim;     /* Cd */
    int sd_t;             /* timestep (GC_SD_T; the pose-awareness test: 100) */
    bool sd_after_skip;   /* s5/s4/s3 taken after the skip concatenation (gc_features_set_sd_variant) */
    double stage_s[GC_STAGE_COUNT]; /* seconds spent per stage, accumulated over runs */
};

/* Build from models already loaded (benchmarks and tests use manifest weights). Takes ownership of
 * dino, sd and the contents of *clip and *cap (also on failure); sd NULL = DINOv2 only. text is run
 * once for U and stays the caller's. */
gc_status gc_features_assemble(gc_dinov2 *dino, gc_sd *sd, clip_vision *clip, captioner *cap, const clip_text *text,
                               gc_features **out);

/* The SD branch of the pose-awareness test (pose_awareness_test.py, REFERENCE.md sec. 9): timestep t
 * (100 there) and, with after_skip, s5/s4/s3 recorded after the skip concatenation, i.e. the whole input
 * of output blocks 2, 5, 8 (ODISE's decoder_only=False: 2560/1920/960 channels in SD-1.5, FreeU still on).
 * The default, t = 50 before the concatenation, is preprocess_map.py's; no effect with dino_only. */
void gc_features_set_sd_variant(gc_features *f, int t, bool after_skip);

/* Run both branches on the reference canvases (RGB u8, 960x960 and 840x840; either may be NULL to
 * skip its branch). tap (may be NULL) receives the intermediates under the e2e fixture names
 * (TRACE.md §7). out->s5/s4/s3/dino are allocated here. */
gc_status gc_features_run(gc_features *f, const uint8_t *canvas960, const uint8_t *canvas840, gc_feature_maps *out,
                          const gc_tap *tap);

#endif
