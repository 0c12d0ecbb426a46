/* CLIP image tower (OpenAI ViT as built by open_clip; ODISE's implicit captioner uses ViT-L/14-336):
 * conv1 patch embedding (no bias) -> prepend class_embedding -> + positional_embedding -> ln_pre ->
 * pre-LN QuickGELU blocks -> ln_post on all tokens -> @ proj -> image_embed = the class token (not
 * L2-normalised). Weights in OpenAI/open_clip naming (`visual.*`) or HF CLIPVisionModelWithProjection
 * naming (`vision_model.*` + `visual_projection.weight`). */
#ifndef GC_CLIP_VISION_H
#define GC_CLIP_VISION_H

#include <cjson/cJSON.h>

#include "models/clip_block.h"
#include "models/tap.h"

typedef struct {
    int64_t width;                      /* W (1024 for ViT-L) */
    int64_t patch;                      /* p = 14 */
    int64_t grid;                       /* g = S/p (24) */
    int64_t image_size;                 /* S = g*p (336) */
    int64_t tokens;                     /* T = 1 + g*g (577) */
    int64_t embed;                      /* E (768) */
    const float *conv1_w;               /* [W, 3*p*p] (conv weight [W,3,p,p] flattened; no bias) */
    const float *class_emb;             /* [W] */
    const float *pos_emb;               /* [T, W] */
    const float *ln_pre_w, *ln_pre_b;   /* [W] */
    clip_stack stack;                   /* 24 blocks, 16 heads, eps 1e-5 for ViT-L */
    const float *ln_post_w, *ln_post_b; /* [W] */
    const float *proj;                  /* [W, E] OpenAI `visual.proj` (x @ proj), or NULL */
    const float *proj_t;                /* [E, W] HF `visual_projection.weight` (Linear), or NULL */
    gc_weights *w;                      /* owned */
} clip_vision;

/* Load from a path as TRACE.md §0/§5 (folder with config.json + weights, or a weights file). */
gc_status clip_vision_load(clip_vision *m, const char *path);
/* Bind an open weight set (ownership passes to m, also on failure). cfg may be NULL. */
gc_status clip_vision_init(clip_vision *m, gc_weights *w, const cJSON *cfg, const char *cfg_file);
void clip_vision_free(clip_vision *m);

/* ODISE's ClipAdapter preprocessing of a uint8 RGB crop (HWC, rows `row_stride` bytes apart):
 * /255 -> bicubic resize of the short side to S (PyTorch, A=-0.75, no antialias) -> centre crop S
 * -> (x - mean) / std with the CLIP constants. pixel_values: [3, S, S]. */
gc_status clip_vision_preprocess(const clip_vision *m, const uint8_t *crop, int64_t H, int64_t W,
                                 int64_t row_stride, float *pixel_values);
/* pixel_values [3, S, S] -> image_embed [E]. Taps: patch_embeds, tokens_in, ln_pre, block{i},
 * ln_post, proj_all, image_embed. */
gc_status clip_vision_forward(const clip_vision *m, const float *pixel_values, float *image_embed,
                              const gc_tap *tap);
/* nb images at once: pixel_values [nb, 3, S, S] -> image_embed [nb, E], the same bytes per image as
 * nb single calls; taps as above with nb for the leading 1 (patch_embeds{i} per image when nb > 1). */
gc_status clip_vision_forward_batch(const clip_vision *m, const float *pixel_values, int64_t nb, float *image_embed,
                                    const gc_tap *tap);

#endif
