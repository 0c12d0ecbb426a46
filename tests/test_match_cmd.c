/* `geocorr match` end to end on feature files and images made here: an image and its mirror, DINO-like
 * maps with a distinct vector per cell (so the true match is known), alignment on and off, IMD with
 * masks, JSON completeness, PNG pictures that decode; and every bad input the issue lists. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/prng_weights.h"
#include "match/descriptor.h"
#include "testutil.h"

#define IW 168
#define IH 112
#define D 24

static char g_dir[1024];

/* dino [D,60,60]: a random vector per cell plus an orientation code on channel 0 (+0.5 facing one
 * way, -0.5 the other), as real features see left from right; mirrored: columns reversed. */
static void write_features(const char *file, int d, int grid, bool mirror, float orient, const char *seed_name) {
    int64_t n = (int64_t)d * grid * grid;
    float *m = gc_alloc_array((size_t)n, sizeof(float)), *o = gc_alloc_array((size_t)n, sizeof(float));
    gc_prng_fill(seed_name, 7, 0.0, 1.0, m, n);
    for (int c = 0; c < d; c++)
        for (int r = 0; r < grid; r++)
            for (int x = 0; x < grid; x++)
                o[(c * grid + r) * grid + x] = m[(c * grid + r) * grid + (mirror ? grid - 1 - x : x)] + (c ? 0.0f : orient);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "dino", o, d, grid, grid), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, file), GC_OK);
    gc_st_writer_free(wr);
    gc_free(m);
    gc_free(o);
}

static void write_image(const char *file, bool mirror) {
    uint8_t *p = malloc(IW * IH * 3);
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) {
            int sx = mirror ? IW - 1 - x : x;
            p[(y * IW + x) * 3 + 0] = (uint8_t)(sx * 255 / IW);
            p[(y * IW + x) * 3 + 1] = (uint8_t)(y * 255 / IH);
            p[(y * IW + x) * 3 + 2] = (uint8_t)((sx * 7 + y * 13) & 255);
        }
    assert_true(stbi_write_png(file, IW, IH, 3, p, IW * 3));
    free(p);
}

static void write_mask(const char *file, int w, int h) {
    uint8_t *p = calloc((size_t)w * h, 1);
    for (int y = h / 4; y < 3 * h / 4; y++)
        for (int x = w / 4; x < 3 * w / 4; x++) p[y * w + x] = 255;
    assert_true(stbi_write_png(file, w, h, 1, p, w));
    free(p);
}

/* Results get the usual permissions: 0666 & ~umask (0644 under the umask 022 set in setup). */
static void expect_mode_644(const char *file) {
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    if ((st.st_mode & 0777) != 0644) fail_msg("%s: mode %o, expected 644", file, (unsigned)(st.st_mode & 0777));
}

static int setup(void **state) {
    umask(022);
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("match_cmd"));
    write_image(gct_path(g_dir, "src.png"), false);
    write_image(gct_path(g_dir, "mirror.png"), true);
    write_features(gct_path(g_dir, "src.st"), D, 60, false, 0.5f, "cmd.dino");
    write_features(gct_path(g_dir, "src_flip.st"), D, 60, true, -0.5f, "cmd.dino");
    write_features(gct_path(g_dir, "mirror.st"), D, 60, true, -0.5f, "cmd.dino");
    write_features(gct_path(g_dir, "other_model.st"), D / 2, 60, false, 0.5f, "cmd.dino");
    write_features(gct_path(g_dir, "grid30.st"), D, 30, false, 0.5f, "cmd.dino");
    {
        float *nan_map = gc_calloc(D * 60 * 60, sizeof(float));
        nan_map[5] = NAN;
        gc_st_writer *wr = gc_st_writer_new();
        assert_int_equal(GC_ST_ADD_F32(wr, "dino", nan_map, D, 60, 60), GC_OK);
        assert_int_equal(gc_st_writer_save(wr, gct_path(g_dir, "nan.st")), GC_OK);
        gc_st_writer_free(wr);
        gc_free(nan_map);
    }
    write_mask(gct_path(g_dir, "mask_src.png"), IW, IH);
    write_mask(gct_path(g_dir, "mask_tgt.png"), IW, IH);
    write_mask(gct_path(g_dir, "mask_bad.png"), 50, 50);
    const char *pts = "{\"points\": [{\"x\": 30.5, \"y\": 40, \"id\": 0}, {\"x\": 130, \"y\": 42, \"id\": 1},"
                      " {\"x\": 84, \"y\": 90, \"id\": 8}]}";
    gct_write_file(gct_path(g_dir, "pts.json"), pts, strlen(pts));
    return 0;
}

/* Cell centre of the 840-frame point (x, y), back in original pixels of an IW x IH image. */
static void cell_centre(double x840, double y840, double *x, double *y) {
    const float s = (float)(60.0 / 840.0);
    int cx = (int)((float)x840 * s), cy = (int)((float)y840 * s);
    float k[3] = {14.0f * cx + 7, 14.0f * cy + 7, 1};
    gc_kps_from_canvas(k, 1, IW, IH, 840, k);
    *x = k[0];
    *y = k[1];
}

static void expect_png(const char *file, int min_w) {
    int w, h, n;
    uint8_t *p = stbi_load(file, &w, &h, &n, 3);
    assert_non_null(p);
    assert_true(w >= min_w && h == 480);
    stbi_image_free(p);
}

/* Points and the frame: each JSON entry complete, src_840 = frame mapping, matches where they must be. */
static void check_points(cJSON *j, const float (*src)[2], int K, bool expect_flip, const int *partner) {
    cJSON *pts = cJSON_GetObjectItem(j, "points");
    assert_int_equal(cJSON_GetArraySize(pts), K);
    for (int k = 0; k < K; k++) {
        cJSON *p = cJSON_GetArrayItem(pts, k);
        const char *fields[] = {"src", "src_840", "match", "match_840", "score", "pose"};
        for (size_t i = 0; i < GC_COUNTOF(fields); i++) assert_non_null(cJSON_GetObjectItem(p, fields[i]));
        float c3[3] = {src[k][0], src[k][1], 1};
        gc_kps_to_canvas(c3, 1, IW, IH, 840, c3);
        double cx = c3[0], cy = c3[1];
        cJSON *s840 = cJSON_GetObjectItem(p, "src_840");
        assert_true(fabs(cJSON_GetArrayItem(s840, 0)->valuedouble - cx) < 1e-3);
        assert_true(fabs(cJSON_GetArrayItem(s840, 1)->valuedouble - cy) < 1e-3);
        /* identical (or mirrored) cell vectors: the match is the cell centre of the point (or of its
         * flip partner mirrored) */
        double ex, ey;
        if (expect_flip) {
            float p3[3] = {src[partner[k]][0], src[partner[k]][1], 1};
            gc_kps_to_canvas(p3, 1, IW, IH, 840, p3);
            cell_centre(840.0f - p3[0], p3[1], &ex, &ey);
        } else {
            cell_centre(cx, cy, &ex, &ey);
        }
        cJSON *m = cJSON_GetObjectItem(p, "match");
        printf("  point %d: match (%.3f, %.3f) expected (%.3f, %.3f) pose %s score %.4f\n", k,
               cJSON_GetArrayItem(m, 0)->valuedouble, cJSON_GetArrayItem(m, 1)->valuedouble, ex, ey,
               cJSON_GetObjectItem(p, "pose")->valuestring, cJSON_GetObjectItem(p, "score")->valuedouble);
        assert_true(fabs(cJSON_GetArrayItem(m, 0)->valuedouble - ex) < 1e-3);
        assert_true(fabs(cJSON_GetArrayItem(m, 1)->valuedouble - ey) < 1e-3);
        assert_string_equal(cJSON_GetObjectItem(p, "pose")->valuestring, expect_flip ? "flipped" : "original");
        assert_true(fabs(cJSON_GetObjectItem(p, "score")->valuedouble - 1.0) < 1e-5);
    }
}

static const float k_pts[3][2] = {{30.5f, 40}, {130, 42}, {84, 90}};

static void test_same_image(void **state) {
    /* target = source: the original pose wins (MNN distance 0) */
    assert_int_equal(gct_geocorr("match %s %s --points-file %s --features-src %s --features-tgt %s --features-src-flip %s "
                                 "--category cat --out %s --picture %s --heatmap 1 --heatmap-out %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "pts.json"), gct_path(g_dir, "src.st"), gct_path(g_dir, "src.st"),
                                 gct_path(g_dir, "src_flip.st"), gct_path(g_dir, "same.json"), gct_path(g_dir, "same.png"), gct_path(g_dir, "same_heat.png")),
                     0);
    cJSON *j = gct_load_json(gct_path(g_dir, "same.json"));
    cJSON *al = cJSON_GetObjectItem(j, "align");
    assert_string_equal(cJSON_GetObjectItem(al, "distance")->valuestring, "mnn");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(al, "flip_chosen")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "descriptor"), "recipe")->valuestring, "dino");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "matching"), "window")->valueint, 5);
    int ident[3] = {0, 1, 2};
    check_points(j, k_pts, 3, false, ident);
    cJSON_Delete(j);
    expect_png(gct_path(g_dir, "same.png"), 2 * 720);
    expect_png(gct_path(g_dir, "same_heat.png"), 2 * 720);
    expect_mode_644(gct_path(g_dir, "same.json"));
    expect_mode_644(gct_path(g_dir, "same.png"));
    expect_mode_644(gct_path(g_dir, "same_heat.png"));
}

static void test_mirror_image(void **state) {
    /* target = mirror: the flipped pose wins; with the cat table points 0 and 1 (ids 0, 1 = a L/R pair)
     * take each other's mirrored place, id 8 (a singleton) its own */
    int partner[3] = {1, 0, 2};
    assert_int_equal(gct_geocorr("match %s %s --points-file %s --features-src %s --features-tgt %s --features-src-flip %s "
                                 "--category cat --out %s --picture %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "mirror.png"), gct_path(g_dir, "pts.json"), gct_path(g_dir, "src.st"), gct_path(g_dir, "mirror.st"),
                                 gct_path(g_dir, "src_flip.st"), gct_path(g_dir, "mirror.json"), gct_path(g_dir, "mirror.png.out.png")),
                     0);
    cJSON *j = gct_load_json(gct_path(g_dir, "mirror.json"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "align"), "flip_chosen")));
    check_points(j, k_pts, 3, true, partner);
    cJSON_Delete(j);
    /* without a table nothing swaps */
    int ident[3] = {0, 1, 2};
    assert_int_equal(gct_geocorr("match %s %s --points \"30.5,40;130,42;84,90\" --features-src %s --features-tgt %s "
                                 "--features-src-flip %s --out %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "mirror.png"), gct_path(g_dir, "src.st"), gct_path(g_dir, "mirror.st"), gct_path(g_dir, "src_flip.st"),
                                 gct_path(g_dir, "mirror2.json")),
                     0);
    j = gct_load_json(gct_path(g_dir, "mirror2.json"));
    check_points(j, k_pts, 3, true, ident);
    cJSON_Delete(j);
    /* IMD with masks of the image size: the same decision */
    assert_int_equal(gct_geocorr("match %s %s --points-file %s --features-src %s --features-tgt %s --features-src-flip %s "
                                 "--category cat --mask-src %s --mask-tgt %s --out %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "mirror.png"), gct_path(g_dir, "pts.json"), gct_path(g_dir, "src.st"), gct_path(g_dir, "mirror.st"),
                                 gct_path(g_dir, "src_flip.st"), gct_path(g_dir, "mask_src.png"), gct_path(g_dir, "mask_tgt.png"), gct_path(g_dir, "mirror3.json")),
                     0);
    j = gct_load_json(gct_path(g_dir, "mirror3.json"));
    cJSON *al = cJSON_GetObjectItem(j, "align");
    assert_string_equal(cJSON_GetObjectItem(al, "distance")->valuestring, "imd");
    assert_true(cJSON_GetObjectItem(al, "dist_flip")->valuedouble < cJSON_GetObjectItem(al, "dist_orig")->valuedouble);
    check_points(j, k_pts, 3, true, partner);
    cJSON_Delete(j);
    /* --align off: independent matching in the original pose */
    assert_int_equal(gct_geocorr("match %s %s --points \"30.5,40\" --features-src %s --features-tgt %s --align off --hard --out %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "src.st"), gct_path(g_dir, "src.st"), gct_path(g_dir, "off.json")),
                     0);
    j = gct_load_json(gct_path(g_dir, "off.json"));
    check_points(j, k_pts, 1, false, ident);
    cJSON_Delete(j);
}

/* The public API (geocorr.h) on the same files: gc_match_points and gc_align_match. */
static void test_library_api(void **state) {
    gc_descriptors *src, *flip, *mir;
    assert_int_equal(gc_descriptors_load(gct_path(g_dir, "src.st"), NULL, &src), GC_OK);
    assert_int_equal(gc_descriptors_load(gct_path(g_dir, "src_flip.st"), NULL, &flip), GC_OK);
    assert_int_equal(gc_descriptors_load(gct_path(g_dir, "mirror.st"), NULL, &mir), GC_OK);
    assert_int_equal(gc_descriptors_channels(src), D);
    float pts[3][3], in840[6], out[6], score[3];
    for (int k = 0; k < 3; k++) {
        pts[k][0] = k_pts[k][0];
        pts[k][1] = k_pts[k][1];
        pts[k][2] = 1;
    }
    gc_kps_to_canvas(&pts[0][0], 3, IW, IH, 840, &pts[0][0]);
    for (int k = 0; k < 3; k++) {
        in840[2 * k] = pts[k][0];
        in840[2 * k + 1] = pts[k][1];
    }
    gc_match_params mp;
    gc_match_params_default(&mp);
    assert_int_equal(gc_match_points(src, src, in840, 3, &mp, out, score), GC_OK);
    for (int k = 0; k < 3; k++) {
        const float s = (float)(60.0 / 840.0);
        assert_true(fabsf(out[2 * k] - (14.0f * (int)(in840[2 * k] * s) + 7)) < 1e-3f);
        assert_true(fabsf(score[k] - 1.0f) < 1e-5f);
    }
    gc_align_params ap = {.match = mp, .category = "cat"};
    gc_align_info info;
    int from_flip[3];
    int64_t ids[3] = {0, 1, 8};
    assert_int_equal(gc_align_match(src, flip, mir, in840, ids, 3, &ap, out, score, from_flip, &info), GC_OK);
    printf("  API: dist orig %.4g flip %.4g chosen %d\n", info.dist_orig, info.dist_flip, info.flip_chosen);
    assert_true(info.flip_chosen && from_flip[0] && from_flip[1] && from_flip[2]);
    /* point 0 lands on the mirror of point 1 */
    const float s = (float)(60.0 / 840.0);
    assert_true(fabsf(out[0] - (14.0f * (int)((840.0f - in840[2]) * s) + 7)) < 1e-3f);
    /* bad input through the API */
    in840[0] = 900;
    assert_int_not_equal(gc_match_points(src, src, in840, 3, &mp, out, NULL), GC_OK);
    assert_non_null(strstr(gc_last_error(), "outside"));
    gc_descriptors *other;
    assert_int_equal(gc_descriptors_load(gct_path(g_dir, "other_model.st"), NULL, &other), GC_OK);
    in840[0] = 100;
    assert_int_not_equal(gc_match_points(src, other, in840, 3, &mp, out, NULL), GC_OK);
    assert_non_null(strstr(gc_last_error(), "different models"));
    gc_descriptors_free(other);
    gc_descriptors_free(src);
    gc_descriptors_free(flip);
    gc_descriptors_free(mir);
}

/* Features on the fly with the tiny DINOv2 fixture model: an image against itself (original pose,
 * exact self matches) and against its mirror (the flipped source's features are the mirror's, so the
 * flipped pose wins and the cat table swaps points 0 and 1). Hard argmax: DINO features are smooth, so a
 * soft-argmax leans towards similar neighbours and the exact cell centre is only guaranteed for argmax. */
static void test_dinov2_on_the_fly(void **state) {
    const char *cfg = gct_fixture("dinov2_tiny.config.json"), *model = gct_fixture("dinov2_tiny.model.safetensors");
    char *text;
    size_t len;
    assert_int_equal(gc_read_file(cfg, &text, &len, 1 << 20), GC_OK);
    gct_write_file(gct_path(g_dir, "config.json"), text, len);
    free(text);
    assert_int_equal(gc_read_file(model, &text, &len, 64 << 20), GC_OK);
    gct_write_file(gct_path(g_dir, "model.safetensors"), text, len);
    free(text);
    /* the model folder is the test folder itself: config.json + model.safetensors */
    assert_int_equal(gct_geocorr("match %s %s --points-file %s --dinov2 %s --hard --category cat --out %s --picture %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "pts.json"), g_dir, gct_path(g_dir, "dino_same.json"),
                                 gct_path(g_dir, "dino_same.png")),
                     0);
    cJSON *j = gct_load_json(gct_path(g_dir, "dino_same.json"));
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "align"), "flip_chosen")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "descriptor"), "channels")->valueint, 64);
    int ident[3] = {0, 1, 2}, partner[3] = {1, 0, 2};
    check_points(j, k_pts, 3, false, ident);
    cJSON_Delete(j);
    expect_png(gct_path(g_dir, "dino_same.png"), 2 * 720);
    assert_int_equal(gct_geocorr("match %s %s --points-file %s --dinov2 %s --hard --category cat --out %s --heatmap 0 --heatmap-out %s",
                                 gct_path(g_dir, "src.png"), gct_path(g_dir, "mirror.png"), gct_path(g_dir, "pts.json"), g_dir, gct_path(g_dir, "dino_mirror.json"),
                                 gct_path(g_dir, "dino_heat.png")),
                     0);
    j = gct_load_json(gct_path(g_dir, "dino_mirror.json"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "align"), "flip_chosen")));
    check_points(j, k_pts, 3, true, partner);
    cJSON_Delete(j);
    expect_png(gct_path(g_dir, "dino_heat.png"), 2 * 720);
}

static void expect_error(const char *needle, const char *fmt, const char *a1, const char *a2, const char *a3) {
    remove(gct_path(g_dir, "err.json"));
    int rc = gct_geocorr(fmt, a1, a2, a3, gct_path(g_dir, "err.json"));
    printf("  rc %d: %s", rc, gct_last_stderr());
    assert_true(rc > 0 && rc < 128);
    assert_non_null(strstr(gct_last_stderr(), needle));
    assert_false(gc_file_exists(gct_path(g_dir, "err.json")));
}

static void test_bad_input(void **state) {
    gct_write_file(gct_path(g_dir, "garbage.png"), "not an image", 12);
    const char *tbl = "[[0,1],[2,7]]";
    gct_write_file(gct_path(g_dir, "table.json"), tbl, strlen(tbl));
    char common[2048];
    snprintf(common, sizeof common, "--features-src %s --features-tgt %s", gct_path(g_dir, "src.st"), gct_path(g_dir, "src.st"));
    char fmt[4096];
    snprintf(fmt, sizeof fmt, "match %%s %%s --points \"%%s\" %s --out %%s", common);
    expect_error("garbage.png", fmt, gct_path(g_dir, "garbage.png"), gct_path(g_dir, "src.png"), "10,10");
    expect_error("nothere.png", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "nothere.png"), "10,10");
    expect_error("outside the source image", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), "10,10;168,5");
    expect_error("outside the source image", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), "-1,5");
    expect_error("--points", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), "10;5");
    snprintf(fmt, sizeof fmt, "match %%s %%s --points 1,1 --features-src %%s --features-tgt %s --out %%s", gct_path(g_dir, "src.st"));
    expect_error("different models", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "other_model.st"));
    expect_error("60x60", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "grid30.st"));
    expect_error("non-finite", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "nan.st"));
    expect_error("garbage.png", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "garbage.png"));
    snprintf(fmt, sizeof fmt, "match %%s %%s --points 1,1 %s --features-src-flip %s --mask-src %%s --mask-tgt %s --out %%s", common,
             gct_path(g_dir, "src_flip.st"), gct_path(g_dir, "mask_tgt.png"));
    expect_error("mask is 50x50", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "mask_bad.png"));
    /* a flip table with as many entries as points and an index beyond them */
    snprintf(fmt, sizeof fmt, "match %%s %%s --points \"1,1;2,2;3,3;4,4\" %s --features-src-flip %s --flip-table %%s --out %%s",
             common, gct_path(g_dir, "src_flip.st"));
    expect_error("out of range", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "table.json"));
    snprintf(fmt, sizeof fmt, "match %%s %%s --points 1,1 %s --features-src-flip %s --category %%s --out %%s", common,
             gct_path(g_dir, "src_flip.st"));
    expect_error("unicorn", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), "unicorn");
    snprintf(fmt, sizeof fmt, "match %%s %%s --points 1,1 --dinov2 %%s --out %%s");
    expect_error("nowhere", fmt, gct_path(g_dir, "src.png"), gct_path(g_dir, "src.png"), gct_path(g_dir, "nowhere"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_image),
        cmocka_unit_test(test_mirror_image),
        cmocka_unit_test(test_library_api),
        cmocka_unit_test(test_dinov2_on_the_fly),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
