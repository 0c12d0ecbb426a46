/* SAM's mask decoder (segment_anything/modeling/mask_decoder.py + transformer.py): the prompt tokens
 * [iou token, mask tokens, sparse prompts] and the image tokens (embeddings + no-mask embedding)
 * exchange information in a two-way transformer (token self-attention, token -> image and
 * image -> token cross-attention at half width); the image tokens are then upscaled 4x by two
 * transposed convolutions, each mask token becomes a C/8 vector through its hypernetwork MLP, and a
 * mask is that vector's product with the upscaled map; the IoU token predicts each mask's quality. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sam.h"
#include "tensor/activation.h"
#include "tensor/attention.h"
#include "tensor/conv_transpose.h"
#include "tensor/layernorm.h"
#include "tensor/linear.h"

static gc_status attn_load(gc_sam_attn *a, gc_weights *w, const char *prefix, int64_t C, int64_t I) {
    a->internal = I;
    GC_TRY(gc_sam_param(w, &a->q_w, GC_SAM_SHAPE(I, C), "%s.q_proj.weight", prefix));
    GC_TRY(gc_sam_param(w, &a->q_b, GC_SAM_SHAPE(I), "%s.q_proj.bias", prefix));
    GC_TRY(gc_sam_param(w, &a->k_w, GC_SAM_SHAPE(I, C), "%s.k_proj.weight", prefix));
    GC_TRY(gc_sam_param(w, &a->k_b, GC_SAM_SHAPE(I), "%s.k_proj.bias", prefix));
    GC_TRY(gc_sam_param(w, &a->v_w, GC_SAM_SHAPE(I, C), "%s.v_proj.weight", prefix));
    GC_TRY(gc_sam_param(w, &a->v_b, GC_SAM_SHAPE(I), "%s.v_proj.bias", prefix));
    GC_TRY(gc_sam_param(w, &a->o_w, GC_SAM_SHAPE(C, I), "%s.out_proj.weight", prefix));
    GC_TRY(gc_sam_param(w, &a->o_b, GC_SAM_SHAPE(C), "%s.out_proj.bias", prefix));
    return GC_OK;
}

/* An MLP `prefix.layers.{i}` from `in` to `out` features (hidden widths from the shapes). */
static gc_status mlp_load(gc_sam_mlp *m, gc_weights *w, const char *prefix, int64_t in, int64_t out) {
    char fmt[200];
    snprintf(fmt, sizeof fmt, "%s.layers.%%lld.weight", prefix);
    m->n = gc_sam_count(w, fmt);
    if (m->n < 1 || m->n > GC_SAM_MAX_LAYERS)
        return gc_errorf(m->n < 1 ? GC_ERR_MISSING : GC_ERR_UNSUPPORTED, "%s: %s '%s%s.layers.0.weight'",
                         gc_weights_label(w), m->n < 1 ? "missing tensor" : "too many layers after",
                         gc_weights_prefix(w), prefix);
    for (int64_t i = 0; i < m->n; i++) {
        char name[220];
        snprintf(name, sizeof name, "%s.layers.%lld.weight", prefix, (long long)i);
        const gc_tensor_ref *r = gc_weights_find(w, name);
        m->in[i] = i ? m->out[i - 1] : in;
        m->out[i] = i == m->n - 1 ? out : r && r->ndim == 2 ? r->shape[0] : -1;
        GC_TRY(gc_sam_param(w, &m->w[i], GC_SAM_SHAPE(m->out[i], m->in[i]), "%s", name));
        GC_TRY(gc_sam_param(w, &m->b[i], GC_SAM_SHAPE(m->out[i]), "%s.layers.%lld.bias", prefix, (long long)i));
    }
    return GC_OK;
}

gc_status gc_sam_decoder_load(gc_sam_decoder *d, gc_weights *w, const gc_sam_hparams *hp) {
    const int64_t C = hp->out_chans, I = hp->dec_internal, M = hp->n_mask_tokens, F = hp->dec_mlp;
    const int64_t C4 = hp->up_chans[0], C8 = hp->up_chans[1];
    d->layers = gc_calloc((size_t)hp->dec_depth, sizeof *d->layers);
    d->hyper = gc_calloc((size_t)M, sizeof *d->hyper);
    if (!d->layers || !d->hyper) return GC_ERR_NOMEM;
    char p[160];
    for (int64_t i = 0; i < hp->dec_depth; i++) {
        gc_sam_twoway_layer *l = &d->layers[i];
        const long long li = (long long)i;
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%lld.self_attn", li);
        GC_TRY(attn_load(&l->self_attn, w, p, C, C));
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%lld.cross_attn_token_to_image", li);
        GC_TRY(attn_load(&l->token_to_image, w, p, C, I));
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%lld.cross_attn_image_to_token", li);
        GC_TRY(attn_load(&l->image_to_token, w, p, C, I));
        for (int k = 0; k < 4; k++) {
            GC_TRY(gc_sam_param(w, &l->norm_w[k], GC_SAM_SHAPE(C), "mask_decoder.transformer.layers.%lld.norm%d.weight", li, k + 1));
            GC_TRY(gc_sam_param(w, &l->norm_b[k], GC_SAM_SHAPE(C), "mask_decoder.transformer.layers.%lld.norm%d.bias", li, k + 1));
        }
        GC_TRY(gc_sam_param(w, &l->lin1_w, GC_SAM_SHAPE(F, C), "mask_decoder.transformer.layers.%lld.mlp.lin1.weight", li));
        GC_TRY(gc_sam_param(w, &l->lin1_b, GC_SAM_SHAPE(F), "mask_decoder.transformer.layers.%lld.mlp.lin1.bias", li));
        GC_TRY(gc_sam_param(w, &l->lin2_w, GC_SAM_SHAPE(C, F), "mask_decoder.transformer.layers.%lld.mlp.lin2.weight", li));
        GC_TRY(gc_sam_param(w, &l->lin2_b, GC_SAM_SHAPE(C), "mask_decoder.transformer.layers.%lld.mlp.lin2.bias", li));
    }
    GC_TRY(attn_load(&d->final_attn, w, "mask_decoder.transformer.final_attn_token_to_image", C, I));
    GC_TRY(gc_sam_param(w, &d->norm_final_w, GC_SAM_SHAPE(C), "mask_decoder.transformer.norm_final_attn.weight"));
    GC_TRY(gc_sam_param(w, &d->norm_final_b, GC_SAM_SHAPE(C), "mask_decoder.transformer.norm_final_attn.bias"));
    GC_TRY(gc_sam_param(w, &d->iou_token, GC_SAM_SHAPE(1, C), "mask_decoder.iou_token.weight"));
    GC_TRY(gc_sam_param(w, &d->mask_tokens, GC_SAM_SHAPE(M, C), "mask_decoder.mask_tokens.weight"));
    GC_TRY(gc_sam_param(w, &d->up1_w, GC_SAM_SHAPE(C, C4, 2, 2), "mask_decoder.output_upscaling.0.weight"));
    GC_TRY(gc_sam_param(w, &d->up1_b, GC_SAM_SHAPE(C4), "mask_decoder.output_upscaling.0.bias"));
    GC_TRY(gc_sam_param(w, &d->up_ln_w, GC_SAM_SHAPE(C4), "mask_decoder.output_upscaling.1.weight"));
    GC_TRY(gc_sam_param(w, &d->up_ln_b, GC_SAM_SHAPE(C4), "mask_decoder.output_upscaling.1.bias"));
    GC_TRY(gc_sam_param(w, &d->up2_w, GC_SAM_SHAPE(C4, C8, 2, 2), "mask_decoder.output_upscaling.3.weight"));
    GC_TRY(gc_sam_param(w, &d->up2_b, GC_SAM_SHAPE(C8), "mask_decoder.output_upscaling.3.bias"));
    for (int64_t k = 0; k < M; k++) {
        snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%lld", (long long)k);
        GC_TRY(mlp_load(&d->hyper[k], w, p, C, C8));
    }
    return mlp_load(&d->iou_head, w, "mask_decoder.iou_prediction_head", C, M);
}

void gc_sam_decoder_free(gc_sam_decoder *d) {
    gc_free(d->layers);
    gc_free(d->hyper);
    d->layers = NULL;
    d->hyper = NULL;
}

/* Widest hidden layer of an MLP. */
static int64_t mlp_width(const gc_sam_mlp *m) {
    int64_t w = 0;
    for (int64_t i = 0; i < m->n; i++) w = GC_MAX(w, m->out[i]);
    return w;
}

/* One MLP on a single vector x -> y, ReLU between layers; hidden layers alternate between the two
 * halves of tmp (2 x mlp_width floats). */
static gc_status mlp_forward(const gc_sam_mlp *m, const float *x, float *y, float *tmp) {
    const float *in = x;
    for (int64_t i = 0; i < m->n; i++) {
        float *o = i == m->n - 1 ? y : tmp + (i % 2) * mlp_width(m);
        GC_TRY(gc_linear(o, in, m->w[i], m->b[i], 1, m->in[i], m->out[i]));
        if (i < m->n - 1) gc_relu(o, m->out[i]);
        in = o;
    }
    return GC_OK;
}

/* Scratch of one decoder pass: Nk = g*g image tokens, Nq prompt tokens, width C, internal I. */
typedef struct {
    float *qq, *kk;   /* [Nq, C], [Nk, C]: tokens + positional encodings */
    float *q, *k, *v; /* [max(Nq, Nk), I] projections */
    float *a;         /* [max(Nq, Nk), I] attention output */
    float *o;         /* [max(Nq, Nk), C] out_proj output / MLP output */
    float *ffn;       /* [Nq, F] */
} dec_scratch;

/* out[nq, C] = out_proj(attention(q_proj(xq), k_proj(xk), v_proj(xv))) (upstream Attention). */
static gc_status attn_forward(const gc_sam_attn *at, int64_t heads, const float *xq, int64_t nq, const float *xk,
                              const float *xv, int64_t nk, int64_t C, float *out, dec_scratch *s) {
    const int64_t I = at->internal, hd = I / heads;
    GC_TRY(gc_linear(s->q, xq, at->q_w, at->q_b, nq, C, I));
    GC_TRY(gc_linear(s->k, xk, at->k_w, at->k_b, nk, C, I));
    GC_TRY(gc_linear(s->v, xv, at->v_w, at->v_b, nk, C, I));
    GC_TRY(gc_attention(s->a, I, s->q, I, s->k, I, s->v, I, nq, nk, heads, hd, (float)(1.0 / sqrt((double)hd)), false));
    GC_TRY(gc_linear(out, s->a, at->o_w, at->o_b, nq, I, C));
    return GC_OK;
}

/* dst[n, C] = a + b. */
static void add_rows(float *dst, const float *a, const float *b, int64_t n, int64_t C) {
#pragma omp parallel for schedule(static) if (n * C > 65536)
    for (int64_t i = 0; i < n * C; i++) dst[i] = a[i] + b[i];
}

/* x = LayerNorm(x + y) over rows. */
static void residual_norm(float *x, const float *y, int64_t n, int64_t C, const float *w, const float *b, float eps) {
    add_rows(x, x, y, n, C);
    gc_layernorm(x, x, w, b, n, C, eps);
}

/* The two-way transformer: queries[Nq, C] (prompt tokens, also their PE qpe), keys[Nk, C] (image
 * tokens), kpe[Nk, C] (dense PE); both updated in place. */
static gc_status two_way(const gc_sam *m, float *queries, const float *qpe, int64_t Nq, float *keys, const float *kpe,
                         int64_t Nk, dec_scratch *s, const gc_tap *tap) {
    const gc_sam_hparams *hp = &m->hp;
    const gc_sam_decoder *d = &m->dec;
    const int64_t C = hp->out_chans, heads = hp->dec_heads;
    const float eps = hp->dec_eps;
    for (int64_t i = 0; i < hp->dec_depth; i++) {
        const gc_sam_twoway_layer *l = &d->layers[i];
        if (i == 0) { /* skip_first_layer_pe: self-attention without PE, its output replaces the queries */
            GC_TRY(attn_forward(&l->self_attn, heads, queries, Nq, queries, queries, Nq, C, s->o, s));
            memcpy(queries, s->o, (size_t)(Nq * C) * sizeof(float));
            gc_layernorm(queries, queries, l->norm_w[0], l->norm_b[0], Nq, C, eps);
        } else {
            add_rows(s->qq, queries, qpe, Nq, C);
            GC_TRY(attn_forward(&l->self_attn, heads, s->qq, Nq, s->qq, queries, Nq, C, s->o, s));
            residual_norm(queries, s->o, Nq, C, l->norm_w[0], l->norm_b[0], eps);
        }
        add_rows(s->qq, queries, qpe, Nq, C);
        add_rows(s->kk, keys, kpe, Nk, C);
        GC_TRY(attn_forward(&l->token_to_image, heads, s->qq, Nq, s->kk, keys, Nk, C, s->o, s));
        residual_norm(queries, s->o, Nq, C, l->norm_w[1], l->norm_b[1], eps);
        GC_TRY(gc_linear(s->ffn, queries, l->lin1_w, l->lin1_b, Nq, C, hp->dec_mlp));
        gc_relu(s->ffn, Nq * hp->dec_mlp);
        GC_TRY(gc_linear(s->o, s->ffn, l->lin2_w, l->lin2_b, Nq, hp->dec_mlp, C));
        residual_norm(queries, s->o, Nq, C, l->norm_w[2], l->norm_b[2], eps);
        add_rows(s->qq, queries, qpe, Nq, C); /* kk (keys + kpe) is unchanged since the last cross-attention */
        GC_TRY(attn_forward(&l->image_to_token, heads, s->kk, Nk, s->qq, queries, Nq, C, s->o, s));
        residual_norm(keys, s->o, Nk, C, l->norm_w[3], l->norm_b[3], eps);
        GC_TRY(gc_tap_f32f(tap, queries, 3, (const int64_t[]){1, Nq, C}, "decoder.layer%lld.queries", (long long)i));
        GC_TRY(gc_tap_f32f(tap, keys, 3, (const int64_t[]){1, Nk, C}, "decoder.layer%lld.keys", (long long)i));
    }
    add_rows(s->qq, queries, qpe, Nq, C);
    add_rows(s->kk, keys, kpe, Nk, C);
    GC_TRY(attn_forward(&d->final_attn, heads, s->qq, Nq, s->kk, keys, Nk, C, s->o, s));
    residual_norm(queries, s->o, Nq, C, d->norm_final_w, d->norm_final_b, eps);
    GC_TRY(GC_TAP(tap, "decoder.hs", queries, 1, Nq, C));
    return GC_TAP(tap, "decoder.src", keys, 1, Nk, C);
}

/* output_upscaling: keys [g*g, C] -> up [(4g)^2, C8] token-major (ConvT, LayerNorm2d, GELU, ConvT, GELU). */
static gc_status upscale(const gc_sam *m, const float *keys, float *up) {
    const gc_sam_hparams *hp = &m->hp;
    const gc_sam_decoder *d = &m->dec;
    const int64_t g = hp->grid, C = hp->out_chans, C4 = hp->up_chans[0], C8 = hp->up_chans[1];
    float *mid = gc_alloc_array((size_t)(4 * g * g), (size_t)C4 * sizeof(float));
    if (!mid) return gc_error_context(GC_ERR_NOMEM, "SAM output upscaling");
    gc_status s = gc_conv_transpose2x2(mid, keys, d->up1_w, d->up1_b, g, g, C, C4);
    if (s == GC_OK) {
        gc_layernorm(mid, mid, d->up_ln_w, d->up_ln_b, 4 * g * g, C4, hp->up_eps);
        gc_gelu_erf(mid, 4 * g * g * C4);
        s = gc_conv_transpose2x2(up, mid, d->up2_w, d->up2_b, 2 * g, 2 * g, C4, C8);
    }
    if (s == GC_OK) gc_gelu_erf(up, 16 * g * g * C8);
    gc_free(mid);
    return s;
}

gc_status gc_sam_decode(const gc_sam *m, const float *emb, const float *sparse, int64_t ns, float *masks_all,
                        float *iou_all, const gc_tap *tap) {
    const gc_sam_hparams *hp = &m->hp;
    const gc_sam_decoder *d = &m->dec;
    const int64_t g = hp->grid, Nk = g * g, C = hp->out_chans, M = hp->n_mask_tokens, Nq = 1 + M + ns;
    const int64_t I = GC_MAX(C, hp->dec_internal), Nmax = GC_MAX(Nq, Nk), C8 = hp->up_chans[1];
    int64_t mw = mlp_width(&d->iou_head);
    for (int64_t k = 0; k < M; k++) mw = GC_MAX(mw, mlp_width(&d->hyper[k]));
    float *tokens = gc_alloc_array((size_t)(2 * Nq), (size_t)C * sizeof(float)); /* queries, query PE */
    float *keys = gc_alloc_array((size_t)Nk, (size_t)C * sizeof(float));
    float *up = gc_alloc_array((size_t)(16 * Nk), (size_t)C8 * sizeof(float));
    float *hyper = gc_alloc_array((size_t)(M * C8 + 2 * mw), sizeof(float)), *tmp = hyper + M * C8;
    dec_scratch s = {gc_alloc_array((size_t)Nq, (size_t)C * sizeof(float)),
                     gc_alloc_array((size_t)Nk, (size_t)C * sizeof(float)),
                     gc_alloc_array((size_t)Nmax, (size_t)I * sizeof(float)),
                     gc_alloc_array((size_t)Nmax, (size_t)I * sizeof(float)),
                     gc_alloc_array((size_t)Nmax, (size_t)I * sizeof(float)),
                     gc_alloc_array((size_t)Nmax, (size_t)I * sizeof(float)),
                     gc_alloc_array((size_t)Nmax, (size_t)C * sizeof(float)),
                     gc_alloc_array((size_t)Nq, (size_t)hp->dec_mlp * sizeof(float))};
    gc_status st = tokens && keys && up && hyper && s.qq && s.kk && s.q && s.k && s.v && s.a && s.o && s.ffn
                       ? GC_OK
                       : gc_error_context(GC_ERR_NOMEM, "SAM mask decoder");
    if (st == GC_OK) {
        float *queries = tokens, *qpe = tokens + Nq * C;
        memcpy(qpe, d->iou_token, (size_t)C * sizeof(float));
        memcpy(qpe + C, d->mask_tokens, (size_t)(M * C) * sizeof(float));
        memcpy(qpe + (1 + M) * C, sparse, (size_t)(ns * C) * sizeof(float));
        memcpy(queries, qpe, (size_t)(Nq * C) * sizeof(float));
        const float *no_mask = m->pe.no_mask; /* the dense prompt: no_mask_embed at every pixel */
#pragma omp parallel for schedule(static) if (Nk * C > 65536)
        for (int64_t t = 0; t < Nk; t++)
            for (int64_t c = 0; c < C; c++) keys[t * C + c] = emb[t * C + c] + no_mask[c];
        st = two_way(m, queries, qpe, Nq, keys, m->pe.dense_pe, Nk, &s, tap);
    }
    if (st == GC_OK) st = upscale(m, keys, up);
    if (st == GC_OK) st = gc_sam_tap_nchw(tap, "decoder.upscaled", up, 4 * g, 4 * g, C8);
    if (st == GC_OK) {
        /* hypernetworks: mask token k -> hyper[k, C8]; masks_all[k] = hyper[k] . up (per pixel) */
        const float *hs = tokens;
        for (int64_t k = 0; k < M && st == GC_OK; k++)
            st = mlp_forward(&d->hyper[k], hs + (1 + k) * C, hyper + k * C8, tmp);
        if (st == GC_OK) st = gc_matmul(masks_all, hyper, up, M, C8, 16 * Nk, false, true, 1.0f, 0.0f);
        if (st == GC_OK) st = mlp_forward(&d->iou_head, hs, iou_all, tmp);
        if (st == GC_OK) st = GC_TAP(tap, "decoder.masks_all", masks_all, 1, M, 4 * g, 4 * g);
    }
    if (st == GC_OK) st = GC_TAP(tap, "decoder.iou_all", iou_all, 1, M);
    gc_free(tokens), gc_free(keys), gc_free(up), gc_free(hyper);
    gc_free(s.qq), gc_free(s.kk), gc_free(s.q), gc_free(s.k), gc_free(s.v), gc_free(s.a), gc_free(s.o), gc_free(s.ffn);
    return st;
}
