/* Supervised descriptors: the authors' .PTH post-processor gives the same bytes as its safetensors
 * twin through `trace postproc`, and `geocorr match --postproc` end to end on feature files made here
 * (s3/s4/s5/dino with the tiny post-processor's channel counts; the target maps are the source's
 * shifted right by SHIFT cells, so the true match is known), plus the bad inputs. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/prng_weights.h"
#include "testutil.h"

#define SHIFT 5
#define IMG 168 /* square image: 840-frame scale 5 */

static char g_dir[1024];

/* Two tensor files hold the same keys with the same bytes. */
static void expect_same_tensors(const char *a, const char *b) {
    gc_weights *wa = gct_open(a), *wb = gct_open(b);
    int n = gc_weights_count(wa);
    assert_int_equal(n, gc_weights_count(wb));
    assert_true(n >= 10);
    for (int i = 0; i < n; i++) {
        const gc_tensor_ref *ta = gc_weights_at(wa, i), *tb = gc_weights_find(wb, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->nbytes, tb->nbytes);
        if (memcmp(ta->data, tb->data, ta->nbytes) != 0) fail_msg("%s: tensor %s differs", b, ta->name);
    }
    gc_weights_free(wa);
    gc_weights_free(wb);
}

/* The authors' .PTH (zip prefix 'best', GroupNorm 8, block 3 without shortcut) and the same tensors as
 * safetensors (the reader fixture's expected file: keys = the state-dict names) give identical taps. */
static void test_pth_equals_safetensors(void **state) {
    (void)state;
    const int64_t C = 16 + 24 + 24 + 32, H = 12;
    float *x = malloc((size_t)(C * H * H) * sizeof(float));
    gc_prng_fill("pth.input", 3, 0.0, 1.0, x, C * H * H);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "input", x, 1, C, H, H), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, gct_path(g_dir, "pth_in.st")), GC_OK);
    gc_st_writer_free(wr);
    free(x);
    assert_int_equal(gct_geocorr("trace postproc --weights %s --groups 8 --inputs %s --out %s",
                                 gct_fixture("ckpt/postproc_tiny.PTH"), gct_path(g_dir, "pth_in.st"), gct_path(g_dir, "pth_out.st")), 0);
    assert_int_equal(gct_geocorr("trace postproc --weights %s --groups 8 --inputs %s --out %s",
                                 gct_fixture("ckpt/postproc_tiny.expected.safetensors"), gct_path(g_dir, "pth_in.st"),
                                 gct_path(g_dir, "st_out.st")), 0);
    expect_same_tensors(gct_path(g_dir, "pth_out.st"), gct_path(g_dir, "st_out.st"));
    gc_weights *o = gct_open(gct_path(g_dir, "pth_out.st"));
    assert_non_null(gc_weights_find(o, "b0.shortcut"));
    assert_null(gc_weights_find(o, "b3.shortcut")); /* C_in == P: identity shortcut */
    gc_weights_free(o);
    /* the group count is not in the file: 32 groups do not divide the 8-wide bottleneck */
    assert_int_not_equal(gct_geocorr("trace postproc --weights %s --inputs %s --out %s",
                                     gct_fixture("ckpt/postproc_tiny.PTH"), gct_path(g_dir, "pth_in.st"), gct_path(g_dir, "bad.st")), 0);
    assert_non_null(strstr(gct_last_stderr(), "GroupNorm groups"));
    assert_int_equal(access(gct_path(g_dir, "bad.st"), F_OK), -1);
}

/* Maps [c, g, g]: s3 and dino random, the target's columns the source's shifted right by SHIFT cells;
 * s4 / s5 constant over space (one random value per channel), the same in both images. */
static void write_features(const char *file, const int64_t *dims, int shift, const char *seed, bool drop_s4) {
    static const char *const names[4] = {"s3", "s4", "s5", "dino"};
    static const int grids[4] = {60, 30, 15, 60};
    gc_st_writer *wr = gc_st_writer_new();
    for (int i = 0; i < 4; i++) {
        if (drop_s4 && i == 1) continue;
        const int g = grids[i];
        const int64_t n = dims[i] * g * g;
        float *m = malloc((size_t)n * sizeof(float)), *o = malloc((size_t)n * sizeof(float));
        char nm[64];
        snprintf(nm, sizeof nm, "%s.%s", seed, names[i]);
        gc_prng_fill(nm, 11, 0.0, 1.0, m, n);
        const int s = g == 60 ? shift : 0;
        for (int64_t c = 0; c < dims[i]; c++)
            for (int r = 0; r < g; r++)
                for (int x = 0; x < g; x++)
                    o[(c * g + r) * g + x] = g == 60 ? m[(c * g + r) * g + (x >= s ? x - s : g - 1 - x)] : m[c * g * g];
        assert_int_equal(GC_ST_ADD_F32(wr, names[i], o, 1, dims[i], g, g), GC_OK);
        free(m);
        free(o);
    }
    assert_int_equal(gc_st_writer_save(wr, file), GC_OK);
    gc_st_writer_free(wr);
}

static const float k_pts[3][2] = {{40, 60}, {100, 30}, {70, 120}}; /* interior, away from the shifted-in edge */

/* Each point's match (840 frame) is the centre-ish of its cell moved SHIFT cells right. */
static void check_matches(const char *json, bool hard, int window) {
    cJSON *j = gct_load_json(json);
    const cJSON *d = cJSON_GetObjectItem(j, "descriptor");
    assert_string_equal(cJSON_GetObjectItem(d, "recipe")->valuestring, "postproc");
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "matching"), "window")->valuedouble, window);
    const cJSON *pts = cJSON_GetObjectItem(j, "points");
    assert_int_equal(cJSON_GetArraySize(pts), 3);
    for (int k = 0; k < 3; k++) {
        const cJSON *m = cJSON_GetObjectItem(cJSON_GetArrayItem(pts, k), "match_840");
        const double mx = cJSON_GetArrayItem(m, 0)->valuedouble, my = cJSON_GetArrayItem(m, 1)->valuedouble;
        const double cx = floor(k_pts[k][0] * 5 / 14) + SHIFT, cy = floor(k_pts[k][1] * 5 / 14);
        const double ex = (cx + 0.5) * 14, ey = (cy + 0.5) * 14;
        const double tol = hard ? 7.5 : 14; /* hard: the cell itself; soft: within one cell of it */
        if (fabs(mx - ex) > tol || fabs(my - ey) > tol)
            fail_msg("point %d: match (%.1f, %.1f), expected (%.1f, %.1f) +- %.1f", k, mx, my, ex, ey, tol);
    }
    cJSON_Delete(j);
}

static void write_image(const char *file) {
    uint8_t *p = malloc(IMG * IMG * 3);
    for (int i = 0; i < IMG * IMG * 3; i++) p[i] = (uint8_t)(i * 7);
    assert_true(stbi_write_png(file, IMG, IMG, 3, p, IMG * 3));
    free(p);
}

static void test_match_postproc(void **state) {
    (void)state;
    static const int64_t dims[4] = {64, 96, 96, 128}; /* geoaware_postproc_tiny.config.json feature_dims */
    write_image(gct_path(g_dir, "img.png"));
    write_features(gct_path(g_dir, "src.st"), dims, 0, "mp", false);
    write_features(gct_path(g_dir, "trg.st"), dims, SHIFT, "mp", false);
    const char *pp = gct_fixture("geoaware_postproc_tiny.model.safetensors");
    char pts[256];
    snprintf(pts, sizeof pts, "%g,%g;%g,%g;%g,%g", k_pts[0][0], k_pts[0][1], k_pts[1][0], k_pts[1][1], k_pts[2][0],
             k_pts[2][1]);
    const char *common = "--align off --points";
    assert_int_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s --hard --out %s",
                                 gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "src.st"), gct_path(g_dir, "trg.st"), pp,
                                 gct_path(g_dir, "hard.json")), 0);
    check_matches(gct_path(g_dir, "hard.json"), true, 7);
    assert_int_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s --out %s",
                                 gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "src.st"), gct_path(g_dir, "trg.st"), pp,
                                 gct_path(g_dir, "soft.json")), 0);
    check_matches(gct_path(g_dir, "soft.json"), false, 7); /* supervised recipe: window 7 by default */

    /* the authors' .PTH in a folder whose config.json gives its 8 GroupNorm groups == its safetensors twin */
    static const int64_t tiny[4] = {16, 24, 24, 32};
    write_features(gct_path(g_dir, "src8.st"), tiny, 0, "mp8", false);
    write_features(gct_path(g_dir, "trg8.st"), tiny, SHIFT, "mp8", false);
    const char *cfg = "{\"num_norm_groups\": 8}\n";
    const char *dirs[2] = {"pth", "st"}, *files[2] = {"ckpt/postproc_tiny.PTH", "ckpt/postproc_tiny.expected.safetensors"};
    for (int i = 0; i < 2; i++) {
        char d[1200], f[1400], link[1400];
        snprintf(d, sizeof d, "%s", gct_path(g_dir, dirs[i]));
        assert_int_equal(mkdir(d, 0755), 0);
        snprintf(f, sizeof f, "%s/config.json", d);
        gct_write_file(f, cfg, strlen(cfg));
        snprintf(link, sizeof link, "%s/%s", d, strrchr(files[i], '/') + 1);
        assert_int_equal(symlink(gct_fixture(files[i]), link), 0);
        snprintf(f, sizeof f, "%s.json", d);
        assert_int_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s --out %s",
                                     gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "src8.st"), gct_path(g_dir, "trg8.st"), d, f),
                         0);
    }
    cJSON *a = gct_load_json(gct_path(g_dir, "pth.json")), *b = gct_load_json(gct_path(g_dir, "st.json"));
    assert_true(cJSON_Compare(cJSON_GetObjectItem(a, "points"), cJSON_GetObjectItem(b, "points"), true));
    cJSON_Delete(a);
    cJSON_Delete(b);

    /* bad inputs: a missing map (named with the file), channel counts of another model, --feature-map too */
    write_features(gct_path(g_dir, "no_s4.st"), dims, 0, "mp", true);
    assert_int_not_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s --out %s",
                                     gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "no_s4.st"), gct_path(g_dir, "trg.st"), pp,
                                     gct_path(g_dir, "e1.json")), 0);
    assert_non_null(strstr(gct_last_stderr(), "no_s4.st"));
    assert_non_null(strstr(gct_last_stderr(), "'s4'"));
    assert_int_not_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s --out %s",
                                     gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "src8.st"), gct_path(g_dir, "trg.st"), pp,
                                     gct_path(g_dir, "e2.json")), 0);
    assert_non_null(strstr(gct_last_stderr(), "channels"));
    assert_int_not_equal(gct_geocorr("match %s %s %s \"%s\" --features-src %s --features-tgt %s --postproc %s "
                                     "--feature-map dino --out %s",
                                     gct_path(g_dir, "img.png"), gct_path(g_dir, "img.png"), common, pts, gct_path(g_dir, "src.st"), gct_path(g_dir, "trg.st"), pp,
                                     gct_path(g_dir, "e3.json")), 0);
    assert_non_null(strstr(gct_last_stderr(), "--postproc"));
    for (int i = 1; i <= 3; i++) {
        char n[32];
        snprintf(n, sizeof n, "e%d.json", i);
        assert_int_equal(access(gct_path(g_dir, n), F_OK), -1);
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("match_postproc"));
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pth_equals_safetensors),
        cmocka_unit_test(test_match_postproc),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
