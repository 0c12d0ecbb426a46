/* ODISE's implicit captioner (LdmImplicitCaptionerExtractor): turns the CLIP image embedding of a
 * crop into the UNet's text conditioning and a time-embedding bias.
 *   cond     = U + tanh(alpha_cond) * (W_c prefix + b_c + P_c)          [n_ctx, D]
 *   cond_emb = tanh(alpha_t) * (W_t prefix + b_t + P_t)                 [Dt]
 * Weights: the module names (`clip_project.linear.weight`, ...) or an ODISE checkpoint where they sit
 * under `model.backbone.feature_extractor.` / `backbone.feature_extractor.` (found by prefix). */
#ifndef GC_CAPTIONER_H
#define GC_CAPTIONER_H

#include "models/tap.h"

typedef struct {
    int64_t embed;          /* E: CLIP image embedding width (768) */
    int64_t width;          /* D: text width (768) */
    int64_t ctx;            /* n_ctx (77) */
    int64_t time_dim;       /* Dt: UNet time-embedding width (1280) */
    const float *proj_w;    /* [D, E] clip_project.linear.weight */
    const float *proj_b;    /* [D] */
    const float *proj_pos;  /* [n_ctx, D] clip_project.positional_embedding */
    const float *alpha;     /* [n_ctx, D] alpha_cond */
    const float *time_w;    /* [Dt, E] time_embed_project.linear.weight */
    const float *time_b;    /* [Dt] */
    const float *time_pos;  /* [Dt] time_embed_project.positional_embedding ([1,1,Dt]) */
    const float *time_alpha;/* [Dt] alpha_cond_time_embed */
    gc_weights *w;          /* owned */
} captioner;

/* Load from a file (safetensors or the ODISE .pth) or a folder holding one. */
gc_status captioner_load(captioner *m, const char *path);
/* Bind an open weight set (ownership passes to m, also on failure). */
gc_status captioner_init(captioner *m, gc_weights *w);
void captioner_free(captioner *m);

/* prefix [E], U [n_ctx, D] -> cond [n_ctx, D], cond_emb [Dt]. Taps: prefix_embed, cond, cond_emb,
 * cond_emb_step0. */
gc_status captioner_forward(const captioner *m, const float *prefix, const float *U, float *cond,
                            float *cond_emb, const gc_tap *tap);

#endif
