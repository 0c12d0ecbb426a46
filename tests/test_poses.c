/* The rotated poses of the adaptive alignment (beyond the released code's flip; paper Supp. C): names
 * and sets (auto = the rotations for bottle), the pose of an image, of keypoints and of a mask canvas
 * agreeing with each other; a target that is a rotated copy of the source (an image made here, the tiny
 * DINOv2 fixture model) picks that rotation and maps the points back onto the rotated positions, through
 * `geocorr match --poses` (MNN; --dinov2 and feature files of `geocorr features --pose`) and through
 * gc_match_pixels (IMD with masks, each of the three rotations); without rotations the results are the
 * bytes of the flip-only alignment. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match/poses.h"
#include "testutil.h"

#define IW 100
#define IH 73 /* 840 * 73 / 100 = 613.2: the padding (227) is odd, so the rotated canvas is one pixel off */

static char g_dir[1024];
static gc_image g_src;

/* A smooth, non-symmetric pattern (every pose looks different). */
static void make_source(gc_image *img) {
    assert_int_equal(gc_image_alloc(img, IW, IH), GC_OK);
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) {
            uint8_t *p = img->rgb + 3 * (y * IW + x);
            p[0] = (uint8_t)((x * 7 + y * 3) % 256);
            p[1] = (uint8_t)((x * x / 13 + y * 5) % 256);
            p[2] = (uint8_t)(((x / 10) * 40 + (y / 9) * 60) % 256);
        }
}

/* (x, y) of a w x h image (continuous pixel coordinates) in the image turned by `pose`, written out
 * here independently of the library: a quarter turn counter-clockwise sends the right edge to the top. */
static void turn_point(int pose, double x, double y, double w, double h, double *ox, double *oy) {
    if (pose == GC_POSE_ROT90) *ox = y, *oy = w - x;
    else if (pose == GC_POSE_ROT180) *ox = w - x, *oy = h - y;
    else *ox = h - y, *oy = x; /* rot270 */
}

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("poses"));
    make_source(&g_src);
    assert_int_equal(gc_image_save_png(gct_path(g_dir, "src.png"), &g_src), GC_OK);
    /* the tiny DINOv2 as a model folder */
    char p[1200];
    snprintf(p, sizeof p, "%s/dino", g_dir);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(symlink(gct_fixture("dinov2_tiny.config.json"), gct_path(p, "config.json")), 0);
    assert_int_equal(symlink(gct_fixture("dinov2_tiny.model.safetensors"), gct_path(p, "model.safetensors")), 0);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    gc_image_free(&g_src);
    return 0;
}

static void test_names_and_sets(void **st) {
    (void)st;
    unsigned s;
    assert_int_equal(gc_poses_parse("flip", &s), GC_OK);
    assert_int_equal(s, 1u << GC_POSE_FLIP);
    assert_int_equal(gc_poses_parse("rot270,flip,rot90", &s), GC_OK);
    assert_int_equal(s, (1u << GC_POSE_FLIP) | (1u << GC_POSE_ROT90) | (1u << GC_POSE_ROT270));
    assert_int_equal(gc_poses_parse("auto", &s), GC_OK);
    assert_int_equal(gc_poses_resolve(s, "bottle"), (1u << GC_POSE_FLIP) | GC_POSES_ROTATIONS);
    assert_int_equal(gc_poses_resolve(s, "cat"), 1u << GC_POSE_FLIP);
    assert_int_equal(gc_poses_resolve(s, NULL), 1u << GC_POSE_FLIP);
    assert_int_equal(gc_poses_resolve(1u << GC_POSE_FLIP | 1u << GC_POSE_ROT180, "cat"), 1u << GC_POSE_FLIP | 1u << GC_POSE_ROT180);
    const char *bad[] = {"rot90", "flip,rot45", "flip,", "", "flip,,rot90"};
    const char *why[] = {"flip is always", "unknown pose 'rot45'", "empty entry", "empty list", "unknown pose ''"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(gc_poses_parse(bad[i], &s), GC_ERR_ARG);
        printf("  '%s': %s\n", bad[i], gc_last_error());
        assert_non_null(strstr(gc_last_error(), why[i]));
    }
    assert_string_equal(gc_pose_name(GC_POSE_ROT180), "rot180");
    assert_string_equal(gc_pose_suffix(GC_POSE_ROT270), "_rot270");
}

/* The image, the keypoints and the canvas turn the same way: pixel (x, y) of the source lands where
 * turn_point sends its centre; a square image is its own canvas, so gc_pose_canvas moves its pixels as
 * gc_image_pose does, and a keypoint at a pixel centre follows its pixel; quarter turns compose. */
static void test_geometry(void **st) {
    (void)st;
    for (int pose = GC_POSE_ROT90; pose <= GC_POSE_ROT270; pose++) {
        gc_image t;
        assert_int_equal(gc_image_pose(&g_src, pose, &t), GC_OK);
        const bool quarter = pose != GC_POSE_ROT180;
        assert_int_equal(t.w, quarter ? IH : IW);
        assert_int_equal(t.h, quarter ? IW : IH);
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++) {
                double ox, oy;
                turn_point(pose, x + 0.5, y + 0.5, IW, IH, &ox, &oy);
                assert_memory_equal(t.rgb + 3 * ((int)oy * t.w + (int)ox), g_src.rgb + 3 * (y * IW + x), 3);
            }
        gc_image_free(&t);
        /* a 7 x 7 canvas: pixels and keypoints at their centres */
        const int S = 7;
        uint8_t in[49], out[49];
        for (int i = 0; i < 49; i++) in[i] = (uint8_t)i;
        gc_pose_canvas(pose, in, S, out);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float k[3] = {x + 0.5f, y + 0.5f, 1}, o[3];
                gc_pose_rotate_kps(pose, k, 1, (float)S, o);
                assert_int_equal(out[(int)o[1] * S + (int)o[0]], in[y * S + x]);
                assert_true(o[2] == 1.0f);
            }
    }
    /* three quarter turns are rot270, four the identity */
    gc_image a, b, c, d;
    assert_int_equal(gc_image_pose(&g_src, GC_POSE_ROT90, &a), GC_OK);
    assert_int_equal(gc_image_pose(&a, GC_POSE_ROT90, &b), GC_OK);
    assert_int_equal(gc_image_pose(&b, GC_POSE_ROT90, &c), GC_OK);
    assert_int_equal(gc_image_pose(&c, GC_POSE_ROT90, &d), GC_OK);
    gc_image r270;
    assert_int_equal(gc_image_pose(&g_src, GC_POSE_ROT270, &r270), GC_OK);
    assert_memory_equal(c.rgb, r270.rgb, (size_t)IW * IH * 3);
    assert_memory_equal(d.rgb, g_src.rgb, (size_t)IW * IH * 3);
    gc_image_free(&a), gc_image_free(&b), gc_image_free(&c), gc_image_free(&d), gc_image_free(&r270);
    /* the near border lands just inside the far one (an invisible (0, 0) keeps a grid cell) */
    float z[3] = {0, 0, 0}, o[3];
    gc_pose_rotate_kps(GC_POSE_ROT90, z, 1, 840.0f, o);
    assert_true(o[0] == 0.0f && o[1] < 840.0f && o[1] > 839.99f && o[2] == 0.0f);
}

static const float k_pts[4][2] = {{20, 10}, {50, 40}, {90, 60}, {7.5f, 66}};

/* `geocorr match --poses auto --category bottle` with a target that is the source turned a quarter: rot90
 * wins by MNN over every other pose, and every point's match is the centre of the cell its turned
 * 840-frame position falls in (the rotated source's descriptors are the target's: each query finds its
 * own cell), i.e. within half a cell + the centring pixel of where the pixel went. */
static void test_match_rotated_target(void **st) {
    (void)st;
    const int pose = GC_POSE_ROT90;
    gc_image t;
    assert_int_equal(gc_image_pose(&g_src, pose, &t), GC_OK);
    assert_int_equal(gc_image_save_png(gct_path(g_dir, "rot90.png"), &t), GC_OK);
    gc_image_free(&t);
    int rc = gct_geocorr("match '%s' '%s' --points '20,10;50,40;90,60;7.5,66' --dinov2 '%s/dino' --hard --category bottle "
                         "--poses auto --out '%s' --heatmap 1 --heatmap-out '%s/heat.png'",
                         gct_path(g_dir, "src.png"), gct_path(g_dir, "rot90.png"), g_dir, gct_path(g_dir, "rot90.json"), g_dir);
    if (rc) fail_msg("%s", gct_last_stderr());
    cJSON *j = gct_load_json(gct_path(g_dir, "rot90.json"));
    const cJSON *a = cJSON_GetObjectItem(j, "align");
    assert_string_equal(cJSON_GetObjectItem(a, "pose_chosen")->valuestring, "rot90");
    const double dw = cJSON_GetObjectItem(a, "dist_rot90")->valuedouble;
    const char *others[4] = {"dist_orig", "dist_flip", "dist_rot180", "dist_rot270"};
    printf("  target = source rot90: MNN %.3g, others", dw);
    for (int i = 0; i < 4; i++) {
        double d = cJSON_GetObjectItem(a, others[i])->valuedouble;
        printf(" %s %.3g", others[i] + 5, d);
        assert_true(dw < d);
    }
    printf("\n");
    const cJSON *p;
    int k = 0;
    double worst = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "points")) {
        assert_string_equal(cJSON_GetObjectItem(p, "pose")->valuestring, "rot90");
        /* exact: the centre of the cell the turned 840-frame point falls in */
        const cJSON *s840 = cJSON_GetObjectItem(p, "src_840"), *m840 = cJSON_GetObjectItem(p, "match_840");
        double qx, qy;
        turn_point(pose, cJSON_GetArrayItem(s840, 0)->valuedouble, cJSON_GetArrayItem(s840, 1)->valuedouble, 840, 840, &qx, &qy);
        const float f = (float)(60.0 / 840);
        assert_true(cJSON_GetArrayItem(m840, 0)->valuedouble == 14.0 * (int)((float)qx * f) + 7);
        assert_true(cJSON_GetArrayItem(m840, 1)->valuedouble == 14.0 * (int)((float)qy * f) + 7);
        /* back in target pixels: the turned source pixel, within half a cell and the centring pixel
         * (8 of the 840 frame = 8 / 8.4 target pixels) */
        double ex, ey;
        turn_point(pose, k_pts[k][0], k_pts[k][1], IW, IH, &ex, &ey);
        const cJSON *m = cJSON_GetObjectItem(p, "match");
        double dx = fabs(cJSON_GetArrayItem(m, 0)->valuedouble - ex), dy = fabs(cJSON_GetArrayItem(m, 1)->valuedouble - ey);
        worst = fmax(worst, fmax(dx, dy));
        assert_true(dx <= 8 / 8.4 + 1e-4 && dy <= 8 / 8.4 + 1e-4);
        k++;
    }
    assert_int_equal(k, 4);
    printf("  points mapped back: worst axis error %.3f target pixels (bound 8/8.4 = 0.952)\n", worst);
    cJSON_Delete(j);
}

/* Without rotations the command writes the bytes of the flip-only alignment: --poses flip, and auto for
 * a category other than bottle, equal no --poses at all (feature files: geocorr features, also --pose). */
static void test_default_unchanged(void **st) {
    (void)st;
    const char *feat = "features --dinov2 '%s/dino' --image '%s' %s --out '%s'";
    if (gct_geocorr(feat, g_dir, gct_path(g_dir, "src.png"), "", gct_path(g_dir, "src.st")) ||
        gct_geocorr(feat, g_dir, gct_path(g_dir, "src.png"), "--flip", gct_path(g_dir, "src_flip.st")) ||
        gct_geocorr(feat, g_dir, gct_path(g_dir, "src.png"), "--pose rot90", gct_path(g_dir, "src_rot90.st")))
        fail_msg("%s", gct_last_stderr());
    /* the rotated file holds the features of the turned image: those of the target rot90.png */
    if (gct_geocorr(feat, g_dir, gct_path(g_dir, "rot90.png"), "", gct_path(g_dir, "tgt.st"))) fail_msg("%s", gct_last_stderr());
    gc_weights *wr = gct_open(gct_path(g_dir, "src_rot90.st")), *wt = gct_open(gct_path(g_dir, "tgt.st"));
    const gc_tensor_ref *dr = gc_weights_find(wr, "dino"), *dt = gc_weights_find(wt, "dino");
    assert_true(dr && dt && dr->numel == dt->numel);
    assert_memory_equal(dr->data, dt->data, (size_t)dr->numel * 4);
    assert_string_equal(gc_weights_meta(wr, "pose"), "rot90");
    gc_weights_free(wr), gc_weights_free(wt);
    char files[4096];
    snprintf(files, sizeof files, "--features-src '%s' --features-tgt '%s' --features-src-flip '%s'", gct_path(g_dir, "src.st"),
             gct_path(g_dir, "tgt.st"), gct_path(g_dir, "src_flip.st"));
    const char *cases[3] = {"", "--poses flip", "--poses auto"};
    char *first = NULL;
    size_t n0 = 0;
    for (int c = 0; c < 3; c++) {
        int rc = gct_geocorr("match '%s' '%s' --points '20,10;50,40' %s --category cat %s --out '%s'", gct_path(g_dir, "src.png"),
                             gct_path(g_dir, "rot90.png"), files, cases[c], gct_path(g_dir, "flip_only.json"));
        if (rc) fail_msg("%s", gct_last_stderr());
        char *b;
        size_t n;
        assert_int_equal(gc_read_file(gct_path(g_dir, "flip_only.json"), &b, &n, 1 << 20), GC_OK);
        assert_null(strstr(b, "pose_chosen"));
        if (!first) first = b, n0 = n;
        else assert_true(n == n0 && memcmp(first, b, n) == 0), free(b);
    }
    free(first);
    /* and with the rotated file the rotation wins, from feature files too */
    int rc = gct_geocorr("match '%s' '%s' --points '20,10' %s --features-src-rot90 '%s' --poses flip,rot90 --out '%s'",
                         gct_path(g_dir, "src.png"), gct_path(g_dir, "rot90.png"), files, gct_path(g_dir, "src_rot90.st"),
                         gct_path(g_dir, "files.json"));
    if (rc) fail_msg("%s", gct_last_stderr());
    cJSON *j = gct_load_json(gct_path(g_dir, "files.json"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "align"), "pose_chosen")->valuestring, "rot90");
    cJSON_Delete(j);
    /* bad combinations, named */
    const char *bad[][2] = {
        {"--poses flip,rot90 --align off", "--align auto"},
        {"--poses rot90", "flip is always"},
        {"--poses flip,rot90 --features-src x --features-tgt y", "--features-src-rot90"},
        {"--poses flip --features-src x --features-tgt y --features-src-rot180 z", "do not include rot180"},
    };
    for (int i = 0; i < 4; i++) {
        rc = gct_geocorr("match '%s' '%s' --points '20,10' %s %s --out '%s/x.json'", gct_path(g_dir, "src.png"),
                         gct_path(g_dir, "src.png"), strstr(bad[i][0], "--features") ? "" : "--dinov2 nowhere", bad[i][0], g_dir);
        printf("  %s: %s", bad[i][0], gct_last_stderr());
        assert_true(rc != 0);
        assert_non_null(strstr(gct_last_stderr(), bad[i][1]));
    }
    rc = gct_geocorr("features --dinov2 '%s/dino' --image '%s' --pose flip --out '%s/x.st'", g_dir, gct_path(g_dir, "src.png"), g_dir);
    assert_true(rc != 0);
    assert_non_null(strstr(gct_last_stderr(), "expected rot90, rot180 or rot270"));
}

/* The library: gc_match_pixels with the three rotated sources' descriptors and instance masks (IMD; the
 * rotated masks are the source's turned with the canvas); for each target = the source turned (whose
 * descriptors are the rotated source's) that rotation wins and the points land on their turned
 * positions; a poses struct that holds no rotation gives the flip-only outputs, byte for byte. */
static void test_library_imd(void **st) {
    (void)st;
    gc_dinov2 *m;
    char p[1200];
    snprintf(p, sizeof p, "%s/dino", g_dir);
    assert_int_equal(gc_dinov2_load(p, &m), GC_OK);
    gc_image mask;
    assert_int_equal(gc_image_alloc(&mask, IW, IH), GC_OK); /* the object's box */
    for (int y = 10; y < 60; y++)
        for (int x = 15; x < 80; x++) memset(mask.rgb + 3 * (y * IW + x), 255, 3);
    gc_descriptors *src, *flip, *rot[3] = {0};
    assert_int_equal(gc_descriptors_dinov2(m, &g_src, 0, &src), GC_OK);
    assert_int_equal(gc_descriptors_dinov2(m, &g_src, 1, &flip), GC_OK);
    for (int q = 0; q < 3; q++) {
        gc_image r;
        assert_int_equal(gc_image_pose(&g_src, GC_POSE_ROT90 + q, &r), GC_OK);
        assert_int_equal(gc_descriptors_dinov2(m, &r, 0, &rot[q]), GC_OK);
        gc_image_free(&r);
    }
    const float pts[4] = {20, 10, 50, 40};
    float out[2][4], score[2][2];
    int from_flip[2][2];
    gc_align_info info[2];
    gc_align_poses none = {{NULL, NULL, NULL}}, all = {{rot[0], rot[1], rot[2]}};
    gc_align_params ap = {.category = "bottle"};
    gc_match_params_default(&ap.match);
    ap.match.hard = 1;
    for (int q = 0; q < 3; q++) {
        const int pose = GC_POSE_ROT90 + q;
        gc_image mask_t;
        assert_int_equal(gc_image_pose(&mask, pose, &mask_t), GC_OK);
        const int tw = mask_t.w, th = mask_t.h;
        /* flip only: NULL poses and a struct without rotations give the same bytes */
        for (int i = 0; i < 2; i++) {
            ap.poses = i ? &none : NULL;
            assert_int_equal(gc_match_pixels(src, flip, rot[q], IW, IH, tw, th, pts, NULL, 2, &ap, &mask, &mask_t, out[i],
                                             score[i], from_flip[i], &info[i]),
                             GC_OK);
            assert_true(info[i].pose == GC_POSE_ORIGINAL || info[i].pose == GC_POSE_FLIP);
            assert_true(isnan(info[i].dist_rot[0]) && isnan(info[i].dist_rot[1]) && isnan(info[i].dist_rot[2]));
        }
        assert_memory_equal(out[0], out[1], sizeof out[0]);
        assert_memory_equal(score[0], score[1], sizeof score[0]);
        assert_memory_equal(from_flip[0], from_flip[1], sizeof from_flip[0]);
        assert_true(info[0].dist_orig == info[1].dist_orig && info[0].dist_flip == info[1].dist_flip);
        /* with the rotations the target's own turn wins by IMD and the points land on their turned positions */
        ap.poses = &all;
        float q840[4];
        gc_match_extra ex = {.query840 = q840};
        assert_int_equal(gc_match_pixels_ex(src, flip, rot[q], IW, IH, tw, th, pts, NULL, 2, &ap, &mask, &mask_t, out[0],
                                            score[0], from_flip[0], &info[0], &ex),
                         GC_OK);
        printf("  target = source %s, IMD: original %.4g, flip %.4g, rot90 %.4g, rot180 %.4g, rot270 %.4g -> %s\n",
               gc_pose_name(pose), info[0].dist_orig, info[0].dist_flip, info[0].dist_rot[0], info[0].dist_rot[1],
               info[0].dist_rot[2], gc_pose_name(info[0].pose));
        assert_int_equal(info[0].pose, pose);
        assert_false(info[0].flip_chosen);
        for (int k = 0; k < 2; k++) {
            double ex_x, ex_y;
            turn_point(pose, pts[2 * k], pts[2 * k + 1], IW, IH, &ex_x, &ex_y);
            assert_int_equal(from_flip[0][k], 0);
            assert_true(fabs(out[0][2 * k] - ex_x) <= 8 / 8.4 + 1e-4 && fabs(out[0][2 * k + 1] - ex_y) <= 8 / 8.4 + 1e-4);
            assert_true(score[0][k] > 0.999f); /* the query cell against itself */
        }
        gc_image_free(&mask_t);
    }
    /* force_flip and rotations exclude each other; rotations need the flipped source */
    ap.force_flip = 1;
    assert_int_equal(gc_match_pixels(src, flip, rot[0], IW, IH, IH, IW, pts, NULL, 2, &ap, NULL, NULL, out[0], NULL, NULL, NULL),
                     GC_ERR_ARG);
    ap.force_flip = 0;
    assert_int_equal(gc_match_pixels(src, NULL, rot[0], IW, IH, IH, IW, pts, NULL, 2, &ap, NULL, NULL, out[0], NULL, NULL, NULL),
                     GC_ERR_ARG);
    assert_non_null(strstr(gc_last_error(), "flipped source"));
    gc_descriptors_free(src), gc_descriptors_free(flip);
    for (int q = 0; q < 3; q++) gc_descriptors_free(rot[q]);
    gc_image_free(&mask);
    gc_dinov2_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_sets),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_match_rotated_target),
        cmocka_unit_test(test_default_unchanged),
        cmocka_unit_test(test_library_imd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
