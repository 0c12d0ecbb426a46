/* `geocorr features` end to end with the tiny e2e models: the flipped run from antelope.jpg itself
 * (geocorr's JPEG decode, flip of the original, canvases) against the flip.* checksums of
 * e2e_tiny.io, and the DINOv2-only form. Tolerance 1e-4 (observed <= 7e-8 on the checksums). */
#include "pipeline_models.h"

static void test_features_flip_and_dino_only(void **st) {
    models m;
    tiny_models(&m);
    const char *tmp = gct_tmpdir("e2e_flip");
    char feat[1200];
    gc_weights *got;
    snprintf(feat, sizeof feat, "%s/feat.safetensors", tmp);
    gc_weights *ref = gct_open(gct_fixture("e2e_tiny.io.safetensors"));
    const char *san = getenv("GEOCORR_SANITIZED");
    if (san && *san && strcmp(san, "0") != 0) {
        /* The full run takes minutes under ASan; the same library path runs there in test_pipeline. */
        printf("  full --flip run skipped under GEOCORR_SANITIZED (DINOv2-only form still checked)\n");
        goto dino_only;
    }
    if (gct_geocorr("features %s --image %s --flip --out %s", m.flags, gct_fixture("images/antelope.jpg"), feat) != 0)
        fail_msg("features --flip: %s", gct_last_stderr());
    got = gct_open(feat);
    const char *fkeys[][2] = {{"s5", "flip.s5"}, {"s4", "flip.s4"}, {"s3", "flip.s3"}, {"dino", "flip.dino.feat"}};
    for (size_t i = 0; i < 4; i++) sums(ref, fkeys[i][1], got, fkeys[i][0]);
    assert_non_null(gc_weights_meta(got, "geocorr_version"));
    gc_weights_free(got);
dino_only:
    /* DINOv2 only: the existing `features --dinov2` form. */
    if (gct_geocorr("features --dinov2 %s --image %s --out %s", m.dino, gct_fixture("images/antelope.jpg"), feat) != 0)
        fail_msg("features --dinov2: %s", gct_last_stderr());
    got = gct_open(feat);
    sums(ref, "dino.feat", got, "dino");
    assert_null(gc_weights_find(got, "s5"));
    gc_weights_free(got);
    gc_weights_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_features_flip_and_dino_only)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
