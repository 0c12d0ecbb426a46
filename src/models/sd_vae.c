#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/sd_vae.h"

#define VAE_EPS 1e-6f

gc_status sd_vae_load(const sd_source *s, sd_vae *v) {
    memset(v, 0, sizeof *v);
    const char *label = gc_weights_label(s->w);
    char nm[160];
    const gc_tensor_ref *r = sd_source_find(s, "encoder.conv_in.weight");
    if (!r || r->ndim != 4)
        return gc_errorf(GC_ERR_MISSING, "%s: no VAE encoder (encoder.conv_in.weight [C, 3, 3, 3])", label);
    v->ch = r->shape[0];
    v->in_ch = r->shape[1];
    for (v->levels = 0; v->levels < SD_MAX_LEVELS; v->levels++) {
        snprintf(nm, sizeof nm, "encoder.down.%d.block.0.conv1.weight", (int)v->levels);
        if (!(r = sd_source_find(s, nm))) break;
        if (r->ndim != 4 || r->shape[0] % v->ch)
            return gc_errorf(GC_ERR_SHAPE, "%s: VAE tensor for '%s' is not a conv with a multiple of %lld outputs",
                             label, nm, (long long)v->ch);
        v->mult[v->levels] = r->shape[0] / v->ch;
    }
    for (v->nr = 0; v->nr < 16; v->nr++) {
        snprintf(nm, sizeof nm, "encoder.down.0.block.%d.conv1.weight", (int)v->nr);
        if (!sd_source_find(s, nm)) break;
    }
    if (v->levels < 1 || v->nr < 1) return gc_errorf(GC_ERR_MISSING, "%s: no VAE encoder down blocks", label);
    if (!(r = sd_source_find(s, "encoder.conv_out.weight")) || r->ndim != 4)
        return gc_errorf(GC_ERR_MISSING, "%s: missing VAE tensor encoder.conv_out.weight", label);
    v->z2 = r->shape[0];
    if (!(r = sd_source_find(s, "quant_conv.weight")) || r->ndim != 4 || r->shape[0] % 2)
        return gc_errorf(GC_ERR_MISSING, "%s: missing VAE tensor quant_conv.weight [2*embed_dim, ...]", label);
    v->e2 = r->shape[0];

    GC_TRY(sd_conv_load(s, "encoder.conv_in", v->in_ch, v->ch, 3, &v->conv_in));
    v->blocks = gc_calloc((size_t)(v->levels * v->nr), sizeof(sd_resblock));
    if (!v->blocks) return GC_ERR_NOMEM;
    int64_t c = v->ch;
    for (int64_t l = 0; l < v->levels; l++) {
        int64_t co = v->ch * v->mult[l];
        for (int64_t j = 0; j < v->nr; j++) {
            snprintf(nm, sizeof nm, "encoder.down.%d.block.%d", (int)l, (int)j);
            GC_TRY(sd_resblock_load(s, nm, false, c, co, 0, VAE_EPS, &v->blocks[l * v->nr + j]));
            c = co;
        }
        if (l < v->levels - 1) {
            snprintf(nm, sizeof nm, "encoder.down.%d.downsample.conv", (int)l);
            GC_TRY(sd_conv_load(s, nm, c, c, 3, &v->down[l]));
        }
    }
    GC_TRY(sd_resblock_load(s, "encoder.mid.block_1", false, c, c, 0, VAE_EPS, &v->mid1));
    GC_TRY(sd_norm_load(s, "encoder.mid.attn_1.norm", c, &v->attn_norm));
    GC_TRY(sd_linear_load(s, "encoder.mid.attn_1.q", c, c, true, &v->attn_q));
    GC_TRY(sd_linear_load(s, "encoder.mid.attn_1.k", c, c, true, &v->attn_k));
    GC_TRY(sd_linear_load(s, "encoder.mid.attn_1.v", c, c, true, &v->attn_v));
    GC_TRY(sd_linear_load(s, "encoder.mid.attn_1.proj_out", c, c, true, &v->attn_proj));
    GC_TRY(sd_resblock_load(s, "encoder.mid.block_2", false, c, c, 0, VAE_EPS, &v->mid2));
    GC_TRY(sd_norm_load(s, "encoder.norm_out", c, &v->norm_out));
    GC_TRY(sd_conv_load(s, "encoder.conv_out", c, v->z2, 3, &v->conv_out));
    return sd_conv_load(s, "quant_conv", v->z2, v->e2, 1, &v->quant);
}

void sd_vae_free(sd_vae *v) {
    gc_free(v->blocks);
    memset(v, 0, sizeof *v);
}

static gc_status emit(sd_tap_fn tap, void *ctx, const char *name, const float *x, int64_t C, int64_t H, int64_t W) {
    return tap ? tap(ctx, name, x, 3, (const int64_t[]){C, H, W}) : GC_OK;
}

/* x += proj(attention(GN(x))): one head over the H*W positions, scale C^-0.5. */
static gc_status mid_attention(const sd_ctx *cx, const sd_vae *v, float *x, int64_t C, int64_t HW) {
    const gc_backend_i *be = cx->be;
    size_t mark = gc_arena_mark(cx->a);
    float *n = gc_arena_floats(cx->a, C * HW), *q = gc_arena_floats(cx->a, 4 * C * HW);
    if (!n || !q) return GC_ERR_NOMEM;
    float *k = q + C * HW, *vv = k + C * HW, *o = vv + C * HW;
    be->groupnorm(n, x, v->attn_norm.w, v->attn_norm.b, C, HW, SD_GN_GROUPS, VAE_EPS, false);
    gc_status st = sd_linear_map_to_tokens(cx, &v->attn_q, n, HW, q);
    if (st == GC_OK) st = sd_linear_map_to_tokens(cx, &v->attn_k, n, HW, k);
    if (st == GC_OK) st = sd_linear_map_to_tokens(cx, &v->attn_v, n, HW, vv);
    if (st == GC_OK) st = be->attention(cx->a, o, C, q, C, k, C, vv, C, HW, HW, 1, C, (float)pow((double)C, -0.5), false);
    if (st == GC_OK) st = sd_linear_tokens_to_map(cx, &v->attn_proj, o, HW, n);
    if (st == GC_OK) be->add_scaled(x, n, NULL, 1, C * HW);
    gc_arena_rewind(cx->a, mark);
    return st;
}

static gc_status vae_run(const sd_ctx *cx, const sd_vae *v, const float *img, int64_t H, int64_t W, float scale,
                         float *z0, sd_tap_fn tap, void *ctx) {
    /* largest activation: channels entering or leaving a level times that level's resolution */
    int64_t cap = GC_MAX(v->ch, GC_MAX(v->z2, v->e2)) * H * W, cprev = v->ch;
    for (int64_t l = 0; l < v->levels; l++) {
        int64_t co = v->ch * v->mult[l], s = ((int64_t)1 << l);
        cap = GC_MAX(cap, GC_MAX(cprev, co) * (H / s) * (W / s));
        cprev = co;
    }
    float *a = gc_arena_floats(cx->a, cap), *b = gc_arena_floats(cx->a, cap);
    if (!a || !b) return GC_ERR_NOMEM;
    char nm[96];
    int64_t c = v->ch;
    const gc_pad2d p1 = {1, 1, 1, 1}, pdown = {0, 0, 1, 1};
    GC_TRY(sd_conv_forward(cx, 1, &v->conv_in, img, H, W, 1, p1, a));
    for (int64_t l = 0; l < v->levels; l++) {
        for (int64_t j = 0; j < v->nr; j++) {
            const sd_resblock *rb = &v->blocks[l * v->nr + j];
            GC_TRY(sd_resblock_forward(cx, 1, rb, a, H, W, NULL, b));
            float *t = a; a = b; b = t;
            c = rb->cout;
        }
        if (l == v->levels - 1) {
            snprintf(nm, sizeof nm, "encoder.down.%d.block.%d", (int)l, (int)v->nr - 1);
            GC_TRY(emit(tap, ctx, nm, a, c, H, W));
        }
        if (l < v->levels - 1) {
            GC_TRY(sd_conv_forward(cx, 1, &v->down[l], a, H, W, 2, pdown, b));
            H = gc_conv2d_out(H, 3, 2, 0, 1);
            W = gc_conv2d_out(W, 3, 2, 0, 1);
            float *t = a; a = b; b = t;
            if (l >= 1) {
                snprintf(nm, sizeof nm, "encoder.down.%d.downsample", (int)l);
                GC_TRY(emit(tap, ctx, nm, a, c, H, W));
            }
        }
    }
    int64_t HW = H * W;
    GC_TRY(sd_resblock_forward(cx, 1, &v->mid1, a, H, W, NULL, b));
    GC_TRY(mid_attention(cx, v, b, c, HW));
    GC_TRY(sd_resblock_forward(cx, 1, &v->mid2, b, H, W, NULL, a));
    GC_TRY(emit(tap, ctx, "encoder.mid", a, c, H, W));
    cx->be->groupnorm(b, a, v->norm_out.w, v->norm_out.b, c, HW, SD_GN_GROUPS, VAE_EPS, true);
    GC_TRY(sd_conv_forward(cx, 1, &v->conv_out, b, H, W, 1, p1, a));
    GC_TRY(emit(tap, ctx, "encoder.out", a, v->z2, H, W));
    GC_TRY(sd_conv_forward(cx, 1, &v->quant, a, H, W, 1, (gc_pad2d){0, 0, 0, 0}, b));
    GC_TRY(emit(tap, ctx, "moments", b, v->e2, H, W));
    int64_t zc = v->e2 / 2;
    GC_TRY(emit(tap, ctx, "posterior_mean", b, zc, H, W));
    for (int64_t i = 0; i < zc * HW; i++) z0[i] = scale * b[i];
    return emit(tap, ctx, "z0", z0, zc, H, W);
}

gc_status sd_vae_encode(const sd_vae *v, const float *img, int64_t H, int64_t W, float scale, float *z0,
                        sd_tap_fn tap, void *ctx) {
    int64_t f = (int64_t)1 << (v->levels - 1);
    if (H < f || W < f || H % f || W % f)
        return gc_errorf(GC_ERR_SHAPE, "VAE input %lldx%lld: height and width must be positive multiples of %lld",
                         (long long)H, (long long)W, (long long)f);
    gc_arena local, *a = gc_arena_acquire(&v->ex->arena, &local);
    sd_ctx cx = {v->ex->be, a};
    gc_status st = vae_run(&cx, v, img, H, W, scale, z0, tap, ctx);
    gc_arena_release(a, &v->ex->arena);
    return st;
}
