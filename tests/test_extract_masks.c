/* Instance masks and poses in the benchmark flow (`geocorr extract --masks --sam W --poses`) on a small
 * SPair-layout dataset written here (a generated bottle image and its quarter turn, the antelope photo)
 * and on the mini AP-10K and PF-Pascal sets, with the tiny SAM and DINOv2 fixture models:
 *  - every mask equals `geocorr mask` on the image's 960 canvas with the box mapped into it (SPair bndbox,
 *    AP-10K bbox as corners, PF-Pascal the box of the keypoints), the flipped mask its mirror, the
 *    rotated ones its turns; the antelope mask is the reference's (sam_tiny canvas960 fixture: the same
 *    mapped box, the masks equal outside the fixture's tie band);
 *  - `--poses auto` writes the rotations of bottle images only; the rotated features of an image are the
 *    features of the image turned (here: the dataset's second image);
 *  - a rerun skips every file, a removed mask is remade, `--status` counts the masks;
 *  - eval --cache picks the rotation for the pair whose target is the turned source and maps its points
 *    onto the turned positions, reads the rotated masks with --align flip (IMD), and without rotations
 *    its predictions are the flip-only ones, byte for byte. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "data/dataset.h"
#include "io/config.h"
#include "match/poses.h"
#include "pipeline/feature_cache.h"
#include "pipeline/mask_cache.h"

#define TIE_BAND 1e-3 /* mask pixels with |ref logit| below this fraction of max|ref logit| may flip (sam/README.md) */
#define AW 100
#define AH 73

static char g_tmp[1024], g_root[1200], g_cache[1200], g_sam[1200], g_dino[1200];

static void mkdirs(const char *path) {
    char p[1400];
    snprintf(p, sizeof p, "%s", path);
    for (char *q = p + 1; *q; q++)
        if (*q == '/') *q = 0, mkdir(p, 0755), *q = '/';
    mkdir(p, 0755);
}

static void write_text(const char *path, const char *text) { gct_write_file(path, text, strlen(text)); }

/* A smooth, non-symmetric pattern: every pose of it looks different. */
static void make_bottle(gc_image *img) {
    assert_int_equal(gc_image_alloc(img, AW, AH), GC_OK);
    for (int y = 0; y < AH; y++)
        for (int x = 0; x < AW; x++) {
            uint8_t *p = img->rgb + 3 * (y * AW + x);
            p[0] = (uint8_t)((x * 7 + y * 3) % 256), p[1] = (uint8_t)((x * x / 13 + y * 5) % 256);
            p[2] = (uint8_t)(((x / 10) * 40 + (y / 9) * 60) % 256);
        }
}

/* An SPair image annotation with keypoints 0..n-1 (the rest null). */
static void write_image_json(const char *cat, const char *name, int w, int h, const int box[4], const int (*kps)[2], int n) {
    char path[1400], kp[2048] = "", e[64];
    for (int i = 0; i < 30; i++) {
        if (i < n) snprintf(e, sizeof e, "%s\"%d\": [%d, %d]", i ? ", " : "", i, kps[i][0], kps[i][1]);
        else snprintf(e, sizeof e, ", \"%d\": null", i);
        strcat(kp, e);
    }
    char *t = gc_strfmt("{\"filename\": \"%s.jpg\", \"image_width\": %d, \"image_height\": %d, \"category\": \"%s\", "
                        "\"bndbox\": [%d, %d, %d, %d], \"kps\": {%s}}",
                        name, w, h, cat, box[0], box[1], box[2], box[3], kp);
    snprintf(path, sizeof path, "%s/ImageAnnotation/%s/%s.json", g_root, cat, name);
    write_text(path, t);
    free(t);
}

static void write_pair(int id, const char *cat, const char *s, const char *t, const int sb[4], const int tb[4], const int sz[4]) {
    char path[1400];
    snprintf(path, sizeof path, "%s/PairAnnotation/test/%06d-%s-%s:%s.json", g_root, id, s, t, cat);
    char *j = gc_strfmt("{\"category\": \"%s\", \"src_imname\": \"%s.jpg\", \"trg_imname\": \"%s.jpg\", "
                        "\"src_bndbox\": [%d, %d, %d, %d], \"trg_bndbox\": [%d, %d, %d, %d], \"src_imsize\": [%d, %d, 3], "
                        "\"trg_imsize\": [%d, %d, 3]}",
                        cat, s, t, sb[0], sb[1], sb[2], sb[3], tb[0], tb[1], tb[2], tb[3], sz[0], sz[1], sz[2], sz[3]);
    write_text(path, j);
    free(j);
}

/* bottle/a (the pattern), bottle/b (a turned a quarter counter-clockwise, keypoints and box turned with
 * it), cow/antelope (the photo of the SAM fixtures with the box its canvas960 case used). */
static const int k_akps[4][2] = {{20, 10}, {50, 40}, {90, 60}, {30, 55}};
static const int k_abox[4] = {15, 5, 95, 65};

static int setup(void **st) {
    (void)st;
    snprintf(g_tmp, sizeof g_tmp, "%s", gct_tmpdir("extract_masks"));
    snprintf(g_root, sizeof g_root, "%s/SPair-71k", g_tmp);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_tmp);
    const char *dirs[] = {"JPEGImages/bottle", "JPEGImages/cow", "ImageAnnotation/bottle", "ImageAnnotation/cow",
                          "PairAnnotation/test"};
    for (int i = 0; i < 5; i++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", g_root, dirs[i]);
        mkdirs(p);
    }
    gc_image a, b;
    make_bottle(&a);
    assert_int_equal(gc_image_pose(&a, GC_POSE_ROT90, &b), GC_OK);
    /* PNG bytes under .jpg names (images are recognised by content): lossless, so b is exactly a turned */
    assert_int_equal(gc_image_save_png(gct_path(g_root, "JPEGImages/bottle/a.jpg"), &a), GC_OK);
    assert_int_equal(gc_image_save_png(gct_path(g_root, "JPEGImages/bottle/b.jpg"), &b), GC_OK);
    gc_image_free(&a), gc_image_free(&b);
    int bk[4][2], bbox[4] = {k_abox[1], AW - k_abox[2], k_abox[3], AW - k_abox[0]};
    for (int i = 0; i < 4; i++) bk[i][0] = k_akps[i][1], bk[i][1] = AW - k_akps[i][0]; /* (x, y) -> (y, w - x) */
    write_image_json("bottle", "a", AW, AH, k_abox, k_akps, 4);
    write_image_json("bottle", "b", AH, AW, bbox, (const int (*)[2])bk, 4);
    write_pair(1, "bottle", "a", "b", k_abox, bbox, (const int[4]){AW, AH, AH, AW});
    char *photo;
    size_t len;
    assert_int_equal(gc_read_file(gct_fixture("images/antelope.jpg"), &photo, &len, 1 << 24), GC_OK);
    gct_write_file(gct_path(g_root, "JPEGImages/cow/antelope.jpg"), photo, len);
    free(photo);
    const int abox[4] = {212, 60, 690, 722}, akp[2][2] = {{300, 200}, {600, 500}}; /* sam_summary.json canvas960 */
    write_image_json("cow", "antelope", 1024, 768, abox, akp, 2);
    write_pair(2, "cow", "antelope", "antelope", abox, abox, (const int[4]){1024, 768, 1024, 768});
    /* the tiny models as folders */
    snprintf(g_sam, sizeof g_sam, "%s/sam", g_tmp);
    snprintf(g_dino, sizeof g_dino, "%s/dino", g_tmp);
    mkdir(g_sam, 0755), mkdir(g_dino, 0755);
    assert_int_equal(symlink(gct_fixture("sam/sam_tiny.config.json"), gct_path(g_sam, "config.json")), 0);
    assert_int_equal(symlink(gct_fixture("sam/sam_tiny.model.safetensors"), gct_path(g_sam, "model.safetensors")), 0);
    assert_int_equal(symlink(gct_fixture("dinov2_tiny.config.json"), gct_path(g_dino, "config.json")), 0);
    assert_int_equal(symlink(gct_fixture("dinov2_tiny.model.safetensors"), gct_path(g_dino, "model.safetensors")), 0);
    return 0;
}

/* The masks of image `rel` (all poses in `poses`) against `geocorr mask` on its 960 canvas with `box`
 * (original pixels) mapped; the other poses are that mask mirrored / turned (pixel centres through
 * turn maps written here). Returns the original mask (0/1). */
static uint8_t *expect_masks(const char *cache, const char *images, const char *rel, const float box[4], unsigned poses) {
    char ip[1400];
    snprintf(ip, sizeof ip, "%s/%s", images, rel);
    float b[4];
    uint8_t *want = gct_sam_canvas_mask(g_sam, ip, box, g_tmp, b), on = 0;
    char *p0 = gc_cache_mask_path(cache, rel, GC_POSE_ORIGINAL);
    uint8_t *got = gct_read_canvas_mask(p0);
    assert_memory_equal(got, want, 960 * 960);
    int n_on = 0;
    for (int i = 0; i < 960 * 960; i++) n_on += want[i], on |= want[i];
    int checked = 1;
    for (int pose = GC_POSE_FLIP; pose < GC_N_POSES; pose++) {
        char *pp = gc_cache_mask_path(cache, rel, pose);
        if (!(poses >> pose & 1)) {
            assert_false(gc_file_exists(pp));
            free(pp);
            continue;
        }
        uint8_t *g = gct_read_canvas_mask(pp);
        for (int y = 0; y < 960; y++)
            for (int x = 0; x < 960; x++) {
                double cx = x + 0.5, cy = y + 0.5, ox = cx, oy = cy; /* where pixel (x, y) of the mask goes */
                if (pose == GC_POSE_FLIP) ox = 960 - cx;
                else if (pose == GC_POSE_ROT90) ox = cy, oy = 960 - cx;
                else if (pose == GC_POSE_ROT180) ox = 960 - cx, oy = 960 - cy;
                else ox = 960 - cy, oy = cx;
                if (g[(int)oy * 960 + (int)ox] != want[y * 960 + x]) fail_msg("%s: pixel (%d, %d) not turned", pp, x, y);
            }
        free(g), free(pp);
        checked++;
    }
    printf("  %s: %d mask file(s) = geocorr mask on the canvas with box (%.6g, %.6g, %.6g, %.6g) and its turns; %d pixels on\n",
           rel, checked, b[0], b[1], b[2], b[3], n_on);
    assert_true(on && n_on < 960 * 960); /* a real mask, not empty or full */
    free(p0), free(got);
    return want;
}

static const char *summary_line(void) {
    const char *s = strstr(gct_last_stderr(), "extract: shard");
    return s ? s : gct_last_stderr();
}

/* The antelope mask is the reference's: the fixture's canvas960 decisions outside its tie band. */
static void expect_reference_antelope(const uint8_t *got) {
    const float box[4] = {212, 60, 690, 722}, want_box[4] = {198.75f, 176.25f, 646.875f, 796.875f};
    float b[4];
    assert_int_equal(gc_mask_box_to_canvas(box, 1024, 768, b), GC_OK);
    assert_memory_equal(b, want_box, sizeof b); /* exact: sam_summary.json cases.canvas960.box */
    gc_weights *ref = gct_open(gct_fixture("sam/sam_tiny.io.safetensors"));
    const gc_tensor_ref *ref_mask = gc_weights_find(ref, "canvas960.masks"); /* U8 [1, 960, 960], 0/1 */
    const gc_tensor_ref *ti = gc_weights_find(ref, "canvas960.masks_logits.tie_index");
    assert_non_null(ref_mask), assert_non_null(ti);
    const int64_t n = 960 * 960;
    assert_int_equal(ref_mask->numel, n);
    bool *tie = calloc((size_t)n, 1);
    for (int64_t k = 0; k < ti->numel; k++) {
        int64_t i;
        memcpy(&i, (const char *)ti->data + 8 * k, 8);
        assert_true(i >= 0 && i < n);
        tie[i] = true;
    }
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t w = ((const uint8_t *)ref_mask->data)[i];
        if (w != got[i]) {
            if (!tie[i]) fail_msg("antelope mask: pixel %lld differs from the reference outside the tie band", (long long)i);
            diff++;
        }
    }
    printf("  antelope: the reference's sam_tiny canvas960 mask, %lld of %lld pixels differ, all in the tie band (%lld)\n",
           (long long)diff, (long long)n, (long long)ti->numel);
    free(tie);
    gc_weights_free(ref);
}

static void test_spair_masks_and_poses(void **st) {
    (void)st;
    const char *ex = "extract --dataset spair --root '%s' --cache '%s' --dinov2 '%s' --flip --poses auto --masks --sam '%s' "
                     "--no-progress";
    if (gct_geocorr(ex, g_root, g_cache, g_dino, g_sam)) fail_msg("%s", gct_last_stderr());
    printf("  %s", summary_line());
    /* bottle a, b: 5 poses x (features + masks); the cow: original and flip */
    assert_non_null(strstr(gct_last_stderr(), "24 files: 24 computed"));
    char images[1300];
    snprintf(images, sizeof images, "%s/JPEGImages", g_root);
    const unsigned all = (1u << GC_N_POSES) - 1, flip = 3;
    const float abox[4] = {15, 5, 95, 65}, bbox[4] = {5, 5, 65, 85}, antbox[4] = {212, 60, 690, 722};
    free(expect_masks(g_cache, images, "bottle/a.jpg", abox, all));
    free(expect_masks(g_cache, images, "bottle/b.jpg", bbox, all));
    uint8_t *ant = expect_masks(g_cache, images, "cow/antelope.jpg", antbox, flip);
    expect_reference_antelope(ant);
    free(ant);
    /* the cow has no rotated features (auto: bottles only); a's rot90 features are b's features */
    char *p = gc_cache_path(g_cache, "cow/antelope.jpg", GC_POSE_ROT90);
    assert_false(gc_file_exists(p));
    free(p);
    char *pa = gc_cache_path(g_cache, "bottle/a.jpg", GC_POSE_ROT90), *pb = gc_cache_path(g_cache, "bottle/b.jpg", 0);
    gc_weights *wa = gct_open(pa), *wb = gct_open(pb);
    const gc_tensor_ref *da = gc_weights_find(wa, "dino"), *db = gc_weights_find(wb, "dino");
    assert_non_null(da), assert_non_null(db);
    assert_int_equal(da->numel, db->numel);
    assert_memory_equal(da->data, db->data, (size_t)da->numel * 4);
    assert_string_equal(gc_weights_meta(wa, "pose"), "rot90");
    assert_string_equal(gc_weights_meta(wa, "flip"), "0");
    assert_null(gc_weights_meta(wb, "pose"));
    printf("  bottle/a_rot90.safetensors: dino identical to the features of bottle/b (a turned), pose metadata rot90\n");
    gc_weights_free(wa), gc_weights_free(wb);
    free(pa), free(pb);

    /* a rerun skips everything; a removed mask is remade from the image's mask file, the same bytes */
    if (gct_geocorr(ex, g_root, g_cache, g_dino, g_sam)) fail_msg("%s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "24 files: 0 computed, 0 redone (invalid), 24 skipped"));
    char *m180 = gc_cache_mask_path(g_cache, "bottle/a.jpg", GC_POSE_ROT180), *before;
    size_t n0, n1;
    assert_int_equal(gc_read_file(m180, &before, &n0, 1 << 24), GC_OK);
    unlink(m180);
    char *bflip = gc_cache_mask_path(g_cache, "bottle/b.jpg", GC_POSE_FLIP);
    gct_write_file(bflip, "torn", 4); /* a foreign file: redone */
    free(bflip);
    if (gct_geocorr(ex, g_root, g_cache, g_dino, g_sam)) fail_msg("%s", gct_last_stderr());
    printf("  %s", summary_line());
    assert_non_null(strstr(gct_last_stderr(), "24 files: 1 computed, 1 redone (invalid), 22 skipped"));
    char *after;
    assert_int_equal(gc_read_file(m180, &after, &n1, 1 << 24), GC_OK);
    assert_true(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before), free(after), free(m180);
    /* --status counts the masks, no model loaded */
    char out[1400];
    snprintf(out, sizeof out, "%s/status.txt", g_tmp);
    if (gct_geocorr("extract --status --dataset spair --root '%s' --cache '%s' --flip --poses auto --masks > '%s'", g_root,
                    g_cache, out))
        fail_msg("%s", gct_last_stderr());
    char *text;
    size_t len;
    assert_int_equal(gc_read_file(out, &text, &len, 1 << 16), GC_OK);
    printf("%s", text);
    assert_non_null(strstr(text, "all: 24/24 done (masks 12/12) (complete)"));
    free(text);
    /* flags that go together */
    assert_int_not_equal(gct_geocorr("extract --dataset spair --root '%s' --cache '%s' --masks", g_root, g_cache), 0);
    assert_non_null(strstr(gct_last_stderr(), "--masks and --sam W go together"));
    assert_int_not_equal(gct_geocorr("extract --dataset spair --root '%s' --cache '%s' --poses flip,rot45 --dinov2 x", g_root,
                                     g_cache),
                         0);
    assert_non_null(strstr(gct_last_stderr(), "unknown pose 'rot45'"));
}

static char *slurp(const char *path, size_t *n) {
    char *b;
    if (gc_read_file(path, &b, n, 1 << 24) != GC_OK) fail_msg("%s", gc_last_error());
    return b;
}

/* eval on that cache: the pair a -> b (b = a turned) takes the rot90 pose, each point the centre of the
 * cell its turned 840-frame position falls in (the rotated source's descriptors are b's own); without
 * rotations the predictions are the flip-only ones; --align flip reads the rotated masks. */
static void test_eval_poses(void **st) {
    (void)st;
    char p1[1400], p2[1400], p3[1400];
    snprintf(p1, sizeof p1, "%s/pred_rot.json", g_tmp);
    snprintf(p2, sizeof p2, "%s/pred_default.json", g_tmp);
    snprintf(p3, sizeof p3, "%s/pred_flip.json", g_tmp);
    const char *ev = "eval --dataset spair --root '%s' --cache '%s' --hard %s --predictions-out '%s' >/dev/null";
    if (gct_geocorr(ev, g_root, g_cache, "--align mnn --poses auto", p1)) fail_msg("%s", gct_last_stderr());
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, g_root, "test", GC_AP10K_INTRA), GC_OK);
    cJSON *j = gct_load_json(p1);
    const cJSON *e;
    int checked = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "pairs")) {
        if (strcmp(cJSON_GetObjectItem(e, "src")->valuestring, "bottle/a.jpg") != 0) continue;
        const gc_eval_pair *p = &set.pairs[gc_eval_set_find(&set, "bottle/a.jpg", "bottle/b.jpg")];
        for (int k = 0; k < 4; k++) {
            /* (x, y) -> (y, 840 - x): the canvas turned a quarter counter-clockwise */
            const double qx = p->src_kps[k][1], qy = 840.0 - p->src_kps[k][0];
            const float f = (float)(60.0 / 840);
            const cJSON *xy = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "pred"), k);
            const double px = cJSON_GetArrayItem(xy, 0)->valuedouble, py = cJSON_GetArrayItem(xy, 1)->valuedouble;
            assert_true(px == 14.0 * (int)((float)qx * f) + 7 && py == 14.0 * (int)((float)qy * f) + 7);
            /* ... within half a cell and the centring pixel of b's own keypoint */
            assert_true(fabs(px - p->trg_kps[k][0]) <= 8 && fabs(py - p->trg_kps[k][1]) <= 8);
            checked++;
        }
    }
    assert_int_equal(checked, 4);
    printf("  eval --align mnn --poses auto: bottle a -> b (b = a turned) matched from rot90, 4 of 4 points on their "
           "turned cells\n");
    cJSON_Delete(j);
    gc_eval_set_free(&set);
    /* without rotations: --poses flip and no --poses give the same bytes (IMD with the masks) */
    if (gct_geocorr(ev, g_root, g_cache, "--align flip", p2)) fail_msg("%s", gct_last_stderr());
    if (gct_geocorr(ev, g_root, g_cache, "--align flip --poses flip", p3)) fail_msg("%s", gct_last_stderr());
    size_t n2, n3;
    char *b2 = slurp(p2, &n2), *b3 = slurp(p3, &n3);
    assert_true(n2 == n3 && memcmp(b2, b3, n2) == 0);
    free(b2), free(b3);
    /* IMD over the rotations reads their masks: runs, and names a missing one */
    if (gct_geocorr(ev, g_root, g_cache, "--align flip --poses auto", p3)) fail_msg("%s", gct_last_stderr());
    char *m90 = gc_cache_mask_path(g_cache, "bottle/a.jpg", GC_POSE_ROT90);
    unlink(m90);
    assert_int_not_equal(gct_geocorr(ev, g_root, g_cache, "--align flip --poses auto", p3), 0);
    printf("  %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), m90));
    assert_non_null(strstr(gct_last_stderr(), "instance mask missing"));
    free(m90);
    assert_int_not_equal(gct_geocorr(ev, g_root, g_cache, "--poses auto", p3), 0);
    assert_non_null(strstr(gct_last_stderr(), "--align flip or mnn"));
}

/* AP-10K boxes are bbox [x, y, w, h] as corners; PF-Pascal's the box of the keypoints (the union over an
 * image's pairs): the masks-only extraction of both mini sets makes exactly those masks. */
static void test_other_datasets(void **st) {
    (void)st;
    char root[1200], cache[1300], images[1300];
    /* AP-10K: the bbox of the image annotation */
    snprintf(root, sizeof root, "%s/minidata/data/ap-10k", gct_fixtures());
    snprintf(cache, sizeof cache, "%s/cache_ap10k", g_tmp);
    snprintf(images, sizeof images, "%s/JPEGImages", root);
    /* (shard 0 of 4: the first of the four sorted images, Felidae/cat/000000001001) */
    if (gct_geocorr("extract --dataset ap10k --subset cross-species --root '%s' --cache '%s' --masks --sam '%s' --shard 0/4 "
                    "--no-progress", root, cache, g_sam))
        fail_msg("%s", gct_last_stderr());
    printf("  %s", summary_line());
    assert_non_null(strstr(gct_last_stderr(), "1 files: 1 computed"));
    char jp[1400];
    snprintf(jp, sizeof jp, "%s/ImageAnnotation/Felidae/cat/000000001001.json", root);
    cJSON *j = gct_load_json(jp);
    const cJSON *bb = cJSON_GetObjectItem(j, "bbox");
    double x = cJSON_GetArrayItem(bb, 0)->valuedouble, y = cJSON_GetArrayItem(bb, 1)->valuedouble;
    const float box[4] = {(float)x, (float)y, (float)(x + cJSON_GetArrayItem(bb, 2)->valuedouble),
                          (float)(y + cJSON_GetArrayItem(bb, 3)->valuedouble)};
    cJSON_Delete(j);
    free(expect_masks(cache, images, "Felidae/cat/000000001001.jpg", box, 1));
    /* PF-Pascal: the box of the source keypoints of the CSV row that names the image */
    snprintf(root, sizeof root, "%s/minidata/data/PF-dataset-PASCAL", gct_fixtures());
    snprintf(cache, sizeof cache, "%s/cache_pf", g_tmp);
    snprintf(images, sizeof images, "%s/JPEGImages", root);
    /* (shard 0 of 5: 2097_000001 and 2097_000006 of the ten) */
    if (gct_geocorr("extract --dataset pfpascal --root '%s' --cache '%s' --masks --sam '%s' --flip --shard 0/5 --no-progress",
                    root, cache, g_sam))
        fail_msg("%s", gct_last_stderr());
    printf("  %s", summary_line());
    assert_non_null(strstr(gct_last_stderr(), "4 files: 4 computed"));
    char *csv;
    size_t len;
    snprintf(jp, sizeof jp, "%s/test_pairs_pf_pascal.csv", root);
    assert_int_equal(gc_read_file(jp, &csv, &len, 1 << 20), GC_OK);
    char *row = strstr(csv, "\nPF-dataset-PASCAL/JPEGImages/2097_000001.jpg,");
    assert_non_null(row);
    char *f[7], *save = NULL;
    f[0] = strtok_r(row + 1, ",\n", &save);
    for (int i = 1; i < 7; i++) f[i] = strtok_r(NULL, ",\n", &save);
    float pbox[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (char *xs = f[3], *ys = f[4]; *xs;) {
        float px = strtof(xs, &xs), py = strtof(ys, &ys);
        pbox[0] = fminf(pbox[0], px), pbox[1] = fminf(pbox[1], py), pbox[2] = fmaxf(pbox[2], px), pbox[3] = fmaxf(pbox[3], py);
        if (*xs == ';') xs++, ys++;
    }
    free(csv);
    free(expect_masks(cache, images, "2097_000001.jpg", pbox, 3));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spair_masks_and_poses),
        cmocka_unit_test(test_eval_poses),
        cmocka_unit_test(test_other_datasets),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
