/* Layers shared by the SD UNet and VAE encoder: convolutions, norms, linears bound to weights by
 * LDM name, and the ResnetBlock both use (UNet: with a time-embedding projection, GN eps 1e-5;
 * VAE: without, eps 1e-6). */
#ifndef GC_SD_BLOCKS_H
#define GC_SD_BLOCKS_H

#include "backend/backend.h"
#include "models/sd_source.h"
#include "tensor/conv2d.h"

/* What a forward pass runs on: the backend's ops and the arena its buffers come from. */
typedef struct {
    const gc_backend_i *be;
    gc_arena *a;
} sd_ctx;

typedef struct {
    int64_t cin, cout, k;
    const float *w; /* [cout, cin, k, k] */
    const float *b; /* [cout] */
} sd_conv;

typedef struct {
    int64_t C;
    const float *w, *b; /* [C] */
} sd_norm;

typedef struct {
    int64_t in, out;
    const float *w; /* [out, in] (a [out, in, 1, 1] conv weight is accepted: same bytes) */
    const float *b; /* [out] or NULL */
} sd_linear;

/* `name` is the module's LDM name ("input_blocks.0.0"); ".weight"/".bias" are appended. */
gc_status sd_conv_load(const sd_source *s, const char *name, int64_t cin, int64_t cout, int64_t k, sd_conv *c);
gc_status sd_norm_load(const sd_source *s, const char *name, int64_t C, sd_norm *n);
gc_status sd_linear_load(const sd_source *s, const char *name, int64_t in, int64_t out, bool bias, sd_linear *l);

/* y[B, cout, Ho, Wo] = conv(x[B, cin, H, W]) with the given stride and padding. */
gc_status sd_conv_forward(const sd_ctx *cx, int64_t B, const sd_conv *c, const float *x, int64_t H, int64_t W,
                          int64_t stride, gc_pad2d pad, float *y);
/* The same plus a residual: y = conv(x) + res (res [B, cout, Ho, Wo]). */
gc_status sd_conv_forward_res(const sd_ctx *cx, int64_t B, const sd_conv *c, const float *x, int64_t H, int64_t W,
                              int64_t stride, gc_pad2d pad, const float *res, float *y);

typedef struct {
    int64_t cin, cout;
    int64_t emb_dim; /* 0: no time embedding (VAE) */
    float eps;       /* GroupNorm eps */
    sd_norm norm1, norm2;
    sd_conv conv1, conv2;
    sd_linear emb;   /* [cout, emb_dim], when emb_dim > 0 */
    bool has_skip;   /* 1x1 conv when cin != cout */
    sd_conv skip;
} sd_resblock;

/* unet_names: UNet ResBlock names (in_layers.0, in_layers.2, emb_layers.1, out_layers.0,
 * out_layers.3, skip_connection) rather than the VAE's (norm1, conv1, norm2, conv2, nin_shortcut). */
gc_status sd_resblock_load(const sd_source *s, const char *name, bool unet_names, int64_t cin, int64_t cout,
                           int64_t emb_dim, float eps, sd_resblock *r);
/* y[b, cout, H, W] = skip(x) + conv2(silu(gn2(conv1(silu(gn1(x))) + Linear(emb_silu[b])))) for each
 * of the B maps x[B, cin, H, W]. emb_silu = SiLU(emb) [B, emb_dim] (NULL when emb_dim == 0). y must
 * not overlap x. */
gc_status sd_resblock_forward(const sd_ctx *cx, int64_t B, const sd_resblock *r, const float *x, int64_t H, int64_t W,
                              const float *emb_silu, float *y);

/* 32 groups everywhere in SD. */
#define SD_GN_GROUPS 32

/* y[i] = GroupNorm(x[i]) (then SiLU) for each of the B maps x[B, C, HW], SD_GN_GROUPS groups. */
void sd_groupnorm(const sd_ctx *cx, int64_t B, const sd_norm *n, const float *x, int64_t HW, float eps, bool silu,
                  float *y);

/* A 1x1 conv (or Linear) between a map and tokens, as the SpatialTransformer's proj_in/proj_out and
 * the VAE attention's q/k/v/proj_out use it:
 *   to_tokens: y[HW, out] = x[in, HW]^T W^T + b      from_tokens: y[out, HW] = W t[HW, in]^T + b */
gc_status sd_linear_map_to_tokens(const sd_ctx *cx, const sd_linear *l, const float *x, int64_t HW, float *y);
gc_status sd_linear_tokens_to_map(const sd_ctx *cx, const sd_linear *l, const float *t, int64_t HW, float *y);
/* y[N, out] (+)= x[N, in] W^T + b; accumulate adds into y (a residual connection). */
gc_status sd_linear_forward(const sd_ctx *cx, const sd_linear *l, const float *x, int64_t N, float *y, bool accumulate);

/* Called with every named intermediate a forward pass exposes (shape without the batch dim). The
 * pointer is valid during the call only. A non-OK return stops the forward pass. */
typedef gc_status (*sd_tap_fn)(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape);
#endif
