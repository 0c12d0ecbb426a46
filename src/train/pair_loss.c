#include "train/pair_loss.h"

#include <string.h>

#include "train/loss.h"

gc_loss_cfg gc_loss_cfg_default(void) {
    return (gc_loss_cfg){.jitter = 0.1, .w_single = 0, .w_double = 1, .w_self = 0.25, .beta = 0.02f,
                         .anno = GC_CANVAS_DINO, .side = 60, .flow_maps = false, .thr_unscaled = false};
}

bool gc_loss_cfg_uses_flips(const gc_loss_cfg *cfg) {
    return cfg->w_single > 0 || cfg->w_double > 0 || cfg->w_self > 0;
}

void gc_pair_loss_free(gc_pair_loss *l) {
    for (int k = 0; k < l->n_terms; k++) {
        gc_loss_term *t = &l->t[k];
        void *bufs[] = {t->kps1, t->kps2, t->src_idx, t->trg_idx, t->gt_pre, t->z, t->gt, t->flow_map};
        for (size_t i = 0; i < GC_COUNTOF(bufs); i++) gc_free(bufs[i]);
    }
    memset(l, 0, sizeof *l);
}

/* flip_keypoints: row i of the flipped set is original row perm[i] mirrored (x' = anno - x). */
static void flip_kps(float *out, const float *kps, const int64_t *perm, int64_t np, int64_t anno) {
    for (int64_t i = 0; i < np; i++) {
        const float *s = kps + 3 * perm[i];
        out[3 * i] = (float)anno - s[0];
        out[3 * i + 1] = s[1];
        out[3 * i + 2] = s[2];
    }
}

/* Add a term over the rows of a / b (m rows each) visible in both; false (nothing added) when none. */
static gc_status add_term(gc_pair_loss *l, const char *name, double w, int src, int trg, const float *a,
                          const float *b, int64_t m, bool *added) {
    int64_t n = 0;
    for (int64_t i = 0; i < m; i++) n += a[3 * i + 2] * b[3 * i + 2] != 0;
    *added = n > 0;
    if (!n) return GC_OK;
    gc_loss_term *t = &l->t[l->n_terms++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->weight = w;
    t->src = src;
    t->trg = trg;
    t->n = n;
    t->kps1 = gc_alloc_array((size_t)(3 * n), sizeof(float));
    t->kps2 = gc_alloc_array((size_t)(3 * n), sizeof(float));
    t->src_idx = gc_alloc_array((size_t)n, sizeof(int64_t));
    t->trg_idx = gc_alloc_array((size_t)n, sizeof(int64_t));
    t->gt_pre = gc_alloc_array((size_t)(2 * n), sizeof(float));
    t->z = gc_calloc((size_t)(2 * n), sizeof(float));
    t->gt = gc_alloc_array((size_t)(2 * n), sizeof(float));
    if (!t->kps1 || !t->kps2 || !t->src_idx || !t->trg_idx || !t->gt_pre || !t->z || !t->gt)
        return gc_error_context(GC_ERR_NOMEM, "loss term %s", name);
    for (int64_t i = 0, k = 0; i < m; i++) {
        if (a[3 * i + 2] * b[3 * i + 2] == 0) continue;
        memcpy(t->kps1 + 3 * k, a + 3 * i, 3 * sizeof(float));
        memcpy(t->kps2 + 3 * k, b + 3 * i, 3 * sizeof(float));
        k++;
    }
    return GC_OK;
}

gc_status gc_pair_loss_compute(const gc_loss_cfg *cfg, const gc_pair_inputs *in, gc_jitter_fn jitter, void *jctx,
                               float *const ddesc[4], float *dlogit_scale, float *dg, gc_pair_loss *out) {
    memset(out, 0, sizeof *out);
    const int64_t side = cfg->side, HW = side * side, np = in->perm ? in->np : 0;
    const bool flips = gc_loss_cfg_uses_flips(cfg) && np > 0;
    for (int64_t i = 0; i < np; i++)
        if (in->perm[i] < 0 || in->perm[i] >= in->nk)
            return gc_errorf(GC_ERR_ARG, "flip permutation entry %lld = %lld is not a keypoint row (0..%lld)",
                             (long long)i, (long long)in->perm[i], (long long)in->nk - 1);
    if (np > in->nk)
        return gc_errorf(GC_ERR_ARG, "flip permutation has %lld entries for %lld keypoint rows", (long long)np,
                         (long long)in->nk);
    float *fs = gc_alloc_array((size_t)(3 * GC_MAX(np, 1)), sizeof(float));
    float *ft = gc_alloc_array((size_t)(3 * GC_MAX(np, 1)), sizeof(float));
    gc_status s = fs && ft ? GC_OK : gc_error_context(GC_ERR_NOMEM, "flipped keypoints");
    bool added;
    /* the pair term is always present (the reference does not guard it) */
    if (s == GC_OK) s = add_term(out, "pair", 1.0, GC_DESC_SRC, GC_DESC_TRG, in->kps_src, in->kps_trg, in->nk, &added);
    if (s == GC_OK && !added) s = gc_errorf(GC_ERR_ARG, "training pair has no mutually visible keypoint");
    const double to_grid = cfg->thr_unscaled ? 1.0 : (double)side / (double)cfg->anno;
    const double thr_src = in->thr_src * to_grid, thr_trg = in->thr_trg * to_grid;
    double thr[4] = {thr_trg, thr_trg, thr_trg, thr_trg};
    if (s == GC_OK && flips) {
        flip_kps(fs, in->kps_src, in->perm, np, cfg->anno);
        flip_kps(ft, in->kps_trg, in->perm, np, cfg->anno);
        if (cfg->w_single > 0 && s == GC_OK)
            s = add_term(out, "single_flip", cfg->w_single, GC_DESC_SRC_FLIP, GC_DESC_TRG, fs, in->kps_trg, np,
                         &added);
        if (cfg->w_double > 0 && s == GC_OK)
            s = add_term(out, "double_flip", cfg->w_double, GC_DESC_SRC_FLIP, GC_DESC_TRG_FLIP, fs, ft, np, &added);
        if (cfg->w_self > 0 && s == GC_OK) {
            s = add_term(out, "self_flip", cfg->w_self, GC_DESC_SRC_FLIP, GC_DESC_SRC, fs, in->kps_src, np, &added);
            if (added) thr[out->n_terms - 1] = thr_src;
        }
    }
    gc_free(fs);
    gc_free(ft);
    double wsum = 0;
    for (int k = 0; k < out->n_terms; k++) wsum += out->t[k].weight;
    double total = 0;
    for (int k = 0; s == GC_OK && k < out->n_terms; k++) {
        gc_loss_term *t = &out->t[k];
        const float *S = in->desc[t->src], *T = in->desc[t->trg];
        if (!S || !T) {
            s = gc_errorf(GC_ERR_ARG, "loss term %s: descriptor map missing", t->name);
            break;
        }
        float *uv1 = gc_alloc_array((size_t)(2 * t->n), sizeof(float));
        float *uv2 = gc_alloc_array((size_t)(2 * t->n), sizeof(float));
        if (!uv1 || !uv2) s = gc_error_context(GC_ERR_NOMEM, "loss term %s", t->name);
        if (s == GC_OK) {
            gc_kps_to_grid(t->kps1, t->n, side, cfg->anno, t->src_idx, uv1);
            gc_kps_to_grid(t->kps2, t->n, side, cfg->anno, t->trg_idx, uv2);
            for (int64_t i = 0; i < 2 * t->n; i++) t->gt_pre[i] = uv2[i] - uv1[i];
            t->jitter_std = (float)(cfg->jitter * thr[k] / 2.0);
            if (cfg->jitter > 0 && jitter) s = jitter(jctx, k, t->n, t->z);
            for (int64_t i = 0; i < 2 * t->n; i++)
                t->gt[i] = cfg->jitter > 0 ? t->gt_pre[i] + t->z[i] * t->jitter_std : t->gt_pre[i];
        }
        gc_free(uv1);
        gc_free(uv2);
        const float scale = (float)(t->weight / wsum);
        float *dS = ddesc ? ddesc[t->src] : NULL, *dT = ddesc ? ddesc[t->trg] : NULL;
        if (s == GC_OK && k == 0)
            s = gc_loss_clip(S, T, in->P, t->n, t->src_idx, t->trg_idx, in->logit_scale, scale, dS, dT, dlogit_scale,
                             &t->sparse);
        if (s == GC_OK)
            s = gc_loss_dense(S, T, in->P, side, t->n, t->src_idx, t->gt, in->g, cfg->beta, scale, dS, dT, dg, NULL,
                              &t->dense);
        if (s == GC_OK && cfg->flow_maps) {
            t->flow_map = gc_alloc_array((size_t)(2 * HW), sizeof(float));
            s = t->flow_map ? gc_flow_map(S, T, in->P, side, in->g, cfg->beta, t->flow_map)
                            : gc_error_context(GC_ERR_NOMEM, "flow map");
        }
        t->value = t->sparse + t->dense;
        total += t->value * t->weight;
    }
    out->loss = (float)(total / wsum);
    if (s != GC_OK) gc_pair_loss_free(out);
    return s;
}
