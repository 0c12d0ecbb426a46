#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sd_unet.h"
#include "tensor/timestep.h"

#define UNET_RES_EPS 1e-5f   /* GroupNorm32 in ResBlocks and the final norm */
#define UNET_ST_EPS 1e-6f    /* SpatialTransformer's GroupNorm */
#define UNET_LN_EPS 1e-5f    /* LayerNorms of the BasicTransformerBlock */

static gc_status transformer_load(const sd_source *s, const char *name, int64_t C, int64_t heads, int64_t ctx_dim,
                                  sd_transformer *t) {
    char nm[200];
    if (heads < 1 || C % heads)
        return gc_errorf(GC_ERR_ARG, "%s: %lld attention heads do not divide the %lld channels of %s (set the head "
                         "count in the LDM config / config.json)", gc_weights_label(s->w), (long long)heads,
                         (long long)C, name);
    t->C = C;
    t->heads = heads;
    t->ctx_dim = ctx_dim;
#define N(sub) (snprintf(nm, sizeof nm, "%s.%s", name, sub), nm)
#define TB(sub) (snprintf(nm, sizeof nm, "%s.transformer_blocks.0.%s", name, sub), nm)
    GC_TRY(sd_norm_load(s, N("norm"), C, &t->norm));
    GC_TRY(sd_linear_load(s, N("proj_in"), C, C, true, &t->proj_in));
    GC_TRY(sd_linear_load(s, N("proj_out"), C, C, true, &t->proj_out));
    GC_TRY(sd_norm_load(s, TB("norm1"), C, &t->ln1));
    GC_TRY(sd_norm_load(s, TB("norm2"), C, &t->ln2));
    GC_TRY(sd_norm_load(s, TB("norm3"), C, &t->ln3));
    GC_TRY(sd_linear_load(s, TB("attn1.to_q"), C, C, false, &t->q1));
    GC_TRY(sd_linear_load(s, TB("attn1.to_k"), C, C, false, &t->k1));
    GC_TRY(sd_linear_load(s, TB("attn1.to_v"), C, C, false, &t->v1));
    GC_TRY(sd_linear_load(s, TB("attn1.to_out.0"), C, C, true, &t->o1));
    GC_TRY(sd_linear_load(s, TB("attn2.to_q"), C, C, false, &t->q2));
    GC_TRY(sd_linear_load(s, TB("attn2.to_k"), ctx_dim, C, false, &t->k2));
    GC_TRY(sd_linear_load(s, TB("attn2.to_v"), ctx_dim, C, false, &t->v2));
    GC_TRY(sd_linear_load(s, TB("attn2.to_out.0"), C, C, true, &t->o2));
    GC_TRY(sd_linear_load(s, TB("ff.net.0.proj"), C, 8 * C, true, &t->ff1));
    GC_TRY(sd_linear_load(s, TB("ff.net.2"), 4 * C, C, true, &t->ff2));
#undef N
#undef TB
    return GC_OK;
}

/* Shape of tensor `name` along dim `d`, or -1. */
static int64_t dim_of(const sd_source *s, const char *name, int ndim, int d) {
    const gc_tensor_ref *r = sd_source_find(s, name);
    return r && r->ndim == ndim ? r->shape[d] : -1;
}

gc_status sd_unet_load(const sd_source *s, const sd_unet_hparams *hp, sd_unet *u) {
    memset(u, 0, sizeof *u);
    const char *label = gc_weights_label(s->w);
    char nm[200];
    u->levels = s->levels;
    u->nr = s->nr;
    memcpy(u->attn, s->attn, sizeof u->attn);
    int per = u->nr + 1;
    u->mc = dim_of(s, "input_blocks.0.0.weight", 4, 0);
    u->in_ch = dim_of(s, "input_blocks.0.0.weight", 4, 1);
    u->emb_dim = dim_of(s, "time_embed.0.weight", 2, 0);
    u->out_ch = dim_of(s, "out.2.weight", 4, 0);
    if (u->mc < 1 || u->in_ch < 1 || u->emb_dim < 1 || u->out_ch < 1)
        return gc_errorf(GC_ERR_MISSING, "%s: UNet conv_in / time embedding / conv_out tensors missing or not "
                         "[C, Cin, 3, 3] / [E, C] shaped", label);
    u->ctx_dim = 0;
    for (int l = 0; l < u->levels; l++) {
        snprintf(nm, sizeof nm, "input_blocks.%d.0.in_layers.2.weight", 1 + l * per);
        int64_t co = dim_of(s, nm, 4, 0);
        if (co < 1 || co % u->mc)
            return gc_errorf(GC_ERR_SHAPE, "%s: UNet level %d: first ResBlock conv missing or its width is not a "
                             "multiple of model_channels %lld", label, l, (long long)u->mc);
        u->mult[l] = co / u->mc;
        int64_t hd = hp && hp->head_channels > 0 ? hp->head_channels : 0;
        u->heads[l] = hp && hp->heads[l] > 0 ? hp->heads[l] : hd ? co / hd : 8;
        if (u->attn[l] && !u->ctx_dim) {
            snprintf(nm, sizeof nm, "input_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", 1 + l * per);
            u->ctx_dim = dim_of(s, nm, 2, 1);
        }
    }
    if (u->ctx_dim < 0) return gc_errorf(GC_ERR_MISSING, "%s: cross-attention to_k weights missing", label);
    GC_TRY(sd_linear_load(s, "time_embed.0", u->mc, u->emb_dim, true, &u->temb1));
    GC_TRY(sd_linear_load(s, "time_embed.2", u->emb_dim, u->emb_dim, true, &u->temb2));
    GC_TRY(sd_conv_load(s, "input_blocks.0.0", u->in_ch, u->mc, 3, &u->conv_in));

    u->n_in = u->levels * per - 1;
    u->n_out = u->levels * per;
    u->in = gc_calloc((size_t)u->n_in, sizeof(sd_unet_block));
    u->out = gc_calloc((size_t)u->n_out, sizeof(sd_unet_block));
    int64_t *chans = gc_alloc_array((size_t)(u->n_in + 1), sizeof(int64_t));
    gc_status st = u->in && u->out && chans ? GC_OK : GC_ERR_NOMEM;
    int64_t ch = u->mc;
    int top = 0;
    if (st == GC_OK) chans[top++] = ch;
    for (int l = 0; st == GC_OK && l < u->levels; l++) {
        int64_t co = u->mc * u->mult[l];
        for (int j = 0; st == GC_OK && j < per; j++) {
            int i = 1 + l * per + j;
            if (j == u->nr && l == u->levels - 1) break; /* no Downsample after the last level */
            sd_unet_block *b = &u->in[i - 1];
            if (j == u->nr) {
                b->is_down = true;
                snprintf(nm, sizeof nm, "input_blocks.%d.0.op", i);
                st = sd_conv_load(s, nm, ch, ch, 3, &b->conv);
            } else {
                snprintf(nm, sizeof nm, "input_blocks.%d.0", i);
                st = sd_resblock_load(s, nm, true, ch, co, u->emb_dim, UNET_RES_EPS, &b->res);
                ch = co;
                b->has_attn = u->attn[l];
                snprintf(nm, sizeof nm, "input_blocks.%d.1", i);
                if (st == GC_OK && b->has_attn) st = transformer_load(s, nm, ch, u->heads[l], u->ctx_dim, &b->attn);
            }
            b->cout = ch;
            chans[top++] = ch;
        }
    }
    if (st == GC_OK) st = sd_resblock_load(s, "middle_block.0", true, ch, ch, u->emb_dim, UNET_RES_EPS, &u->mid1);
    if (st == GC_OK)
        st = transformer_load(s, "middle_block.1", ch, u->heads[u->levels - 1], u->ctx_dim, &u->mid_attn);
    if (st == GC_OK) st = sd_resblock_load(s, "middle_block.2", true, ch, ch, u->emb_dim, UNET_RES_EPS, &u->mid2);
    int i = 0;
    for (int l = u->levels - 1; st == GC_OK && l >= 0; l--) {
        int64_t co = u->mc * u->mult[l];
        for (int j = 0; st == GC_OK && j < per; j++, i++) {
            sd_unet_block *b = &u->out[i];
            snprintf(nm, sizeof nm, "output_blocks.%d.0", i);
            st = sd_resblock_load(s, nm, true, ch + chans[--top], co, u->emb_dim, UNET_RES_EPS, &b->res);
            ch = co;
            b->has_attn = u->attn[l];
            snprintf(nm, sizeof nm, "output_blocks.%d.1", i);
            if (st == GC_OK && b->has_attn) st = transformer_load(s, nm, ch, u->heads[l], u->ctx_dim, &b->attn);
            b->has_up = l > 0 && j == u->nr;
            snprintf(nm, sizeof nm, "output_blocks.%d.%d.conv", i, b->has_attn ? 2 : 1);
            if (st == GC_OK && b->has_up) st = sd_conv_load(s, nm, ch, ch, 3, &b->conv);
            b->cout = ch;
        }
    }
    if (st == GC_OK) st = sd_norm_load(s, "out.0", ch, &u->norm_out);
    if (st == GC_OK) st = sd_conv_load(s, "out.2", ch, u->out_ch, 3, &u->conv_out);
    gc_free(chans);
    return st;
}

void sd_unet_free(sd_unet *u) {
    gc_free(u->in);
    gc_free(u->out);
    memset(u, 0, sizeof *u);
}

/* Images per SpatialTransformer pass: as many as give at most this many tokens (at least one). The
 * 16x16 and 8x8 levels then run the batch's tokens through each weight once; at 64x64 the scratch
 * stays one image's (16 HW C + 2 HW C floats: 94 MB at 320 channels). */
#define UNET_ATTN_TOKENS 1024

/* For nb images of HW tokens each, tok[nb * HW, C] += o(attention(q(LN(tok)), k(src), v(src))) per
 * image, with src = LN(tok) (self-attention, ctx NULL) or that image's context [n_ctx, ctx_dim] of
 * ctx[nb, n_ctx, ctx_dim]. a, q, o: [nb * HW, C], k, v: [nb * max(HW, n_ctx), C] scratch. */
static gc_status attend(const sd_ctx *cx, const sd_transformer *t, const sd_norm *ln, const sd_linear *wq,
                        const sd_linear *wk, const sd_linear *wv, const sd_linear *wo, const float *ctx, int64_t n_ctx,
                        float *tok, int64_t nb, int64_t HW, float *a, float *q, float *k, float *v, float *o) {
    int64_t C = t->C, hd = C / t->heads, nk = ctx ? n_ctx : HW, T = nb * HW;
    const float *src = ctx ? ctx : a;
    cx->be->layernorm(a, tok, ln->w, ln->b, T, C, UNET_LN_EPS);
    GC_TRY(sd_linear_forward(cx, wq, a, T, q, false));
    GC_TRY(sd_linear_forward(cx, wk, src, nb * nk, k, false));
    GC_TRY(sd_linear_forward(cx, wv, src, nb * nk, v, false));
    for (int64_t i = 0; i < nb; i++)
        GC_TRY(cx->be->attention(cx->a, o + i * HW * C, C, q + i * HW * C, C, k + i * nk * C, C, v + i * nk * C, C, HW,
                                 nk, t->heads, hd, (float)pow((double)hd, -0.5), false));
    return sd_linear_forward(cx, wo, o, T, tok, true);
}

/* x[i, C, HW] += proj_out(BasicTransformerBlock(proj_in(GN(x[i])), ctx[i])) for nb images at once. */
static gc_status transformer_images(const sd_ctx *cx, const sd_transformer *t, int64_t nb, float *x, int64_t HW,
                                    const float *ctx, int64_t n_ctx) {
    const gc_backend_i *be = cx->be;
    int64_t C = t->C, T = nb * HW, nkv = nb * GC_MAX(HW, n_ctx), n = T * C;
    size_t mark = gc_arena_mark(cx->a);
    /* tok, a, q, o: [T, C]; k, v: [nkv, C]; f: [T, 8C]; g: [T, 4C] */
    float *tok = gc_arena_floats(cx->a, 4 * n + 2 * nkv * C + 12 * n);
    if (!tok) return GC_ERR_NOMEM;
    float *a = tok + n, *q = a + n, *o = q + n, *k = o + n, *v = k + nkv * C, *f = v + nkv * C, *g = f + 8 * n;
    gc_status st = GC_OK;
    sd_groupnorm(cx, nb, &t->norm, x, HW, UNET_ST_EPS, false, a);
    for (int64_t i = 0; i < nb && st == GC_OK; i++)
        st = sd_linear_map_to_tokens(cx, &t->proj_in, a + i * HW * C, HW, tok + i * HW * C);
    if (st == GC_OK) /* self-attention */
        st = attend(cx, t, &t->ln1, &t->q1, &t->k1, &t->v1, &t->o1, NULL, 0, tok, nb, HW, a, q, k, v, o);
    if (st == GC_OK) /* cross-attention on each image's context */
        st = attend(cx, t, &t->ln2, &t->q2, &t->k2, &t->v2, &t->o2, ctx, n_ctx, tok, nb, HW, a, q, k, v, o);
    /* GEGLU feed-forward */
    if (st == GC_OK) {
        be->layernorm(a, tok, t->ln3.w, t->ln3.b, T, C, UNET_LN_EPS);
        st = sd_linear_forward(cx, &t->ff1, a, T, f, false);
    }
    if (st == GC_OK) {
        be->geglu(g, f, T, 4 * C);
        st = sd_linear_forward(cx, &t->ff2, g, T, tok, true);
    }
    for (int64_t i = 0; i < nb && st == GC_OK; i++)
        st = sd_linear_tokens_to_map(cx, &t->proj_out, tok + i * HW * C, HW, a + i * HW * C);
    if (st == GC_OK) be->add_scaled(x, a, NULL, 1, n);
    gc_arena_rewind(cx->a, mark);
    return st;
}

/* x[B, C, HW]: each image through the SpatialTransformer with its context ctx[B, n_ctx, ctx_dim]. */
static gc_status transformer_forward(const sd_ctx *cx, const sd_transformer *t, int64_t B, float *x, int64_t HW,
                                     const float *ctx, int64_t n_ctx) {
    const int64_t nb = GC_MAX(1, GC_MIN(B, UNET_ATTN_TOKENS / HW));
    for (int64_t i = 0; i < B; i += nb)
        GC_TRY(transformer_images(cx, t, GC_MIN(nb, B - i), x + i * t->C * HW, HW, ctx + i * n_ctx * t->ctx_dim, n_ctx));
    return GC_OK;
}

/* Each image's tap gets its slice of x: `stride` floats apart (0: one tensor all images share). */
static gc_status emit(const sd_unet_run *runs, int64_t B, const char *name, const float *x, int64_t stride, int ndim,
                      const int64_t *shape) {
    for (int64_t i = 0; i < B; i++)
        if (runs[i].tap) GC_TRY(runs[i].tap(runs[i].tap_ctx, name, x + i * stride, ndim, shape));
    return GC_OK;
}
static gc_status emit_map(const sd_unet_run *runs, int64_t B, const char *name, const float *x, int64_t C, int64_t H,
                          int64_t W) {
    return emit(runs, B, name, x, C * H * W, 3, (const int64_t[]){C, H, W});
}

/* Output size of block b on an h x w input. */
static void block_out_size(const sd_unet_block *b, int64_t *h, int64_t *w) {
    if (b->is_down) *h = gc_conv2d_out(*h, 3, 2, 1, 1), *w = gc_conv2d_out(*w, 3, 2, 1, 1);
    else if (b->has_up) *h *= 2, *w *= 2;
}

/* Run one block on x[B, cin, H, W] into y[B, cout, H', W'] (H, W updated; y sized by block_out_size). */
static gc_status block_forward(const sd_ctx *cx, int64_t B, const sd_unet_block *b, const float *x, int64_t *H,
                               int64_t *W, const float *emb_silu, const float *ctx, int64_t n_ctx,
                               const sd_unet_run *runs, const char *pre_up_name, float *y) {
    int64_t h = *H, w = *W, n = b->cout * h * w;
    block_out_size(b, H, W);
    if (b->is_down) return sd_conv_forward(cx, B, &b->conv, x, h, w, 2, (gc_pad2d){1, 1, 1, 1}, y);
    size_t mark = gc_arena_mark(cx->a);
    float *o = b->has_up ? gc_arena_floats(cx->a, B * n) : y;
    float *up = b->has_up && o ? gc_arena_floats(cx->a, 4 * B * n) : NULL;
    gc_status st = o && (up || !b->has_up) ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) st = sd_resblock_forward(cx, B, &b->res, x, h, w, emb_silu, o);
    if (st == GC_OK && b->has_attn) st = transformer_forward(cx, &b->attn, B, o, h * w, ctx, n_ctx);
    if (st == GC_OK && b->has_up) {
        st = emit_map(runs, B, pre_up_name, o, b->cout, h, w);
        if (st == GC_OK) {
            for (int64_t i = 0; i < B; i++) cx->be->upsample2x(up + 4 * i * n, o + i * n, b->cout, h, w);
            st = sd_conv_forward(cx, B, &b->conv, up, 2 * h, 2 * w, 1, (gc_pad2d){1, 1, 1, 1}, y);
        }
    }
    gc_arena_rewind(cx->a, mark);
    return st;
}

/* The skips the decoder consumes: input_blocks.0 .. input_blocks.n_in, kept from the encoder. */
typedef struct {
    float **x;
    int64_t *C, *H, *W;
    int top;
} unet_skips;

static gc_status unet_run(const sd_ctx *cx, const sd_unet *u, int64_t B, const float *z, int64_t h, int64_t w, float t,
                          const float *context, int64_t n_ctx, const sd_unet_run *runs, float *out, unet_skips *hs) {
    const gc_backend_i *be = cx->be;
    const sd_unet_run *run = &runs[0]; /* the options all images share */
    const int64_t E = u->emb_dim;
    int last = run->last_block >= 0 && run->last_block < u->n_out ? run->last_block : u->n_out - 1;
    char nm[64];
    /* time embedding: one for the batch, then each image's conditioning added */
    float *temb = gc_arena_floats(cx->a, u->mc + E + 2 * B * E);
    if (!temb) return GC_ERR_NOMEM;
    float *e1 = temb + u->mc, *emb = e1 + E, *emb_silu = emb + B * E;
    gc_timestep_embedding(temb, t, u->mc);
    GC_TRY(emit(runs, B, "t_emb", temb, 0, 1, &u->mc));
    GC_TRY(be->linear(e1, temb, u->temb1.w, u->temb1.b, 1, u->mc, E));
    be->unary(GC_ACT_SILU, e1, E);
    GC_TRY(be->linear(emb, e1, u->temb2.w, u->temb2.b, 1, E, E));
    GC_TRY(emit(runs, B, "emb", emb, 0, 1, &E));
    for (int64_t i = B - 1; i >= 0; i--) {
        if (i) memcpy(emb + i * E, emb, (size_t)E * sizeof(float));
        if (!runs[i].cond_emb) continue;
        be->add_scaled(emb + i * E, runs[i].cond_emb, NULL, 1, E);
        GC_TRY(emit(runs + i, 1, "emb_plus_cond", emb + i * E, 0, 1, &E));
    }
    memcpy(emb_silu, emb, (size_t)(B * E) * sizeof(float));
    be->unary(GC_ACT_SILU, emb_silu, B * E);

    /* encoder: every block output stays in the arena for the skips */
    int64_t H = h, W = w;
    if (!(hs->x[0] = gc_arena_floats(cx->a, B * u->mc * H * W))) return GC_ERR_NOMEM;
    GC_TRY(sd_conv_forward(cx, B, &u->conv_in, z, H, W, 1, (gc_pad2d){1, 1, 1, 1}, hs->x[0]));
    hs->C[0] = u->mc, hs->H[0] = H, hs->W[0] = W;
    hs->top = 1;
    GC_TRY(emit_map(runs, B, "input_blocks.0", hs->x[0], u->mc, H, W));
    for (int i = 0; i < u->n_in; i++) {
        int64_t ho = H, wo = W;
        block_out_size(&u->in[i], &ho, &wo);
        float *y = gc_arena_floats(cx->a, B * u->in[i].cout * ho * wo);
        if (!y) return GC_ERR_NOMEM;
        GC_TRY(block_forward(cx, B, &u->in[i], hs->x[hs->top - 1], &H, &W, emb_silu, context, n_ctx, runs, NULL, y));
        hs->x[hs->top] = y, hs->C[hs->top] = u->in[i].cout, hs->H[hs->top] = H, hs->W[hs->top] = W;
        snprintf(nm, sizeof nm, "input_blocks.%d", i + 1);
        GC_TRY(emit_map(runs, B, nm, y, u->in[i].cout, H, W));
        hs->top++;
    }
    /* middle */
    int64_t C = hs->C[hs->top - 1];
    float *m1 = gc_arena_floats(cx->a, B * C * H * W), *hcur = gc_arena_floats(cx->a, B * C * H * W);
    if (!m1 || !hcur) return GC_ERR_NOMEM;
    GC_TRY(sd_resblock_forward(cx, B, &u->mid1, hs->x[hs->top - 1], H, W, emb_silu, m1));
    GC_TRY(transformer_forward(cx, &u->mid_attn, B, m1, H * W, context, n_ctx));
    GC_TRY(sd_resblock_forward(cx, B, &u->mid2, m1, H, W, emb_silu, hcur));
    GC_TRY(emit_map(runs, B, "middle_block", hcur, C, H, W));
    /* decoder: [h, skip] in one concatenation buffer, each block's output in one buffer (its input
     * is already copied into the concatenation); both sized for the largest block run */
    bool after_skip = run->feat_after_skip;
    int64_t cat_n = 0, out_n = C * H * W, hh = H, ww = W;
    for (int k = 0; k <= last + after_skip && k < u->n_out; k++) {
        int64_t cin = (k ? u->out[k - 1].cout : C) + hs->C[hs->top - 1 - k];
        cat_n = GC_MAX(cat_n, cin * hh * ww);
        if (k > last) break; /* block last + 1's concatenation only (feat_after_skip) */
        block_out_size(&u->out[k], &hh, &ww);
        out_n = GC_MAX(out_n, u->out[k].cout * hh * ww);
    }
    float *cat = gc_arena_floats(cx->a, B * cat_n), *ybuf = gc_arena_floats(cx->a, B * out_n);
    if (!cat || !ybuf) return GC_ERR_NOMEM;
    for (int k = 0; k < u->n_out; k++) {
        const int64_t HW = H * W;
        float s = 1.0f;
        if (run->freeu && (C == 4 * u->mc || C == 2 * u->mc)) {
            /* GeoAware scales the backbone in place, so the recorded feature carries the factor */
            float bk = C == 4 * u->mc ? run->b1 : run->b2;
            s = C == 4 * u->mc ? run->s1 : run->s2;
            for (int64_t i = 0; i < B; i++)
                for (int64_t j = 0; j < (C / 2) * HW; j++) hcur[i * C * HW + j] *= bk;
        }
        bool feat = k % (u->nr + 1) == u->nr, after = feat && after_skip;
        snprintf(nm, sizeof nm, "feat%d", k);
        if (feat && !after) GC_TRY(emit_map(runs, B, nm, hcur, C, H, W));
        if (k > last && !after) break;
        int top = --hs->top;
        float *skip = hs->x[top];
        int64_t Cs = hs->C[top];
        if (hs->H[top] != H || hs->W[top] != W)
            return gc_errorf(GC_ERR_INTERNAL, "UNet skip %d is %lldx%lld, backbone %lldx%lld", top,
                             (long long)hs->H[top], (long long)hs->W[top], (long long)H, (long long)W);
        for (int64_t i = 0; i < B; i++) {
            if (s != 1.0f) GC_TRY(be->lowfreq_scale(skip + i * Cs * HW, Cs, H, W, s));
            memcpy(cat + i * (C + Cs) * HW, hcur + i * C * HW, (size_t)(C * HW) * sizeof(float));
            memcpy(cat + (i * (C + Cs) + C) * HW, skip + i * Cs * HW, (size_t)(Cs * HW) * sizeof(float));
        }
        if (after) GC_TRY(emit_map(runs, B, nm, cat, C + Cs, H, W));
        if (k > last) break;
        char pre[64];
        snprintf(pre, sizeof pre, "output_blocks.%d.pre_upsample", k);
        hcur = ybuf;
        GC_TRY(block_forward(cx, B, &u->out[k], cat, &H, &W, emb_silu, context, n_ctx, runs, pre, hcur));
        C = u->out[k].cout;
        snprintf(nm, sizeof nm, "output_blocks.%d", k);
        GC_TRY(emit_map(runs, B, nm, hcur, C, H, W));
    }
    if (last < u->n_out - 1) return GC_OK;
    const int64_t n = C * H * W;
    float *tmp = gc_arena_floats(cx->a, B * n), *o = out ? out : gc_arena_floats(cx->a, B * u->out_ch * H * W);
    if (!tmp || !o) return GC_ERR_NOMEM;
    sd_groupnorm(cx, B, &u->norm_out, hcur, H * W, UNET_RES_EPS, true, tmp);
    GC_TRY(sd_conv_forward(cx, B, &u->conv_out, tmp, H, W, 1, (gc_pad2d){1, 1, 1, 1}, o));
    return emit_map(runs, B, "out", o, u->out_ch, H, W);
}

int64_t sd_unet_skip_channels(const sd_unet *u, int k) {
    int i = u->n_in - k; /* hs[0] is conv_in's output, hs[i] input block i's */
    return i == 0 ? u->mc : u->in[i - 1].cout;
}

gc_status sd_unet_forward_batch(const sd_unet *u, int64_t B, const float *z, int64_t h, int64_t w, float t,
                                const float *context, int64_t n_ctx, int64_t ctx_dim, const sd_unet_run *runs,
                                float *out) {
    int64_t f = (int64_t)1 << (u->levels - 1);
    if (B < 1) return gc_errorf(GC_ERR_ARG, "UNet: a batch of %lld images", (long long)B);
    if (h < f || w < f || h % f || w % f)
        return gc_errorf(GC_ERR_SHAPE, "UNet latent %lldx%lld: height and width must be positive multiples of %lld "
                         "(the image a multiple of %lld) so the skip connections line up", (long long)h, (long long)w,
                         (long long)f, (long long)(8 * f));
    if (n_ctx < 1 || !context) return gc_errorf(GC_ERR_ARG, "UNet: the cross-attention context is empty");
    if (ctx_dim != u->ctx_dim)
        return gc_errorf(GC_ERR_SHAPE, "UNet context is %lld wide, the model's cross-attention expects %lld",
                         (long long)ctx_dim, (long long)u->ctx_dim);
    for (int64_t i = 1; i < B; i++) {
        const sd_unet_run *a = &runs[0], *b = &runs[i];
        if (a->last_block != b->last_block || a->freeu != b->freeu || a->feat_after_skip != b->feat_after_skip ||
            (a->freeu && (a->b1 != b->b1 || a->b2 != b->b2 || a->s1 != b->s1 || a->s2 != b->s2)))
            return gc_errorf(GC_ERR_ARG, "UNet batch: image %lld asks for other blocks or FreeU factors than image 0 "
                             "(only cond_emb and the tap may differ)", (long long)i);
    }
    /* the skip table (host bookkeeping; the maps themselves live in the arena) */
    int n = u->n_in + 1;
    unet_skips hs = {.x = gc_calloc((size_t)n, sizeof(float *)), .C = gc_alloc_array((size_t)(3 * n), sizeof(int64_t))};
    if (!hs.x || !hs.C) {
        gc_free(hs.x);
        gc_free(hs.C);
        return GC_ERR_NOMEM;
    }
    hs.H = hs.C + n, hs.W = hs.H + n;
    gc_arena local, *a = gc_arena_acquire(&u->ex->arena, &local);
    sd_ctx cx = {u->ex->be, a};
    gc_status st = unet_run(&cx, u, B, z, h, w, t, context, n_ctx, runs, out, &hs);
    gc_arena_release(a, &u->ex->arena);
    gc_free(hs.x);
    gc_free(hs.C);
    return st;
}

gc_status sd_unet_forward(const sd_unet *u, const float *z, int64_t h, int64_t w, float t, const float *context,
                          int64_t n_ctx, int64_t ctx_dim, const sd_unet_run *run, float *out) {
    const sd_unet_run all = {.last_block = -1};
    return sd_unet_forward_batch(u, 1, z, h, w, t, context, n_ctx, ctx_dim, run ? run : &all, out);
}
