/* Helpers shared by the SD tests (header-only: tests/test_*.c are separate executables). */
#ifndef GC_SD_TESTUTIL_H
#define GC_SD_TESTUTIL_H

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "io/safetensors.h"
#include "models/sd.h"

/* Write an inputs file: pairs (name, fixture key), NULL-terminated; a NULL name skips its pair. */
static inline void sdt_make_inputs(gc_weights *ref, const char *path, const char *n1, const char *k1, const char *n2,
                            const char *k2, const char *n3, const char *k3, const char *end) {
    const char *pairs[3][2] = {{n1, k1}, {n2, k2}, {n3, k3}};
    (void)end;
    gc_st_writer *wr = gc_st_writer_new();
    for (int i = 0; i < 3; i++) {
        if (!pairs[i][0]) continue;
        const gc_tensor_ref *r = gc_weights_find(ref, pairs[i][1]);
        if (!r) fail_msg("fixture lacks %s", pairs[i][1]);
        assert_int_equal(gc_st_writer_add(wr, pairs[i][0], r->dtype, r->ndim, r->shape, r->data), GC_OK);
    }
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
}

/* Compare every tensor of an output file with fixture key `prefix + name` where the fixture has
 * one; expect `n_expected` such comparisons. */
static inline void sdt_compare_file(const char *path, gc_weights *ref, const char *prefix, int n_expected, double tol) {
    gc_weights *o = gct_open(path);
    int n = 0;
    for (int64_t k = 0; k < gc_weights_count(o); k++) {
        const gc_tensor_ref *r = gc_weights_at(o, k);
        char key[256];
        snprintf(key, sizeof key, "%s%s", prefix, r->name);
        if (!gc_weights_find(ref, key)) continue;
        const float *p;
        assert_int_equal(gc_weights_f32(o, r->name, r->ndim, r->shape, &p), GC_OK);
        gct_expect_close(ref, key, p, r->numel, tol);
        n++;
    }
    printf("  %s: %d tensors compared\n", path, n);
    assert_int_equal(n, n_expected);
    gc_weights_free(o);
}

typedef struct {
    gc_weights *ref;
    const char *prefix, *group; /* key = prefix + group + name */
    bool geoaware;              /* FreeU run: only feat* and out */
    double tol;
    int n;
} sdt_sink;

static inline gc_status sdt_tap(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape) {
    sdt_sink *s = ctx;
    bool feat = strncmp(name, "feat", 4) == 0;
    if (s->geoaware ? !(feat || strcmp(name, "out") == 0) : feat) return GC_OK;
    char key[256];
    snprintf(key, sizeof key, "%s%s%s", s->prefix, s->group, name);
    if (!gc_weights_find(s->ref, key)) return GC_OK;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    gct_expect_close(s->ref, key, x, n, s->tol);
    s->n++;
    return GC_OK;
}

static inline const float *sdt_ref(gc_weights *ref, const char *key, int64_t dims[4]) {
    const gc_tensor_ref *r = gc_weights_find(ref, key);
    if (!r) fail_msg("fixture lacks %s", key);
    for (int i = 0; i < 4; i++) dims[i] = i < r->ndim ? r->shape[i] : 1;
    const float *p;
    assert_int_equal(gc_weights_f32(ref, key, r->ndim, r->shape, &p), GC_OK);
    return p;
}

static inline void sdt_check_vae(gc_sd *sd, gc_weights *ref, int n_expected, double tol) {
    int64_t d[4];
    const float *img = sdt_ref(ref, "image", d);
    float *z0 = gc_alloc_array((size_t)(4 * d[2] * d[3] / 64), sizeof(float));
    sdt_sink s = {ref, "", "vae.", false, tol, 0};
    assert_int_equal(sd_vae_encode(&sd->vae, img, d[2], d[3], sd->scale_factor, z0, sdt_tap, &s), GC_OK);
    assert_int_equal(s.n, n_expected);
    /* the shared noise and q_sample on the reference z0 */
    int64_t h = d[2] / 8, w = d[3] / 8;
    float *nz = gc_alloc_array((size_t)(2 * 4 * h * w), sizeof(float));
    assert_int_equal(sd_noise_resized(h, w, nz), GC_OK);
    gct_expect_close(ref, "noise.resized", nz, 4 * h * w, tol);
    const float *z0r = sdt_ref(ref, "vae.z0", d);
    assert_int_equal(sd_q_sample(&sd->sched, 50, z0r, nz, 4 * h * w, nz + 4 * h * w), GC_OK);
    gct_expect_close(ref, "t50.z_t", nz + 4 * h * w, 4 * h * w, tol);
    gc_free(nz);
    gc_free(z0);
}

/* Plain run (FreeU off, every block) then the GeoAware run (FreeU on, taps + out). */
static inline void sdt_check_unet(gc_sd *sd, gc_weights *ref, const char *tag, const char *zt_key, int t, bool cond,
                           int n_expected, double tol) {
    int64_t dz[4], dc[4], de[4];
    const float *z = sdt_ref(ref, zt_key, dz), *ctx = sdt_ref(ref, "context", dc);
    const float *ce = cond ? sdt_ref(ref, "cond_emb", de) : NULL;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", tag);
    sdt_sink s = {ref, prefix, "unet.", false, tol, 0};
    sd_unet_run run = {.cond_emb = ce, .last_block = -1, .tap = sdt_tap, .tap_ctx = &s};
    double t0 = gc_now();
    assert_int_equal(sd_unet_forward(&sd->unet, z, dz[2], dz[3], (float)t, ctx, dc[1], dc[2], &run, NULL), GC_OK);
    double t1 = gc_now();
    sdt_sink g = {ref, prefix, "geoaware.", true, tol, 0};
    if (gc_weights_findf(ref, "%sgeoaware.out", prefix)) { /* the fixture has a FreeU run for this case */
        run.freeu = true;
        run.b1 = SD_FREEU_B1, run.b2 = SD_FREEU_B2, run.s1 = SD_FREEU_S1, run.s2 = SD_FREEU_S2;
        run.tap_ctx = &g;
        assert_int_equal(sd_unet_forward(&sd->unet, z, dz[2], dz[3], (float)t, ctx, dc[1], dc[2], &run, NULL), GC_OK);
    }
    printf("  %s: %d + %d tensors compared (UNet forward %.2f s)\n", tag, s.n, g.n, t1 - t0);
    assert_int_equal(s.n + g.n, n_expected);
}

/* The GeoAware run (FreeU on; the plain run where the fixture has no GeoAware one for `tag`), to the
 * end, over a batch of 4: the fixture's input at 1 and 2, other
 * inputs at 0 and 3 (the latent of `other_zt_key`, half the context, no cond_emb), so an op that
 * mixed the maps of a batch (or of chunks of it) would show in 1 and 2, which are compared with the
 * fixture. */
static inline void sdt_check_unet_batch(gc_sd *sd, gc_weights *ref, const char *tag, const char *zt_key,
                                        const char *other_zt_key, int t, bool cond, int n_expected, double tol) {
    int64_t dz[4], dc[4], de[4], d2[4];
    const float *z = sdt_ref(ref, zt_key, dz), *z2 = sdt_ref(ref, other_zt_key, d2), *ctx = sdt_ref(ref, "context", dc);
    const float *ce = cond ? sdt_ref(ref, "cond_emb", de) : NULL;
    const int64_t zn = dz[1] * dz[2] * dz[3], cn = dc[1] * dc[2];
    assert_int_equal(d2[1] * d2[2] * d2[3], zn);
    float *zb = gc_alloc_array((size_t)(4 * zn), sizeof(float)), *cb = gc_alloc_array((size_t)(4 * cn), sizeof(float));
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", tag);
    const bool geo = gc_weights_findf(ref, "%sgeoaware.out", prefix) != NULL;
    const char *group = geo ? "geoaware." : "unet.";
    sdt_sink g[2] = {{ref, prefix, group, geo, tol, 0}, {ref, prefix, group, geo, tol, 0}};
    sd_unet_run run[4];
    for (int i = 0; i < 4; i++) {
        bool fx = i == 1 || i == 2;
        memcpy(zb + i * zn, fx ? z : z2, (size_t)zn * sizeof(float));
        for (int64_t j = 0; j < cn; j++) cb[i * cn + j] = fx ? ctx[j] : 0.5f * ctx[j];
        run[i] = (sd_unet_run){.cond_emb = fx ? ce : NULL, .last_block = -1, .freeu = geo, .b1 = SD_FREEU_B1,
                               .b2 = SD_FREEU_B2, .s1 = SD_FREEU_S1, .s2 = SD_FREEU_S2,
                               .tap = fx ? sdt_tap : NULL, .tap_ctx = fx ? &g[i - 1] : NULL};
    }
    double t0 = gc_now();
    assert_int_equal(sd_unet_forward_batch(&sd->unet, 4, zb, dz[2], dz[3], (float)t, cb, dc[1], dc[2], run, NULL), GC_OK);
    printf("  %s, batch of 4: %d + %d tensors compared (UNet forward %.2f s)\n", tag, g[0].n, g[1].n, gc_now() - t0);
    assert_int_equal(g[0].n, n_expected);
    assert_int_equal(g[1].n, n_expected);
    gc_free(zb);
    gc_free(cb);
}

#endif
