/* ODISE slide_forward stitching against slide_standin.safetensors: the reference ran slide_forward
 * on the antelope 960 canvas with a stand-in extractor whose maps are, per crop, avg_pool2d of the
 * crop (3 channels), the crop number 1..4 and the cell index inside the crop. Channels 3-4 must
 * match exactly; the pooled channels to float32 summation order (observed <= 1e-7 rel; tol 1e-4). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "pipeline/stitch.h"

static void test_slide_corners(void **st) {
    int64_t yx[GC_SLIDE_MAX_CROPS][2];
    assert_int_equal(gc_slide_corners(960, 512, 512, yx), 4);
    const int64_t want[4][2] = {{0, 0}, {0, 448}, {448, 0}, {448, 448}};
    assert_memory_equal(yx, want, sizeof want);
    assert_int_equal(gc_slide_corners(512, 512, 512, yx), 1);
    assert_int_equal(gc_slide_corners(400, 512, 512, yx), 1); /* crop = min(512, 400) */
    assert_int_equal(yx[0][0], 0);
}

/* The stand-in map of one crop at cell size s: [5, 512/s, 512/s]. */
static float *standin(const float *img, int64_t y0, int64_t x0, int64_t s, int crop_no) {
    int64_t n = 512 / s;
    float *m = malloc((size_t)(5 * n * n) * sizeof(float));
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t a = 0; a < s; a++)
                    for (int64_t b = 0; b < s; b++) acc += img[(c * 960 + y0 + i * s + a) * 960 + x0 + j * s + b];
                m[(c * n + i) * n + j] = (float)(acc / (double)(s * s));
            }
    for (int64_t k = 0; k < n * n; k++) {
        m[3 * n * n + k] = (float)crop_no;
        m[4 * n * n + k] = (float)k;
    }
    return m;
}

static void test_stitch_vs_standin(void **st) {
    gc_weights *pre = gct_open(gct_fixture("preprocess.safetensors"));
    const gc_tensor_ref *band = gc_weights_find(pre, "antelope.960.band");
    assert_non_null(band);
    const uint8_t *b = band->data;
    float *img = calloc(3 * 960 * 960, sizeof(float));
    for (int64_t y = 0; y < 720; y++)
        for (int64_t x = 0; x < 960; x++)
            for (int c = 0; c < 3; c++) img[(c * 960 + 120 + y) * 960 + x] = (float)b[(y * 960 + x) * 3 + c] / 255.0f;
    gc_weights_free(pre);
    gc_weights *ref = gct_open(gct_fixture("slide_standin.safetensors"));
    int64_t yx[GC_SLIDE_MAX_CROPS][2];
    int n = gc_slide_corners(960, 512, 512, yx);
    const struct { const char *key; int64_t cell; } levels[] = {{"slide.s5", 64}, {"slide.s4", 32}, {"slide.s3", 16}};
    for (size_t l = 0; l < 3; l++) {
        gc_stitch sti;
        assert_int_equal(gc_stitch_init(&sti, 5, 960, levels[l].cell), GC_OK);
        for (int k = 0; k < n; k++) {
            float *m = standin(img, yx[k][0], yx[k][1], levels[l].cell, k + 1);
            assert_int_equal(gc_stitch_add(&sti, m, 512 / levels[l].cell, yx[k][0], yx[k][1]), GC_OK);
            free(m);
        }
        int64_t g = sti.g;
        float *out = malloc((size_t)(5 * g * g) * sizeof(float));
        assert_int_equal(gc_stitch_finish(&sti, out), GC_OK);
        gct_expect_close(ref, levels[l].key, out, 5 * g * g, 1e-4);
        /* crop-number and cell-index channels: exact. */
        const float *want;
        assert_int_equal(GC_WEIGHT(ref, levels[l].key, &want, 1, 5, g, g), GC_OK);
        assert_memory_equal(out + 3 * g * g, want + 3 * g * g, (size_t)(2 * g * g) * sizeof(float));
        free(out);
        gc_stitch_free(&sti);
    }
    /* A crop map that does not fit is refused. */
    gc_stitch sti;
    assert_int_equal(gc_stitch_init(&sti, 1, 960, 64), GC_OK);
    float z[81] = {0};
    assert_int_equal(gc_stitch_add(&sti, z, 9, 448, 0), GC_ERR_ARG);
    assert_int_equal(gc_stitch_finish(&sti, z), GC_ERR_INTERNAL); /* nothing covered */
    gc_stitch_free(&sti);
    gc_weights_free(ref);
    free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_slide_corners), cmocka_unit_test(test_stitch_vs_standin)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
