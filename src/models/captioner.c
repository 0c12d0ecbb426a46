#include <math.h>
#include <stdlib.h>

#include "io/config.h"
#include "models/captioner.h"
#include "tensor/linear.h"

void captioner_free(captioner *m) {
    gc_weights_free(m->w);
    *m = (captioner){0};
}

static gc_status init(captioner *m) {
    gc_weights *w = m->w;
    if (!gc_weights_detect_prefix(w, "clip_project.linear.weight"))
        return gc_errorf(GC_ERR_MISSING, "%s: no implicit-captioner weights: expected "
                         "'backbone.feature_extractor.clip_project.linear.weight' (ODISE checkpoint "
                         "odise_label_coco_50e-b67d2efc.pth) or 'clip_project.linear.weight'", gc_weights_label(w));
    const gc_tensor_ref *pw = gc_weights_find(w, "clip_project.linear.weight");
    const gc_tensor_ref *tw = gc_weights_find(w, "time_embed_project.linear.weight");
    const gc_tensor_ref *pp = gc_weights_find(w, "clip_project.positional_embedding");
    if (pw->ndim != 2 || !tw || tw->ndim != 2 || !pp || pp->ndim != 3)
        return gc_errorf(GC_ERR_SHAPE, "%s: captioner weights missing or malformed (clip_project.linear.weight "
                         "[D,E], time_embed_project.linear.weight [Dt,E], clip_project.positional_embedding "
                         "[1,n_ctx,D])", gc_weights_label(w));
    int64_t D = m->width = pw->shape[0], E = m->embed = pw->shape[1], Dt = m->time_dim = tw->shape[0];
    int64_t n = m->ctx = pp->shape[1];
    GC_TRY(GC_WEIGHT(w, "clip_project.linear.weight", &m->proj_w, D, E));
    GC_TRY(GC_WEIGHT(w, "clip_project.linear.bias", &m->proj_b, D));
    GC_TRY(GC_WEIGHT(w, "clip_project.positional_embedding", &m->proj_pos, 1, n, D));
    GC_TRY(GC_WEIGHT(w, "alpha_cond", &m->alpha, 1, n, D));
    GC_TRY(GC_WEIGHT(w, "time_embed_project.linear.weight", &m->time_w, Dt, E));
    GC_TRY(GC_WEIGHT(w, "time_embed_project.linear.bias", &m->time_b, Dt));
    GC_TRY(GC_WEIGHT(w, "time_embed_project.positional_embedding", &m->time_pos, 1, 1, Dt));
    GC_TRY(GC_WEIGHT(w, "alpha_cond_time_embed", &m->time_alpha, Dt));
    return GC_OK;
}

gc_status captioner_init(captioner *m, gc_weights *w) {
    *m = (captioner){.w = w};
    gc_status s = init(m);
    if (s != GC_OK) captioner_free(m);
    return s;
}

gc_status captioner_load(captioner *m, const char *path) {
    static const char *const preferred[] = {"odise_label_coco_50e-b67d2efc.pth", NULL};
    char *cfg_path = NULL, *wpath = NULL;
    *m = (captioner){0};
    GC_TRY(gc_resolve_model_path(path, "implicit captioner", preferred,
                                 "the ODISE checkpoint odise_label_coco_50e-b67d2efc.pth", &cfg_path, &wpath));
    gc_weights *w = NULL;
    gc_status s = gc_weights_open(wpath, &w);
    if (s == GC_OK) s = captioner_init(m, w);
    free(cfg_path);
    free(wpath);
    return s;
}

gc_status captioner_forward(const captioner *m, const float *prefix, const float *U, float *cond,
                            float *cond_emb, const gc_tap *tap) {
    int64_t D = m->width, n = m->ctx, Dt = m->time_dim;
    float *lin = gc_alloc_array((size_t)(D * n + D), sizeof(float));
    if (!lin) return GC_ERR_NOMEM;
    float *pe = lin + D;
    /* PositionalLinear: linear(x).unsqueeze(1) + positional_embedding. */
    gc_status s = gc_linear(lin, prefix, m->proj_w, m->proj_b, 1, m->embed, D);
    for (int64_t t = 0; t < n && s == GC_OK; t++)
        for (int64_t c = 0; c < D; c++) pe[t * D + c] = lin[c] + m->proj_pos[t * D + c];
    for (int64_t i = 0; i < n * D && s == GC_OK; i++) cond[i] = U[i] + tanhf(m->alpha[i]) * pe[i];
    if (s == GC_OK) s = gc_linear(cond_emb, prefix, m->time_w, m->time_b, 1, m->embed, Dt);
    for (int64_t c = 0; c < Dt && s == GC_OK; c++)
        cond_emb[c] = tanhf(m->time_alpha[c]) * (cond_emb[c] + m->time_pos[c]);
    if (s == GC_OK) s = GC_TAP(tap, "prefix_embed", pe, 1, n, D);
    if (s == GC_OK) s = GC_TAP(tap, "cond", cond, 1, n, D);
    if (s == GC_OK) s = GC_TAP(tap, "cond_emb", cond_emb, 1, 1, Dt);
    if (s == GC_OK) s = GC_TAP(tap, "cond_emb_step0", cond_emb, 1, Dt);
    gc_free(lin);
    return s;
}
