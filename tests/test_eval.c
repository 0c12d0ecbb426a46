/* geocorr eval against the authors' own evaluation on the fixtures' mini datasets
 * (geoaware_eval_expected.json, minidata/): loaders (compacted keypoints, used points, thresholds),
 * the reference's test sampling, and `geocorr eval --from-predictions` for every stored configuration
 * (SPair, PF-Pascal, AP-10K intra- and cross-species); the error breakdown (`--errors`) against
 * errors_expected.json; every category listed in every table (n = 0 without pairs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "data/dataset.h"
#include "data/np_random.h"
#include "eval/errors.h"
#include "io/config.h"

static cJSON *g_exp;
static char g_mini[1024];

static int setup(void **st) {
    (void)st;
    snprintf(g_mini, sizeof g_mini, "%s/minidata/data", gct_fixtures());
    if (gc_json_load(gct_fixture("geoaware_eval_expected.json"), &g_exp) != GC_OK) fail_msg("%s", gc_last_error());
    return 0;
}
static int teardown(void **st) {
    (void)st;
    cJSON_Delete(g_exp);
    return 0;
}

static const cJSON *get(const cJSON *j, const char *path) {
    const cJSON *v = gc_json_get(j, path);
    if (!v) fail_msg("expected JSON lacks %s", path);
    return v;
}
static double num(const cJSON *j) { return cJSON_IsNull(j) ? NAN : j->valuedouble; }

typedef struct {
    const char *name, *dataset, *dir;
} config;

static void config_of(const cJSON *c, config *k) {
    const char *ds = get(c, "args.EVAL_DATASET")->valuestring;
    k->dataset = strcmp(ds, "pascal") == 0 ? "pfpascal" : ds;
    k->dir = strcmp(ds, "spair") == 0 ? "SPair-71k" : strcmp(ds, "ap10k") == 0 ? "ap-10k" : "PF-dataset-PASCAL";
}

static const char *rel_image(const char *fn) { return strstr(fn, "JPEGImages/") + strlen("JPEGImages/"); }

static gc_ap10k_subset subset_of(const cJSON *c) {
    gc_ap10k_subset s;
    assert_int_equal(gc_ap10k_subset_parse(get(c, "args.AP10K_EVAL_SUBSET")->valuestring, &s), GC_OK);
    return s;
}

/* Loader outputs: for each category, the reference's compacted keypoints [2N, used, 3], used points and
 * thresholds (float64) must come out identical (exact float32 / float64 equality). */
static void test_loaders(void **st) {
    (void)st;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(g_exp, "e2e")) {
        config k;
        config_of(c, &k);
        gc_dataset_kind kind;
        assert_int_equal(gc_dataset_kind_parse(k.dataset, &kind), GC_OK);
        char root[1200];
        snprintf(root, sizeof root, "%s/%s", g_mini, k.dir);
        gc_eval_set set;
        if (gc_eval_set_load(&set, kind, root, "test", subset_of(c)) != GC_OK) fail_msg("%s", gc_last_error());
        int checked = 0;
        const cJSON *cat;
        cJSON_ArrayForEach(cat, get(c, "categories")) {
            const cJSON *files = get(cat, "files"), *kps = get(cat, "kps"), *used = get(cat, "used_points");
            const cJSON *thr = cJSON_GetObjectItem(cat, "thresholds");
            int np = cJSON_GetArraySize(files) / 2, nu = cJSON_GetArraySize(used);
            int idx[64];
            assert_true(np <= 64);
            for (int i = 0; i < np; i++) {
                idx[i] = gc_eval_set_find(&set, rel_image(cJSON_GetArrayItem(files, 2 * i)->valuestring),
                                          rel_image(cJSON_GetArrayItem(files, 2 * i + 1)->valuestring));
                assert_true(idx[i] >= 0);
                assert_string_equal(set.pairs[idx[i]].category, get(cat, "category")->valuestring);
            }
            int u = 0;
            for (int j = 0; j < set.n_kps; j++) { /* used = visible in >= 1 image of the listed pairs */
                bool any = false;
                for (int i = 0; i < np; i++) any |= set.pairs[idx[i]].src_kps[j][2] != 0 || set.pairs[idx[i]].trg_kps[j][2] != 0;
                if (!any) continue;
                assert_true(u < nu);
                assert_int_equal(j, cJSON_GetArrayItem(used, u)->valueint);
                for (int i = 0; i < 2 * np; i++) {
                    const float *got = i % 2 ? set.pairs[idx[i / 2]].trg_kps[j] : set.pairs[idx[i / 2]].src_kps[j];
                    const cJSON *want = cJSON_GetArrayItem(cJSON_GetArrayItem(kps, i), u);
                    for (int q = 0; q < 3; q++) assert_true(got[q] == (float)cJSON_GetArrayItem(want, q)->valuedouble);
                }
                u++;
            }
            assert_int_equal(u, nu);
            if (cJSON_IsArray(thr))
                for (int i = 0; i < np; i++) assert_true(set.pairs[idx[i]].thr == cJSON_GetArrayItem(thr, i)->valuedouble);
            checked += np;
        }
        /* eval_spair.py's float32 thresholds (image annotation) */
        const cJSON *pp = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "eval_spair"), "per_pair");
        int i = 0;
        cJSON_ArrayForEach(cat, get(c, "categories")) {
            const cJSON *p;
            cJSON_ArrayForEach(p, get(cat, "pairs")) {
                int x = gc_eval_set_find(&set, rel_image(get(p, "src_fn")->valuestring), rel_image(get(p, "trg_fn")->valuestring));
                if (pp) assert_true(set.pairs[x].thr_img == (float)get(cJSON_GetArrayItem(pp, i), "thresholds")->valuedouble);
                i++;
            }
        }
        printf("  loaders %-34s %d pairs: keypoints, used points, thresholds identical\n",
               c->string, checked);
        gc_eval_set_free(&set);
    }
}

/* np.random.seed(42); np.random.choice(n, k): values printed by Debian's numpy 1.x (/usr/bin/python3). */
static void test_np_random(void **st) {
    (void)st;
    struct {
        int64_t n, k, want[5];
    } v[] = {{4, 3, {2, 3, 0}}, {12, 5, {6, 3, 10, 7, 4}}, {1, 3, {0, 0, 0}}, {1000, 4, {102, 435, 860, 270}},
             {70000, 3, {15795, 860, 54886}}};
    for (size_t i = 0; i < GC_COUNTOF(v); i++) {
        gc_np_random r;
        gc_np_random_seed(&r, 42);
        int64_t got[5];
        gc_np_random_choice(&r, v[i].n, v[i].k, got);
        for (int j = 0; j < v[i].k; j++) assert_int_equal(got[j], v[i].want[j]);
    }
    gc_np_random r;
    gc_np_random_seed(&r, 42); /* np.random.randint(0, 2**32, dtype=uint64)[0] draws one raw word */
    assert_int_equal(gc_np_random_u32(&r), 1608637542u);
}

/* TEST_SAMPLE=3 on SPair: the sampled pair files equal the reference loader's, in order. */
static void test_sampling(void **st) {
    (void)st;
    const cJSON *c = get(g_exp, "e2e.spair_test_sample3");
    char root[1200];
    snprintf(root, sizeof root, "%s/SPair-71k", g_mini);
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, root, "test", GC_AP10K_INTRA), GC_OK);
    int *idx, n;
    assert_int_equal(gc_eval_set_sample(&set, (int)get(c, "args.TEST_SAMPLE")->valueint, &idx, &n), GC_OK);
    int k = 0;
    const cJSON *cat;
    cJSON_ArrayForEach(cat, get(c, "categories")) {
        const cJSON *files = get(cat, "files");
        for (int i = 0; i < cJSON_GetArraySize(files) / 2; i++, k++) {
            assert_true(k < n);
            assert_string_equal(set.pairs[idx[k]].src, rel_image(cJSON_GetArrayItem(files, 2 * i)->valuestring));
            assert_string_equal(set.pairs[idx[k]].trg, rel_image(cJSON_GetArrayItem(files, 2 * i + 1)->valuestring));
        }
    }
    assert_int_equal(k, n);
    gc_free(idx);
    gc_eval_set_free(&set);
}

static double g_worst;
static void expect(const char *what, double got, double want, double tol) {
    bool ok = isnan(want) ? isnan(got) : fabs(got - want) <= tol;
    if (!isnan(want)) g_worst = fmax(g_worst, fabs(got - want));
    if (!ok) fail_msg("%s: got %.17g want %.17g (tol %.3g)", what, got, want, tol);
}

/* alpha values of an output object in the order of the expected triple */
static void expect3(const char *what, const cJSON *o, const cJSON *want3, double tol, const double *alphas) {
    for (int a = 0; a < 3; a++) {
        char key[32];
        snprintf(key, sizeof key, "%.10g", alphas[a]);
        const cJSON *g = cJSON_GetObjectItem(o, key);
        if (!g) fail_msg("%s: output lacks alpha %s", what, key);
        expect(what, num(g), num(cJSON_GetArrayItem(want3, a)), tol);
    }
}

/* P.json of a stored configuration: the reference's result.pkl predictions (raw keypoint slots). */
static void write_predictions(const cJSON *c, int nk, const char *ppath) {
    cJSON *P = cJSON_CreateObject(), *pairs = cJSON_AddArrayToObject(P, "pairs");
    cJSON_AddStringToObject(P, "frame", "anno840");
    const cJSON *cat, *p;
    cJSON_ArrayForEach(cat, get(c, "categories")) cJSON_ArrayForEach(p, get(cat, "pairs")) {
        cJSON *e = cJSON_CreateObject(), *pred = cJSON_AddArrayToObject(e, "pred");
        cJSON_AddStringToObject(e, "src", rel_image(get(p, "src_fn")->valuestring));
        cJSON_AddStringToObject(e, "trg", rel_image(get(p, "trg_fn")->valuestring));
        const cJSON *s30 = get(p, "src_kpts_pred_30");
        for (int j = 0; j < nk; j++) cJSON_AddItemToArray(pred, cJSON_Duplicate(cJSON_GetArrayItem(s30, j), 1));
        cJSON_AddItemToArray(pairs, e);
    }
    char *text = cJSON_PrintUnformatted(P);
    gct_write_file(ppath, text, strlen(text));
    free(text);
    cJSON_Delete(P);
}

/* Tolerances: values the reference computes in float32 and we reproduce operation by operation are
 * compared exactly (0); np.average results to 1e-15; means that torch takes over >= 5 float32 values in
 * eval_spair.py to one float32 ulp (6e-8, torch's reduction order is not reproduced). */
static void test_from_predictions(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("eval_preds");
    const cJSON *c;
    cJSON_ArrayForEach(c, get(g_exp, "e2e")) {
        config k;
        config_of(c, &k);
        bool kpt = cJSON_IsTrue(get(c, "args.KPT_RESULT")), geo = cJSON_IsTrue(get(c, "args.COMPUTE_GEOAWARE_METRICS"));
        bool pascal = strcmp(k.dataset, "pfpascal") == 0;
        int nk = strcmp(k.dataset, "spair") == 0 ? 30 : pascal ? 20 : 17;
        double al[3] = {0.1, 0.05, pascal ? 0.15 : 0.01};
        char ppath[1200], opath[1200];
        snprintf(ppath, sizeof ppath, "%s/%s.pred.json", tmp, c->string);
        snprintf(opath, sizeof opath, "%s/%s.out.json", tmp, c->string);
        write_predictions(c, nk, ppath);
        const cJSON *cat;
        char sub[64] = "";
        if (strcmp(k.dataset, "ap10k") == 0) snprintf(sub, sizeof sub, "--subset %s", get(c, "args.AP10K_EVAL_SUBSET")->valuestring);
        int rc = gct_geocorr("eval --dataset %s --root '%s/%s' --split test --from-predictions '%s' --json '%s' "
                         "--alpha %g,%g,%g %s %s %s", k.dataset, g_mini, k.dir, ppath, opath, al[0], al[1], al[2],
                         geo ? "--geo" : "", kpt ? "--per-keypoint" : "", sub);
        if (rc != 0) fail_msg("%s: geocorr eval failed: %s", c->string, gct_last_stderr());
        cJSON *o;
        assert_int_equal(gc_json_load(opath, &o), GC_OK);
        assert_string_equal(get(o, "threshold")->valuestring, pascal ? "image" : "bbox");
        const cJSON *es = cJSON_GetObjectItem(c, "eval_spair");
        if (!cJSON_IsObject(es)) es = NULL;
        char what[256];
        cJSON_ArrayForEach(cat, get(c, "categories")) {
            const char *cn = get(cat, "category")->valuestring;
            const cJSON *cr = get(cat, "compute_pck_returns"), *img = get(cr, "img_correct");
            const cJSON *oc = cJSON_GetObjectItem(get(get(o, "per_image"), "categories"), cn);
            snprintf(what, sizeof what, "%s per_image %s", c->string, cn);
            if (cJSON_IsArray(img)) expect3(what, oc, img, 0, al);
            else if (es) expect3(what, oc, get(cJSON_GetObjectItem(get(es, "per_category"), cn), "img")->child, 6e-8, al);
            oc = cJSON_GetObjectItem(get(get(o, "per_keypoint"), "categories"), cn);
            snprintf(what, sizeof what, "%s per_keypoint %s", c->string, cn);
            expect3(what, oc, get(cr, "correct_kpt"), 0, al);
            assert_int_equal(get(oc, "n")->valueint, cJSON_GetArrayItem(get(cr, "correct_kpt"), 3)->valueint);
            const cJSON *gs = get(cr, "geo_score");
            if (geo) {
                oc = cJSON_GetObjectItem(get(o, "geo.per_keypoint_reference.categories"), cn);
                snprintf(what, sizeof what, "%s geo.per_keypoint_reference %s", c->string, cn);
                cJSON *g3 = cJSON_CreateArray();
                for (int a = 2; a < 5; a++) cJSON_AddItemToArray(g3, cJSON_CreateNumber(num(cJSON_GetArrayItem(gs, a))));
                expect3(what, oc, g3, 0, al);
                cJSON_Delete(g3);
                assert_int_equal(get(oc, "n")->valueint, cJSON_GetArrayItem(gs, 5)->valueint);
            }
        }
        const cJSON *w = get(c, "weighted");
        cJSON *w3 = cJSON_CreateArray();
        cJSON_AddItemToArray(w3, cJSON_CreateNumber(get(w, "pck_010")->valuedouble));
        cJSON_AddItemToArray(w3, cJSON_CreateNumber(get(w, "pck_005")->valuedouble));
        cJSON_AddItemToArray(w3, cJSON_CreateNumber(get(w, "pck_001")->valuedouble));
        snprintf(what, sizeof what, "%s weighted overall", c->string);
        expect3(what, get(o, kpt ? "per_keypoint.overall" : "per_image.overall"), w3, 1e-15, al);
        cJSON_Delete(w3);
        if (geo) {
            const cJSON *gst = get(c, "geo_stats");
            expect("image_ratio", num(get(o, "geo.image_ratio")), get(gst, "avg_geo_aware_images_pct")->valuedouble / 100, 1e-15);
            expect("point_ratio", num(get(o, "geo.point_ratio")), get(gst, "avg_geo_aware_points_pct")->valuedouble / 100, 1e-15);
            const cJSON *pk = cJSON_GetObjectItem(gst, "per_kpt_geo_pct");
            const cJSON *pi = cJSON_GetObjectItem(gst, "per_image_geo_get_img_result");
            snprintf(what, sizeof what, "%s geo overall", c->string);
            if (pk) {
                cJSON *f = cJSON_CreateArray();
                for (int a = 0; a < 3; a++) cJSON_AddItemToArray(f, cJSON_CreateNumber(num(cJSON_GetArrayItem(pk, a)) / 100));
                expect3(what, get(o, "geo.per_keypoint_reference.overall"), f, 1e-15, al);
                cJSON_Delete(f);
            } else {
                expect3(what, get(o, "geo.per_image.overall"), get(pi, "pck"), 6e-8, al);
                assert_int_equal(get(o, "geo.per_image.n")->valueint, get(pi, "n_images")->valueint);
            }
        }
        if (es && geo) { /* eval_spair.py: per-image geo per category; pooled geo with id-mapped groups */
            const cJSON *pc;
            cJSON_ArrayForEach(pc, get(es, "per_category")) {
                snprintf(what, sizeof what, "%s geo.per_image %s", c->string, pc->string);
                expect3(what, cJSON_GetObjectItem(get(o, "geo.per_image.categories"), pc->string), get(pc, "img_geo")->child,
                        6e-8, al);
            }
            snprintf(what, sizeof what, "%s geo.per_keypoint (corrected) overall", c->string);
            const cJSON *sg = get(get(es, "overall"), "std_geo");
            expect3(what, get(o, "geo.per_keypoint.overall"), sg->child, 0, al);
            assert_int_equal(get(o, "geo.per_keypoint.n")->valueint, cJSON_GetArrayItem(sg, 1)->valueint);
        }
        printf("  eval %-36s matches the authors' eval (worst |diff| so far %.3g)\n", c->string, g_worst);
        cJSON_Delete(o);
    }
}

/* known_predictions: designed errors (fractions of T at margins >= 5e-4 T from every alpha) given in
 * ORIGINAL target pixels ("frame": "pixels"); geocorr maps them into the 840 frame and must reproduce
 * the authors' eval_spair.py numbers (float32 path: one ulp, 6e-8). */
static void test_pixels_frame(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("eval_pixels");
    const char *names[2] = {"spair", "ap10k"}, *dirs[2] = {"SPair-71k", "ap-10k"};
    double al[3] = {0.1, 0.05, 0.01};
    for (int d = 0; d < 2; d++) {
        const cJSON *kp = get(get(g_exp, "known_predictions"), names[d]);
        char root[1200];
        snprintf(root, sizeof root, "%s/%s", g_mini, dirs[d]);
        gc_eval_set set;
        assert_int_equal(gc_eval_set_load(&set, d ? GC_DS_AP10K : GC_DS_SPAIR, root, "test", GC_AP10K_INTRA), GC_OK);
        cJSON *P = cJSON_CreateObject(), *pairs = cJSON_AddArrayToObject(P, "pairs");
        cJSON_AddStringToObject(P, "frame", "pixels");
        const cJSON *r;
        cJSON_ArrayForEach(r, get(kp, "result_list")) {
            const char *src = rel_image(get(r, "src_fn")->valuestring), *trg = rel_image(get(r, "trg_fn")->valuestring);
            int k = gc_eval_set_find(&set, src, trg);
            assert_true(k >= 0);
            const gc_eval_pair *ep = &set.pairs[k];
            cJSON *e = cJSON_CreateObject(), *pred = cJSON_AddArrayToObject(e, "pred");
            cJSON_AddStringToObject(e, "src", src);
            cJSON_AddStringToObject(e, "trg", trg);
            for (int j = 0; j < set.n_kps; j++) {
                const cJSON *xy = cJSON_GetArrayItem(get(r, "src_kpts_pred"), j);
                double x = (cJSON_GetArrayItem(xy, 0)->valuedouble - ep->trg_off[0]) / ep->trg_scale;
                double y = (cJSON_GetArrayItem(xy, 1)->valuedouble - ep->trg_off[1]) / ep->trg_scale;
                double v[2] = {x, y};
                cJSON_AddItemToArray(pred, cJSON_CreateDoubleArray(v, 2));
            }
            cJSON_AddItemToArray(pairs, e);
        }
        char ppath[1300], opath[1300];
        snprintf(ppath, sizeof ppath, "%s/%s.pred.json", tmp, names[d]);
        snprintf(opath, sizeof opath, "%s/%s.out.json", tmp, names[d]);
        char *text = cJSON_PrintUnformatted(P);
        gct_write_file(ppath, text, strlen(text));
        free(text);
        cJSON_Delete(P);
        int rc = gct_geocorr("eval --dataset %s --root '%s' --from-predictions '%s' --json '%s' --geo", names[d], root, ppath, opath);
        if (rc) fail_msg("%s", gct_last_stderr());
        cJSON *o;
        assert_int_equal(gc_json_load(opath, &o), GC_OK);
        const cJSON *es = get(kp, "eval_spair"), *pc;
        char what[256];
        cJSON_ArrayForEach(pc, get(es, "per_category")) {
            snprintf(what, sizeof what, "known %s per_image %s", names[d], pc->string);
            expect3(what, cJSON_GetObjectItem(get(o, "per_image.categories"), pc->string), get(pc, "img")->child, 6e-8, al);
            snprintf(what, sizeof what, "known %s per_keypoint %s", names[d], pc->string);
            expect3(what, cJSON_GetObjectItem(get(o, "per_keypoint.categories"), pc->string), get(pc, "std")->child, 6e-8, al);
            snprintf(what, sizeof what, "known %s geo.per_image %s", names[d], pc->string);
            expect3(what, cJSON_GetObjectItem(get(o, "geo.per_image.categories"), pc->string), get(pc, "img_geo")->child, 6e-8, al);
        }
        const cJSON *ov = get(es, "overall");
        expect3("known geo.per_image overall", get(o, "geo.per_image.overall"), get(ov, "img_geo")->child, 6e-8, al);
        expect3("known geo.per_keypoint overall", get(o, "geo.per_keypoint.overall"), get(ov, "std_geo")->child, 6e-8, al);
        expect3("known per_keypoint overall", get(o, "per_keypoint.overall"), get(ov, "std")->child, 6e-8, al);
        printf("  known_predictions %-6s in original pixels: matches eval_spair.py\n", names[d]);
        cJSON_Delete(o);
        gc_eval_set_free(&set);
    }
}

/* The public entry gc_eval_predictions gives the same report as the command (PF-Pascal config). */
static void test_public_api(void **st) {
    (void)st;
    const cJSON *c = get(g_exp, "e2e.pascal");
    char ppath[1300], root[1200];
    snprintf(ppath, sizeof ppath, "%s/pascal.pred.json", gct_tmpdir("eval_api"));
    snprintf(root, sizeof root, "%s/PF-dataset-PASCAL", g_mini);
    write_predictions(c, 20, ppath);
    gc_eval_config cfg = {.dataset = "pfpascal", .root = root};
    char *text;
    if (gc_eval_predictions(&cfg, ppath, &text) != GC_OK) fail_msg("%s", gc_last_error());
    cJSON *o = cJSON_Parse(text);
    free(text);
    double al[3] = {0.1, 0.05, 0.15};
    const cJSON *w = get(c, "weighted");
    cJSON *w3 = cJSON_CreateArray();
    const char *k[3] = {"pck_010", "pck_005", "pck_001"}; /* the reference's labels for 0.10, 0.05, 0.15 */
    for (int a = 0; a < 3; a++) cJSON_AddItemToArray(w3, cJSON_CreateNumber(get(w, k[a])->valuedouble));
    expect3("api pascal per_image overall", get(o, "per_image.overall"), w3, 1e-15, al);
    assert_string_equal(get(o, "threshold")->valuestring, "image");
    cJSON_Delete(w3);
    cJSON_Delete(o);
    /* gc_eval_run: the same JSON, the text `geocorr eval` prints, and its argument checks */
    gc_eval_report *r;
    assert_int_equal(gc_eval_run(&cfg, ppath, NULL, &r), GC_OK);
    char *json, *table, *again;
    assert_int_equal(gc_eval_report_json(r, &json), GC_OK);
    assert_int_equal(gc_eval_predictions(&cfg, ppath, &again), GC_OK);
    assert_string_equal(json, again);
    assert_int_equal(gc_eval_report_text(r, 0, &table), GC_OK);
    assert_true(strncmp(table, "pfpascal test: ", 15) == 0);
    assert_non_null(strstr(table, " pairs scored (image threshold, protocol reference)\nPCK per image"));
    free(json), free(again), free(table);
    gc_eval_report_free(r);
    const gc_eval_cache_config cache = {.cache_dir = "nowhere"};
    assert_int_equal(gc_eval_run(&cfg, ppath, &cache, &r), GC_ERR_ARG); /* both sources */
    assert_null(r);
    assert_int_equal(gc_eval_run(&cfg, NULL, NULL, &r), GC_ERR_ARG);  /* neither */
    cfg.dataset = "pascal2";
    assert_int_equal(gc_eval_predictions(&cfg, ppath, &text), GC_ERR_ARG);
    assert_null(text);
}

/* One output block of the breakdown against the expected one: n exact, every value within tol, nulls
 * where the reference has none (alpha keys matched by value). */
static void expect_breakdown(const char *what, const cJSON *got, const cJSON *want, double tol) {
    if (!got) fail_msg("%s: missing in the output", what);
    assert_int_equal(get(got, "n")->valueint, get(want, "n")->valueint);
    const char *metrics[] = {"jitter", "miss", "swap", "swap_lr", "pck_dagger"};
    for (int m = 0; m < 5; m++) {
        const cJSON *g = cJSON_GetObjectItem(got, metrics[m]), *w = cJSON_GetObjectItem(want, metrics[m]);
        if (!g) fail_msg("%s: lacks %s", what, metrics[m]);
        if (cJSON_IsNull(w)) {
            assert_true(cJSON_IsNull(g));
            continue;
        }
        assert_int_equal(cJSON_GetArraySize(g), cJSON_GetArraySize(w));
        const cJSON *wa;
        cJSON_ArrayForEach(wa, w) {
            const cJSON *ga = NULL, *x;
            cJSON_ArrayForEach(x, g) if (strtod(x->string, NULL) == strtod(wa->string, NULL)) ga = x;
            char buf[256];
            snprintf(buf, sizeof buf, "%s %s@%s", what, metrics[m], wa->string);
            if (!ga) fail_msg("%s: missing", buf);
            expect(buf, num(ga), num(wa), tol);
        }
    }
}

/* `geocorr eval --errors` on the predictions of every configuration in errors_expected.json (the
 * upstream correct_kps_analyze run by the fixture generator on the same keypoints and thresholds).
 * Tolerance 1e-6 absolute (TRACE.md §8): the counts are integers, and every distance is >= 1.3e-3 t away
 * from a threshold, so our float32 arithmetic gives the same counts; the fractions are then means of
 * float64 count / n_kp. n exact; every category of the split is listed, and no other. */
static void test_errors(void **st) {
    (void)st;
    cJSON *E = gct_load_json(gct_fixture("errors_expected.json"));
    const char *tmp = gct_tmpdir("eval_errors");
    double worst = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, get(E, "runs")) {
        const cJSON *c = cJSON_GetObjectItem(get(g_exp, "e2e"), get(run, "predictions_from")->valuestring);
        assert_non_null(c);
        config k;
        config_of(c, &k);
        int nk = strcmp(k.dataset, "spair") == 0 ? 30 : strcmp(k.dataset, "ap10k") == 0 ? 17 : 20;
        char ppath[1300], opath[1300], cli[512] = "";
        snprintf(ppath, sizeof ppath, "%s/%s.pred.json", tmp, run->string);
        snprintf(opath, sizeof opath, "%s/%s.out.json", tmp, run->string);
        write_predictions(c, nk, ppath);
        const cJSON *arg;
        cJSON_ArrayForEach(arg, get(run, "cli")) {
            size_t l = strlen(cli);
            snprintf(cli + l, sizeof cli - l, " '%s'", arg->valuestring);
        }
        int rc = gct_geocorr("eval --root '%s/%s' --from-predictions '%s' --errors --json '%s'%s > /dev/null", g_mini, k.dir,
                             ppath, opath, cli);
        if (rc) fail_msg("%s: geocorr eval --errors failed: %s", run->string, gct_last_stderr());
        cJSON *o = gct_load_json(opath);
        const cJSON *want = get(get(run, "errors"), "per_image"), *got = get(o, "errors.per_image");
        char what[256];
        g_worst = 0;
        snprintf(what, sizeof what, "%s errors overall", run->string);
        expect_breakdown(what, get(got, "overall"), get(want, "overall"), 1e-6);
        const cJSON *wc;
        cJSON_ArrayForEach(wc, get(want, "categories")) {
            snprintf(what, sizeof what, "%s errors %s", run->string, wc->string);
            expect_breakdown(what, cJSON_GetObjectItem(get(got, "categories"), wc->string), wc, 1e-6);
        }
        assert_int_equal(cJSON_GetArraySize(get(got, "categories")), cJSON_GetArraySize(get(want, "categories")));
        printf("  errors %-34s matches the upstream breakdown (max |diff| %.3g)\n", run->string, g_worst);
        worst = fmax(worst, g_worst);
        cJSON_Delete(o);
    }
    printf("  errors: worst |diff| over all runs %.3g (tolerance 1e-6)\n", worst);
    cJSON_Delete(E);
}

/* The per-pair rules on a hand-made case (t = 6): a tie of two targets goes to the first (torch.argmin),
 * so no swap; a prediction nearest another target is a swap, onto the left/right partner a Swap^LR,
 * and jitter by its own distance; a missing prediction is a miss and nothing else; the bounds are
 * inclusive (a distance of exactly t is a miss, jitter and PCK-dagger at once). */
static void test_errors_rules(void **st) {
    (void)st;
    const float trg[3][2] = {{0, 0}, {10, 0}, {20, 0}};
    const float pred[3][2] = {{5, 0}, {0, 1}, {NAN, NAN}};
    const int ids[3] = {2, 3, 7}, partner[8] = {-1, -1, 3, 2, -1, -1, -1, -1};
    int64_t n[GC_BD_COUNT];
    gc_errors_pair_counts(trg, pred, ids, 3, partner, 8, 6.0f, n);
    assert_int_equal(n[GC_BD_JITTER], 1);     /* p1: own distance sqrt(101) in [6, 12] */
    assert_int_equal(n[GC_BD_MISS], 1);       /* p2 (no prediction) */
    assert_int_equal(n[GC_BD_SWAP], 1);       /* p1 -> target 0 (distance 1); p0's tie resolves to itself */
    assert_int_equal(n[GC_BD_SWAP_LR], 1);    /* raw 3 -> raw 2, its partner */
    assert_int_equal(n[GC_BD_PCK_DAGGER], 1); /* p0 */
    gc_errors_pair_counts(trg, pred, ids, 3, NULL, 0, 6.0f, n);
    assert_int_equal(n[GC_BD_SWAP_LR], 0); /* no table */
    const float at[1][2] = {{4, 0}};
    gc_errors_pair_counts(trg, at, ids, 1, NULL, 0, 4.0f, n);
    assert_true(n[GC_BD_MISS] == 1 && n[GC_BD_JITTER] == 1 && n[GC_BD_PCK_DAGGER] == 1 && n[GC_BD_SWAP] == 0);
}

/* A small SPair-71k written by the test: cat (one pair with geo-aware ears), motorbike (one pair whose
 * visible keypoints are all singletons: no geo-aware pair), bottle (images, no test pair). */
static void spair_image(const char *root, const char *cat, const char *name, const int *vis, int nv) {
    char path[1400], kps[2048] = "";
    for (int j = 0; j < 30; j++) {
        bool on = false;
        for (int i = 0; i < nv; i++) on |= vis[i] == j;
        size_t l = strlen(kps);
        if (on) snprintf(kps + l, sizeof kps - l, "%s\"%d\": [%d, %d]", j ? ", " : "", j, 20 + 7 * j, 30 + 3 * j);
        else snprintf(kps + l, sizeof kps - l, "%s\"%d\": null", j ? ", " : "", j);
    }
    char text[2600];
    snprintf(text, sizeof text, "{\"image_width\": 300, \"image_height\": 200, \"bndbox\": [10, 10, 250, 180], "
             "\"azimuth_id\": 2, \"kps\": {%s}}", kps);
    snprintf(path, sizeof path, "%s/ImageAnnotation/%s/%s.json", root, cat, name);
    gct_write_file(path, text, strlen(text));
    snprintf(path, sizeof path, "%s/JPEGImages/%s/%s.jpg", root, cat, name);
    gct_write_file(path, "x", 1); /* present; never decoded when scoring predictions */
}

static void spair_pair(const char *root, const char *cat, int id, const char *src, const char *trg) {
    char path[1400], text[1024];
    snprintf(path, sizeof path, "%s/PairAnnotation/test/%06d-%s-%s:%s.json", root, id, src, trg, cat);
    snprintf(text, sizeof text, "{\"category\": \"%s\", \"src_imname\": \"%s.jpg\", \"trg_imname\": \"%s.jpg\", "
             "\"src_bndbox\": [10, 10, 250, 180], \"trg_bndbox\": [10, 10, 250, 180], \"src_imsize\": [300, 200, 3], "
             "\"trg_imsize\": [300, 200, 3]}", cat, src, trg);
    gct_write_file(path, text, strlen(text));
}

static void expect_empty(const cJSON *o, const char *block, const char *cat) {
    char path[256];
    snprintf(path, sizeof path, "%s.categories", block);
    const cJSON *c = cJSON_GetObjectItem(get(o, path), cat);
    if (!c) fail_msg("%s lacks category %s", block, cat);
    assert_int_equal(get(c, "n")->valueint, 0);
    const cJSON *v = cJSON_GetObjectItem(c, "0.1");
    if (!v) v = cJSON_GetObjectItem(get(c, "jitter"), "0.1");
    if (!cJSON_IsNull(v)) fail_msg("%s %s: expected null at alpha 0.1", block, cat);
}

/* Every category in every table (issue 14 item 5): a category without geo-aware pairs (motorbike) is
 * listed with n = 0 and null values in geo.per_image, geo.per_keypoint and the reference per-keypoint
 * table; one without any scored pair (bottle) likewise in per_image, per_keypoint and errors; the
 * overall values weigh only the scored categories; the text tables list them with "-". */
static void test_every_category(void **st) {
    (void)st;
    const char *root = gct_tmpdir("eval_every_cat");
    const char *dirs[] = {"ImageAnnotation", "JPEGImages", "PairAnnotation", "PairAnnotation/test"};
    const char *cats[] = {"bottle", "cat", "motorbike"};
    char path[1400];
    for (size_t i = 0; i < GC_COUNTOF(dirs); i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        assert_int_equal(mkdir(path, 0777), 0);
        for (size_t c = 0; i < 2 && c < GC_COUNTOF(cats); c++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, dirs[i], cats[c]);
            assert_int_equal(mkdir(path, 0777), 0);
        }
    }
    const int cat_vis[] = {0, 2, 3, 5}, moto_vis[] = {4, 5, 6}, bottle_vis[] = {0, 1};
    spair_image(root, "cat", "a", cat_vis, 4), spair_image(root, "cat", "b", cat_vis, 4);
    spair_image(root, "motorbike", "c", moto_vis, 3), spair_image(root, "motorbike", "d", moto_vis, 3);
    spair_image(root, "bottle", "e", bottle_vis, 2), spair_image(root, "bottle", "f", bottle_vis, 2);
    spair_pair(root, "cat", 1, "a", "b"), spair_pair(root, "motorbike", 2, "c", "d");
    /* predictions on the target keypoints (original pixels) */
    char pred[2][1024];
    for (int k = 0; k < 2; k++) {
        pred[k][0] = 0;
        for (int j = 0; j < 30; j++) {
            size_t l = strlen(pred[k]);
            snprintf(pred[k] + l, sizeof pred[k] - l, "%s[%d, %d]", j ? ", " : "", 20 + 7 * j, 30 + 3 * j);
        }
    }
    char text[4096], ppath[1400], opath[1400], tpath[1400];
    snprintf(text, sizeof text, "{\"frame\": \"pixels\", \"pairs\": [{\"src\": \"cat/a.jpg\", \"trg\": \"cat/b.jpg\", "
             "\"pred\": [%s]}, {\"src\": \"motorbike/c.jpg\", \"trg\": \"motorbike/d.jpg\", \"pred\": [%s]}]}", pred[0], pred[1]);
    snprintf(ppath, sizeof ppath, "%s/p.json", root);
    snprintf(opath, sizeof opath, "%s/o.json", root);
    snprintf(tpath, sizeof tpath, "%s/stdout.txt", root);
    gct_write_file(ppath, text, strlen(text));
    int rc = gct_geocorr("eval --dataset spair --root '%s' --from-predictions '%s' --geo --errors --json '%s' > '%s'", root,
                         ppath, opath, tpath);
    if (rc) fail_msg("%s", gct_last_stderr());
    cJSON *o = gct_load_json(opath);
    expect_empty(o, "per_image", "bottle"), expect_empty(o, "per_keypoint", "bottle");
    expect_empty(o, "errors.per_image", "bottle");
    for (int c = 0; c < 2; c++) {
        const char *cat = c ? "motorbike" : "bottle";
        expect_empty(o, "geo.per_image", cat), expect_empty(o, "geo.per_keypoint", cat);
        expect_empty(o, "geo.per_keypoint_reference", cat);
    }
    assert_int_equal(get(o, "geo.per_image.categories.cat.n")->valueint, 1);
    assert_true(cJSON_GetObjectItem(get(o, "geo.per_image.categories.cat"), "0.1")->valuedouble == 1.0);
    assert_int_equal(get(o, "per_image.n")->valueint, 2);
    /* bottle does not enter the mean */
    assert_true(cJSON_GetObjectItem(get(o, "per_image.overall"), "0.1")->valuedouble == 1.0);
    assert_int_equal(get(o, "errors.per_image.categories.motorbike.n")->valueint, 1);
    assert_true(cJSON_GetObjectItem(get(o, "errors.per_image.overall.pck_dagger"), "0.1")->valuedouble == 1.0);
    cJSON_Delete(o);
    char *out;
    size_t len;
    assert_int_equal(gc_read_file(tpath, &out, &len, 1 << 20), GC_OK);
    int rows = 0;
    for (const char *q = out; (q = strstr(q, "\n  bottle ")); q++) {
        rows++;
        assert_non_null(strstr(q, " -")); /* undefined values print as "-" */
    }
    printf("%s", out);
    assert_int_equal(rows, 3); /* PCK per image, geo-aware per image, error breakdown */
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_np_random),
        cmocka_unit_test(test_loaders),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_from_predictions),
        cmocka_unit_test(test_pixels_frame),
        cmocka_unit_test(test_public_api),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_rules),
        cmocka_unit_test(test_every_category),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
