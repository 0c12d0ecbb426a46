#include "models/postproc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "io/safetensors.h"
#include "tensor/groupnorm.h"
#include "tensor/conv2d.h"
#include "tensor/linear.h"
#include "tensor/resample.h"

static const char *const k_convs[4] = {"conv1", "conv2", "conv3", "shortcut"};

/* Append a tensor to the layout; returns its offset. */
static int64_t add_tensor(gc_postproc *m, const char *name, int ndim, const int64_t *shape) {
    gc_pp_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->offset = m->n_params;
    m->n_params += t->numel;
    return t->offset;
}

const gc_pp_tensor *gc_postproc_tensor(const gc_postproc *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void gc_postproc_bind(const gc_postproc *m, float *base, gc_pp_params *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        float *p = base + t->offset;
        int b, n;
        char conv[16], rest[32];
        if (sscanf(t->name, "bottleneck_layers.%d.0.%15[a-z0-9].%n", &b, conv, &n) == 2) {
            snprintf(rest, sizeof rest, "%s", t->name + n);
            gc_pp_block *k = &out->blk[b];
            int c = 0;
            while (c < 4 && strcmp(conv, k_convs[c]) != 0) c++;
            float **slots[4][3] = {{&k->w1, &k->g1, &k->b1},
                                   {&k->w2, &k->g2, &k->b2},
                                   {&k->w3, &k->g3, &k->b3},
                                   {&k->ws, &k->gs, &k->bs}};
            int s = strcmp(rest, "weight") == 0 ? 0 : strcmp(rest, "norm.weight") == 0 ? 1 : 2;
            *slots[c][s] = p;
        } else if (strcmp(t->name, "mixing_weights") == 0) {
            out->mixing = p;
        } else if (strcmp(t->name, "logit_scale") == 0) {
            out->logit_scale = p;
        } else {
            out->self_logit_scale = p;
        }
    }
}

/* The tensor table and a zeroed parameter buffer for n_groups blocks of widths fd[], bottleneck mid,
 * output P; label names the source in errors. */
static gc_status build_layout(gc_postproc *m, int n_groups, const int64_t *fd, int64_t mid, int64_t P, int64_t groups,
                              const char *label) {
    memset(m, 0, sizeof *m);
    if (groups < 1) return gc_errorf(GC_ERR_ARG, "%s: GroupNorm group count %lld", label, (long long)groups);
    if (mid <= 0 || mid % groups || P % groups)
        return gc_errorf(GC_ERR_SHAPE, "%s: widths %lld / %lld are not positive multiples of the %lld GroupNorm groups "
                         "(the group count is not stored in a checkpoint: give it, e.g. num_norm_groups in config.json)",
                         label, (long long)mid, (long long)P, (long long)groups);
    m->proj = P;
    m->mid = mid;
    m->groups = groups;
    m->eps = 1e-5f;
    m->n_groups = n_groups;
    char name[64];
    for (int i = 0; i < n_groups; i++) {
        const int64_t cin = m->fd[i] = fd[i];
        if (cin <= 0) return gc_errorf(GC_ERR_SHAPE, "%s: block %d has %lld input channels", label, i, (long long)cin);
        m->cin += cin;
        const int64_t wshape[4][4] = {{mid, cin, 1, 1}, {mid, mid, 3, 3}, {P, mid, 1, 1}, {P, cin, 1, 1}};
        const int64_t nshape[4] = {mid, mid, P, P};
        for (int c = 0; c < 4; c++) {
            if (c == 3 && cin == P) break; /* identity shortcut (the DINO block) */
            snprintf(name, sizeof name, "bottleneck_layers.%d.0.%s.weight", i, k_convs[c]);
            add_tensor(m, name, 4, wshape[c]);
            snprintf(name, sizeof name, "bottleneck_layers.%d.0.%s.norm.weight", i, k_convs[c]);
            add_tensor(m, name, 1, &nshape[c]);
            snprintf(name, sizeof name, "bottleneck_layers.%d.0.%s.norm.bias", i, k_convs[c]);
            add_tensor(m, name, 1, &nshape[c]);
        }
    }
    add_tensor(m, "mixing_weights", 1, (const int64_t[]){n_groups});
    add_tensor(m, "logit_scale", 0, NULL);
    add_tensor(m, "self_logit_scale", 0, NULL);
    m->data = gc_calloc((size_t)m->n_params, sizeof(float));
    if (!m->data) return gc_error_context(GC_ERR_NOMEM, "post-processor parameters");
    gc_postproc_bind(m, m->data, &m->p);
    return GC_OK;
}

gc_status gc_postproc_new(gc_postproc *m, int n_groups, const int64_t *fd, int64_t proj, int64_t groups) {
    if (n_groups != 1 && n_groups != GC_PP_GROUPS)
        return gc_errorf(GC_ERR_ARG, "post-processor: %d feature groups (expected 4: s3, s4, s5, dino; or 1: dino)",
                         n_groups);
    if (proj <= 0 || proj % 4)
        return gc_errorf(GC_ERR_ARG, "post-processor: projection width %lld is not a positive multiple of 4",
                         (long long)proj);
    return build_layout(m, n_groups, fd, proj / 4, proj, groups, "post-processor");
}

gc_status gc_postproc_from_weights(gc_postproc *m, gc_weights *w, int64_t groups) {
    memset(m, 0, sizeof *m);
    if (groups <= 0) groups = 32;
    gc_weights_detect_prefix(w, "bottleneck_layers.0.0.conv1.weight");
    const gc_tensor_ref *r = gc_weights_find(w, "bottleneck_layers.0.0.conv3.weight");
    if (!r || r->ndim != 4)
        return gc_errorf(GC_ERR_MISSING, "%s: no post-processor tensor 'bottleneck_layers.0.0.conv3.weight' "
                         "(expected the authors' AggregationNetwork state-dict names)", gc_weights_label(w));
    const int64_t P = r->shape[0], mid = r->shape[1];
    /* the reference's AggregationNetwork has one block per feature group: 4 (SD s3, s4, s5 + DINO), or 1 */
    const int n_groups = gc_weights_findf(w, "bottleneck_layers.1.0.conv1.weight") ? GC_PP_GROUPS : 1;
    int64_t fd[GC_PP_GROUPS];
    for (int i = 0; i < n_groups; i++) {
        r = gc_weights_findf(w, "bottleneck_layers.%d.0.conv1.weight", i);
        if (!r || r->ndim != 4)
            return gc_errorf(GC_ERR_MISSING, "%s: missing tensor 'bottleneck_layers.%d.0.conv1.weight'",
                             gc_weights_label(w), i);
        fd[i] = r->shape[1];
    }
    gc_status s = build_layout(m, n_groups, fd, mid, P, groups, gc_weights_label(w));
    for (int i = 0; s == GC_OK && i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        float *dst = m->data + t->offset;
        const float *src;
        if (t->ndim == 0 && !gc_weights_has(w, t->name)) {
            /* non-strict load as the reference: absent scalars keep their __init__ values */
            *dst = strcmp(t->name, "logit_scale") == 0 ? logf(1.0f / 0.07f) : logf(10.0f);
            continue;
        }
        s = gc_weights_f32(w, t->name, t->ndim, t->shape, &src);
        if (s != GC_OK && t->ndim == 0) s = gc_weights_f32(w, t->name, 1, (const int64_t[]){1}, &src);
        if (s == GC_OK) memcpy(dst, src, (size_t)t->numel * sizeof(float));
    }
    if (s != GC_OK) gc_postproc_clear(m);
    return s;
}

gc_status gc_postproc_open(gc_postproc *m, const char *path, int64_t groups) {
    char *file = NULL, *config = NULL;
    GC_TRY(gc_resolve_model_path(path, "post-processor", NULL,
                                 "the authors' best_856.PTH or a geocorr train checkpoint", &config, &file));
    gc_status s = GC_OK;
    if (groups <= 0 && config) {
        cJSON *root = NULL;
        s = gc_json_load(config, &root);
        if (s == GC_OK) s = gc_json_int(root, config, "num_norm_groups", 32, &groups);
        cJSON_Delete(root);
    }
    free(config);
    gc_weights *w = NULL;
    if (s == GC_OK) s = gc_weights_open(file, &w);
    if (s == GC_OK) {
        s = gc_postproc_from_weights(m, w, groups);
        gc_weights_free(w);
    }
    free(file);
    return s;
}

void gc_postproc_clear(gc_postproc *m) {
    gc_free(m->data);
    memset(m, 0, sizeof *m);
}

gc_status gc_postproc_load(const char *path, int groups, gc_postproc **out) {
    *out = gc_calloc(1, sizeof **out);
    if (!*out) return GC_ERR_NOMEM;
    gc_status s = gc_postproc_open(*out, path, groups);
    if (s != GC_OK) {
        gc_free(*out);
        *out = NULL;
    }
    return s;
}

void gc_postproc_free(gc_postproc *m) {
    if (!m) return;
    gc_postproc_clear(m);
    gc_free(m);
}

gc_status gc_postproc_add_to_writer(const gc_postproc *m, const float *base, const char *prefix,
                                    gc_st_writer *wr) {
    for (int i = 0; i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        GC_TRY(gc_st_writer_add(wr, name, GC_DT_F32, t->ndim, t->shape, base + t->offset));
    }
    return GC_OK;
}

static void block_cache_release(gc_pp_block_cache *b);

void gc_pp_cache_free(gc_pp_cache *c) {
    gc_free(c->x);
    for (int i = 0; i < GC_PP_GROUPS; i++) block_cache_release(&c->blk[i]);
    gc_free(c->y);
    gc_free(c->norm);
    gc_free(c->desc);
    memset(c, 0, sizeof *c);
}

static gc_status block_cache_alloc(const gc_postproc *m, int i, int64_t HW, gc_pp_block_cache *b) {
    const int64_t mid = m->mid, P = m->proj, G = m->groups;
    const bool proj = m->p.blk[i].ws != NULL;
    b->h1 = gc_alloc_array((size_t)(mid * HW), sizeof(float));
    b->a1 = gc_alloc_array((size_t)(mid * HW), sizeof(float));
    b->h2 = gc_alloc_array((size_t)(mid * HW), sizeof(float));
    b->a2 = gc_alloc_array((size_t)(mid * HW), sizeof(float));
    b->h3 = gc_alloc_array((size_t)(P * HW), sizeof(float));
    b->hs = proj ? gc_alloc_array((size_t)(P * HW), sizeof(float)) : NULL;
    b->out = gc_alloc_array((size_t)(P * HW), sizeof(float));
    b->stats = gc_alloc_array((size_t)(4 * 2 * G), sizeof(float));
    b->stats_d = gc_alloc_array((size_t)(4 * 2 * G), sizeof(double));
    if (!b->h1 || !b->a1 || !b->h2 || !b->a2 || !b->h3 || (proj && !b->hs) || !b->out || !b->stats || !b->stats_d)
        return gc_error_context(GC_ERR_NOMEM, "post-processor activations (%lld cells)", (long long)HW);
    return GC_OK;
}

static void block_cache_release(gc_pp_block_cache *b) {
    float *bufs[] = {b->h1, b->a1, b->h2, b->a2, b->h3, b->hs, b->out, b->stats};
    for (size_t k = 0; k < GC_COUNTOF(bufs); k++) gc_free(bufs[k]);
    gc_free(b->stats_d);
    memset(b, 0, sizeof *b);
}

static void relu(float *x, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
}

/* w[K] . x[K] (x strided by `stride`) in double */
static double dot_exact(const float *w, const float *x, int64_t K, int64_t stride) {
    double d = 0;
    for (int64_t q = 0; q < K; q++) d += (double)w[q] * x[q * stride];
    return d;
}

/* GroupNorm of value h in channel c of C channels, with the double statistics sd[G, 2]. */
static double gn_exact(double h, const double *sd, const float *gamma, const float *beta, int64_t c, int64_t C,
                       int64_t G) {
    const int64_t g = c / (C / G);
    return (h - sd[2 * g]) * sd[2 * g + 1] * gamma[c] + beta[c];
}

/* Block i's output pre-activation at (c, j), recomputed in double from the block input x through
 * conv1 (at the 3x3 neighbourhood of j), conv2 and conv3 and the shortcut, with the GroupNorm statistics
 * in double. Used for the few elements whose float32 value is too
 * close to 0 to trust its sign: the float32 chain's error there (~1e-6 rel, seen: 3e-7 against an
 * exact -1.1e-7) flips the ReLU and its gradient against torch, whose float32 value keeps the sign.
 * Returns `fallback` when its small buffer cannot be allocated. */
static float out_exact(const gc_postproc *m, int i, const float *x, const gc_pp_block_cache *b, int64_t c,
                       int64_t j, int64_t H, int64_t W, float fallback) {
    const gc_pp_block *k = &m->p.blk[i];
    const int64_t HW = H * W, cin = m->fd[i], mid = m->mid, P = m->proj, G = m->groups;
    double *a1 = gc_alloc_array((size_t)(10 * mid), sizeof(double)); /* [mid, 3*3] conv1 taps, then a2 [mid] */
    if (!a1) return fallback;
    double *a2 = a1 + 9 * mid;
    const int64_t y0 = j / W, x0 = j % W;
    for (int64_t t = 0; t < 9; t++) {
        const int64_t yy = y0 + t / 3 - 1, xx = x0 + t % 3 - 1;
        const bool inside = yy >= 0 && yy < H && xx >= 0 && xx < W;
        for (int64_t q = 0; q < mid; q++) {
            const double v = inside ? gn_exact(dot_exact(k->w1 + q * cin, x + yy * W + xx, cin, HW), b->stats_d, k->g1,
                                               k->b1, q, mid, G)
                                    : 0.0;
            a1[q * 9 + t] = v > 0 ? v : 0.0;
        }
    }
    for (int64_t q = 0; q < mid; q++) {
        double h = 0;
        for (int64_t r = 0; r < 9 * mid; r++) h += (double)k->w2[q * 9 * mid + r] * a1[r];
        const double v = gn_exact(h, b->stats_d + 2 * G, k->g2, k->b2, q, mid, G);
        a2[q] = v > 0 ? v : 0.0;
    }
    double h3 = 0;
    for (int64_t q = 0; q < mid; q++) h3 += (double)k->w3[c * mid + q] * a2[q];
    double v = gn_exact(h3, b->stats_d + 4 * G, k->g3, k->b3, c, P, G);
    v += k->ws ? gn_exact(dot_exact(k->ws + c * cin, x + j, cin, HW), b->stats_d + 6 * G, k->gs, k->bs, c, P, G)
               : x[c * HW + j];
    gc_free(a1);
    return (float)v;
}

/* One bottleneck block on x[cin, HW]; intermediates into b, output b->out. scratch: [P*HW] floats. */
static gc_status block_forward(const gc_postproc *m, int i, const float *x, int64_t H, int64_t W,
                               gc_pp_block_cache *b, float *scratch, gc_pp_tap_fn tap,
                               void *ctx) {
    const gc_pp_block *k = &m->p.blk[i];
    const int64_t HW = H * W, cin = m->fd[i], mid = m->mid, P = m->proj, G = m->groups;
    float *st = b->stats;
    double *sd = b->stats_d;
    char name[32];
#define GC_PP_TAP(suffix, ptr, C)                                  \
    do {                                                           \
        if (tap) {                                                 \
            snprintf(name, sizeof name, "b%d.%s", i, suffix);      \
            GC_TRY(tap(ctx, name, (ptr), (C), H, W));              \
        }                                                          \
    } while (0)
    GC_TRY(gc_matmul(b->h1, k->w1, x, mid, cin, HW, false, false, 1.0f, 0.0f));
    gc_groupnorm_stats(b->a1, b->h1, k->g1, k->b1, mid, HW, G, m->eps, st, sd);
    GC_PP_TAP("conv1", b->a1, mid);
    relu(b->a1, mid * HW);
    GC_TRY(gc_conv2d(b->h2, b->a1, k->w2, NULL, mid, H, W, mid, 3, 1, (gc_pad2d){1, 1, 1, 1}));
    gc_groupnorm_stats(b->a2, b->h2, k->g2, k->b2, mid, HW, G, m->eps, st + 2 * G, sd + 2 * G);
    GC_PP_TAP("conv2", b->a2, mid);
    relu(b->a2, mid * HW);
    GC_TRY(gc_matmul(b->h3, k->w3, b->a2, P, mid, HW, false, false, 1.0f, 0.0f));
    gc_groupnorm_stats(b->out, b->h3, k->g3, k->b3, P, HW, G, m->eps, st + 4 * G, sd + 4 * G);
    GC_PP_TAP("conv3", b->out, P);
    const float *sc = x;
    if (k->ws) {
        GC_TRY(gc_matmul(b->hs, k->ws, x, P, cin, HW, false, false, 1.0f, 0.0f));
        gc_groupnorm_stats(scratch, b->hs, k->gs, k->bs, P, HW, G, m->eps, st + 6 * G, sd + 6 * G);
        GC_PP_TAP("shortcut", scratch, P);
        sc = scratch;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < P; c++) {
        /* GroupNorm outputs are ~|gamma| + |beta| in size (the identity shortcut: |x|); a float32 sum
         * within 1e-5 of that scale from 0 may have the wrong sign (its error is ~1e-6 rel), which would
         * flip the ReLU and its gradient against torch: recompute those few in double */
        const float scale = fabsf(k->g3[c]) + fabsf(k->b3[c]) + (k->ws ? fabsf(k->gs[c]) + fabsf(k->bs[c]) : 0);
        float *oc = b->out + c * HW;
        const float *scc = sc + c * HW;
        for (int64_t j = 0; j < HW; j++) {
            float v = oc[j] + scc[j];
            if (fabsf(v) <= 1e-5f * (scale + (k->ws ? 0 : fabsf(scc[j])))) v = out_exact(m, i, x, b, c, j, H, W, v);
            oc[j] = v > 0 ? v : 0.0f;
        }
    }
    GC_PP_TAP("out", b->out, P);
#undef GC_PP_TAP
    return GC_OK;
}

void gc_postproc_mixing(const gc_postproc *m, float *mix) {
    float mx = m->p.mixing[0], sum = 0;
    for (int i = 1; i < m->n_groups; i++) mx = fmaxf(mx, m->p.mixing[i]);
    for (int i = 0; i < m->n_groups; i++) sum += mix[i] = expf(m->p.mixing[i] - mx);
    for (int i = 0; i < m->n_groups; i++) mix[i] /= sum;
}

/* y (+)= mix * out, in the reference's accumulation order (block 0 first). */
static void mix_accumulate(float *y, const float *out, float mix, int64_t n, bool first) {
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) y[j] = first ? out[j] * mix : y[j] + out[j] * mix;
}

static gc_status check_input(const gc_postproc *m, int64_t H, int64_t W) {
    int64_t n;
    if (H <= 0 || W <= 0 || !gc_mul_ok(H, W, &n) || !gc_mul_ok(n, m->cin, &n) || !gc_mul_ok(n, 16, &n))
        return gc_errorf(GC_ERR_SHAPE, "post-processor: bad input size %lld x %lld", (long long)H, (long long)W);
    return GC_OK;
}

gc_status gc_postproc_forward(const gc_postproc *m, const float *x, int64_t H, int64_t W, float *out,
                              gc_pp_tap_fn tap, void *tap_ctx) {
    GC_TRY(check_input(m, H, W));
    const int64_t HW = H * W, P = m->proj;
    float mix[GC_PP_GROUPS];
    gc_postproc_mixing(m, mix);
    gc_pp_block_cache b = {0};
    float *scratch = gc_alloc_array((size_t)(P * HW), sizeof(float));
    gc_status s = scratch ? GC_OK : gc_error_context(GC_ERR_NOMEM, "post-processor scratch");
    int64_t off = 0;
    for (int i = 0; s == GC_OK && i < m->n_groups; i++) {
        s = block_cache_alloc(m, i, HW, &b);
        if (s == GC_OK) s = block_forward(m, i, x + off * HW, H, W, &b, scratch, tap, tap_ctx);
        if (s == GC_OK) mix_accumulate(out, b.out, mix[i], P * HW, i == 0);
        block_cache_release(&b);
        off += m->fd[i];
    }
    gc_free(scratch);
    if (s == GC_OK && tap) s = tap(tap_ctx, "out", out, P, H, W);
    return s;
}

void gc_postproc_descriptors(float *desc, float *norm, const float *out, int64_t P, int64_t HW) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < HW; t++) {
        double ss = 0;
        for (int64_t c = 0; c < P; c++) ss += (double)out[c * HW + t] * out[c * HW + t];
        const float n = (float)sqrt(ss);
        norm[t] = n;
        const float d = n + 1e-10f;
        for (int64_t c = 0; c < P; c++) desc[t * P + c] = out[c * HW + t] / d;
    }
}

gc_status gc_postproc_forward_train(const gc_postproc *m, const float *x, const float *drop_mask, int64_t H,
                                    int64_t W, gc_pp_cache *c) {
    memset(c, 0, sizeof *c);
    GC_TRY(check_input(m, H, W));
    const int64_t HW = H * W, P = m->proj;
    c->H = H;
    c->W = W;
    c->x = gc_alloc_array((size_t)(m->cin * HW), sizeof(float));
    c->y = gc_alloc_array((size_t)(P * HW), sizeof(float));
    c->norm = gc_alloc_array((size_t)HW, sizeof(float));
    c->desc = gc_alloc_array((size_t)(P * HW), sizeof(float));
    float *scratch = gc_alloc_array((size_t)(P * HW), sizeof(float));
    gc_status s = c->x && c->y && c->norm && c->desc && scratch
                      ? GC_OK
                      : gc_error_context(GC_ERR_NOMEM, "post-processor training buffers");
    if (s == GC_OK) {
        const int64_t n = m->cin * HW;
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n; j++) c->x[j] = drop_mask ? x[j] * drop_mask[j] : x[j];
        gc_postproc_mixing(m, c->mix);
    }
    int64_t off = 0;
    for (int i = 0; s == GC_OK && i < m->n_groups; i++) {
        s = block_cache_alloc(m, i, HW, &c->blk[i]);
        if (s == GC_OK) s = block_forward(m, i, c->x + off * HW, H, W, &c->blk[i], scratch, NULL, NULL);
        if (s == GC_OK) mix_accumulate(c->y, c->blk[i].out, c->mix[i], P * HW, i == 0);
        off += m->fd[i];
    }
    gc_free(scratch);
    if (s != GC_OK) {
        gc_pp_cache_free(c);
        return s;
    }
    gc_postproc_descriptors(c->desc, c->norm, c->y, P, HW);
    return GC_OK;
}
