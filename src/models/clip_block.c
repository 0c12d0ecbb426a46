#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/clip_block.h"

static const char *ln1_name(clip_naming n) { return n == CLIP_NAMING_HF ? "layer_norm1.weight" : "ln_1.weight"; }

int clip_block_count(const gc_weights *w, clip_naming naming, const char *base) {
    int n = 0;
    while (gc_weights_findf(w, "%s%d.%s", base, n, ln1_name(naming))) n++;
    return n;
}

/* One tensor of block i: "<base><i>.<leaf>" with the expected shape. */
static gc_status bind(gc_weights *w, const char *base, int i, const char *leaf, const float **out, int ndim,
                      int64_t d0, int64_t d1) {
    char name[256];
    snprintf(name, sizeof name, "%s%d.%s", base, i, leaf);
    int64_t shape[2] = {d0, d1};
    return gc_weights_f32(w, name, ndim, shape, out);
}

gc_status clip_block_load(clip_block *b, gc_weights *w, clip_naming naming, const char *base, int i, int64_t W) {
    *b = (clip_block){.width = W};
    bool hf = naming == CLIP_NAMING_HF;
    const char *fc1 = hf ? "mlp.fc1.weight" : "mlp.c_fc.weight";
    const gc_tensor_ref *r = gc_weights_findf(w, "%s%d.%s", base, i, fc1);
    if (!r || r->ndim != 2)
        return gc_errorf(GC_ERR_MISSING, "%s: missing or malformed CLIP MLP weight '%s%s%d.%s'",
                         gc_weights_label(w), gc_weights_prefix(w), base, i, fc1);
    int64_t F = b->mlp = r->shape[0];
    GC_TRY(bind(w, base, i, ln1_name(naming), &b->ln1_w, 1, W, 0));
    GC_TRY(bind(w, base, i, hf ? "layer_norm1.bias" : "ln_1.bias", &b->ln1_b, 1, W, 0));
    GC_TRY(bind(w, base, i, hf ? "layer_norm2.weight" : "ln_2.weight", &b->ln2_w, 1, W, 0));
    GC_TRY(bind(w, base, i, hf ? "layer_norm2.bias" : "ln_2.bias", &b->ln2_b, 1, W, 0));
    if (hf) {
        GC_TRY(bind(w, base, i, "self_attn.q_proj.weight", &b->wq, 2, W, W));
        GC_TRY(bind(w, base, i, "self_attn.k_proj.weight", &b->wk, 2, W, W));
        GC_TRY(bind(w, base, i, "self_attn.v_proj.weight", &b->wv, 2, W, W));
        GC_TRY(bind(w, base, i, "self_attn.q_proj.bias", &b->bq, 1, W, 0));
        GC_TRY(bind(w, base, i, "self_attn.k_proj.bias", &b->bk, 1, W, 0));
        GC_TRY(bind(w, base, i, "self_attn.v_proj.bias", &b->bv, 1, W, 0));
        GC_TRY(bind(w, base, i, "self_attn.out_proj.weight", &b->wo, 2, W, W));
        GC_TRY(bind(w, base, i, "self_attn.out_proj.bias", &b->bo, 1, W, 0));
    } else {
        const float *in_w, *in_b;
        GC_TRY(bind(w, base, i, "attn.in_proj_weight", &in_w, 2, 3 * W, W));
        GC_TRY(bind(w, base, i, "attn.in_proj_bias", &in_b, 1, 3 * W, 0));
        b->wq = in_w, b->wk = in_w + W * W, b->wv = in_w + 2 * W * W;
        b->bq = in_b, b->bk = in_b + W, b->bv = in_b + 2 * W;
        GC_TRY(bind(w, base, i, "attn.out_proj.weight", &b->wo, 2, W, W));
        GC_TRY(bind(w, base, i, "attn.out_proj.bias", &b->bo, 1, W, 0));
    }
    GC_TRY(bind(w, base, i, fc1, &b->fc1_w, 2, F, W));
    GC_TRY(bind(w, base, i, hf ? "mlp.fc1.bias" : "mlp.c_fc.bias", &b->fc1_b, 1, F, 0));
    GC_TRY(bind(w, base, i, hf ? "mlp.fc2.weight" : "mlp.c_proj.weight", &b->fc2_w, 2, W, F));
    GC_TRY(bind(w, base, i, hf ? "mlp.fc2.bias" : "mlp.c_proj.bias", &b->fc2_b, 1, W, 0));
    return GC_OK;
}

/* Rows i < keep of each of the nseq sequences of T rows in x [nseq * T, W] to or from xs [nseq * keep, W]. */
static void seq_rows(float *xs, float *x, int64_t nseq, int64_t T, int64_t keep, int64_t W, bool gather) {
    for (int64_t s = 0; s < nseq; s++)
        for (int64_t i = 0; i < keep; i++) {
            float *a = xs + (s * keep + i) * W, *b = x + (s * T + i) * W;
            memcpy(gather ? a : b, gather ? b : a, (size_t)W * sizeof(float));
        }
}

gc_status clip_block_forward(const clip_block *b, const gc_exec *ex, gc_arena *a, float *x, int64_t nseq, int64_t T,
                             int64_t keep, int64_t heads, float eps, bool causal) {
    const gc_backend_i *be = ex->be;
    const int64_t W = b->width, F = b->mlp, hd = W / heads, R = nseq * T, n = nseq * keep;
    const bool all = keep == T;
    size_t mark = gc_arena_mark(a);
    float *h = gc_arena_floats(a, R * (5 * W + F) + (all ? 0 : 2 * n * W));
    if (!h) return GC_ERR_NOMEM;
    float *q = h + R * W, *k = q + R * W, *v = k + R * W, *at = v + R * W, *m = at + R * W;
    /* Keys and values come from every token; queries, the projection and the MLP only from the rows
     * the caller keeps, gathered into xo / ho (a row's bytes do not depend on how many rows a product
     * has: tensor/linear.c). */
    float *xo = all ? x : m + R * F, *ho = all ? h : xo + n * W;
    gc_status s;
    be->layernorm(h, x, b->ln1_w, b->ln1_b, R, W, eps);
    if (!all) seq_rows(ho, h, nseq, T, keep, W, true);
    if ((s = be->linear(q, ho, b->wq, b->bq, n, W, W)) == GC_OK && (s = be->linear(k, h, b->wk, b->bk, R, W, W)) == GC_OK)
        s = be->linear(v, h, b->wv, b->bv, R, W, W);
    for (int64_t i = 0; i < nseq && s == GC_OK; i++) /* each sequence attends to itself */
        s = be->attention(a, at + i * keep * W, W, q + i * keep * W, W, k + i * T * W, W, v + i * T * W, W, keep, T,
                          heads, hd, 1.0f / sqrtf((float)hd), causal);
    if (s == GC_OK && (s = be->linear(h, at, b->wo, b->bo, n, W, W)) == GC_OK) {
        if (!all) seq_rows(xo, x, nseq, T, keep, W, true);
        be->add_scaled(xo, h, NULL, n, W);
        be->layernorm(h, xo, b->ln2_w, b->ln2_b, n, W, eps);
        s = be->linear_act(m, h, b->fc1_w, b->fc1_b, n, W, F, GC_ACT_QUICK_GELU);
    }
    if (s == GC_OK) s = be->linear(h, m, b->fc2_w, b->fc2_b, n, F, W);
    if (s == GC_OK) {
        be->add_scaled(xo, h, NULL, n, W);
        if (!all) seq_rows(xo, x, nseq, T, keep, W, false);
    }
    gc_arena_rewind(a, mark);
    return s;
}

/* The dotted path of `key` in the first place it appears, or NULL. */
static const char *config_path(const cJSON *cfg, const char *const *sections, const char *key, char *buf,
                               size_t len) {
    if (!cfg) return NULL;
    if (gc_json_get(cfg, key)) return key;
    for (int i = 0; sections && sections[i]; i++) {
        snprintf(buf, len, "%s.%s", sections[i], key);
        if (gc_json_get(cfg, buf)) return buf;
    }
    return NULL;
}

gc_status clip_config_int(const cJSON *cfg, const char *file, const char *const *sections, const char *key,
                          int64_t def, int64_t *out) {
    char buf[128];
    const char *p = config_path(cfg, sections, key, buf, sizeof buf);
    if (!p) return *out = def, GC_OK;
    return gc_json_int(cfg, file, p, def, out);
}

gc_status clip_config_double(const cJSON *cfg, const char *file, const char *const *sections, const char *key,
                             double def, double *out) {
    char buf[128];
    const char *p = config_path(cfg, sections, key, buf, sizeof buf);
    if (!p) return *out = def, GC_OK;
    return gc_json_double(cfg, file, p, def, out);
}

gc_status clip_stack_load(clip_stack *st, gc_weights *w, clip_naming naming, const char *base, int64_t W,
                          const cJSON *cfg, const char *cfg_file, const char *const *sections) {
    *st = (clip_stack){.width = W};
    const char *label = gc_weights_label(w), *cf = cfg_file ? cfg_file : label;
    st->layers = clip_block_count(w, naming, base);
    if (st->layers < 1) return gc_errorf(GC_ERR_MISSING, "%s: no transformer blocks under '%s'", label, base);
    st->blocks = calloc((size_t)st->layers, sizeof *st->blocks);
    if (!st->blocks) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < st->layers; i++) {
        GC_TRY(clip_block_load(&st->blocks[i], w, naming, base, i, W));
        st->mlp = GC_MAX(st->mlp, st->blocks[i].mlp);
    }
    if (!(st->ex = gc_exec_new(gc_backend_cpu()))) return GC_ERR_NOMEM;
    GC_TRY(clip_config_int(cfg, cf, sections, "num_attention_heads", W / 64, &st->heads));
    if (st->heads < 1 || W % st->heads)
        return gc_errorf(GC_ERR_SHAPE, "%s: %lld heads do not divide width %lld", cf, (long long)st->heads,
                         (long long)W);
    double eps;
    GC_TRY(clip_config_double(cfg, cf, sections, "layer_norm_eps", 1e-5, &eps));
    st->eps = (float)eps;
    int64_t v;
    GC_TRY(clip_config_int(cfg, cf, sections, "hidden_size", W, &v));
    if (v != W) return gc_errorf(GC_ERR_SHAPE, "%s: hidden_size %lld but the weights give %lld", cf, (long long)v, (long long)W);
    GC_TRY(clip_config_int(cfg, cf, sections, "num_hidden_layers", st->layers, &v));
    if (v != st->layers)
        return gc_errorf(GC_ERR_SHAPE, "%s: num_hidden_layers %lld but the weights hold %lld blocks", cf,
                         (long long)v, (long long)st->layers);
    return GC_OK;
}

void clip_stack_free(clip_stack *st) {
    free(st->blocks);
    gc_exec_free(st->ex);
    *st = (clip_stack){0};
}

gc_status clip_stack_forward(const clip_stack *st, gc_arena *a, float *x, int64_t nseq, int64_t T, int64_t keep,
                             bool causal, const gc_tap *tap) {
    gc_status s = GC_OK;
    for (int i = 0; i < st->layers && s == GC_OK; i++) {
        const bool last = i == st->layers - 1;
        s = clip_block_forward(&st->blocks[i], st->ex, a, x, nseq, T, last ? keep : T, st->heads, st->eps, causal);
        if (s == GC_OK && (!last || keep == T))
            s = gc_tap_f32f(tap, x, 3, (const int64_t[]){nseq, T, st->width}, "block%d", i);
    }
    return s;
}
