/* `geocorr trace dinov2 --weights W --inputs IN --out OUT` (TRACE.md A): every intermediate of a
 * DINOv2 forward pass under the fixture key names. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/dinov2.h"

/* The model input [3, H, W]: `pixel_values` F32 [1,3,H,W], or `image_u8` U8 [H,W,3] normalised. */
static gc_status read_pixels(gc_weights *in, float **out, int64_t *H, int64_t *W) {
    const gc_tensor_ref *pv = gc_weights_find(in, "pixel_values");
    if (pv) {
        const float *p;
        GC_TRY(GC_WEIGHT(in, "pixel_values", &p, 1, 3, -1, -1));
        *H = pv->shape[2], *W = pv->shape[3];
        *out = gc_alloc_array((size_t)(3 * *H), (size_t)*W * sizeof(float));
        if (!*out) return GC_ERR_NOMEM;
        memcpy(*out, p, (size_t)(3 * *H * *W) * sizeof(float));
        return GC_OK;
    }
    const gc_tensor_ref *u8 = gc_weights_find(in, "image_u8");
    if (!u8)
        return gc_errorf(GC_ERR_MISSING, "%s: no input tensor 'pixel_values' (F32 [1,3,H,W]) or 'image_u8' (U8 [H,W,3])",
                         gc_weights_label(in));
    if (u8->dtype != GC_DT_U8 || u8->ndim != 3 || u8->shape[2] != 3)
        return gc_errorf(GC_ERR_SHAPE, "%s: 'image_u8' must be U8 [H, W, 3]", gc_weights_label(in));
    *H = u8->shape[0], *W = u8->shape[1];
    *out = gc_alloc_array((size_t)(3 * *H), (size_t)*W * sizeof(float));
    if (!*out) return GC_ERR_NOMEM;
    gc_dinov2_normalize_u8(*out, u8->data, *H, *W);
    return GC_OK;
}

/* Output buffers of the trace (all owned here, referenced by the writer until save). */
typedef struct {
    float *pixels, *pos_embed, *tokens_in, *x_norm, *geoaware;
    float **blocks;
    int64_t depth;
} trace_bufs;

static void trace_bufs_free(trace_bufs *b) {
    gc_free(b->pixels), gc_free(b->pos_embed), gc_free(b->tokens_in), gc_free(b->x_norm), gc_free(b->geoaware);
    for (int64_t i = 0; b->blocks && i < b->depth; i++) gc_free(b->blocks[i]);
    gc_free(b->blocks);
}

#define ADD(name, ptr, ...)                                                                                  \
    GC_TRY(gc_st_writer_add_ref(wr, name, GC_DT_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                                (const int64_t[]){__VA_ARGS__}, ptr))

static gc_status trace_write(gc_st_writer *wr, const gc_dinov2 *m, const trace_bufs *b, int64_t Hp, int64_t Wp) {
    int64_t D = m->dim, R = m->registers, N = Hp * Wp, T = 1 + R + N;
    ADD("pos_embed", b->pos_embed, 1, 1 + N, D);
    ADD("tokens_in", b->tokens_in, 1, T, D);
    for (int64_t i = 0; i < m->depth; i++) {
        char key[32];
        snprintf(key, sizeof key, "block%lld", (long long)i);
        ADD(key, b->blocks[i], 1, T, D);
    }
    ADD("x_norm_clstoken", b->x_norm, 1, D);
    if (R > 0) ADD("x_norm_regtokens", b->x_norm + D, 1, R, D);
    ADD("x_norm_patchtokens", b->x_norm + (1 + R) * D, 1, N, D);
    ADD("geoaware_feat", b->geoaware, 1, D, Hp, Wp);
    return GC_OK;
}

static gc_status trace_run(gc_dinov2 *m, gc_weights *in, const char *out_path, trace_bufs *b) {
    int64_t H = 0, W = 0;
    GC_TRY(read_pixels(in, &b->pixels, &H, &W));
    int64_t p = m->patch;
    if (H % p || W % p || H < p || W < p)
        return gc_errorf(GC_ERR_ARG, "%s: image %lldx%lld is not a multiple of the patch size %lld",
                         gc_weights_label(in), (long long)H, (long long)W, (long long)p);
    int64_t D = m->dim, Hp = H / p, Wp = W / p, N = Hp * Wp, T = 1 + m->registers + N;
    b->depth = m->depth;
    b->pos_embed = gc_alloc_array((size_t)(1 + N), (size_t)D * sizeof(float));
    b->tokens_in = gc_alloc_array((size_t)T, (size_t)D * sizeof(float));
    b->x_norm = gc_alloc_array((size_t)T, (size_t)D * sizeof(float));
    b->geoaware = gc_alloc_array((size_t)N, (size_t)D * sizeof(float));
    b->blocks = gc_calloc((size_t)m->depth, sizeof(float *));
    if (!b->pos_embed || !b->tokens_in || !b->x_norm || !b->geoaware || !b->blocks) return GC_ERR_NOMEM;
    for (int64_t i = 0; i < m->depth; i++)
        if (!(b->blocks[i] = gc_alloc_array((size_t)T, (size_t)D * sizeof(float)))) return GC_ERR_NOMEM;
    gc_dinov2_outputs o = {b->pos_embed, b->tokens_in, b->blocks, b->x_norm, b->geoaware};
    GC_TRY(gc_dinov2_forward(m, b->pixels, H, W, &o));
    gc_st_writer *wr = gc_st_writer_new();
    if (!wr) return GC_ERR_NOMEM;
    gc_status s = trace_write(wr, m, b, Hp, Wp);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "producer", "geocorr trace dinov2");
    if (s == GC_OK) s = gc_st_writer_save(wr, out_path);
    gc_st_writer_free(wr);
    return s;
}

static gc_status run(gc_args *a) {
    const char *weights, *inputs, *out;
    GC_TRY(gc_trace_io_args(a, &weights, &inputs, &out));
    GC_TRY(gc_args_finish(a));
    gc_dinov2 *m;
    GC_TRY(gc_dinov2_load(weights, &m));
    gc_weights *in;
    gc_status s = gc_weights_open(inputs, &in);
    if (s == GC_OK) {
        trace_bufs b = {0};
        s = trace_run(m, in, out, &b);
        trace_bufs_free(&b);
        gc_weights_free(in);
    }
    gc_dinov2_free(m);
    return s;
}

const gc_command gc_trace_dinov2 = {"dinov2", "DINOv2 ViT: every block, final norm, GeoAware descriptor", run};
