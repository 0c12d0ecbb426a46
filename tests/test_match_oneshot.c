/* `geocorr match` in one call (issue 15 items 1 and 6, issue 12 item 4), on the fixture photos with the
 * tiny DINOv2 in a models folder (and the tiny SAM, a DINO-only post-processor of the reference's
 * initialisation): the one-call run equals the three-step flow (`geocorr features` x3 + match
 * --features-*) in its JSON byte for byte, zero-shot and supervised; a second --cache run runs no model
 * ("computed" counts 0) and gives the same bytes; the cache survives a corrupt record, a torn file and a
 * touched model file, and keeps two models apart; several targets give one entry each, equal to the
 * single runs, a contact sheet and a progress display (plain lines, a bar on a terminal, nothing with
 * --no-progress); the dense mode gives every source cell's match as single points give it, in JSON and
 * safetensors; --box-src/--box-tgt make the masks `geocorr mask` makes and match as those PNGs through
 * --mask-src/--mask-tgt do; bad input. Then the full tiny pipeline (SD branch: ~10 s of CPU per image)
 * once, without the flipped source (--align off: the flip path of the one call is the DINO-only runs'
 * above, the pipeline's flipped maps are test_features'): one call == two steps; skipped under
 * GEOCORR_SANITIZED (minutes there; the pipeline runs under ASan in test_pipeline). Every comparison is exact: the same computation on the same numbers.
 * The tests run in order: later ones reuse the first one's cache (fewer model runs under the sanitizers). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "pipeline_models.h"

#define PTS "120,200;700,180;400,500;900,700"

static char g_dir[1024], g_models[1100], g_sam[1100], g_pp[1100], g_err[1100];
static char g_src[600], g_tgt[600], g_tgt2[600];

/* Run geocorr (gct_geocorr's printf-style arguments); fail the test when it fails. */
#define run_ok(...)                                                                    \
    do {                                                                               \
        if (gct_geocorr(__VA_ARGS__) != 0) fail_msg("geocorr: %s", gct_last_stderr()); \
    } while (0)

/* The same with " --out <err.json>" appended, expected to fail with `needle` in the message and without
 * writing err.json (fmt: a string literal). */
#define run_fails(needle, fmt, ...) expect_failure(needle, (remove(g_err), gct_geocorr(fmt " --out %s", __VA_ARGS__, g_err)))

static void expect_failure(const char *needle, int rc) {
    printf("  rc %d: %s", rc, gct_last_stderr());
    assert_true(rc > 0 && rc < 128);
    if (!strstr(gct_last_stderr(), needle)) fail_msg("message lacks '%s'", needle);
    assert_false(gc_file_exists(g_err));
}

static char *slurp(const char *path) {
    char *b;
    size_t n;
    assert_int_equal(gc_read_file(path, &b, &n, 1 << 26), GC_OK);
    return b;
}

static const char *at(const char *name) { return gct_path(g_dir, name); }

static int computed(const cJSON *j, const char *what) {
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "computed"), what);
    assert_true(cJSON_IsNumber(c));
    return (int)c->valuedouble;
}

/* File a equals file b byte for byte. */
static void expect_same_bytes(const char *a, const char *b) {
    char *x = slurp(a), *y = slurp(b);
    if (strcmp(x, y) != 0) fail_msg("%s and %s differ", a, b);
    free(x), free(y);
}

/* JSON file a equals b except the "computed" counts (a's are features_a and masks_a): a's text with b's
 * counts is b's text. */
static void expect_same_but_computed(const char *a, int features_a, int masks_a, const char *b) {
    cJSON *ja = gct_load_json(a), *jb = gct_load_json(b);
    assert_int_equal(computed(ja, "features"), features_a);
    assert_int_equal(computed(ja, "masks"), masks_a);
    cJSON_ReplaceItemInObject(ja, "computed", cJSON_Duplicate(cJSON_GetObjectItem(jb, "computed"), true));
    char *ta = cJSON_Print(ja), *tb = slurp(b);
    const size_t n = strlen(ta);
    /* the command writes cJSON_Print + "\n" */
    if (strncmp(ta, tb, n) != 0 || strcmp(tb + n, "\n") != 0) fail_msg("%s differs from %s beyond the computed counts", a, b);
    free(ta), free(tb);
    cJSON_Delete(ja), cJSON_Delete(jb);
}

/* <dir>/<name> as a model folder (pipeline_models.h). */
static void model_dir_in(const char *dir, const char *name, const char *config, const char *weights) {
    char d[1400];
    snprintf(d, sizeof d, "%s/%s", dir, name);
    model_folder(d, config, weights);
}

static int setup(void **state) {
    (void)state;
    umask(022);
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("match_oneshot"));
    snprintf(g_err, sizeof g_err, "%s/err.json", g_dir);
    snprintf(g_src, sizeof g_src, "%s", gct_fixture("images/antelope.jpg"));
    snprintf(g_tgt, sizeof g_tgt, "%s", gct_fixture("images/unicorn.jpg"));
    snprintf(g_tgt2, sizeof g_tgt2, "%s", gct_fixture("sam/antelope_320x240.png"));
    /* models/: the tiny DINOv2 as dinov2-base/, the tiny SAM .pth under the ViT-H file's name */
    snprintf(g_models, sizeof g_models, "%s/models", g_dir);
    assert_int_equal(mkdir(g_models, 0755), 0);
    model_dir_in(g_models, "dinov2-base", "dinov2_tiny.config.json", "dinov2_tiny.model.safetensors");
    char p[1400];
    snprintf(p, sizeof p, "%s/sam_vit_h_4b8939.pth", g_models);
    assert_int_equal(symlink(gct_fixture("sam/sam_tiny.pth"), p), 0);
    /* sam/: the tiny SAM with its config (decoder heads) */
    model_dir_in(g_dir, "sam", "sam/sam_tiny.config.json", "sam/sam_tiny.model.safetensors");
    snprintf(g_sam, sizeof g_sam, "%s/sam", g_dir);
    /* a DINO-only post-processor of the tiny model's width, the reference initialisation */
    snprintf(g_pp, sizeof g_pp, "%s/pp.safetensors", g_dir);
    write_dino_postproc(g_pp, 7);
    /* the three steps' feature files: source, mirrored source, targets */
    run_ok("features --models %s --dino-only --image %s --out %s", g_models, g_src, at("src.st"));
    run_ok("features --models %s --dino-only --image %s --flip --out %s", g_models, g_src, at("src_flip.st"));
    run_ok("features --models %s --dino-only --image %s --out %s", g_models, g_tgt, at("tgt.st"));
    return 0;
}

/* ---- one call == three steps; the cache ------------------------------------------------------------ */

static bool sanitized(void) {
    const char *san = getenv("GEOCORR_SANITIZED");
    return san && *san && strcmp(san, "0") != 0;
}

static void test_one_call_equals_three_steps(void **state) {
    (void)state;
    char cache[1300];
    snprintf(cache, sizeof cache, "%s", at("cache"));
    for (int sup = 0; sup < 2; sup++) {
        char extra[1400] = "";
        if (sup) snprintf(extra, sizeof extra, "--postproc %s", g_pp);
        char three[64], one[64], c1[64], c2[64];
        snprintf(three, sizeof three, "three%d.json", sup);
        snprintf(one, sizeof one, "one%d.json", sup);
        snprintf(c1, sizeof c1, "cached%d_a.json", sup);
        snprintf(c2, sizeof c2, "cached%d_b.json", sup);
        run_ok("match %s %s --points \"%s\" --features-src %s --features-src-flip %s --features-tgt %s --category cat %s --out %s",
               g_src, g_tgt, PTS, at("src.st"), at("src_flip.st"), at("tgt.st"), extra, at(three));
        /* the supervised one call without a cache: Release only (under the sanitizers the zero-shot one
         * computes the same three maps, the cached one below runs the post-processor in the one call) */
        if (!sup || !sanitized()) {
            run_ok("match %s %s --points \"%s\" --models %s --dino-only --category cat %s --out %s", g_src, g_tgt, PTS, g_models,
                   extra, at(one));
            expect_same_but_computed(at(one), 3, 0, at(three));
        }
        /* --cache: the first run computes what the cache lacks (the supervised run finds the maps the
         * zero-shot run left: the cache keeps maps, the post-processor runs on them), the second nothing */
        run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --category cat %s --out %s", g_src, g_tgt, PTS,
               g_models, cache, extra, at(c1));
        expect_same_but_computed(at(c1), sup ? 0 : 3, 0, at(three));
        run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --category cat %s --out %s", g_src, g_tgt, PTS,
               g_models, cache, extra, at(c2));
        expect_same_bytes(at(c2), at(three));
        assert_non_null(strstr(gct_last_stderr(), "3 feature sets and 0 masks reused, 0 and 0 computed"));
        cJSON *j = gct_load_json(at(c2));
        printf("  %s: one call == three steps; cached rerun computed %d feature sets, %s descriptor\n", sup ? "supervised" : "zero-shot",
               computed(j, "features"), cJSON_GetObjectItem(cJSON_GetObjectItem(j, "descriptor"), "recipe")->valuestring);
        cJSON_Delete(j);
    }
    /* rotated poses (--poses): the turned source's features go into the cache beside the others */
    run_ok("features --models %s --dino-only --image %s --pose rot90 --out %s", g_models, g_src, at("src_rot90.st"));
    run_ok("match %s %s --points \"%s\" --features-src %s --features-src-flip %s --features-src-rot90 %s --features-tgt %s "
           "--poses flip,rot90 --out %s", g_src, g_tgt, PTS, at("src.st"), at("src_flip.st"), at("src_rot90.st"), at("tgt.st"),
           at("three_rot.json"));
    run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --poses flip,rot90 --out %s", g_src, g_tgt, PTS,
           g_models, cache, at("one_rot.json"));
    expect_same_but_computed(at("one_rot.json"), 1, 0, at("three_rot.json"));
    run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --poses flip,rot90 --out %s", g_src, g_tgt, PTS,
           g_models, cache, at("one_rot2.json"));
    expect_same_bytes(at("one_rot2.json"), at("three_rot.json"));
    /* --dinov2 PATH alone (DINOv2 only) is the same model: the same results (Release: computed again; under
     * the sanitizers through the cache: the model loads, its identity is the cache's, no map is computed) */
    char dino[1400];
    snprintf(dino, sizeof dino, "%s/dinov2-base", g_models);
    const bool san = sanitized();
    run_ok("match %s %s --points \"%s\" --dinov2 %s %s%s --category cat --out %s", g_src, g_tgt, PTS, dino, san ? "--cache " : "",
           san ? cache : "", at("dinov2.json"));
    expect_same_but_computed(at("dinov2.json"), san ? 0 : 3, 0, at("three0.json"));
}

/* The files under dir (a cache's models/ or features/). */
static int count_files(const char *dir) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "find '%.1300s' -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void test_cache_robustness(void **state) {
    (void)state;
    char cache[1300], cmd[3200];
    snprintf(cache, sizeof cache, "%s", at("cache_r"));
    /* the maps of the first test's cache (the source, its mirror and rot90, the target: 4 files of the tiny
     * DINOv2) without its identity records, so that no map is computed twice for the same model */
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -r '%s/features' '%s/'", cache, at("cache"), cache);
    assert_int_equal(system(cmd), 0);
    const char *fmt = "match %s %s --points \"%s\" --models %s --dino-only --cache %s --out %s";
    run_ok(fmt, g_src, g_tgt, PTS, g_models, cache, at("r0.json"));
    cJSON *j = gct_load_json(at("r0.json"));
    assert_int_equal(computed(j, "features"), 0);
    cJSON_Delete(j);
    /* a corrupt identity record: recomputed (the models load, no feature is computed) and rewritten */
    snprintf(cmd, sizeof cmd, "for f in '%s'/models/*.json; do printf '{\"model\": 7' > \"$f\"; done", cache);
    assert_int_equal(system(cmd), 0);
    run_ok(fmt, g_src, g_tgt, PTS, g_models, cache, at("r1.json"));
    expect_same_bytes(at("r1.json"), at("r0.json"));
    snprintf(cmd, sizeof cmd, "grep -q '\"model\":\t\"dinov2-d64:' '%s'/models/*.json", cache);
    assert_int_equal(system(cmd), 0);
    /* a torn feature file (the target's): redone */
    snprintf(cmd, sizeof cmd, "for f in '%s'/features/*/*.safetensors; do truncate -s 100 \"$f\"; break; done", cache);
    assert_int_equal(system(cmd), 0);
    run_ok(fmt, g_src, g_tgt, PTS, g_models, cache, at("r2.json"));
    expect_same_but_computed(at("r2.json"), 1, 0, at("r1.json"));
    /* the same model in another folder (another fingerprint): its identity is computed again, the same */
    char models2[1400], p[1600];
    snprintf(models2, sizeof models2, "%s/models_touched", g_dir);
    assert_int_equal(mkdir(models2, 0755), 0);
    model_dir_in(models2, "dinov2-base", "dinov2_tiny.config.json", "dinov2_tiny.model.safetensors");
    run_ok(fmt, g_src, g_tgt, PTS, models2, cache, at("r3.json"));
    expect_same_bytes(at("r3.json"), at("r1.json"));
    snprintf(p, sizeof p, "%s/models", cache);
    assert_int_equal(count_files(p), 2); /* two fingerprints, one identity */
    /* the cache moved into the models folder is not part of the models' fingerprint: the run finds the
     * record (another fingerprint would add a third) and loads nothing */
    char inner[1450];
    snprintf(inner, sizeof inner, "%s/cache", models2);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", cache, inner);
    assert_int_equal(system(cmd), 0);
    run_ok(fmt, g_src, g_tgt, PTS, models2, inner, at("r5.json"));
    expect_same_bytes(at("r5.json"), at("r1.json"));
    snprintf(p, sizeof p, "%s/models", inner);
    assert_int_equal(count_files(p), 2);
    /* another model (the tiny DINOv2 with registers): its own files beside the first model's */
    char models3[1400];
    snprintf(models3, sizeof models3, "%s/models_reg", g_dir);
    assert_int_equal(mkdir(models3, 0755), 0);
    model_dir_in(models3, "dinov2-base", "dinov2_tiny_reg.config.json", "dinov2_tiny_reg.model.safetensors");
    run_ok(fmt, g_src, g_tgt, PTS, models3, cache, at("r4.json"));
    j = gct_load_json(at("r4.json"));
    assert_int_equal(computed(j, "features"), 3);
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/features", cache);
    assert_int_equal(count_files(p), 4 + 3);
    printf("  corrupt record: rewritten; torn file: redone; the model elsewhere: same identity; second model: own files\n");
}

/* ---- several targets, progress ---------------------------------------------------------------------- */

static void test_multi_target(void **state) {
    (void)state;
    char cache[1300]; /* the first test's: the source, its mirror and the first target are in it */
    snprintf(cache, sizeof cache, "%s", at("cache"));
    const char *targets[3] = {g_tgt, g_tgt2, g_tgt};
    run_ok("match %s %s %s %s --points \"%s\" --models %s --dino-only --cache %s --category cat --out %s --picture %s", g_src,
           targets[0], targets[1], targets[2], PTS, g_models, cache, at("multi.json"), at("sheet.png"));
    /* plain progress lines (stderr is a file here) */
    assert_non_null(strstr(gct_last_stderr(), "match 3/3 targets (100%)"));
    assert_non_null(strstr(gct_last_stderr(), "4 feature sets and 0 masks reused, 1 and 0 computed"));
    cJSON *m = gct_load_json(at("multi.json"));
    assert_string_equal(cJSON_GetObjectItem(m, "src")->valuestring, g_src);
    assert_int_equal(computed(m, "features"), 1); /* the second target's; the repeated first is reused */
    const cJSON *entries = cJSON_GetObjectItem(m, "targets");
    assert_int_equal(cJSON_GetArraySize(entries), 3);
    int width = 0;
    for (int i = 0; i < 3; i++) {
        char out[64], pic[64];
        snprintf(out, sizeof out, "single%d.json", i);
        snprintf(pic, sizeof pic, "single%d.png", i);
        run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --category cat --out %s --picture %s", g_src,
               targets[i], PTS, g_models, cache, at(out), at(pic));
        cJSON *s = gct_load_json(at(out));
        assert_int_equal(computed(s, "features"), 0);
        cJSON_DeleteItemFromObject(s, "computed");
        if (!cJSON_Compare(cJSON_GetArrayItem(entries, i), s, true)) fail_msg("target %d: the entry differs from the single run", i);
        cJSON_Delete(s);
        int w, h, n;
        uint8_t *px = stbi_load(at(pic), &w, &h, &n, 3);
        assert_non_null(px);
        stbi_image_free(px);
        width = w > width ? w : width;
    }
    cJSON_Delete(m);
    int w, h, n;
    uint8_t *px = stbi_load(at("sheet.png"), &w, &h, &n, 3);
    assert_non_null(px);
    stbi_image_free(px);
    printf("  3 targets: entries == single runs; contact sheet %dx%d\n", w, h);
    assert_int_equal(h, 3 * 480 + 2 * 8);
    assert_int_equal(w, width);
    /* --no-progress: no progress lines */
    run_ok("match %s %s %s --points \"%s\" --models %s --dino-only --cache %s --no-progress --out %s", g_src, g_tgt, g_tgt2, PTS,
           g_models, cache, at("multi2.json"));
    assert_null(strstr(gct_last_stderr(), "targets"));
    /* on a terminal (script(1) gives the command a pseudo-terminal): a bar redrawn in place */
    char cmd[6000], log[1300];
    snprintf(log, sizeof log, "%s/tty.log", g_dir);
    snprintf(cmd, sizeof cmd, "script -qec \"%s match %s %s %s --points '%s' --models %s --dino-only --cache %s --out %s\" /dev/null > %s",
             getenv("GEOCORR_BIN"), g_src, g_tgt, g_tgt2, PTS, g_models, cache, at("multi3.json"), log);
    assert_int_equal(system(cmd), 0);
    char *tty = slurp(log);
    assert_non_null(strstr(tty, "\rmatch [###############"));
    assert_non_null(strstr(tty, "] 2/2 targets"));
    assert_null(strstr(tty, "(100%)")); /* the plain form's percentage is not drawn on a terminal */
    free(tty);
    expect_same_bytes(at("multi3.json"), at("multi2.json"));
}

/* ---- dense mode ---------------------------------------------------------------------------------- */

static float num(const cJSON *a, int i) { return (float)cJSON_GetArrayItem(a, i)->valuedouble; }

static void test_dense(void **state) {
    (void)state;
    char cache[1300]; /* the first test's */
    snprintf(cache, sizeof cache, "%s", at("cache"));
    run_ok("match %s %s --models %s --dino-only --cache %s --out %s --picture %s", g_src, g_tgt, g_models, cache, at("dense.json"),
           at("dense.png"));
    run_ok("match %s %s --models %s --dino-only --cache %s --out %s", g_src, g_tgt, g_models, cache, at("dense.safetensors"));
    cJSON *d = gct_load_json(at("dense.json"));
    const cJSON *match = cJSON_GetObjectItem(d, "match"), *m840 = cJSON_GetObjectItem(d, "match_840"), *score = cJSON_GetObjectItem(d, "score");
    assert_int_equal(cJSON_GetArraySize(match), 60);
    /* the cells whose centre lies in the source's band of the 840 frame (1024x768: rows 105..734) */
    gc_canvas_geom g;
    assert_int_equal(gc_canvas_geometry(1024, 768, 840, &g), GC_OK);
    int inside = 0, expected = 0;
    for (int r = 0; r < 60; r++)
        for (int c = 0; c < 60; c++) {
            const int cy = 14 * r + 7, cx = 14 * c + 7;
            expected += cx >= g.off_x && cx < g.off_x + g.band_w && cy >= g.off_y && cy < g.off_y + g.band_h;
            inside += !cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(match, r), c));
        }
    printf("  dense: %d of 3600 cells inside the source (expected %d)\n", inside, expected);
    assert_int_equal(inside, expected);
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(d, "dense"), "cells_in_source")->valuedouble, inside);
    /* a few cells through the points mode: the same matches and scores */
    static const int cells[4][2] = {{10, 20}, {30, 30}, {55, 45}, {0, 7}};
    char pts[512] = "";
    for (int i = 0; i < 4; i++) {
        float k[3] = {14.0f * cells[i][0] + 7, 14.0f * cells[i][1] + 7, 1};
        assert_int_equal(gc_kps_from_canvas(k, 1, 1024, 768, 840, k), GC_OK);
        snprintf(pts + strlen(pts), sizeof pts - strlen(pts), "%s%.9g,%.9g", i ? ";" : "", k[0], k[1]);
    }
    run_ok("match %s %s --points \"%s\" --models %s --dino-only --cache %s --out %s", g_src, g_tgt, pts, g_models, cache, at("cells.json"));
    cJSON *p = gct_load_json(at("cells.json"));
    assert_true(cJSON_Compare(cJSON_GetObjectItem(p, "align"), cJSON_GetObjectItem(d, "align"), true));
    for (int i = 0; i < 4; i++) {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "points"), i);
        const int c = cells[i][0], r = cells[i][1];
        const cJSON *dm = cJSON_GetArrayItem(cJSON_GetArrayItem(match, r), c), *d840 = cJSON_GetArrayItem(cJSON_GetArrayItem(m840, r), c);
        const cJSON *pm = cJSON_GetObjectItem(e, "match"), *p840 = cJSON_GetObjectItem(e, "match_840");
        assert_true(num(dm, 0) == num(pm, 0) && num(dm, 1) == num(pm, 1));
        assert_true(num(d840, 0) == num(p840, 0) && num(d840, 1) == num(p840, 1));
        assert_true((float)cJSON_GetArrayItem(cJSON_GetArrayItem(score, r), c)->valuedouble ==
                    (float)cJSON_GetObjectItem(e, "score")->valuedouble);
    }
    cJSON_Delete(p);
    /* the safetensors arrays hold the JSON's numbers; NaN and inside 0 outside the source */
    gc_weights *w = gct_open(at("dense.safetensors"));
    const gc_tensor_ref *tm = gc_weights_find(w, "match"), *ts = gc_weights_find(w, "score"), *ti = gc_weights_find(w, "inside");
    assert_non_null(tm);
    assert_non_null(ts);
    assert_non_null(ti);
    assert_int_equal(tm->numel, 7200);
    assert_int_equal(ti->dtype, GC_DT_U8);
    const float *xy = tm->data, *sc = ts->data;
    const uint8_t *in = ti->data;
    for (int r = 0; r < 60; r++)
        for (int c = 0; c < 60; c++) {
            const int i = r * 60 + c;
            const cJSON *e = cJSON_GetArrayItem(cJSON_GetArrayItem(match, r), c);
            assert_int_equal(in[i], !cJSON_IsNull(e));
            if (cJSON_IsNull(e)) assert_true(isnan(xy[2 * i]) && isnan(sc[i]));
            else assert_true(xy[2 * i] == num(e, 0) && xy[2 * i + 1] == num(e, 1));
        }
    cJSON *meta = cJSON_Parse(gc_weights_meta(w, "match"));
    assert_non_null(meta);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(meta, "align"), cJSON_GetObjectItem(d, "align"), true));
    assert_int_equal(computed(meta, "features"), 0);
    cJSON_Delete(meta);
    gc_weights_free(w);
    cJSON_Delete(d);
    /* the dense mode takes one target and no keypoint table */
    run_fails("the dense mode (no --points) takes one target", "match %s %s %s --models %s --dino-only", g_src, g_tgt, g_tgt2, g_models);
    run_fails("--category, --flip-table and --heatmap need --points", "match %s %s --models %s --dino-only --category cat", g_src, g_tgt,
              g_models);
}

/* ---- instance masks from boxes (SAM) ------------------------------------------------------------ */

#define BOX_S "100,50,900,700"
#define BOX_T "300,100,1200,1100"
#define BOX_T2 "40,20,300,230"

/* Decoded pixels of two PNGs are equal. */
static void expect_same_pixels(const char *a, const char *b) {
    int wa, ha, wb, hb, n;
    uint8_t *x = stbi_load(a, &wa, &ha, &n, 3), *y = stbi_load(b, &wb, &hb, &n, 3);
    assert_non_null(x);
    assert_non_null(y);
    assert_true(wa == wb && ha == hb);
    assert_memory_equal(x, y, (size_t)wa * ha * 3);
    stbi_image_free(x), stbi_image_free(y);
}

static int yellow_pixels(const char *png) {
    int w, h, n, k = 0;
    uint8_t *x = stbi_load(png, &w, &h, &n, 3);
    assert_non_null(x);
    for (int i = 0; i < w * h; i++) k += x[3 * i] == 255 && x[3 * i + 1] == 230 && x[3 * i + 2] == 0;
    stbi_image_free(x);
    return k;
}

static void test_boxes(void **state) {
    (void)state;
    run_ok("mask --sam %s --image %s --box %s --out %s", g_sam, g_src, BOX_S, at("mask_src.png"));
    run_ok("mask --sam %s --image %s --box %s --out %s", g_sam, g_tgt, BOX_T, at("mask_tgt.png"));
    /* on the three steps' feature files: the boxes' masks (SAM here) == geocorr mask's PNGs through --mask-* */
    char b[4096];
    snprintf(b, sizeof b, "match %s %s --points \"%s\" --features-src %s --features-src-flip %s --features-tgt %s --category cat", g_src,
             g_tgt, PTS, at("src.st"), at("src_flip.st"), at("tgt.st"));
    run_ok("%s --mask-src %s --mask-tgt %s --out %s --picture %s", b, at("mask_src.png"), at("mask_tgt.png"), at("by_files.json"),
           at("by_files.png"));
    run_ok("%s --box-src %s --box-tgt %s --sam %s --out %s --picture %s", b, BOX_S, BOX_T, g_sam, at("by_boxes.json"),
           at("by_boxes.png"));
    expect_same_but_computed(at("by_boxes.json"), 0, 2, at("by_files.json"));
    expect_same_pixels(at("by_boxes.png"), at("by_files.png"));
    cJSON *j = gct_load_json(at("by_boxes.json"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "align"), "distance")->valuestring, "imd");
    cJSON_Delete(j);
    /* the picture outlines the masks */
    run_ok("%s --out %s --picture %s", b, at("no_masks.json"), at("no_masks.png"));
    printf("  outline pixels: %d with masks, %d without\n", yellow_pixels(at("by_boxes.png")), yellow_pixels(at("no_masks.png")));
    assert_true(yellow_pixels(at("by_boxes.png")) > 1000);
    assert_int_equal(yellow_pixels(at("no_masks.png")), 0);
    /* --cache keeps the masks: the second run runs no model; the kept PNGs are geocorr mask's */
    char cache[1300];
    snprintf(cache, sizeof cache, "%s", at("cache_b"));
    run_ok("%s --box-src %s --box-tgt %s --sam %s --cache %s --out %s", b, BOX_S, BOX_T, g_sam, cache, at("cb1.json"));
    expect_same_but_computed(at("cb1.json"), 0, 2, at("by_files.json"));
    run_ok("%s --box-src %s --box-tgt %s --sam %s --cache %s --out %s", b, BOX_S, BOX_T, g_sam, cache, at("cb2.json"));
    expect_same_bytes(at("cb2.json"), at("by_files.json"));
    assert_non_null(strstr(gct_last_stderr(), "0 feature sets and 2 masks reused, 0 and 0 computed"));
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "ls '%s'/masks/sam_*/*.png > '%s'", cache, at("masks.txt"));
    assert_int_equal(system(cmd), 0);
    char *list = slurp(at("masks.txt")), *save, *line = strtok_r(list, "\n", &save);
    int n = 0;
    for (; line; line = strtok_r(NULL, "\n", &save), n++) {
        int w, h, c;
        uint8_t *x = stbi_load(line, &w, &h, &c, 3);
        assert_non_null(x);
        stbi_image_free(x);
        expect_same_pixels(line, at(w == 1024 ? "mask_src.png" : "mask_tgt.png"));
    }
    free(list);
    assert_int_equal(n, 2);
    /* SAM found in --models (sam_vit_h_4b8939.pth there): the masks geocorr mask makes with that file
     * (the features from the first test's cache) */
    char samfile[1400], fcache[1300];
    snprintf(samfile, sizeof samfile, "%s/sam_vit_h_4b8939.pth", g_models);
    snprintf(fcache, sizeof fcache, "%s", at("cache"));
    run_ok("mask --sam %s --image %s --box %s --out %s", samfile, g_src, BOX_S, at("mask_src_h.png"));
    run_ok("mask --sam %s --image %s --box %s --out %s", samfile, g_tgt, BOX_T, at("mask_tgt_h.png"));
    snprintf(b, sizeof b, "match %s %s --points \"%s\" --models %s --dino-only --cache %s --category cat", g_src, g_tgt, PTS, g_models,
             fcache);
    run_ok("%s --mask-src %s --mask-tgt %s --out %s", b, at("mask_src_h.png"), at("mask_tgt_h.png"), at("h_files.json"));
    run_ok("%s --box-src %s --box-tgt %s --out %s", b, BOX_S, BOX_T, at("h_boxes.json"));
    expect_same_but_computed(at("h_boxes.json"), 0, 2, at("h_files.json"));
    /* several targets: --box-tgt once per target, in order; each entry == the single run */
    run_ok("match %s %s %s --points \"%s\" --models %s --dino-only --category cat --box-src %s --box-tgt %s --box-tgt %s --sam %s "
           "--cache %s --out %s", g_src, g_tgt, g_tgt2, PTS, g_models, BOX_S, BOX_T, BOX_T2, g_sam, fcache, at("mb.json"));
    run_ok("match %s %s --points \"%s\" --models %s --dino-only --category cat --box-src %s --box-tgt %s --sam %s --cache %s --out %s",
           g_src, g_tgt2, PTS, g_models, BOX_S, BOX_T2, g_sam, fcache, at("mb1.json"));
    cJSON *m = gct_load_json(at("mb.json")), *s = gct_load_json(at("mb1.json"));
    cJSON_DeleteItemFromObject(s, "computed");
    assert_true(cJSON_Compare(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "targets"), 1), s, true));
    cJSON_Delete(m), cJSON_Delete(s);
    /* bad combinations and boxes */
    char dino[1400];
    snprintf(dino, sizeof dino, "%s/dinov2-base", g_models);
    snprintf(b, sizeof b, "match %s %s --points \"%s\" --features-src %s --features-tgt %s --features-src-flip %s", g_src, g_tgt, PTS,
             at("src.st"), at("tgt.st"), at("src_flip.st"));
    run_fails("need Segment Anything: give --sam W (or --models DIR holding sam_vit_h_4b8939.pth)", "%s --box-src %s --box-tgt %s", b,
              BOX_S, BOX_T);
    run_fails("1 --box-tgt for 2 targets", "match %s %s %s --points 1,1 --dinov2 %s --box-src %s --box-tgt %s --sam %s", g_src, g_tgt,
              g_tgt2, dino, BOX_S, BOX_T, g_sam);
    run_fails("--box-src and --box-tgt go together", "%s --box-src %s --sam %s", b, BOX_S, g_sam);
    run_fails("do not combine it with --mask-*", "%s --box-src %s --box-tgt %s --sam %s --mask-src %s --mask-tgt %s", b, BOX_S, BOX_T,
              g_sam, at("mask_src.png"), at("mask_tgt.png"));
    run_fails("--mnn does not use them", "%s --box-src %s --box-tgt %s --sam %s --mnn", b, BOX_S, BOX_T, g_sam);
    run_fails("--sam makes masks from --box-src", "%s --sam %s", b, g_sam);
    run_fails("--box-src '1,2,3': expected four numbers", "%s --box-src 1,2,3 --box-tgt %s --sam %s", b, BOX_T, g_sam);
    run_fails("is outside the 1024x768 image", "%s --box-src 100,50,1100,700 --box-tgt %s --sam %s", b, BOX_T, g_sam);
    assert_non_null(strstr(gct_last_stderr(), "instance mask of"));
}

/* ---- bad input ------------------------------------------------------------------------------------ */

static void test_bad_input(void **state) {
    (void)state;
    char b[4096];
    snprintf(b, sizeof b, "match %s %s --points \"%s\"", g_src, g_tgt, PTS);
    run_fails("--cache keeps what the models compute", "%s --features-src %s --features-tgt %s --cache %s", b, at("src.st"), at("tgt.st"),
              at("c_bad"));
    run_fails("do not combine --models / --dinov2 with --features-*", "%s --models %s --dino-only --feature-map dino", b, g_models);
    run_fails("1 --features-tgt for 2 targets", "match %s %s %s --points 1,1 --features-src %s --features-tgt %s", g_src, g_tgt, g_tgt2,
              at("src.st"), at("tgt.st"));
    run_fails("--heatmap shows one target", "match %s %s %s --points 1,1 --models %s --dino-only --heatmap 0 --heatmap-out %s", g_src,
              g_tgt, g_tgt2, g_models, at("h.png"));
    expect_failure("safetensors is the dense mode's array output",
                   gct_geocorr("%s --models %s --dino-only --out %s", b, g_models, at("x.safetensors")));
    assert_false(gc_file_exists(at("x.safetensors")));
    run_fails("give --features-src F --features-tgt F, or --models DIR", "%s", b);
    run_fails("nowhere: no such models folder", "%s --models %s --dino-only", b, at("nowhere"));
    run_fails("--groups N goes with --postproc", "%s --models %s --dino-only --groups 8", b, g_models);
    /* a keypoint id beyond any table (found by fuzz_match_json: the conversion to int64 overflowed) */
    gct_write_file(at("huge_id.json"), "[{\"x\": 10, \"y\": 10, \"id\": 1e30}]", 32);
    run_fails("huge_id.json: point 0 is not", "match %s %s --points-file %s --models %s --dino-only", g_src, g_tgt, at("huge_id.json"),
              g_models);
    /* a post-processor for the four maps on DINOv2 features names the image and the missing map */
    run_fails("antelope.jpg: feature maps: no feature map 's3' (the post-processor takes s3, s4, s5 and dino)",
              "%s --models %s --dino-only --postproc %s", b, g_models, gct_fixture("geoaware_postproc_tiny.model.safetensors"));
}

/* ---- the full tiny pipeline (SD branch) ---------------------------------------------------------- */

static void test_full_pipeline(void **state) {
    (void)state;
    if (sanitized()) {
        printf("  skipped under GEOCORR_SANITIZED (four tiny-pipeline runs take minutes there)\n");
        return;
    }
    /* models_sd/: dinov2-base/, stable-diffusion-v1-5/ (diffusers: unet/, vae/, text_encoder/ of the tiny
     * SD and CLIP text tower), clip-vit-large-patch14-336/; the captioner by its flag (the fixture is
     * safetensors, the folder's name is the ODISE .pth) */
    char m[1400], sd[1500], w[1600];
    snprintf(m, sizeof m, "%s/models_sd", g_dir);
    snprintf(sd, sizeof sd, "%s/stable-diffusion-v1-5", m);
    assert_int_equal(mkdir(m, 0755), 0);
    assert_int_equal(mkdir(sd, 0755), 0);
    model_dir_in(m, "dinov2-base", "dinov2_tiny.config.json", "dinov2_tiny.model.safetensors");
    model_dir_in(m, "clip-vit-large-patch14-336", "clip_vit_tiny.config.json", "clip_vit_tiny.openai.safetensors");
    model_dir_in(sd, "text_encoder", "clip_text_tiny.config.json", "clip_text_tiny.hf.safetensors");
    snprintf(w, sizeof w, "%s/sd_tiny.safetensors", g_dir);
    run_ok("synth-weights --manifest %s --naming diffusers --out %s", gct_fixture("sd_tiny.weights_manifest.json"), w);
    static const char *const parts[2][2] = {{"unet", "sd_tiny.unet.config.json"}, {"vae", "sd_tiny.vae.config.json"}};
    for (int i = 0; i < 2; i++) {
        char d[1600], p[1700], *text;
        size_t len;
        snprintf(d, sizeof d, "%s/%s", sd, parts[i][0]);
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(gc_read_file(gct_fixture(parts[i][1]), &text, &len, 1 << 20), GC_OK);
        snprintf(p, sizeof p, "%s/config.json", d);
        gct_write_file(p, text, len);
        free(text);
        run_ok("convert %s %s/diffusion_pytorch_model.safetensors --prefix %s.", w, d, parts[i][0]);
    }
    char flags[3000];
    snprintf(flags, sizeof flags, "--models %s --captioner %s", m, gct_fixture("captioner_tiny.safetensors"));
    /* --align off: no flipped source, 4 pipeline runs instead of 6 (each ~10 s of CPU) */
    run_ok("features %s --image %s --out %s", flags, g_src, at("sd_src.st"));
    run_ok("features %s --image %s --out %s", flags, g_tgt, at("sd_tgt.st"));
    run_ok("match %s %s --points \"%s\" --features-src %s --features-tgt %s --align off --out %s", g_src, g_tgt, PTS,
           at("sd_src.st"), at("sd_tgt.st"), at("sd_two.json"));
    char cache[1300];
    snprintf(cache, sizeof cache, "%s", at("cache_sd"));
    run_ok("match %s %s --points \"%s\" %s --cache %s --align off --out %s", g_src, g_tgt, PTS, flags, cache, at("sd_one.json"));
    expect_same_but_computed(at("sd_one.json"), 2, 0, at("sd_two.json"));
    run_ok("match %s %s --points \"%s\" %s --cache %s --align off --out %s", g_src, g_tgt, PTS, flags, cache, at("sd_again.json"));
    expect_same_bytes(at("sd_again.json"), at("sd_two.json"));
    cJSON *j = gct_load_json(at("sd_two.json"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "descriptor"), "recipe")->valuestring, "zeroshot");
    cJSON_Delete(j);
    printf("  full pipeline (s3, s4, s5, dino: zero-shot descriptor): one call == two steps; rerun computed nothing\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call_equals_three_steps),
        cmocka_unit_test(test_cache_robustness),
        cmocka_unit_test(test_multi_target),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_boxes),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_full_pipeline),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
