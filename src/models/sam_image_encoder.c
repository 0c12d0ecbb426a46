/* SAM's image encoder (segment_anything/modeling/image_encoder.py, ViTDet-style): patch embedding
 * (a 16x16 stride-16 conv as one GEMM), absolute position table, pre-LN blocks whose attention is
 * either windowed (zero padding to a multiple of the window, windows attended separately) or global,
 * both with the decomposed relative position term inside the tiled attention, then the neck: 1x1
 * conv, channel LayerNorm, 3x3 conv, channel LayerNorm. Tokens are kept [g*g, D] row-major (the
 * NHWC maps upstream keeps), so every linear layer is one GEMM over all tokens. */
#include <math.h>
#include <string.h>

#include "models/sam.h"
#include "tensor/activation.h"
#include "tensor/attention.h"
#include "tensor/conv2d.h"
#include "tensor/im2col.h"
#include "tensor/layernorm.h"
#include "tensor/linear.h"

gc_status gc_sam_encoder_load(gc_sam_encoder *e, gc_weights *w, const gc_sam_hparams *hp) {
    const int64_t D = hp->dim, p = hp->patch, g = hp->grid, C = hp->out_chans, F = hp->mlp, hd = D / hp->heads;
    const float *pw;
    GC_TRY(gc_sam_param(w, &pw, GC_SAM_SHAPE(D, 3, p, p), "image_encoder.patch_embed.proj.weight"));
    e->patch_w = pw; /* [D, 3, p, p] is the [D, 3*p*p] matrix of gc_patchify's rows */
    GC_TRY(gc_sam_param(w, &e->patch_b, GC_SAM_SHAPE(D), "image_encoder.patch_embed.proj.bias"));
    if (hp->abs_pos) GC_TRY(gc_sam_param(w, &e->pos_embed, GC_SAM_SHAPE(1, g, g, D), "image_encoder.pos_embed"));
    e->blocks = gc_calloc((size_t)hp->depth, sizeof *e->blocks);
    if (!e->blocks) return GC_ERR_NOMEM;
    for (int64_t i = 0; i < hp->depth; i++) {
        gc_sam_vit_block *b = &e->blocks[i];
        const long long li = (long long)i;
        const int64_t n = hp->window[i] ? hp->window[i] : g;
        GC_TRY(gc_sam_param(w, &b->norm1_w, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.norm1.weight", li));
        GC_TRY(gc_sam_param(w, &b->norm1_b, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.norm1.bias", li));
        GC_TRY(gc_sam_param(w, &b->qkv_w, GC_SAM_SHAPE(3 * D, D), "image_encoder.blocks.%lld.attn.qkv.weight", li));
        if (hp->qkv_bias)
            GC_TRY(gc_sam_param(w, &b->qkv_b, GC_SAM_SHAPE(3 * D), "image_encoder.blocks.%lld.attn.qkv.bias", li));
        GC_TRY(gc_sam_param(w, &b->proj_w, GC_SAM_SHAPE(D, D), "image_encoder.blocks.%lld.attn.proj.weight", li));
        GC_TRY(gc_sam_param(w, &b->proj_b, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.attn.proj.bias", li));
        if (hp->rel_pos) {
            GC_TRY(gc_sam_param(w, &b->rel_h, GC_SAM_SHAPE(2 * n - 1, hd), "image_encoder.blocks.%lld.attn.rel_pos_h", li));
            GC_TRY(gc_sam_param(w, &b->rel_w, GC_SAM_SHAPE(2 * n - 1, hd), "image_encoder.blocks.%lld.attn.rel_pos_w", li));
        }
        GC_TRY(gc_sam_param(w, &b->norm2_w, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.norm2.weight", li));
        GC_TRY(gc_sam_param(w, &b->norm2_b, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.norm2.bias", li));
        GC_TRY(gc_sam_param(w, &b->lin1_w, GC_SAM_SHAPE(F, D), "image_encoder.blocks.%lld.mlp.lin1.weight", li));
        GC_TRY(gc_sam_param(w, &b->lin1_b, GC_SAM_SHAPE(F), "image_encoder.blocks.%lld.mlp.lin1.bias", li));
        GC_TRY(gc_sam_param(w, &b->lin2_w, GC_SAM_SHAPE(D, F), "image_encoder.blocks.%lld.mlp.lin2.weight", li));
        GC_TRY(gc_sam_param(w, &b->lin2_b, GC_SAM_SHAPE(D), "image_encoder.blocks.%lld.mlp.lin2.bias", li));
    }
    GC_TRY(gc_sam_param(w, &e->neck1_w, GC_SAM_SHAPE(C, D, 1, 1), "image_encoder.neck.0.weight"));
    GC_TRY(gc_sam_param(w, &e->neck1_ln_w, GC_SAM_SHAPE(C), "image_encoder.neck.1.weight"));
    GC_TRY(gc_sam_param(w, &e->neck1_ln_b, GC_SAM_SHAPE(C), "image_encoder.neck.1.bias"));
    GC_TRY(gc_sam_param(w, &e->neck2_w, GC_SAM_SHAPE(C, C, 3, 3), "image_encoder.neck.2.weight"));
    GC_TRY(gc_sam_param(w, &e->neck2_ln_w, GC_SAM_SHAPE(C), "image_encoder.neck.3.weight"));
    GC_TRY(gc_sam_param(w, &e->neck2_ln_b, GC_SAM_SHAPE(C), "image_encoder.neck.3.bias"));
    return GC_OK;
}

void gc_sam_encoder_free(gc_sam_encoder *e) {
    gc_free(e->blocks);
    e->blocks = NULL;
}

/* Scratch of one forward pass; Tw >= g*g rows hold the window-partitioned (padded) tokens. */
typedef struct {
    float *h;       /* [Tw, D] normed tokens (window layout in window blocks) */
    float *q, *k, *v; /* [Tw, D] */
    float *att;     /* [Tw, D] attention output */
    float *ffn;     /* [g*g, F] */
} vit_scratch;

/* Window partition of a g x g map (window_partition): window (wy, wx) of an nb x nb grid of ws x ws
 * windows holds grid rows wy*ws .. and columns wx*ws ..; windows row-major, tokens row-major inside.
 * Token j of the partition <-> grid position (y, x), or -1 in the zero padding. */
static int64_t window_source(int64_t j, int64_t g, int64_t ws, int64_t nb) {
    const int64_t L = ws * ws, win = j / L, r = j % L;
    const int64_t y = (win / nb) * ws + r / ws, x = (win % nb) * ws + r % ws;
    return y < g && x < g ? y * g + x : -1;
}

/* x[T, D] += attn(norm1(x)) for one block (window or global). */
static gc_status vit_attention(const gc_sam_hparams *hp, const gc_sam_vit_block *b, int64_t ws, float *x,
                               vit_scratch *s) {
    const int64_t g = hp->grid, T = g * g, D = hp->dim, heads = hp->heads, hd = D / heads;
    const float scale = (float)pow((double)hd, -0.5); /* upstream: head_dim ** -0.5 */
    const int64_t n = ws ? ws : g, nb = ws ? (g + ws - 1) / ws : 1, L = n * n, Tw = nb * nb * L;
    float *h = s->h;
    gc_layernorm(ws ? s->att : h, x, b->norm1_w, b->norm1_b, T, D, hp->enc_eps);
    if (ws) { /* the padding comes after the norm: padded tokens are exact zeros */
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < Tw; j++) {
            int64_t src = window_source(j, g, ws, nb);
            if (src < 0) memset(h + j * D, 0, (size_t)D * sizeof(float));
            else memcpy(h + j * D, s->att + src * D, (size_t)D * sizeof(float));
        }
    }
    /* qkv rows [0:D] q, [D:2D] k, [2D:3D] v: three GEMMs into contiguous q, k, v */
    GC_TRY(gc_linear(s->q, h, b->qkv_w, b->qkv_b, Tw, D, D));
    GC_TRY(gc_linear(s->k, h, b->qkv_w + D * D, b->qkv_b ? b->qkv_b + D : NULL, Tw, D, D));
    GC_TRY(gc_linear(s->v, h, b->qkv_w + 2 * D * D, b->qkv_b ? b->qkv_b + 2 * D : NULL, Tw, D, D));
    const gc_relpos rp = {b->rel_h, b->rel_w, n, n};
    for (int64_t w0 = 0; w0 < Tw; w0 += L) {
        float *o = s->att + w0 * D;
        const float *q = s->q + w0 * D, *k = s->k + w0 * D, *v = s->v + w0 * D;
        GC_TRY(b->rel_h ? gc_attention_relpos(o, D, q, D, k, D, v, D, L, heads, hd, scale, &rp)
                        : gc_attention(o, D, q, D, k, D, v, D, L, L, heads, hd, scale, false));
    }
    const float *a = s->att;
    if (ws) { /* window_unpartition + crop, into h[T, D] */
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < Tw; j++) {
            int64_t dst = window_source(j, g, ws, nb);
            if (dst >= 0) memcpy(h + dst * D, s->att + j * D, (size_t)D * sizeof(float));
        }
        a = h;
    }
    /* proj is per token: applied after the crop, it gives upstream's values on the kept tokens */
    GC_TRY(gc_linear(ws ? s->q : h, a, b->proj_w, b->proj_b, T, D, D));
    const float *y = ws ? s->q : h;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < T * D; i++) x[i] += y[i];
    return GC_OK;
}

/* x[T, D] += lin2(gelu(lin1(norm2(x)))). */
static gc_status vit_mlp(const gc_sam_hparams *hp, const gc_sam_vit_block *b, float *x, vit_scratch *s) {
    const int64_t T = hp->grid * hp->grid, D = hp->dim, F = hp->mlp;
    gc_layernorm(s->h, x, b->norm2_w, b->norm2_b, T, D, hp->enc_eps);
    GC_TRY(gc_linear(s->ffn, s->h, b->lin1_w, b->lin1_b, T, D, F));
    gc_gelu_erf(s->ffn, T * F);
    GC_TRY(gc_linear(s->att, s->ffn, b->lin2_w, b->lin2_b, T, F, D));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < T * D; i++) x[i] += s->att[i];
    return GC_OK;
}

/* Neck: x[T, D] -> emb[T, C] (1x1 conv, LayerNorm2d, 3x3 conv pad 1, LayerNorm2d; no biases). */
static gc_status vit_neck(const gc_sam_hparams *hp, const gc_sam_encoder *e, const float *x, float *emb) {
    const int64_t g = hp->grid, T = g * g, D = hp->dim, C = hp->out_chans;
    float *a = gc_alloc_array((size_t)T, (size_t)C * sizeof(float));
    float *m = gc_alloc_array((size_t)T, (size_t)C * sizeof(float));
    gc_status s = a && m ? GC_OK : gc_error_context(GC_ERR_NOMEM, "SAM neck");
    if (s == GC_OK) s = gc_linear(a, x, e->neck1_w, NULL, T, D, C);
    if (s == GC_OK) {
        /* LayerNorm2d normalises each pixel over its channels: a row LayerNorm of the token matrix */
        gc_layernorm(a, a, e->neck1_ln_w, e->neck1_ln_b, T, C, hp->neck_eps);
        gc_sam_transpose(m, a, T, C);
        s = gc_conv2d(a, m, e->neck2_w, NULL, C, g, g, C, 3, 1, (gc_pad2d){1, 1, 1, 1});
    }
    if (s == GC_OK) {
        gc_sam_transpose(emb, a, C, T);
        gc_layernorm(emb, emb, e->neck2_ln_w, e->neck2_ln_b, T, C, hp->neck_eps);
    }
    gc_free(a);
    gc_free(m);
    return s;
}

gc_status gc_sam_encode(const gc_sam *m, const float *img, float *emb, const gc_tap *tap) {
    const gc_sam_hparams *hp = &m->hp;
    const gc_sam_encoder *e = &m->enc;
    const int64_t S = hp->img_size, p = hp->patch, g = hp->grid, T = g * g, D = hp->dim;
    int64_t Tw = T;
    for (int64_t i = 0; i < hp->depth; i++) {
        const int64_t ws = hp->window[i], nb = ws ? (g + ws - 1) / ws : 0;
        Tw = GC_MAX(Tw, nb * nb * ws * ws);
    }
    float *x = gc_alloc_array((size_t)T, (size_t)D * sizeof(float));
    vit_scratch s = {gc_alloc_array((size_t)Tw, (size_t)D * sizeof(float)),
                     gc_alloc_array((size_t)Tw, (size_t)D * sizeof(float)),
                     gc_alloc_array((size_t)Tw, (size_t)D * sizeof(float)),
                     gc_alloc_array((size_t)Tw, (size_t)D * sizeof(float)),
                     gc_alloc_array((size_t)Tw, (size_t)D * sizeof(float)),
                     gc_alloc_array((size_t)T, (size_t)hp->mlp * sizeof(float))};
    float *cols = gc_alloc_array((size_t)T, (size_t)(3 * p * p) * sizeof(float));
    gc_status st = x && s.h && s.q && s.k && s.v && s.att && s.ffn && cols
                       ? GC_OK
                       : gc_error_context(GC_ERR_NOMEM, "SAM image encoder (%lld tokens x %lld)", (long long)T,
                                          (long long)D);
    if (st == GC_OK) {
        gc_patchify(cols, img, 3, S, S, p);
        st = gc_linear(x, cols, e->patch_w, e->patch_b, T, 3 * p * p, D);
        if (st == GC_OK) st = GC_TAP(tap, "patch_embed", x, 1, g, g, D);
    }
    if (st == GC_OK && e->pos_embed) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < T * D; i++) x[i] += e->pos_embed[i];
    }
    if (st == GC_OK) st = GC_TAP(tap, "tokens_in", x, 1, g, g, D);
    for (int64_t i = 0; st == GC_OK && i < hp->depth; i++) {
        st = vit_attention(hp, &e->blocks[i], hp->window[i], x, &s);
        if (st != GC_OK) break;
        st = vit_mlp(hp, &e->blocks[i], x, &s);
        if (st == GC_OK) st = gc_tap_f32f(tap, x, 4, (const int64_t[]){1, g, g, D}, "block%lld", (long long)i);
    }
    if (st == GC_OK) st = vit_neck(hp, e, x, emb);
    if (st == GC_OK) st = gc_sam_tap_nchw(tap, "image_embeddings", emb, g, g, hp->out_chans);
    gc_free(x);
    gc_free(s.h), gc_free(s.q), gc_free(s.k), gc_free(s.v), gc_free(s.att), gc_free(s.ffn);
    gc_free(cols);
    return st;
}
