/* End to end: `geocorr trace pipeline` with the tiny models of e2e_tiny (tiny CLIP, captioner, text
 * encoder, SD x0.1 from its manifest, tiny DINOv2) on the reference canvases of antelope.jpg, against
 * every stored intermediate of e2e_tiny.io.safetensors; and the bad-input errors of the pipeline.
 * Tolerance: the project default max|got - want| / max|want| <= 1e-4 per tensor (rows and checksums
 * alike); observed <= 3.5e-6 (z0), <= 2.5e-6 on the stitched maps. */
#include "pipeline_models.h"

static void test_e2e_tiny(void **st) {
    models m;
    tiny_models(&m);
    const char *tmp = gct_tmpdir("e2e");
    char in[1200], out[1200];
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    uint8_t *c960 = canvas(960), *c840 = canvas(840);
    gc_weights *ref = gct_open(gct_fixture("e2e_tiny.io.safetensors"));
    expect_sha(ref, "canvas960.sha256", c960, 960 * 960 * 3);
    expect_sha(ref, "canvas840.sha256", c840, 840 * 840 * 3);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_st_writer_add(wr, "canvas960", GC_DT_U8, 3, (const int64_t[]){960, 960, 3}, c960), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "canvas840", GC_DT_U8, 3, (const int64_t[]){840, 840, 3}, c840), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    free(c960);
    free(c840);
    double t0 = gc_now();
    if (gct_geocorr("trace pipeline %s --inputs %s --out %s", m.flags, in, out) != 0)
        fail_msg("trace pipeline: %s", gct_last_stderr());
    printf("  trace pipeline (tiny models) %.1f s\n", gc_now() - t0);
    gc_weights *got = gct_open(out);
    full(ref, got, "U");
    const int64_t r32[4] = {0, 1, 16, 31}, r16[4] = {0, 1, 8, 15}, r60[4] = {0, 1, 30, 59};
    for (int k = 0; k < 4; k++) {
        char key[64];
        const gc_tensor_ref *yx = gc_weights_findf(got, "crop%d.yx", k), *ryx = gc_weights_findf(ref, "crop%d.yx", k);
        assert_non_null(yx);
        assert_int_equal(yx->dtype, GC_DT_I64);
        assert_memory_equal(yx->data, ryx->data, 16);
        const char *fulls[] = {"clip.image_embed", "cond", "cond_emb", "z0", "unet.emb", "unet.emb_plus_cond",
                               "unet.middle_block", "s5"};
        for (size_t i = 0; i < sizeof fulls / sizeof *fulls; i++) {
            snprintf(key, sizeof key, "crop%d.%s", k, fulls[i]);
            full(ref, got, key);
        }
        snprintf(key, sizeof key, "crop%d.clip.pixel_values", k);
        if (k == 0) full(ref, got, key);
        else sums(ref, key, got, key);
        snprintf(key, sizeof key, "crop%d.z_t", k);
        sums(ref, key, got, key);
        snprintf(key, sizeof key, "crop%d.s4", k);
        if (k == 0) full(ref, got, key);
        else map_rows(ref, got, key, r16, 4);
        snprintf(key, sizeof key, "crop%d.s3", k);
        map_rows(ref, got, key, r32, 4);
    }
    full(ref, got, "s5");
    full(ref, got, "s4");
    full(ref, got, "s3");
    sums(ref, "dino.pixel_values", got, "dino.pixel_values");
    map_rows(ref, got, "dino.feat", r60, 4);
    map_rows(ref, got, "fused", r60, 4);
    /* desc.rows: the 60 tokens of grid rows 0 and 30. */
    int64_t n;
    const float *desc = view(got, "desc", &n);
    int64_t C = n / 3600;
    float *dr = malloc((size_t)(120 * C) * sizeof(float));
    memcpy(dr, desc, (size_t)(60 * C) * sizeof(float));
    memcpy(dr + 60 * C, desc + 30 * 60 * C, (size_t)(60 * C) * sizeof(float));
    gct_expect_close(ref, "desc.rows", dr, 120 * C, TOL);
    gct_expect_checksums(ref, "desc", desc, n, TOL);
    free(dr);
    gc_weights_free(got);
    gc_weights_free(ref);
}

static void test_features_bad_input(void **st) {
    models m;
    tiny_models(&m);
    const char *tmp = gct_tmpdir("e2e_bad");
    char out[1200], p[1300];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    const char *img = gct_fixture("images/antelope.jpg");
    /* A models folder that does not exist. */
    assert_int_not_equal(gct_geocorr("features --models %s/nonexistent --image %s --out %s", tmp, img, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "no such models folder"));
    /* A models folder with only DINOv2: the SD file is named, with where it comes from. */
    const char *dir = gct_tmpdir("e2e_models");
    snprintf(p, sizeof p, "%s/dinov2-base", dir);
    assert_int_equal(symlink(m.dino, p), 0);
    assert_int_not_equal(gct_geocorr("features --models %s --image %s --out %s", dir, img, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "stable-diffusion-v1-5"));
    assert_non_null(strstr(gct_last_stderr(), "Stable Diffusion"));
    /* With SD but no CLIP. */
    snprintf(p, sizeof p, "%s/v1-5-pruned-emaonly.safetensors", dir);
    assert_int_equal(symlink(m.sd, p), 0);
    assert_int_not_equal(gct_geocorr("features --models %s --sd-config %s --image %s --out %s", dir,
                                     gct_fixture("sd_tiny.ldm_config.json"), img, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "clip-vit-large-patch14-336"));
    /* A captioner file without the captioner keys. */
    char flags[7000];
    snprintf(flags, sizeof flags, "--dinov2 %s --sd %s --sd-config %s --clip-vision %s --text-encoder %s", m.dino, m.sd,
             gct_fixture("sd_tiny.ldm_config.json"), m.clip, m.text);
    assert_int_not_equal(gct_geocorr("features %s --captioner %s --image %s --out %s", flags,
                                     gct_fixture("clip_vit_tiny.openai.safetensors"), img, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "backbone.feature_extractor.clip_project.linear.weight"));
    /* Wrong-shape weights: a captioner whose projections expect a 24-d CLIP embedding (the tiny
     * CLIP gives 48) is refused at load, naming the file. */
    snprintf(p, sizeof p, "%s/cap_bad.safetensors", tmp);
    gc_weights *w = gct_open(gct_fixture("captioner_tiny.safetensors"));
    gc_st_writer *wr = gc_st_writer_new();
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        int64_t shape[GC_MAX_DIMS];
        memcpy(shape, r->shape, sizeof shape);
        if (strstr(r->name, "linear.weight")) shape[1] = 24, shape[0] = r->numel / 24;
        assert_int_equal(gc_st_writer_add(wr, r->name, r->dtype, r->ndim, shape, r->data), GC_OK);
    }
    assert_int_equal(gc_st_writer_save(wr, p), GC_OK);
    gc_st_writer_free(wr);
    gc_weights_free(w);
    assert_int_not_equal(gct_geocorr("features %s --captioner %s --image %s --out %s", flags, p, img, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "cap_bad.safetensors"));
    assert_false(gc_file_exists(out));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e2e_tiny),
        cmocka_unit_test(test_features_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
