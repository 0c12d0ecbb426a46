/* geocorr eval on broken datasets and prediction files: every failure is a clear message naming the
 * file at fault, a non-zero exit, and no report written. Works on a copy of the fixtures' minidata in
 * a temporary folder. Also reads PF-Pascal training keypoints from the MATLAB files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "data/dataset.h"

static char g_root[1200]; /* <tmp>/data */

static void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

static int setup(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("eval_bad");
    snprintf(g_root, sizeof g_root, "%s/data", tmp);
    sh("cp -r '%s/minidata/data' '%s/'", gct_fixtures(), tmp);
    return 0;
}

static const char *P_OK = "{\"frame\":\"anno840\",\"pairs\":[{\"src\":\"cat/2099_000001.jpg\",\"trg\":\"cat/2099_000002.jpg\","
                          "\"pred\":[[1,2],[3,4],null,null,null,null,null,null,null,null,null,null,null,null,null,"
                          "null,null,null,null,null,null,null,null,null,null,null,null,null,null,null]}]}";

/* Run eval on SPair with predictions text P; expect failure whose message contains `needle`. */
static void expect_fail(const char *P, const char *needle) {
    char pp[1400], out[1400];
    snprintf(pp, sizeof pp, "%s/../p.json", g_root);
    snprintf(out, sizeof out, "%s/../out.json", g_root);
    remove(out);
    gct_write_file(pp, P, strlen(P));
    int rc = gct_geocorr("eval --dataset spair --root '%s/SPair-71k' --from-predictions '%s' --geo --json '%s'", g_root, pp, out);
    const char *err = gct_last_stderr();
    printf("  rc %d: %s", rc, err);
    assert_true(rc > 0 && rc < 128);
    if (!strstr(err, needle)) fail_msg("message lacks '%s': %s", needle, err);
    assert_false(gc_file_exists(out));
}

static void test_good_baseline(void **st) {
    (void)st;
    char pp[1400], out[1400];
    snprintf(pp, sizeof pp, "%s/../p.json", g_root);
    snprintf(out, sizeof out, "%s/../out.json", g_root);
    gct_write_file(pp, P_OK, strlen(P_OK));
    assert_int_equal(gct_geocorr("eval --dataset spair --root '%s/SPair-71k' --from-predictions '%s' --geo --json '%s'", g_root, pp, out), 0);
    assert_true(gc_file_exists(out));
}

static void test_bad_predictions(void **st) {
    (void)st;
    expect_fail("{\"frame\":\"anno840\",\"pairs\":[", "malformed JSON");
    expect_fail("{\"frame\":\"cells\",\"pairs\":[]}", "'frame'");
    expect_fail("{\"frame\":\"anno840\",\"pairs\":[{\"src\":\"cat/x.jpg\",\"trg\":\"cat/2099_000002.jpg\",\"pred\":[]}]}",
                "not a pair of this split");
    expect_fail("{\"frame\":\"anno840\",\"pairs\":[{\"src\":\"cat/2099_000001.jpg\",\"trg\":\"cat/2099_000002.jpg\",\"pred\":[[1,2]]}]}",
                "must list 30 entries");
    expect_fail("{\"frame\":\"anno840\",\"pairs\":[{\"src\":\"cat/2099_000001.jpg\",\"trg\":\"cat/2099_000002.jpg\",\"pred\":"
                "[[1,\"a\"],null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,"
                "null,null,null,null,null,null,null,null,null,null]}]}",
                "pred[0]");
}

static void test_bad_layouts(void **st) {
    (void)st;
    char sp[1300];
    snprintf(sp, sizeof sp, "%s/SPair-71k", g_root);
    /* a pair JSON naming a missing image */
    sh("mv '%s/JPEGImages/cat/2099_000003.jpg' '%s/JPEGImages/cat/moved.jpg'", sp, sp);
    expect_fail(P_OK, "2099_000003.jpg, which is missing");
    sh("mv '%s/JPEGImages/cat/moved.jpg' '%s/JPEGImages/cat/2099_000003.jpg'", sp, sp);
    /* malformed annotation JSON */
    sh("cp '%s/ImageAnnotation/cat/2099_000004.json' '%s/../keep.json'", sp, g_root);
    sh("printf '{\"kps\": [' > '%s/ImageAnnotation/cat/2099_000004.json'", sp);
    expect_fail(P_OK, "2099_000004.json: malformed JSON");
    /* keypoint out of range */
    sh("sed 's/\"0\": \\[[0-9]*, [0-9]*\\]/\"0\": [99999, 5]/' '%s/../keep.json' > '%s/ImageAnnotation/cat/2099_000004.json'", g_root, sp);
    expect_fail(P_OK, "keypoint 0 (99999, 5) out of range");
    sh("cp '%s/../keep.json' '%s/ImageAnnotation/cat/2099_000004.json'", g_root, sp);
    /* missing split folder */
    sh("mv '%s/PairAnnotation/test' '%s/PairAnnotation/tst'", sp, sp);
    expect_fail(P_OK, "PairAnnotation/test: folder missing (expected SPair-71k layout");
    sh("mv '%s/PairAnnotation/tst' '%s/PairAnnotation/test'", sp, sp);
    /* a pair file whose category disagrees with its name */
    sh("cd '%s/PairAnnotation/test' && sed 's/\"category\": \"cat\"/\"category\": \"dog\"/' '001001-2099_000001-2099_000002:cat.json' > x && "
       "mv x '001001-2099_000001-2099_000002:cat.json'", sp);
    expect_fail(P_OK, "'category' is \"dog\", expected \"cat\"");
}

/* PF-Pascal training keypoints come from Annotations/<class>/<image>.mat (MATLAB v5, `kps` N x 2). */
static void test_pfpascal_mat(void **st) {
    (void)st;
    char root[1300];
    snprintf(root, sizeof root, "%s/PF-dataset-PASCAL", g_root);
    sh("printf 'source_image,target_image,class\\nPF-dataset-PASCAL/JPEGImages/2097_000001.jpg,"
       "PF-dataset-PASCAL/JPEGImages/2097_000002.jpg,7\\n' > '%s/train_pairs_pf_pascal.csv'", root);
    gc_eval_set tr, te;
    gc_status s = gc_eval_set_load(&tr, GC_DS_PFPASCAL, root, "train", GC_AP10K_INTRA);
#ifndef GEOCORR_HAVE_MATIO
    assert_int_equal(s, GC_ERR_UNSUPPORTED);
    return;
#endif
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    assert_int_equal(gc_eval_set_load(&te, GC_DS_PFPASCAL, root, "test", GC_AP10K_INTRA), GC_OK);
    int i = gc_eval_set_find(&tr, "2097_000001.jpg", "2097_000002.jpg"), j = gc_eval_set_find(&te, "2097_000001.jpg", "2097_000002.jpg");
    assert_true(i >= 0 && j >= 0);
    /* the .mat files hold the same annotation as the test CSV: identical keypoints in the 840 frame */
    int vis = 0;
    for (int k = 0; k < 20; k++)
        for (int q = 0; q < 3; q++) {
            assert_true(tr.pairs[i].src_kps[k][q] == te.pairs[j].src_kps[k][q]);
            assert_true(tr.pairs[i].trg_kps[k][q] == te.pairs[j].trg_kps[k][q]);
            vis += q == 2 && tr.pairs[i].src_kps[k][2] != 0;
        }
    printf("  PF-Pascal .mat keypoints == CSV keypoints (%d visible)\n", vis);
    assert_true(vis > 0);
    gc_eval_set_free(&tr);
    gc_eval_set_free(&te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_baseline),
        cmocka_unit_test(test_bad_predictions),
        cmocka_unit_test(test_bad_layouts),
        cmocka_unit_test(test_pfpascal_mat),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
