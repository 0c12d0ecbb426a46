#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sd_unet.h"
#include "tensor/activation.h"
#include "tensor/attention.h"
#include "tensor/fourier.h"
#include "tensor/geglu.h"
#include "tensor/groupnorm.h"
#include "tensor/layernorm.h"
#include "tensor/linear.h"
#include "tensor/timestep.h"
#include "tensor/upsample.h"

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

/* x[C, HW] += proj_out(BasicTransformerBlock(proj_in(GN(x)), context)). */
static gc_status transformer_forward(const sd_transformer *t, float *x, int64_t HW, const float *ctx, int64_t n_ctx) {
    int64_t C = t->C, hd = C / t->heads, nkv = GC_MAX(HW, n_ctx);
    float scale = (float)pow((double)hd, -0.5);
    size_t n = (size_t)(HW * C);
    /* tok, a, q, o: [HW, C]; k, v: [max(HW, n_ctx), C]; f: [HW, 8C]; g: [HW, 4C] */
    float *buf = gc_alloc_array(4 * n + 2 * (size_t)(nkv * C) + 12 * n, sizeof(float));
    if (!buf) return GC_ERR_NOMEM;
    float *tok = buf, *a = tok + n, *q = a + n, *o = q + n, *k = o + n, *v = k + nkv * C, *f = v + nkv * C,
          *g = f + 8 * n;
    gc_groupnorm(a, x, t->norm.w, t->norm.b, C, HW, SD_GN_GROUPS, UNET_ST_EPS, false);
    sd_linear_map_to_tokens(&t->proj_in, a, HW, tok);
    /* self-attention */
    gc_layernorm(a, tok, t->ln1.w, t->ln1.b, HW, C, UNET_LN_EPS);
    sd_linear_forward(&t->q1, a, HW, q, false);
    sd_linear_forward(&t->k1, a, HW, k, false);
    sd_linear_forward(&t->v1, a, HW, v, false);
    gc_status st = gc_attention(o, C, q, C, k, C, v, C, HW, HW, t->heads, hd, scale, false);
    if (st == GC_OK) {
        sd_linear_forward(&t->o1, o, HW, tok, true);
        /* cross-attention on the context */
        gc_layernorm(a, tok, t->ln2.w, t->ln2.b, HW, C, UNET_LN_EPS);
        sd_linear_forward(&t->q2, a, HW, q, false);
        sd_linear_forward(&t->k2, ctx, n_ctx, k, false);
        sd_linear_forward(&t->v2, ctx, n_ctx, v, false);
        st = gc_attention(o, C, q, C, k, C, v, C, HW, n_ctx, t->heads, hd, scale, false);
    }
    if (st == GC_OK) {
        sd_linear_forward(&t->o2, o, HW, tok, true);
        /* GEGLU feed-forward */
        gc_layernorm(a, tok, t->ln3.w, t->ln3.b, HW, C, UNET_LN_EPS);
        sd_linear_forward(&t->ff1, a, HW, f, false);
        gc_geglu(g, f, HW, 4 * C);
        sd_linear_forward(&t->ff2, g, HW, tok, true);
        sd_linear_tokens_to_map(&t->proj_out, tok, HW, a);
        for (size_t i = 0; i < n; i++) x[i] += a[i];
    }
    gc_free(buf);
    return st;
}

static gc_status emit(const sd_unet_run *run, const char *name, const float *x, int ndim, const int64_t *shape) {
    return run && run->tap ? run->tap(run->tap_ctx, name, x, ndim, shape) : GC_OK;
}
static gc_status emit_map(const sd_unet_run *run, const char *name, const float *x, int64_t C, int64_t H, int64_t W) {
    return emit(run, name, x, 3, (const int64_t[]){C, H, W});
}

/* Run one block on x[cin, H, W] into a fresh buffer *y[cout, H', W'] (H, W updated). */
static gc_status block_forward(const sd_unet_block *b, const float *x, int64_t *H, int64_t *W, const float *emb_silu,
                               const float *ctx, int64_t n_ctx, const sd_unet_run *run, const char *pre_up_name,
                               float **y) {
    int64_t h = *H, w = *W;
    *y = NULL;
    if (b->is_down) {
        int64_t ho = gc_conv2d_out(h, 3, 2, 1, 1), wo = gc_conv2d_out(w, 3, 2, 1, 1);
        float *o = gc_alloc_array((size_t)(b->cout * ho * wo), sizeof(float));
        if (!o) return GC_ERR_NOMEM;
        gc_status st = sd_conv_forward(&b->conv, x, h, w, 2, (gc_pad2d){1, 1, 1, 1}, o);
        if (st != GC_OK) {
            gc_free(o);
            return st;
        }
        *H = ho;
        *W = wo;
        *y = o;
        return GC_OK;
    }
    float *o = gc_alloc_array((size_t)(b->cout * h * w), sizeof(float));
    if (!o) return GC_ERR_NOMEM;
    gc_status st = sd_resblock_forward(&b->res, x, h, w, emb_silu, o);
    if (st == GC_OK && b->has_attn) st = transformer_forward(&b->attn, o, h * w, ctx, n_ctx);
    if (st == GC_OK && b->has_up) {
        st = emit_map(run, pre_up_name, o, b->cout, h, w);
        size_t n4 = (size_t)(4 * b->cout * h * w);
        float *up = gc_alloc_array(n4, sizeof(float)), *y2 = gc_alloc_array(n4, sizeof(float));
        if (st == GC_OK && (!up || !y2)) st = GC_ERR_NOMEM;
        if (st == GC_OK) {
            gc_upsample_nearest2x(up, o, b->cout, h, w);
            st = sd_conv_forward(&b->conv, up, 2 * h, 2 * w, 1, (gc_pad2d){1, 1, 1, 1}, y2);
        }
        gc_free(o);
        o = y2;
        gc_free(up);
        *H = 2 * h;
        *W = 2 * w;
    }
    if (st != GC_OK) {
        gc_free(o);
        return st;
    }
    *y = o;
    return GC_OK;
}

int64_t sd_unet_skip_channels(const sd_unet *u, int k) {
    int i = u->n_in - k; /* hs[0] is conv_in's output, hs[i] input block i's */
    return i == 0 ? u->mc : u->in[i - 1].cout;
}

gc_status sd_unet_forward(const sd_unet *u, const float *z, int64_t h, int64_t w, float t, const float *context,
                          int64_t n_ctx, int64_t ctx_dim, const sd_unet_run *run, float *out) {
    int64_t f = (int64_t)1 << (u->levels - 1);
    if (h < f || w < f || h % f || w % f)
        return gc_errorf(GC_ERR_SHAPE, "UNet latent %lldx%lld: height and width must be positive multiples of %lld "
                         "(the image a multiple of %lld) so the skip connections line up", (long long)h, (long long)w,
                         (long long)f, (long long)(8 * f));
    if (n_ctx < 1 || !context) return gc_errorf(GC_ERR_ARG, "UNet: the cross-attention context is empty");
    if (ctx_dim != u->ctx_dim)
        return gc_errorf(GC_ERR_SHAPE, "UNet context is %lld wide, the model's cross-attention expects %lld",
                         (long long)ctx_dim, (long long)u->ctx_dim);
    int last = run && run->last_block >= 0 && run->last_block < u->n_out ? run->last_block : u->n_out - 1;
    char nm[64];
    gc_status st = GC_OK;
    /* time embedding */
    float *temb = gc_alloc_array((size_t)(u->mc + 3 * u->emb_dim), sizeof(float));
    if (!temb) return GC_ERR_NOMEM;
    float *e1 = temb + u->mc, *emb = e1 + u->emb_dim, *emb_silu = emb + u->emb_dim;
    gc_timestep_embedding(temb, t, u->mc);
    st = emit(run, "t_emb", temb, 1, &u->mc);
    gc_linear(e1, temb, u->temb1.w, u->temb1.b, 1, u->mc, u->emb_dim);
    gc_silu(e1, u->emb_dim);
    gc_linear(emb, e1, u->temb2.w, u->temb2.b, 1, u->emb_dim, u->emb_dim);
    if (st == GC_OK) st = emit(run, "emb", emb, 1, &u->emb_dim);
    if (st == GC_OK && run && run->cond_emb) {
        for (int64_t i = 0; i < u->emb_dim; i++) emb[i] += run->cond_emb[i];
        st = emit(run, "emb_plus_cond", emb, 1, &u->emb_dim);
    }
    memcpy(emb_silu, emb, (size_t)u->emb_dim * sizeof(float));
    gc_silu(emb_silu, u->emb_dim);

    /* encoder: keep every block output for the skips */
    float **hs = gc_calloc((size_t)(u->n_in + 1), sizeof(float *));
    int64_t *hsC = gc_alloc_array((size_t)(3 * (u->n_in + 1)), sizeof(int64_t));
    if (!hs || !hsC) st = GC_ERR_NOMEM;
    int64_t *hsH = hsC ? hsC + u->n_in + 1 : NULL, *hsW = hsH ? hsH + u->n_in + 1 : NULL;
    int top = 0;
    int64_t H = h, W = w;
    if (st == GC_OK) {
        hs[0] = gc_alloc_array((size_t)(u->mc * H * W), sizeof(float));
        st = hs[0] ? sd_conv_forward(&u->conv_in, z, H, W, 1, (gc_pad2d){1, 1, 1, 1}, hs[0]) : GC_ERR_NOMEM;
        hsC[0] = u->mc, hsH[0] = H, hsW[0] = W;
        top = 1;
        if (st == GC_OK) st = emit_map(run, "input_blocks.0", hs[0], u->mc, H, W);
    }
    for (int i = 0; st == GC_OK && i < u->n_in; i++) {
        st = block_forward(&u->in[i], hs[top - 1], &H, &W, emb_silu, context, n_ctx, run, NULL, &hs[top]);
        if (st != GC_OK) break;
        hsC[top] = u->in[i].cout, hsH[top] = H, hsW[top] = W;
        snprintf(nm, sizeof nm, "input_blocks.%d", i + 1);
        st = emit_map(run, nm, hs[top], hsC[top], H, W);
        top++;
    }
    /* middle */
    int64_t C = top > 0 ? hsC[top - 1] : 0;
    float *hcur = NULL, *tmp = NULL;
    if (st == GC_OK) {
        hcur = gc_alloc_array((size_t)(C * H * W), sizeof(float));
        st = hcur ? sd_resblock_forward(&u->mid1, hs[top - 1], H, W, emb_silu, hcur) : GC_ERR_NOMEM;
    }
    if (st == GC_OK) st = transformer_forward(&u->mid_attn, hcur, H * W, context, n_ctx);
    if (st == GC_OK) {
        tmp = gc_alloc_array((size_t)(C * H * W), sizeof(float));
        st = tmp ? sd_resblock_forward(&u->mid2, hcur, H, W, emb_silu, tmp) : GC_ERR_NOMEM;
        gc_free(hcur);
        hcur = tmp;
        tmp = NULL;
    }
    if (st == GC_OK) st = emit_map(run, "middle_block", hcur, C, H, W);
    /* decoder */
    bool freeu = run && run->freeu;
    for (int k = 0; st == GC_OK && k < u->n_out; k++) {
        float s = 1.0f;
        if (freeu && (C == 4 * u->mc || C == 2 * u->mc)) {
            /* GeoAware scales the backbone in place, so the recorded feature carries the factor */
            float bk = C == 4 * u->mc ? run->b1 : run->b2;
            s = C == 4 * u->mc ? run->s1 : run->s2;
            for (int64_t i = 0; i < (C / 2) * H * W; i++) hcur[i] *= bk;
        }
        bool feat = k % (u->nr + 1) == u->nr, after = feat && run && run->feat_after_skip;
        snprintf(nm, sizeof nm, "feat%d", k);
        if (feat && !after) st = emit_map(run, nm, hcur, C, H, W);
        if (st != GC_OK || (k > last && !after)) break;
        /* the skip stays on the stack (freed with it on an error) until it is consumed */
        float *skip = hs[top - 1];
        int64_t Cs = hsC[top - 1];
        if (hsH[top - 1] != H || hsW[top - 1] != W) {
            st = gc_errorf(GC_ERR_INTERNAL, "UNet skip %d is %lldx%lld, backbone %lldx%lld", top - 1, (long long)hsH[top - 1],
                           (long long)hsW[top - 1], (long long)H, (long long)W);
            break;
        }
        if (s != 1.0f) st = gc_fourier_lowfreq_scale(skip, Cs, H, W, s);
        float *cat = st == GC_OK ? gc_alloc_array((size_t)((C + Cs) * H * W), sizeof(float)) : NULL;
        if (st == GC_OK && !cat) st = GC_ERR_NOMEM;
        if (st != GC_OK) break;
        memcpy(cat, hcur, (size_t)(C * H * W) * sizeof(float));
        memcpy(cat + C * H * W, skip, (size_t)(Cs * H * W) * sizeof(float));
        gc_free(skip);
        hs[--top] = NULL;
        gc_free(hcur);
        hcur = NULL;
        if (after) st = emit_map(run, nm, cat, C + Cs, H, W);
        if (st != GC_OK || k > last) {
            gc_free(cat);
            break;
        }
        char pre[64];
        snprintf(pre, sizeof pre, "output_blocks.%d.pre_upsample", k);
        st = block_forward(&u->out[k], cat, &H, &W, emb_silu, context, n_ctx, run, pre, &hcur);
        gc_free(cat);
        C = u->out[k].cout;
        snprintf(nm, sizeof nm, "output_blocks.%d", k);
        if (st == GC_OK) st = emit_map(run, nm, hcur, C, H, W);
    }
    if (st == GC_OK && last == u->n_out - 1) {
        tmp = gc_alloc_array((size_t)(C * H * W), sizeof(float));
        float *o = out ? out : gc_alloc_array((size_t)(u->out_ch * H * W), sizeof(float));
        if (!tmp || !o) st = GC_ERR_NOMEM;
        if (st == GC_OK) {
            gc_groupnorm(tmp, hcur, u->norm_out.w, u->norm_out.b, C, H * W, SD_GN_GROUPS, UNET_RES_EPS, true);
            st = sd_conv_forward(&u->conv_out, tmp, H, W, 1, (gc_pad2d){1, 1, 1, 1}, o);
        }
        if (st == GC_OK) st = emit_map(run, "out", o, u->out_ch, H, W);
        if (o != out) gc_free(o);
    }
    gc_free(tmp);
    gc_free(hcur);
    for (int i = 0; hs && i < top; i++) gc_free(hs[i]);
    gc_free(hs);
    gc_free(hsC);
    gc_free(temb);
    return st;
}
