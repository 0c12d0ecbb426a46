/* Shared by test_train.c and test_optim.c: build training-step inputs from the fixtures' JSON
 * (PRNG feature recipes, keypoints) and inject the fixtures' jitter draws. */
#ifndef GC_TEST_TRAIN_FIXTURE_H
#define GC_TEST_TRAIN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "io/prng_weights.h"
#include "models/postproc.h"
#include "pipeline/fuse.h"
#include "testutil.h"

#define TOL 1e-4

static const char *const k_slots[4] = {"src", "trg", "src_flip", "trg_flip"};

static float *fused_from_recipes(const gc_postproc *m, const cJSON *rec) {
    static const char *const parts[4] = {"s3", "s4", "s5", "dino"};
    float *p[4];
    int64_t hw[4];
    for (int k = 0; k < 4; k++) {
        const cJSON *r = cJSON_GetObjectItem(rec, parts[k]);
        const cJSON *shape = cJSON_GetObjectItem(r, "shape");
        int64_t n = 1;
        for (int d = 0; d < 4; d++) n *= (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
        hw[k] = (int64_t)cJSON_GetArrayItem(shape, 2)->valuedouble;
        p[k] = malloc((size_t)n * sizeof(float));
        gc_prng_fill(cJSON_GetObjectItem(r, "name")->valuestring,
                     (uint64_t)cJSON_GetObjectItem(r, "seed")->valuedouble,
                     cJSON_GetObjectItem(r, "offset")->valuedouble, cJSON_GetObjectItem(r, "scale")->valuedouble,
                     p[k], n);
    }
    float *x = malloc((size_t)(m->cin * 3600) * sizeof(float));
    gc_map_view v[4];
    for (int k = 0; k < 4; k++) v[k] = (gc_map_view){p[k], m->fd[k], hw[k], hw[k]};
    assert_int_equal(gc_fuse_maps(x, v, 4, 60, false), GC_OK);
    for (int k = 0; k < 4; k++) free(p[k]);
    return x;
}

__attribute__((unused)) static float *kps_from_json(const cJSON *a, int64_t *n) {
    *n = cJSON_GetArraySize(a);
    float *k = malloc((size_t)(*n * 3) * sizeof(float));
    for (int64_t i = 0; i < *n; i++)
        for (int c = 0; c < 3; c++) k[3 * i + c] = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(a, (int)i), c)->valuedouble;
    return k;
}

typedef struct {
    gc_weights *ref;
    const char *prefix; /* "spair_cat." */
} fixture_jitter;

__attribute__((unused)) static gc_status fixture_jitter_fn(void *vctx, int term, int64_t n, float *z) {
    fixture_jitter *c = vctx;
    char key[96];
    snprintf(key, sizeof key, "%st%d.jitter_z", c->prefix, term);
    const float *p;
    gc_status s = GC_WEIGHT(c->ref, key, &p, n, 2);
    if (s == GC_OK) memcpy(z, p, (size_t)(2 * n) * sizeof(float));
    return s;
}

__attribute__((unused)) static void expect_scalar(const char *what, double got, double want, double tol) {
    const double rel = fabs(got - want) / fmax(fabs(want), 1e-30);
    printf("  %-48s got %.9g want %.9g rel %.3g\n", what, got, want, rel);
    assert_true(rel <= tol);
}

#endif
