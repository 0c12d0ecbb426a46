/* geocorr eval on the feature cache: an "oracle" cache (one channel per keypoint id, lit at the
 * keypoint's cell) must make hard argmax land exactly on the centre of each target keypoint's cell,
 * read back identically through --predictions-out / --from-predictions (PCK and the --errors breakdown);
 * the flip alignment (MNN) runs; files of two models in one cache are refused; predictions do not
 * depend on the thread count or on the in-memory descriptor budget (a budget below one category's
 * images evicts and reloads). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "data/dataset.h"
#include "io/config.h"
#include "io/prng_weights.h"
#include "io/safetensors.h"
#include "pipeline/feature_cache.h"

static char g_root[1200];

static void write_oracle(const char *cache, const char *rel, const float (*kps)[3], int nk, int flip, const char *model) {
    int C = nk + 1;
    float *m = calloc((size_t)C * 3600, sizeof(float));
    for (int i = 0; i < 3600; i++) m[(size_t)nk * 3600 + i] = 0.1f;
    for (int j = 0; j < nk; j++) {
        if (kps[j][2] == 0) continue;
        int col = (int)(kps[j][0] * (float)(60.0 / 840)), row = (int)(kps[j][1] * (float)(60.0 / 840));
        if (flip) col = 59 - col;
        m[(size_t)j * 3600 + row * 60 + col] = 1;
    }
    char *path = gc_cache_path(cache, rel, flip);
    char dir[1400];
    snprintf(dir, sizeof dir, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(dir), 0);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "dino", m, C, 60, 60), GC_OK);
    assert_int_equal(gc_st_writer_meta(wr, "model", model), GC_OK);
    assert_int_equal(gc_st_writer_meta(wr, "flip", flip ? "1" : "0"), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
    free(path), free(m);
}

static void test_oracle_cache(void **st) {
    (void)st;
    snprintf(g_root, sizeof g_root, "%s/minidata/data/SPair-71k", gct_fixtures());
    const char *cache = gct_tmpdir("eval_cache");
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, g_root, "test", GC_AP10K_INTRA), GC_OK);
    for (int i = 0; i < set.n_pairs; i++)
        for (int flip = 0; flip < 2; flip++) {
            write_oracle(cache, set.pairs[i].src, (const float (*)[3])set.pairs[i].src_kps, 30, flip, "oracle");
            write_oracle(cache, set.pairs[i].trg, (const float (*)[3])set.pairs[i].trg_kps, 30, flip, "oracle");
        }
    char pout[1300], j1[1300], j2[1300];
    snprintf(pout, sizeof pout, "%s/pred.json", cache);
    snprintf(j1, sizeof j1, "%s/r1.json", cache);
    snprintf(j2, sizeof j2, "%s/r2.json", cache);
    int rc = gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --hard --geo --errors --predictions-out '%s' "
                         "--json '%s'", g_root, cache, pout, j1);
    if (rc) fail_msg("%s", gct_last_stderr());
    cJSON *P;
    assert_int_equal(gc_json_load(pout, &P), GC_OK);
    int exact = 0, checked = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(P, "pairs")) {
        int k = gc_eval_set_find(&set, cJSON_GetObjectItem(e, "src")->valuestring, cJSON_GetObjectItem(e, "trg")->valuestring);
        assert_true(k >= 0);
        const gc_eval_pair *p = &set.pairs[k];
        for (int j = 0; j < 30; j++) {
            if (p->src_kps[j][2] * p->trg_kps[j][2] <= 0) continue;
            /* unique lit cell per id in the target: the argmax is that cell */
            int col = (int)(p->trg_kps[j][0] * (float)(60.0 / 840)), row = (int)(p->trg_kps[j][1] * (float)(60.0 / 840));
            const cJSON *xy = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "pred"), j);
            assert_true(cJSON_IsArray(xy));
            checked++;
            exact += cJSON_GetArrayItem(xy, 0)->valuedouble == 14.0 * col + 7 && cJSON_GetArrayItem(xy, 1)->valuedouble == 14.0 * row + 7;
        }
    }
    printf("  oracle cache, hard argmax: %d of %d mutually visible keypoints at their target cell centre\n", exact, checked);
    assert_int_equal(exact, checked);
    cJSON_Delete(P);
    /* the written predictions score identically through --from-predictions, error breakdown included */
    rc = gct_geocorr("eval --dataset spair --root '%s' --from-predictions '%s' --geo --errors --json '%s'", g_root, pout, j2);
    assert_int_equal(rc, 0);
    size_t n1, n2;
    char *a, *b;
    assert_int_equal(gc_read_file(j1, &a, &n1, 1 << 24), GC_OK);
    assert_int_equal(gc_read_file(j2, &b, &n2, 1 << 24), GC_OK);
    assert_true(n1 == n2 && memcmp(a, b, n1) == 0);
    assert_non_null(strstr(a, "\"pck_dagger\""));
    free(a), free(b);
    /* flip alignment (mask-free) and window soft-argmax run on the cache */
    rc = gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --window 5 --align mnn --sample 3", g_root, cache);
    if (rc) fail_msg("%s", gct_last_stderr());
    /* a file of another model in the same cache is refused */
    write_oracle(cache, set.pairs[0].trg, (const float (*)[3])set.pairs[0].trg_kps, 30, 0, "other-model");
    rc = gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --json '%s/r3.json'", g_root, cache, cache);
    printf("  %s", gct_last_stderr());
    assert_true(rc != 0);
    assert_non_null(strstr(gct_last_stderr(), "features of model 'other-model', but other files of the cache are 'oracle'"));
    gc_eval_set_free(&set);
}

static char *slurp(const char *path, size_t *n) {
    char *b;
    assert_int_equal(gc_read_file(path, &b, n, 1 << 24), GC_OK);
    return b;
}

/* Random-valued maps (ties improbable), window soft-argmax without and with MNN alignment: the same bytes with
 * 1 or 2 threads and with a budget of 1 MiB (each descriptor then evicts the previous pair's). */
static void test_threads_and_budget(void **st) {
    (void)st;
    snprintf(g_root, sizeof g_root, "%s/minidata/data/SPair-71k", gct_fixtures());
    const char *cache = gct_tmpdir("eval_cache_threads");
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, g_root, "test", GC_AP10K_INTRA), GC_OK);
    float *m = malloc((size_t)16 * 3600 * sizeof(float));
    for (int i = 0; i < set.n_pairs; i++)
        for (int side = 0; side < 2; side++)
            for (int flip = 0; flip < 2; flip++) {
                const char *rel = side ? set.pairs[i].trg : set.pairs[i].src;
                char *path = gc_cache_path(cache, rel, flip), seed[600];
                snprintf(seed, sizeof seed, "%s.%d", rel, flip);
                gc_prng_fill(seed, 3, -1.0, 1.0, m, 16 * 3600);
                char dir[1400];
                snprintf(dir, sizeof dir, "%s", path);
                for (char *q = dir + strlen(cache) + 1; *q; q++)
                    if (*q == '/') *q = 0, mkdir(dir, 0755), *q = '/';
                gc_st_writer *wr = gc_st_writer_new();
                assert_int_equal(GC_ST_ADD_F32(wr, "dino", m, 16, 60, 60), GC_OK);
                assert_int_equal(gc_st_writer_meta(wr, "model", "random"), GC_OK);
                assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
                gc_st_writer_free(wr);
                free(path);
            }
    free(m);
    const char *runs[3] = {"--threads 1", "--threads 2", "--threads 2 --cache-mem 1 --no-progress"};
    const char *modes[2] = {"--window 5", "--window 5 --align mnn"}; /* stacked GEMM per target; pairs in parallel */
    for (int md = 0; md < 2; md++) {
        char *first = NULL;
        size_t n0 = 0;
        for (int r = 0; r < 3; r++) {
            char out[1300];
            snprintf(out, sizeof out, "%s/pred%d%d.json", cache, md, r);
            int rc = gct_geocorr("eval --dataset spair --root '%s' --cache '%s' %s %s --predictions-out '%s'", g_root, cache,
                                 modes[md], runs[r], out);
            if (rc) fail_msg("%s", gct_last_stderr());
            /* progress lines unless --no-progress */
            assert_true((strstr(gct_last_stderr(), " pairs (") == NULL) == (r == 2));
            size_t n;
            char *b = slurp(out, &n);
            if (!first) first = b, n0 = n;
            else {
                assert_true(n == n0 && memcmp(first, b, n) == 0);
                free(b);
            }
        }
        free(first);
    }
    printf("  predictions identical with 1 and 2 threads and a 1 MiB descriptor budget (%d pairs)\n", set.n_pairs);
    gc_eval_set_free(&set);
}

/* The supervised recipe on the cache: eval --cache --postproc (the tiny post-processor fixture, random
 * s3 / s4 / s5 / dino maps of its widths for every image of the mini SPair test split) predicts exactly
 * what `geocorr match --postproc` on the same feature files predicts for each pair, and the report
 * equals scoring those match predictions (--from-predictions) byte for byte. */
static const int64_t k_pp_shape[4][3] = {{64, 60, 60}, {96, 30, 30}, {96, 15, 15}, {128, 60, 60}};

static void write_pp_maps(const char *cache, const char *rel) {
    static const char *const names[4] = {"s3", "s4", "s5", "dino"};
    char *path = gc_cache_path(cache, rel, 0);
    if (gc_file_exists(path)) return free(path);
    for (char *q = path + strlen(cache) + 1; *q; q++)
        if (*q == '/') *q = 0, mkdir(path, 0755), *q = '/';
    gc_st_writer *wr = gc_st_writer_new();
    float *m[4];
    for (int i = 0; i < 4; i++) {
        const int64_t n = k_pp_shape[i][0] * k_pp_shape[i][1] * k_pp_shape[i][2];
        char seed[600];
        snprintf(seed, sizeof seed, "%s.%s", rel, names[i]);
        m[i] = malloc((size_t)n * sizeof(float));
        gc_prng_fill(seed, 5, 0.0, 1.0, m[i], n);
        assert_int_equal(gc_st_writer_add(wr, names[i], GC_DT_F32, 3, k_pp_shape[i], m[i]), GC_OK);
    }
    assert_int_equal(gc_st_writer_meta(wr, "model", "random-pp"), GC_OK);
    assert_int_equal(gc_st_writer_meta(wr, "flip", "0"), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
    for (int i = 0; i < 4; i++) free(m[i]);
    free(path);
}

static void test_postproc_equals_match(void **st) {
    (void)st;
    snprintf(g_root, sizeof g_root, "%s/minidata/data/SPair-71k", gct_fixtures());
    const char *cache = gct_tmpdir("eval_cache_pp"), *pp = gct_fixture("geoaware_postproc_tiny.model.safetensors");
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, g_root, "test", GC_AP10K_INTRA), GC_OK);
    for (int i = 0; i < set.n_pairs; i++) write_pp_maps(cache, set.pairs[i].src), write_pp_maps(cache, set.pairs[i].trg);
    char p_eval[1300], r_eval[1300], p_match[1300], r_match[1300];
    snprintf(p_eval, sizeof p_eval, "%s/pred_eval.json", cache);
    snprintf(r_eval, sizeof r_eval, "%s/report_eval.json", cache);
    snprintf(p_match, sizeof p_match, "%s/pred_match.json", cache);
    snprintf(r_match, sizeof r_match, "%s/report_match.json", cache);
    if (gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --postproc '%s' --geo --predictions-out '%s' --json '%s'",
                    g_root, cache, pp, p_eval, r_eval) != 0)
        fail_msg("eval --postproc: %s", gct_last_stderr());
    /* the progress display: plain lines when stderr is not a terminal */
    assert_non_null(strstr(gct_last_stderr(), "eval 12/12 pairs (100%)"));
    cJSON *pe = gct_load_json(p_eval), *preds = cJSON_CreateObject(), *pairs = cJSON_AddArrayToObject(preds, "pairs");
    cJSON_AddStringToObject(preds, "frame", "anno840");
    int compared = 0;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/PairAnnotation/test", g_root);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        cJSON *ann = gct_load_json(gct_path(dir, e->d_name));
        const char *cat = cJSON_GetObjectItem(ann, "category")->valuestring;
        char src[256], trg[256];
        snprintf(src, sizeof src, "%s/%s", cat, cJSON_GetObjectItem(ann, "src_imname")->valuestring);
        snprintf(trg, sizeof trg, "%s/%s", cat, cJSON_GetObjectItem(ann, "trg_imname")->valuestring);
        /* the source keypoints in pixels with their ids: the points file of geocorr match */
        cJSON *pts = cJSON_CreateArray();
        const cJSON *kps = cJSON_GetObjectItem(ann, "src_kps"), *ids = cJSON_GetObjectItem(ann, "kps_ids");
        for (int k = 0; k < cJSON_GetArraySize(kps); k++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "x", cJSON_GetArrayItem(cJSON_GetArrayItem(kps, k), 0)->valuedouble);
            cJSON_AddNumberToObject(p, "y", cJSON_GetArrayItem(cJSON_GetArrayItem(kps, k), 1)->valuedouble);
            cJSON_AddNumberToObject(p, "id", atoi(cJSON_GetArrayItem(ids, k)->valuestring));
            cJSON_AddItemToArray(pts, p);
        }
        char *txt = cJSON_Print(pts), pfile[1300], out[1300];
        cJSON_Delete(pts);
        snprintf(pfile, sizeof pfile, "%s/points.json", cache);
        snprintf(out, sizeof out, "%s/match.json", cache);
        gct_write_file(pfile, txt, strlen(txt));
        free(txt);
        char *fs = gc_cache_path(cache, src, 0), *ft = gc_cache_path(cache, trg, 0);
        if (gct_geocorr("match '%s/JPEGImages/%s' '%s/JPEGImages/%s' --points-file '%s' --features-src '%s' --features-tgt '%s' "
                        "--postproc '%s' --align off --out '%s'", g_root, src, g_root, trg, pfile, fs, ft, pp, out) != 0)
            fail_msg("match --postproc: %s", gct_last_stderr());
        free(fs), free(ft);
        /* match_840 of each id = the eval's prediction for that keypoint, as float32 */
        cJSON *m = gct_load_json(out), *e_pair = NULL, *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(pe, "pairs"))
            if (!strcmp(cJSON_GetObjectItem(it, "src")->valuestring, src) && !strcmp(cJSON_GetObjectItem(it, "trg")->valuestring, trg))
                e_pair = it;
        assert_non_null(e_pair);
        cJSON *row = cJSON_CreateObject(), *pred = cJSON_AddArrayToObject(row, "pred");
        cJSON_AddStringToObject(row, "src", src);
        cJSON_AddStringToObject(row, "trg", trg);
        for (int j = 0; j < 30; j++) cJSON_AddItemToArray(pred, cJSON_CreateNull());
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(m, "points")) {
            const int id = (int)cJSON_GetObjectItem(it, "id")->valuedouble;
            const cJSON *xy = cJSON_GetObjectItem(it, "match_840"), *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(e_pair, "pred"), id);
            const float x = (float)cJSON_GetArrayItem(xy, 0)->valuedouble, y = (float)cJSON_GetArrayItem(xy, 1)->valuedouble;
            assert_true(cJSON_IsArray(ev));
            if (x != (float)cJSON_GetArrayItem(ev, 0)->valuedouble || y != (float)cJSON_GetArrayItem(ev, 1)->valuedouble)
                fail_msg("%s -> %s keypoint %d: match --postproc (%.9g, %.9g), eval --cache --postproc (%.9g, %.9g)", src, trg, id,
                         x, y, cJSON_GetArrayItem(ev, 0)->valuedouble, cJSON_GetArrayItem(ev, 1)->valuedouble);
            char buf[64];
            snprintf(buf, sizeof buf, "[%.9g, %.9g]", x, y);
            cJSON_ReplaceItemInArray(pred, id, cJSON_CreateRaw(buf));
            compared++;
        }
        cJSON_AddItemToArray(pairs, row);
        cJSON_Delete(m);
        cJSON_Delete(ann);
    }
    closedir(d);
    printf("  eval --cache --postproc == match --postproc on %d keypoints of %d pairs\n", compared, set.n_pairs);
    assert_true(compared >= set.n_pairs);
    char *txt = cJSON_Print(preds);
    gct_write_file(p_match, txt, strlen(txt));
    free(txt);
    cJSON_Delete(preds);
    cJSON_Delete(pe);
    if (gct_geocorr("eval --dataset spair --root '%s' --from-predictions '%s' --geo --json '%s'", g_root, p_match, r_match) != 0)
        fail_msg("eval --from-predictions: %s", gct_last_stderr());
    size_t n1, n2;
    char *a = slurp(r_eval, &n1), *b = slurp(r_match, &n2);
    assert_true(n1 == n2 && memcmp(a, b, n1) == 0);
    free(a), free(b);
    /* the flags' bad combinations */
    assert_int_not_equal(gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --postproc '%s' --map dino", g_root, cache, pp), 0);
    assert_non_null(strstr(gct_last_stderr(), "--postproc and --map exclude each other"));
    assert_int_not_equal(gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --groups 8", g_root, cache), 0);
    assert_non_null(strstr(gct_last_stderr(), "--groups N (N >= 1) goes with --postproc"));
    assert_int_not_equal(gct_geocorr("eval --dataset spair --root '%s/none' --cache '%s' --postproc '%s'", g_root, cache, pp), 0);
    assert_non_null(strstr(gct_last_stderr(), "none: no such dataset folder"));
    /* a post-processor of other widths names the map and the channels */
    assert_int_not_equal(gct_geocorr("eval --dataset spair --root '%s' --cache '%s' --postproc '%s' --groups 8", g_root, cache,
                                     gct_fixture("ckpt/postproc_tiny.PTH")), 0);
    printf("  %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "channels"));
    gc_eval_set_free(&set);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oracle_cache), cmocka_unit_test(test_threads_and_budget),
                                       cmocka_unit_test(test_postproc_equals_match)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
