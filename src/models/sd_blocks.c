#include <stdio.h>
#include <string.h>

#include "models/sd_blocks.h"

static gc_status param(const sd_source *s, const char *name, const char *what, int ndim, const int64_t *shape,
                       const float **out) {
    char full[200];
    if (snprintf(full, sizeof full, "%s.%s", name, what) >= (int)sizeof full) /* never a wrong, cut name */
        return gc_errorf(GC_ERR_INTERNAL, "tensor name '%s.%s' is too long", name, what);
    return sd_source_f32(s, full, ndim, shape, out);
}

gc_status sd_conv_load(const sd_source *s, const char *name, int64_t cin, int64_t cout, int64_t k, sd_conv *c) {
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    GC_TRY(param(s, name, "weight", 4, (const int64_t[]){cout, cin, k, k}, &c->w));
    return param(s, name, "bias", 1, (const int64_t[]){cout}, &c->b);
}

gc_status sd_norm_load(const sd_source *s, const char *name, int64_t C, sd_norm *n) {
    n->C = C;
    GC_TRY(param(s, name, "weight", 1, (const int64_t[]){C}, &n->w));
    return param(s, name, "bias", 1, (const int64_t[]){C}, &n->b);
}

gc_status sd_linear_load(const sd_source *s, const char *name, int64_t in, int64_t out, bool bias, sd_linear *l) {
    char full[200];
    l->in = in;
    l->out = out;
    l->b = NULL;
    snprintf(full, sizeof full, "%s.weight", name);
    const gc_tensor_ref *r = sd_source_find(s, full);
    if (r && r->ndim == 4) /* a 1x1 conv stored where diffusers has a Linear (or the reverse) */
        GC_TRY(param(s, name, "weight", 4, (const int64_t[]){out, in, 1, 1}, &l->w));
    else
        GC_TRY(param(s, name, "weight", 2, (const int64_t[]){out, in}, &l->w));
    return bias ? param(s, name, "bias", 1, (const int64_t[]){out}, &l->b) : GC_OK;
}

gc_status sd_conv_forward_res(const sd_ctx *cx, int64_t B, const sd_conv *c, const float *x, int64_t H, int64_t W,
                              int64_t stride, gc_pad2d pad, const float *res, float *y) {
    return cx->be->conv2d(cx->a, B, y, x, c->w, c->b, res, c->cin, H, W, c->cout, c->k, stride, pad);
}

gc_status sd_conv_forward(const sd_ctx *cx, int64_t B, const sd_conv *c, const float *x, int64_t H, int64_t W,
                          int64_t stride, gc_pad2d pad, float *y) {
    return sd_conv_forward_res(cx, B, c, x, H, W, stride, pad, NULL, y);
}

gc_status sd_resblock_load(const sd_source *s, const char *name, bool unet_names, int64_t cin, int64_t cout,
                           int64_t emb_dim, float eps, sd_resblock *r) {
    static const char *const unet[] = {"in_layers.0", "in_layers.2", "out_layers.0", "out_layers.3",
                                       "skip_connection"};
    static const char *const vae[] = {"norm1", "conv1", "norm2", "conv2", "nin_shortcut"};
    const char *const *nm = unet_names ? unet : vae;
    char sub[200];
    memset(r, 0, sizeof *r);
    r->cin = cin;
    r->cout = cout;
    r->emb_dim = emb_dim;
    r->eps = eps;
#define SUB(i) (snprintf(sub, sizeof sub, "%s.%s", name, nm[i]), sub)
    GC_TRY(sd_norm_load(s, SUB(0), cin, &r->norm1));
    GC_TRY(sd_conv_load(s, SUB(1), cin, cout, 3, &r->conv1));
    GC_TRY(sd_norm_load(s, SUB(2), cout, &r->norm2));
    GC_TRY(sd_conv_load(s, SUB(3), cout, cout, 3, &r->conv2));
    r->has_skip = cin != cout;
    if (r->has_skip) GC_TRY(sd_conv_load(s, SUB(4), cin, cout, 1, &r->skip));
#undef SUB
    if (emb_dim > 0) {
        snprintf(sub, sizeof sub, "%s.emb_layers.1", name);
        GC_TRY(sd_linear_load(s, sub, emb_dim, cout, true, &r->emb));
    }
    return GC_OK;
}

void sd_groupnorm(const sd_ctx *cx, int64_t B, const sd_norm *n, const float *x, int64_t HW, float eps, bool silu,
                  float *y) {
    for (int64_t i = 0; i < B; i++)
        cx->be->groupnorm(y + i * n->C * HW, x + i * n->C * HW, n->w, n->b, n->C, HW, SD_GN_GROUPS, eps, silu);
}

gc_status sd_resblock_forward(const sd_ctx *cx, int64_t B, const sd_resblock *r, const float *x, int64_t H, int64_t W,
                              const float *emb_silu, float *y) {
    const gc_backend_i *be = cx->be;
    const int64_t HW = H * W, ys = r->cout * HW;
    const gc_pad2d p1 = {1, 1, 1, 1};
    /* one work map per image: y holds conv1's output until conv2 overwrites it (conv2 reads t only),
     * and t takes the shortcut conv last (a whole 512^2 x 128 map less at the VAE's peak) */
    size_t mark = gc_arena_mark(cx->a);
    float *t = gc_arena_floats(cx->a, B * GC_MAX(r->cin, r->cout) * HW);
    float *e = r->emb_dim > 0 ? gc_arena_floats(cx->a, B * r->cout) : NULL;
    gc_status st = t && (e || r->emb_dim <= 0) ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) {
        sd_groupnorm(cx, B, &r->norm1, x, HW, r->eps, true, t);
        st = sd_conv_forward(cx, B, &r->conv1, t, H, W, 1, p1, y);
    }
    if (st == GC_OK && r->emb_dim > 0) {
        st = be->linear(e, emb_silu, r->emb.w, r->emb.b, B, r->emb_dim, r->cout);
        for (int64_t i = 0; i < B && st == GC_OK; i++) be->add_bias(y + i * ys, e + i * r->cout, r->cout, HW, true);
    }
    if (st == GC_OK) {
        sd_groupnorm(cx, B, &r->norm2, y, HW, r->eps, true, t);
        /* without a shortcut conv, conv2 adds x as it writes y (no pass of its own over three maps) */
        st = sd_conv_forward_res(cx, B, &r->conv2, t, H, W, 1, p1, r->has_skip ? NULL : x, y);
    }
    if (st == GC_OK && r->has_skip) {
        st = sd_conv_forward(cx, B, &r->skip, x, H, W, 1, (gc_pad2d){0, 0, 0, 0}, t);
        if (st == GC_OK) be->add_scaled(y, t, NULL, 1, B * ys);
    }
    gc_arena_rewind(cx->a, mark);
    return st;
}

gc_status sd_linear_map_to_tokens(const sd_ctx *cx, const sd_linear *l, const float *x, int64_t HW, float *y) {
    GC_TRY(cx->be->matmul(y, x, l->w, HW, l->in, l->out, true, true, 1.0f, 0.0f));
    if (l->b) cx->be->add_bias(y, l->b, HW, l->out, false);
    return GC_OK;
}

gc_status sd_linear_tokens_to_map(const sd_ctx *cx, const sd_linear *l, const float *t, int64_t HW, float *y) {
    GC_TRY(cx->be->matmul(y, l->w, t, l->out, l->in, HW, false, true, 1.0f, 0.0f));
    if (l->b) cx->be->add_bias(y, l->b, l->out, HW, true);
    return GC_OK;
}

gc_status sd_linear_forward(const sd_ctx *cx, const sd_linear *l, const float *x, int64_t N, float *y, bool accumulate) {
    if (!accumulate) return cx->be->linear(y, x, l->w, l->b, N, l->in, l->out);
    GC_TRY(cx->be->matmul(y, x, l->w, N, l->in, l->out, false, true, 1.0f, 1.0f));
    if (l->b) cx->be->add_bias(y, l->b, N, l->out, false);
    return GC_OK;
}
