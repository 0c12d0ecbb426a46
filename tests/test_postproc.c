/* The post-processor forward against the authors' AggregationNetwork (fixtures
 * geoaware_postproc_{tiny,real}): every block tap, the mixed output and softmax(mixing_weights), at
 * 1e-4 of max|ref| (observed: see the printed values, ~1e-6 for the tiny model). Also the
 * `trace postproc` command and its bad-input errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/prng_weights.h"
#include "models/postproc.h"
#include "testutil.h"

#define TOL 1e-4

typedef struct {
    gc_weights *ref;
    const char *tag; /* "12x12" / "60x60" */
    int full;        /* taps stored in full (12x12) vs checksums + rows */
    int checked;
} tap_ctx;

/* rows (0, 1, 30, 59) of a [C, 60, 60] map as [C, 4, 60] */
static float *take_rows(const float *x, int64_t C, const int *rows, int nr) {
    float *r = malloc((size_t)(C * nr * 60) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int k = 0; k < nr; k++) memcpy(r + (c * nr + k) * 60, x + (c * 60 + rows[k]) * 60, 60 * sizeof(float));
    return r;
}

static gc_status check_tap(void *vctx, const char *name, const float *data, int64_t C, int64_t H, int64_t W) {
    tap_ctx *t = vctx;
    char key[96];
    snprintf(key, sizeof key, "%s.%s", t->tag, name);
    const int64_t n = C * H * W;
    if (t->full) {
        gct_expect_close(t->ref, key, data, n, TOL);
    } else {
        gct_expect_checksums(t->ref, key, data, n, TOL);
        static const int rows4[4] = {0, 1, 30, 59}, row30[1] = {30};
        char rk[112];
        snprintf(rk, sizeof rk, "%s.rows", key);
        if (gc_weights_has(t->ref, rk)) {
            float *r = take_rows(data, C, rows4, 4);
            gct_expect_close(t->ref, rk, r, C * 4 * 60, TOL);
            free(r);
        }
        snprintf(rk, sizeof rk, "%s.row30", key);
        if (gc_weights_has(t->ref, rk)) {
            float *r = take_rows(data, C, row30, 1);
            gct_expect_close(t->ref, rk, r, C * 60, TOL);
            free(r);
        }
    }
    t->checked++;
    return GC_OK;
}

static void run_case(gc_postproc *m, gc_weights *ref, const char *tag, const float *x, int64_t H, int full,
                     int expect_taps) {
    float *out = malloc((size_t)(m->proj * H * H) * sizeof(float));
    tap_ctx t = {ref, tag, full, 0};
    assert_int_equal(gc_postproc_forward(m, x, H, H, out, check_tap, &t), GC_OK);
    assert_int_equal(t.checked, expect_taps);
    float mix[4];
    gc_postproc_mixing(m, mix);
    gct_expect_close(ref, "mixing_softmax", mix, 4, TOL);
    free(out);
}

static void test_tiny(void **state) {
    (void)state;
    gc_postproc m;
    assert_int_equal(gc_postproc_open(&m, gct_fixture("geoaware_postproc_tiny.model.safetensors"), 0), GC_OK);
    assert_int_equal(m.n_params, 100614); /* the authors' parameter count */
    assert_int_equal(m.cin, 384);
    assert_int_equal(m.proj, 128);
    gc_weights *ref = gct_open(gct_fixture("geoaware_postproc_tiny.io.safetensors"));
    const float *x;
    assert_int_equal(GC_WEIGHT(ref, "12x12.input", &x, 1, 384, 12, 12), GC_OK);
    /* 4 blocks x (conv1, conv2, conv3, out) + 3 shortcuts + out */
    run_case(&m, ref, "12x12", x, 12, 1, 4 * 4 + 3 + 1);
    float *x60 = malloc(384 * 3600 * sizeof(float));
    gc_prng_fill("postproc_tiny.input.60x60", 302, 0.0, 1.0, x60, 384 * 3600);
    gct_expect_checksums(ref, "60x60.input", x60, 384 * 3600, 1e-6);
    run_case(&m, ref, "60x60", x60, 60, 0, 4 * 4 + 3 + 1);
    free(x60);
    gc_weights_free(ref);
    gc_postproc_clear(&m);
}

static void test_real(void **state) {
    (void)state;
    gc_weights *w;
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("geoaware_postproc_real.weights_manifest.json"),
                                                   NULL, &w), GC_OK);
    gc_postproc m;
    assert_int_equal(gc_postproc_from_weights(&m, w, 32), GC_OK);
    gc_weights_free(w);
    assert_int_equal(m.n_params, 5150214);
    assert_int_equal(m.cin, 3968);
    gc_weights *ref = gct_open(gct_fixture("geoaware_postproc_real.io.safetensors"));
    const int64_t n = 3968 * 3600;
    float *x = malloc((size_t)n * sizeof(float));
    gc_prng_fill("postproc_real.input.60x60", 303, 0.0, 1.0, x, n);
    gct_expect_checksums(ref, "60x60.input", x, n, 1e-6);
    int64_t off = 0;
    for (int g = 0; g < 4; g++) {
        char key[64];
        snprintf(key, sizeof key, "60x60.input.group%d", g);
        gct_expect_checksums(ref, key, x + off * 3600, m.fd[g] * 3600, 1e-6);
        off += m.fd[g];
    }
    run_case(&m, ref, "60x60", x, 60, 0, 4 * 4 + 3 + 1);
    free(x);
    gc_weights_free(ref);
    gc_postproc_clear(&m);
}

static void test_trace_cli(void **state) {
    (void)state;
    const char *dir = gct_tmpdir("pp_trace");
    gc_weights *ref = gct_open(gct_fixture("geoaware_postproc_tiny.io.safetensors"));
    const float *x;
    assert_int_equal(GC_WEIGHT(ref, "12x12.input", &x, 1, 384, 12, 12), GC_OK);
    char in[1200], out[1200], bad[1200];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "input", x, 1, 384, 12, 12), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    const char *weights = gct_fixture("geoaware_postproc_tiny.model.safetensors");
    assert_int_equal(gct_geocorr("trace postproc --weights '%s' --inputs '%s' --out '%s'", weights, in, out), 0);
    gc_weights *got = gct_open(out);
    static const char *keys[] = {"b0.conv1", "b0.shortcut", "b1.conv2", "b3.conv3", "b3.out", "out"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const gc_tensor_ref *r = gc_weights_find(got, keys[k]);
        assert_non_null(r);
        const float *p;
        assert_int_equal(gc_weights_f32(got, keys[k], r->ndim, r->shape, &p), GC_OK);
        char key[64];
        snprintf(key, sizeof key, "12x12.%s", keys[k]);
        gct_expect_close(ref, key, p, r->numel, TOL);
    }
    assert_null(gc_weights_find(got, "b3.shortcut")); /* the DINO block has an identity shortcut */
    const float *mix;
    assert_int_equal(GC_WEIGHT(got, "mixing_softmax", &mix, 4), GC_OK);
    gct_expect_close(ref, "mixing_softmax", mix, 4, TOL);
    gc_weights_free(got);
    remove(out);

    /* wrong channel count: clear error naming the file and tensor, no output */
    wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "input", x, 1, 383, 12, 12), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, bad), GC_OK);
    gc_st_writer_free(wr);
    assert_int_not_equal(gct_geocorr("trace postproc --weights '%s' --inputs '%s' --out '%s'", weights, bad, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "bad.safetensors"));
    assert_non_null(strstr(gct_last_stderr(), "input"));
    assert_false(gc_file_exists(out));
    /* weights without the post-processor's tensors */
    assert_int_not_equal(gct_geocorr("trace postproc --weights '%s' --inputs '%s' --out '%s'", in, in, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "bottleneck_layers"));
    assert_false(gc_file_exists(out));
    gc_weights_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_real),
        cmocka_unit_test(test_trace_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
