/* Shared by test_pipeline.c, test_features.c, test_clip.c, test_extract.c, test_example.c and
 * test_match_oneshot.c: the tiny e2e models (tiny CLIP, captioner, text encoder, SD x0.1 generated from its
 * manifest, tiny DINOv2) as folders/files in a temp dir, a DINO-only post-processor for the tiny DINOv2,
 * the reference canvases of antelope.jpg, and comparisons of output tensors with e2e_tiny.io. */
#ifndef GCT_PIPELINE_MODELS_H
#define GCT_PIPELINE_MODELS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "base/sha256.h"
#include "models/postproc.h"
#include "train/trainer.h"

#define TOL 1e-4

typedef struct {
    char dino[1200], clip[1200], text[1200], sd[1200], flags[6000];
} models;

/* dir (created) as a model folder: config.json (a copy of the fixture) + model.safetensors -> the fixture's weights. */
static inline void model_folder(const char *dir, const char *config_fixture, const char *weights_fixture) {
    char p[1600], *buf;
    size_t len;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) fail_msg("cannot create %s", dir);
    assert_int_equal(gc_read_file(gct_fixture(config_fixture), &buf, &len, 1 << 20), GC_OK);
    snprintf(p, sizeof p, "%s/config.json", dir);
    gct_write_file(p, buf, len);
    free(buf);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    assert_int_equal(symlink(gct_fixture(weights_fixture), p), 0);
}

/* A model folder in a fresh temporary folder (its path into out[1200]). */
static inline void model_dir(char *out, const char *tag, const char *config_fixture, const char *weights_fixture) {
    const char *d = gct_tmpdir(tag);
    model_folder(d, config_fixture, weights_fixture);
    snprintf(out, 1200, "%s", d);
}

/* A DINO-only post-processor of the tiny DINOv2's width (64 -> 128 channels, 32 groups) with the
 * reference's initialisation drawn with seed, saved as safetensors at path. */
static inline void write_dino_postproc(const char *path, uint64_t seed) {
    gc_postproc pp;
    const int64_t fd[1] = {64};
    assert_int_equal(gc_postproc_new(&pp, 1, fd, 128, 32), GC_OK);
    gc_postproc_init_reference(&pp, seed);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_postproc_add_to_writer(&pp, pp.data, "", wr), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
    gc_postproc_clear(&pp);
}

static inline void tiny_models(models *m) {
    model_dir(m->dino, "e2e_dino", "dinov2_tiny.config.json", "dinov2_tiny.model.safetensors");
    model_dir(m->clip, "e2e_clip", "clip_vit_tiny.config.json", "clip_vit_tiny.openai.safetensors");
    model_dir(m->text, "e2e_text", "clip_text_tiny.config.json", "clip_text_tiny.hf.safetensors");
    snprintf(m->sd, sizeof m->sd, "%s/sd_tiny.safetensors", gct_tmpdir("e2e_sd"));
    if (gct_geocorr("synth-weights --manifest %s --naming ldm --out %s", gct_fixture("sd_tiny.weights_manifest.json"),
                    m->sd) != 0)
        fail_msg("synth-weights: %s", gct_last_stderr());
    snprintf(m->flags, sizeof m->flags,
             "--dinov2 %s --sd %s --sd-config %s --clip-vision %s --text-encoder %s --captioner %s", m->dino, m->sd,
             gct_fixture("sd_tiny.ldm_config.json"), m->clip, m->text, gct_fixture("captioner_tiny.safetensors"));
}

/* The reference canvases of antelope.jpg from the stored LANCZOS bands. */
static inline uint8_t *canvas(int64_t S) {
    gc_weights *pre = gct_open(gct_fixture("preprocess.safetensors"));
    char key[64];
    snprintf(key, sizeof key, "antelope.%lld.band", (long long)S);
    const gc_tensor_ref *band = gc_weights_find(pre, key);
    assert_non_null(band);
    int64_t h = band->shape[0], off = (S - h) / 2;
    uint8_t *c = calloc((size_t)(S * S * 3), 1);
    memcpy(c + off * S * 3, band->data, (size_t)(h * S * 3));
    gc_weights_free(pre);
    return c;
}

static inline const float *view(gc_weights *w, const char *key, int64_t *n) {
    const gc_tensor_ref *r = gc_weights_find(w, key);
    if (!r) fail_msg("output lacks '%s'", key);
    const float *p;
    assert_int_equal(gc_weights_f32(w, key, r->ndim, r->shape, &p), GC_OK);
    *n = r->numel;
    return p;
}

static inline void full(gc_weights *ref, gc_weights *got, const char *key) {
    int64_t n;
    const float *g = view(got, key, &n);
    gct_expect_close(ref, key, g, n, TOL);
}

static inline void sums(gc_weights *ref, const char *ref_key, gc_weights *got, const char *key) {
    int64_t n;
    const float *g = view(got, key, &n);
    gct_expect_checksums(ref, ref_key, g, n, TOL);
}

/* `<key>.rows` [1, C, nr, W]: rows `rows` along H of a [1, C, H, W] map. */
static inline void map_rows(gc_weights *ref, gc_weights *got, const char *key, const int64_t *rows, int nr) {
    const gc_tensor_ref *g = gc_weights_find(got, key);
    assert_non_null(g);
    int64_t n, C = g->shape[g->ndim - 3], H = g->shape[g->ndim - 2], W = g->shape[g->ndim - 1];
    const float *x = view(got, key, &n);
    float *o = malloc((size_t)(C * nr * W) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int r = 0; r < nr; r++) memcpy(o + (c * nr + r) * W, x + (c * H + rows[r]) * W, (size_t)W * sizeof(float));
    char rk[96];
    snprintf(rk, sizeof rk, "%s.rows", key);
    gct_expect_close(ref, rk, o, C * nr * W, TOL);
    gct_expect_checksums(ref, key, x, n, TOL);
    free(o);
}

static inline void expect_sha(gc_weights *ref, const char *key, const uint8_t *data, size_t n) {
    uint8_t d[32];
    gc_sha256(data, n, d);
    assert_memory_equal(d, gc_weights_find(ref, key)->data, 32);
}

#endif
