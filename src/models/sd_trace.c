#include <stdio.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/sd.h"
#include "models/sd_trace.h"

typedef struct {
    gc_st_writer *wr;
    const char *prefix; /* "vae.", "unet.", "geoaware." */
    bool geoaware;      /* keep only feat* and out */
} sink;

static gc_status write_tap(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape) {
    sink *s = ctx;
    bool feat = strncmp(name, "feat", 4) == 0;
    if (s->geoaware ? !(feat || strcmp(name, "out") == 0) : feat) return GC_OK;
    int64_t shp[GC_MAX_DIMS] = {1};
    memcpy(shp + 1, shape, (size_t)ndim * sizeof(int64_t));
    char full[128];
    snprintf(full, sizeof full, "%s%s", s->prefix, name);
    return gc_st_writer_add(s->wr, full, GC_DT_F32, ndim + 1, shp, x);
}

/* Tensor `name` of the inputs as a [C, H, W] map (an optional leading batch of 1); C checked when >= 0. */
static gc_status input_map(gc_weights *in, const char *name, int64_t C, const float **p, int64_t dims[3]) {
    const gc_tensor_ref *r = gc_weights_find(in, name);
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing input tensor '%s'", gc_weights_label(in), name);
    int off = r->ndim == 4 ? 1 : 0;
    char buf[96];
    if ((r->ndim != 3 && r->ndim != 4) || (off && r->shape[0] != 1) || (C >= 0 && r->shape[off] != C) ||
        r->shape[off + 1] < 1 || r->shape[off + 2] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: input '%s' has shape %s, expected [1, %s, H, W]", gc_weights_label(in), name,
                         gc_shape_str(r->ndim, r->shape, buf, sizeof buf), C >= 0 ? (C == 3 ? "3" : "4") : "C");
    for (int i = 0; i < 3; i++) dims[i] = r->shape[off + i];
    return gc_weights_f32(in, name, r->ndim, r->shape, p);
}

static gc_status finish(gc_st_writer *wr, gc_status st, const char *out) {
    if (st == GC_OK) st = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    return st;
}

gc_status sd_trace_vae(const char *weights, const char *ldm_config, const char *in_path, const char *out) {
    gc_weights *in;
    GC_TRY(gc_weights_open(in_path, &in));
    gc_sd *sd = NULL;
    gc_st_writer *wr = gc_st_writer_new();
    const float *img;
    int64_t d[3];
    gc_status st = wr ? input_map(in, "image", 3, &img, d) : GC_ERR_NOMEM;
    if (st == GC_OK) st = gc_sd_load(weights, ldm_config, &sd);
    float *z0 = NULL;
    if (st == GC_OK && sd->vae.in_ch != 3)
        st = gc_errorf(GC_ERR_SHAPE, "%s: the VAE takes %lld channels, the image has 3", weights, (long long)sd->vae.in_ch);
    if (st == GC_OK) {
        z0 = gc_alloc_array((size_t)(sd->vae.e2 / 2 * d[1] * d[2]), sizeof(float));
        if (!z0) st = GC_ERR_NOMEM;
    }
    sink s = {wr, "vae.", false};
    if (st == GC_OK) st = sd_vae_encode(&sd->vae, img, d[1], d[2], sd->scale_factor, z0, write_tap, &s);
    gc_free(z0);
    gc_sd_free(sd);
    gc_weights_free(in);
    return finish(wr, st, out);
}

gc_status sd_trace_noise(const char *weights, const char *ldm_config, int64_t t, const char *in_path, const char *out) {
    gc_weights *in;
    GC_TRY(gc_weights_open(in_path, &in));
    sd_schedule sched = {0};
    gc_st_writer *wr = gc_st_writer_new();
    const float *z0;
    int64_t d[3];
    gc_status st = wr ? input_map(in, "z0", SD_NOISE_C, &z0, d) : GC_ERR_NOMEM;
    if (st == GC_OK) st = sd_schedule_for(weights, ldm_config, &sched);
    int64_t n = SD_NOISE_C * d[1] * d[2];
    float *buf = st == GC_OK ? gc_alloc_array((size_t)(2 * n), sizeof(float)) : NULL;
    if (st == GC_OK && !buf) st = GC_ERR_NOMEM;
    if (st == GC_OK) st = sd_noise_resized(d[1], d[2], buf);
    if (st == GC_OK) st = sd_q_sample(&sched, t, z0, buf, n, buf + n);
    if (st == GC_OK) st = GC_ST_ADD_F32(wr, "noise.resized", buf, 1, SD_NOISE_C, d[1], d[2]);
    if (st == GC_OK) st = GC_ST_ADD_F32(wr, "z_t", buf + n, 1, SD_NOISE_C, d[1], d[2]);
    gc_free(buf);
    sd_schedule_free(&sched);
    gc_weights_free(in);
    return finish(wr, st, out);
}

gc_status sd_trace_unet(const char *weights, const char *ldm_config, int64_t t, const char *in_path, const char *out) {
    gc_weights *in;
    GC_TRY(gc_weights_open(in_path, &in));
    gc_sd *sd = NULL;
    gc_st_writer *wr = gc_st_writer_new();
    const float *z, *ctx = NULL, *cond = NULL;
    int64_t d[3], n_ctx = 0, ctx_dim = 0;
    char buf[96];
    gc_status st = wr ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) st = gc_sd_load(weights, ldm_config, &sd);
    if (st == GC_OK) st = input_map(in, "z_t", sd->unet.in_ch, &z, d);
    const gc_tensor_ref *rc = gc_weights_find(in, "context");
    if (st == GC_OK && (!rc || rc->ndim < 2 || rc->ndim > 3 || (rc->ndim == 3 && rc->shape[0] != 1)))
        st = rc ? gc_errorf(GC_ERR_SHAPE, "%s: input 'context' has shape %s, expected [1, n, %lld]", in_path,
                            gc_shape_str(rc->ndim, rc->shape, buf, sizeof buf), (long long)sd->unet.ctx_dim)
                : gc_errorf(GC_ERR_MISSING, "%s: missing input tensor 'context' [1, n, %lld]", in_path,
                            (long long)sd->unet.ctx_dim);
    if (st == GC_OK) {
        n_ctx = rc->shape[rc->ndim - 2];
        ctx_dim = rc->shape[rc->ndim - 1];
        st = gc_weights_f32(in, "context", rc->ndim, rc->shape, &ctx);
    }
    const gc_tensor_ref *re = gc_weights_find(in, "cond_emb");
    if (st == GC_OK && re) {
        if (re->numel != sd->unet.emb_dim)
            st = gc_errorf(GC_ERR_SHAPE, "%s: input 'cond_emb' has shape %s, expected [1, %lld]", in_path,
                           gc_shape_str(re->ndim, re->shape, buf, sizeof buf), (long long)sd->unet.emb_dim);
        else
            st = gc_weights_f32(in, "cond_emb", re->ndim, re->shape, &cond);
    }
    sink plain = {wr, "unet.", false}, geo = {wr, "geoaware.", true};
    sd_unet_run run = {.cond_emb = cond, .last_block = -1, .tap = write_tap, .tap_ctx = &plain};
    if (st == GC_OK) st = sd_unet_forward(&sd->unet, z, d[1], d[2], (float)t, ctx, n_ctx, ctx_dim, &run, NULL);
    run.freeu = true;
    run.b1 = SD_FREEU_B1, run.b2 = SD_FREEU_B2, run.s1 = SD_FREEU_S1, run.s2 = SD_FREEU_S2;
    run.tap_ctx = &geo;
    if (st == GC_OK) st = sd_unet_forward(&sd->unet, z, d[1], d[2], (float)t, ctx, n_ctx, ctx_dim, &run, NULL);
    gc_sd_free(sd);
    gc_weights_free(in);
    return finish(wr, st, out);
}
