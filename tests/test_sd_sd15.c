/* SD-1.5-shaped parity (real shapes: 860M UNet parameters, 84M VAE; manifest-generated weights, LDM
 * naming, no config: the SD-1.5 defaults of 8 heads / scale 0.18215 apply). sd_sd15.io keeps only the
 * VAE tail, t_emb, emb, middle_block, output_blocks.{1,4,7}, out and geoaware.feat{2,5,8}, out.
 * Tolerance 1e-4 of max|ref| per tensor; observed <= 3e-6. Needs ~4 GB and ~20 s of 2 cores (most of
 * it generating the weights): skipped under GEOCORR_SANITIZED=1 (ASan would need ~2x the memory and
 * minutes); the micro/tiny tests cover the same code there. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "io/prng_weights.h"
#include "models/sd.h"
#include "sd_testutil.h"

static void test_sd15(void **state) {
    if (getenv("GEOCORR_SANITIZED")) {
        printf("  skipped under GEOCORR_SANITIZED=1 (3.8 GB of generated weights)\n");
        skip();
    }
    double t0 = gc_now();
    gc_weights *w, *ref = gct_open(gct_fixture("sd_sd15.io.safetensors"));
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("sd_sd15.weights_manifest.json"), "ldm", &w), GC_OK);
    double t1 = gc_now();
    gc_sd *sd;
    assert_int_equal(sd_load_weights(w, NULL, &sd), GC_OK);
    assert_int_equal(sd->unet.heads[0], 8);
    assert_int_equal(sd->unet.ctx_dim, 768);
    sdt_check_vae(sd, ref, 4, 1e-4);
    sdt_check_unet(sd, ref, "t50", "t50.z_t", 50, false, 11, 1e-4);
    sdt_check_unet(sd, ref, "t261", "t261.z_t", 261, false, 11, 1e-4);
    sdt_check_unet(sd, ref, "t50_condemb", "t50.z_t", 50, true, 2, 1e-4);
    sdt_check_unet_batch(sd, ref, "t50", "t50.z_t", "t261.z_t", 50, false, 4, 1e-4);
    printf("  weights generated in %.1f s, checks in %.1f s\n", t1 - t0, gc_now() - t1);
    gc_sd_free(sd);
    gc_weights_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sd15)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
