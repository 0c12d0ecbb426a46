/* examples/match_pair (a program written against geocorr.h alone, linked to the shared library) against
 * `geocorr match` on the same input, with the tiny DINOv2 fixture model: `geocorr features --dino-only`
 * writes the maps of SRC, mirrored SRC and TGT and `geocorr match` matches on them with pose alignment;
 * the example computes the same in memory. Matches, scores and poses must be equal as float32 (the same
 * computation: the example prints 9 significant digits, which round-trip a float), zero-shot (the DINO
 * descriptor) and supervised (a DINO-only post-processor with the reference's initialisation; Release only).
 * (The SD branch is left to test_extract / test_pipeline: one tiny-pipeline image costs ~12 s of CPU.)
 * Plus gc_descriptors_from_maps on the four maps = gc_descriptors_load(_postproc) of the same maps in a
 * file, bit for bit, and its bad inputs. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/prng_weights.h"
#include "pipeline_models.h"

static char g_dir[1024];
static char g_models[2048];

/* The example's stdout, parsed. */
static cJSON *run_example(const char *args) {
    const char *bin = getenv("GEOCORR_EXAMPLE");
    if (!bin) fail_msg("GEOCORR_EXAMPLE not set (run through ctest)");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    if (rc != 0) fail_msg("match_pair failed (%d): %s", rc, cmd);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("match_pair printed no JSON: %s", out);
    return j;
}

static float num(const cJSON *a, int i) { return (float)cJSON_GetArrayItem(a, i)->valuedouble; }

/* The example's points against `geocorr match`'s: float32 equality of every number. */
static void expect_same(const cJSON *ex, const char *match_json, const char *recipe) {
    cJSON *m = gct_load_json(match_json);
    assert_string_equal(cJSON_GetObjectItem(ex, "recipe")->valuestring, recipe);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "descriptor"), "recipe")->valuestring, recipe);
    const cJSON *al = cJSON_GetObjectItem(m, "align");
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(ex, "flip_chosen")), cJSON_IsTrue(cJSON_GetObjectItem(al, "flip_chosen")));
    const cJSON *pe = cJSON_GetObjectItem(ex, "points"), *pm = cJSON_GetObjectItem(m, "points");
    assert_int_equal(cJSON_GetArraySize(pe), cJSON_GetArraySize(pm));
    for (int k = 0; k < cJSON_GetArraySize(pe); k++) {
        const cJSON *a = cJSON_GetArrayItem(pe, k), *b = cJSON_GetArrayItem(pm, k);
        const cJSON *ma = cJSON_GetObjectItem(a, "match"), *mb = cJSON_GetObjectItem(b, "match");
        printf("  %s point %d: (%.4f, %.4f) score %.6f %s | geocorr match (%.4f, %.4f) score %.6f %s\n", recipe, k, num(ma, 0),
               num(ma, 1), cJSON_GetObjectItem(a, "score")->valuedouble, cJSON_GetObjectItem(a, "pose")->valuestring,
               num(mb, 0), num(mb, 1), cJSON_GetObjectItem(b, "score")->valuedouble,
               cJSON_GetObjectItem(b, "pose")->valuestring);
        assert_true(num(ma, 0) == num(mb, 0) && num(ma, 1) == num(mb, 1));
        assert_true((float)cJSON_GetObjectItem(a, "score")->valuedouble == (float)cJSON_GetObjectItem(b, "score")->valuedouble);
        assert_string_equal(cJSON_GetObjectItem(a, "pose")->valuestring, cJSON_GetObjectItem(b, "pose")->valuestring);
    }
    cJSON_Delete(m);
}

static int setup(void **state) {
    umask(022);
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("example"));
    /* the tiny DINOv2 as a model folder: config.json + model.safetensors */
    char *text;
    size_t len;
    assert_int_equal(gc_read_file(gct_fixture("dinov2_tiny.config.json"), &text, &len, 1 << 20), GC_OK);
    gct_write_file(gct_path(g_dir, "config.json"), text, len);
    free(text);
    assert_int_equal(gc_read_file(gct_fixture("dinov2_tiny.model.safetensors"), &text, &len, 64 << 20), GC_OK);
    gct_write_file(gct_path(g_dir, "model.safetensors"), text, len);
    free(text);
    snprintf(g_models, sizeof g_models, "--dinov2 %s --dino-only", g_dir);
    return 0;
}

static void test_example_equals_match(void **state) {
    const char *src = gct_fixture("images/antelope.jpg"), *tgt = gct_fixture("images/unicorn.jpg");
    const char *pts = "120,200;700,180;400,500;900,700";
    char *feat[3] = {strdup(gct_path(g_dir, "src.st")), strdup(gct_path(g_dir, "src_flip.st")), strdup(gct_path(g_dir, "tgt.st"))};
    const char *img[3] = {src, src, tgt};
    for (int i = 0; i < 3; i++)
        if (gct_geocorr("features %s --image %s %s --out %s", g_models, img[i], i == 1 ? "--flip" : "", feat[i]) != 0)
            fail_msg("features: %s", gct_last_stderr());
    struct stat fs;
    assert_int_equal(stat(feat[0], &fs), 0);
    assert_int_equal(fs.st_mode & 0777, 0644); /* 0666 & ~umask 022: the usual permissions, not mkstemp's 0600 */
    /* a DINO-only post-processor of the tiny model's width (64 -> 128), the reference initialisation */
    write_dino_postproc(gct_path(g_dir, "pp.safetensors"), 7);
    const char *pp_path = gct_path(g_dir, "pp.safetensors");
    /* the supervised case: Release only (under the sanitizers the example's three DINOv2 passes would repeat
     * the zero-shot run's; test_descriptors_from_maps runs the post-processor through the same API there) */
    for (int sup = 0; sup < (getenv("GEOCORR_SANITIZED") ? 1 : 2); sup++) {
        char extra[1200] = "", args[6000];
        if (sup) snprintf(extra, sizeof extra, "--postproc %s", pp_path);
        const char *out = gct_path(g_dir, sup ? "match_pp.json" : "match.json");
        if (gct_geocorr("match %s %s --points \"%s\" --features-src %s --features-src-flip %s --features-tgt %s --category cat %s --out %s",
                        src, tgt, pts, feat[0], feat[1], feat[2], extra, out) != 0)
            fail_msg("match: %s", gct_last_stderr());
        snprintf(args, sizeof args, "%s %s --category cat %s %s \"%s\"", g_models, extra, src, tgt, pts);
        cJSON *ex = run_example(args);
        expect_same(ex, out, sup ? "postproc" : "dino");
        cJSON_Delete(ex);
    }
    for (int i = 0; i < 3; i++) free(feat[i]);
}

/* Random maps s3 [16,60,60], s4 [24,30,30], s5 [24,15,15], dino [32,60,60] in memory and in a file. */
#define NM 4
static const int64_t k_shape[NM][3] = {{16, 60, 60}, {24, 30, 30}, {24, 15, 15}, {32, 60, 60}};
static const char *const k_names[NM] = {"s3", "s4", "s5", "dino"};

static void test_descriptors_from_maps(void **state) {
    float *m[NM];
    gc_st_writer *wr = gc_st_writer_new();
    for (int i = 0; i < NM; i++) {
        int64_t n = k_shape[i][0] * k_shape[i][1] * k_shape[i][2];
        m[i] = gc_alloc_array((size_t)n, sizeof(float));
        gc_prng_fill(k_names[i], 3, 0.0, 1.0, m[i], n);
        assert_int_equal(gc_st_writer_add(wr, k_names[i], GC_DT_F32, 3, k_shape[i], m[i]), GC_OK);
    }
    const char *file = gct_path(g_dir, "maps.st");
    assert_int_equal(gc_st_writer_save(wr, file), GC_OK);
    gc_st_writer_free(wr);
    gc_feature_maps fm = {.c3 = 16, .c4 = 24, .c5 = 24, .cd = 32, .g3 = 60, .g4 = 30, .g5 = 15, .gd = 60,
                          .s3 = m[0], .s4 = m[1], .s5 = m[2], .dino = m[3]};
    gc_postproc pp;
    const int64_t fd[4] = {16, 24, 24, 32};
    assert_int_equal(gc_postproc_new(&pp, 4, fd, 128, 32), GC_OK);
    gc_postproc_init_reference(&pp, 11);
    for (int sup = 0; sup < 2; sup++) {
        gc_descriptors *a, *b;
        assert_int_equal(gc_descriptors_from_maps(&fm, sup ? &pp : NULL, &a), GC_OK);
        assert_int_equal(sup ? gc_descriptors_load_postproc(file, &pp, &b) : gc_descriptors_load(file, NULL, &b), GC_OK);
        assert_string_equal(gc_descriptors_recipe(a), sup ? "postproc" : "zeroshot");
        assert_string_equal(gc_descriptors_recipe(a), gc_descriptors_recipe(b));
        assert_int_equal(gc_descriptors_channels(a), sup ? 128 : 96);
        assert_int_equal(gc_descriptors_channels(a), gc_descriptors_channels(b));
        /* the same arithmetic on the same numbers: identical bytes */
        assert_memory_equal(gc_descriptors_rows(a), gc_descriptors_rows(b), 3600 * (size_t)gc_descriptors_channels(a) * sizeof(float));
        gc_descriptors_free(a);
        gc_descriptors_free(b);
    }
    /* dino alone: the DINO descriptor */
    gc_feature_maps dm = {.cd = 32, .gd = 60, .dino = m[3]};
    gc_descriptors *d;
    assert_int_equal(gc_descriptors_from_maps(&dm, NULL, &d), GC_OK);
    assert_string_equal(gc_descriptors_recipe(d), "dino");
    gc_descriptors_free(d);
    /* bad maps: SD maps without dino, two of three SD maps, a NaN, a post-processor of other widths */
    gc_feature_maps bad = fm;
    bad.dino = NULL, bad.cd = 0;
    assert_int_equal(gc_descriptors_from_maps(&bad, NULL, &d), GC_ERR_MISSING);
    assert_non_null(strstr(gc_last_error(), "'dino'"));
    bad = fm;
    bad.s5 = NULL, bad.c5 = 0;
    assert_int_equal(gc_descriptors_from_maps(&bad, NULL, &d), GC_ERR_MISSING);
    assert_non_null(strstr(gc_last_error(), "2 of the SD maps"));
    m[1][17] = NAN;
    assert_int_equal(gc_descriptors_from_maps(&fm, NULL, &d), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "'s4' holds a non-finite value"));
    m[1][17] = 0;
    gc_postproc other;
    const int64_t fo[4] = {16, 24, 24, 64};
    assert_int_equal(gc_postproc_new(&other, 4, fo, 128, 32), GC_OK);
    assert_int_equal(gc_descriptors_from_maps(&fm, &other, &d), GC_ERR_SHAPE);
    assert_non_null(strstr(gc_last_error(), "map 'dino' has 32 channels"));
    assert_null(d);
    gc_postproc_clear(&other);
    gc_postproc_clear(&pp);
    /* the public loader: a missing file names it */
    gc_postproc *p;
    assert_int_not_equal(gc_postproc_load(gct_path(g_dir, "nothere.safetensors"), 0, &p), GC_OK);
    assert_non_null(strstr(gc_last_error(), "nothere"));
    assert_null(p);
    for (int i = 0; i < NM; i++) gc_free(m[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_equals_match),
        cmocka_unit_test(test_descriptors_from_maps),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
