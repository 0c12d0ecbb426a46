/* The pictures of matches: the target-sized similarity map (geocorr serve's heat map) is exactly the target half
 * of `geocorr match --heatmap`'s picture when that half is drawn at scale 1 (a 480-row target), outside the
 * two marker discs; its colours are the jet map of the similarity blended 3:2 over the target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "match/descriptor.h"

#define TW 360
#define TH 480 /* the pair picture's height: the target is drawn unscaled */

static void fill(gc_image *im, int w, int h, int seed) {
    assert_int_equal(gc_image_alloc(im, w, h), GC_OK);
    for (int i = 0; i < w * h * 3; i++) im->rgb[i] = (uint8_t)((i * 31 + seed * 17 + (i / 7)) & 255);
}

static void test_similarity_is_the_heatmap_target(void **state) {
    gc_image src, trg, pair, sim_img;
    fill(&src, 240, 160, 1);
    fill(&trg, TW, TH, 2);
    float *sim = malloc(GC_CELLS * sizeof(float));
    for (int t = 0; t < GC_CELLS; t++) sim[t] = sinf(0.05f * t) * 0.5f + 0.1f * (float)(t % 60) / 60.0f;
    const float q[2] = {50, 60}, m[2] = {200, 300};
    assert_int_equal(gc_picture_heatmap(&src, &trg, q, m, sim, &pair), GC_OK);
    assert_int_equal(gc_picture_similarity(&trg, sim, &sim_img), GC_OK);
    assert_int_equal(sim_img.w, TW);
    assert_int_equal(sim_img.h, TH);
    const int ox = (int)lround(src.w * (double)TH / src.h) + 8; /* where the pair picture puts the target */
    assert_int_equal(pair.w, ox + TW);
    int64_t compared = 0, differ = 0;
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) {
            if (hypot(x - m[0], y - m[1]) <= 8) continue; /* the match marker of the pair picture */
            compared++;
            differ += memcmp(pair.rgb + ((size_t)y * pair.w + ox + x) * 3, sim_img.rgb + ((size_t)y * TW + x) * 3, 3) != 0;
        }
    assert_true(compared > TW * TH - 300);
    assert_int_equal(differ, 0); /* exact: the same arithmetic on the same pixels */
    gc_image_free(&pair);
    gc_image_free(&sim_img);
    /* a one-hot map: the hot cell takes jet(1) = (128, 0, 0) at 3/5, every other pixel jet(0) = (0, 0, 128) */
    for (int t = 0; t < GC_CELLS; t++) sim[t] = t == 30 * 60 + 30 ? 1.0f : 0.0f;
    assert_int_equal(gc_picture_similarity(&trg, sim, &sim_img), GC_OK);
    /* the 360x480 target in the 840 frame: scale 1.75, band 630 wide from x = 105; cell (30, 30) covers canvas
     * [420, 434) on both axes, i.e. target x in [180, 188), y in [240, 248) */
    const uint8_t *p = sim_img.rgb + ((size_t)244 * TW + 184) * 3, *o = trg.rgb + ((size_t)244 * TW + 184) * 3;
    assert_int_equal(p[0], (o[0] * 2 + 128 * 3) / 5);
    assert_int_equal(p[1], (o[1] * 2) / 5);
    assert_int_equal(p[2], (o[2] * 2) / 5);
    p = sim_img.rgb + ((size_t)10 * TW + 10) * 3, o = trg.rgb + ((size_t)10 * TW + 10) * 3;
    assert_int_equal(p[0], (o[0] * 2) / 5);
    assert_int_equal(p[2], (o[2] * 2 + 128 * 3) / 5);
    gc_image_free(&sim_img);
    gc_image_free(&src);
    gc_image_free(&trg);
    free(sim);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_similarity_is_the_heatmap_target)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
