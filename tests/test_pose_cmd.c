/* `geocorr pose-test` from images, and the SD features it needs (REFERENCE.md sec. 9).
 * 1. The UNet taps recorded after the skip concatenation (ODISE decoder_only=False): on the tiny SD
 *    (manifest weights) at t = 50, feat{2,5,8,11} = [h, FreeU-filtered skip]; h against the fixture's
 *    geoaware.feat{k} and the skip part against the fixture's plain-run input_blocks.{j} passed through an
 *    independent float64 DFT of the Fourier filter, both to the project's 1e-4 of max|ref| (no fixture
 *    records the concatenation itself; observed <= ~1e-6).
 * 2. The command with the tiny DINOv2 (--features dino) on the 12 template photos and generated targets
 *    whose masks come from every source (a file at the image's size that takes precedence over the
 *    target's box, a file on the 960 canvas, SAM from a SPair annotation's box with the tiny SAM, none: all
 *    ones): a well-formed report that counts and names the sources; the SAM mask's pixels at 128x128 equal
 *    n_masked; and (Release) the same distances, bit for bit, as `trace pose-test` on the maps `geocorr
 *    features` writes for the masked targets with the file masks and `geocorr mask`'s mask on the 960 canvas
 *    (under the sanitizers: the report without the all-ones target). Bad arguments, box files and
 *    annotations fail before the feature models run.
 * 3. The fused test with every tiny model (SD at t = 100 after the skip concatenation): runs, well-formed
 *    report. Skipped under GEOCORR_SANITIZED (13 SD passes of the 960 canvas; ~10 s each in Release). */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"

#include "analysis/pose_boxes.h"
#include "io/prng_weights.h"
#include "models/sd.h"
#include "pipeline_models.h"
#include "sd_testutil.h"

/* ---- 1. SD taps after the skip concatenation ----------------------------------------------------- */

typedef struct {
    gc_weights *ref;
    const sd_unet *u;
    int n;
} cat_sink;

/* The reference Fourier filter (ldm.py Fourier_filter, threshold 1): the bins of frequencies {0, -1} per
 * axis (one bin when the axis has length 1) scaled by s, by a direct float64 DFT. */
static void fourier_ref(const float *x, int64_t H, int64_t W, double s, double *y) {
    int64_t fu[2] = {0, H - 1}, fv[2] = {0, W - 1};
    int nu = H > 1 ? 2 : 1, nv = W > 1 ? 2 : 1;
    for (int64_t i = 0; i < H * W; i++) y[i] = x[i];
    for (int a = 0; a < nu; a++)
        for (int b = 0; b < nv; b++) {
            double complex X = 0;
            for (int64_t m = 0; m < H; m++)
                for (int64_t n = 0; n < W; n++) X += x[m * W + n] * cexp(-2 * M_PI * I * ((double)fu[a] * m / H + (double)fv[b] * n / W));
            for (int64_t m = 0; m < H; m++)
                for (int64_t n = 0; n < W; n++)
                    y[m * W + n] += (s - 1) / (double)(H * W) * creal(X * cexp(2 * M_PI * I * ((double)fu[a] * m / H + (double)fv[b] * n / W)));
        }
}

static gc_status cat_tap(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape) {
    cat_sink *s = ctx;
    int k;
    if (sscanf(name, "feat%d", &k) != 1) return GC_OK;
    char key[64];
    snprintf(key, sizeof key, "t50.geoaware.feat%d", k);
    const gc_tensor_ref *h = gc_weights_find(s->ref, key);
    int j = s->u->n_in - k; /* the skip: input block j's output */
    const gc_tensor_ref *sk = gc_weights_findf(s->ref, "t50.unet.input_blocks.%d", j);
    assert_non_null(h);
    assert_non_null(sk);
    int64_t C = h->shape[1], Cs = sk->shape[1], H = shape[1], W = shape[2], n = H * W;
    assert_int_equal(shape[0], C + Cs);
    assert_int_equal(Cs, sd_unet_skip_channels(s->u, k));
    gct_expect_close(s->ref, key, x, C * n, 1e-4);
    /* FreeU filters the skip with s1 where h has 4*mc channels, s2 where 2*mc, else not */
    double sc = C == 4 * s->u->mc ? SD_FREEU_S1 : C == 2 * s->u->mc ? SD_FREEU_S2 : 1.0;
    const float *skip;
    assert_int_equal(gc_weights_f32(s->ref, sk->name, sk->ndim, sk->shape, &skip), GC_OK);
    float *want = malloc((size_t)(Cs * n) * sizeof(float));
    double *y = malloc((size_t)n * sizeof(double));
    for (int64_t c = 0; c < Cs; c++) {
        fourier_ref(skip + c * n, H, W, sc, y);
        for (int64_t i = 0; i < n; i++) want[c * n + i] = (float)y[i];
    }
    gc_weights *w = gc_weights_new("skip");
    assert_int_equal(gc_weights_add(w, "skip", GC_DT_F32, 2, (const int64_t[]){Cs, n}, want), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    printf("  feat%d: [%lld + %lld, %lld, %lld], skip = input_blocks.%d filtered x%.1f\n", k, (long long)C, (long long)Cs,
           (long long)H, (long long)W, j, sc);
    gct_expect_close(w, "skip", x + C * n, Cs * n, 1e-4);
    gc_weights_free(w);
    free(want);
    free(y);
    s->n++;
    return GC_OK;
}

static void test_sd_after_skip(void **state) {
    gc_weights *w, *ref = gct_open(gct_fixture("sd_tiny.io.safetensors"));
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("sd_tiny.weights_manifest.json"), "ldm", &w), GC_OK);
    gc_sd *sd;
    assert_int_equal(sd_load_weights(w, gct_fixture("sd_tiny.ldm_config.json"), &sd), GC_OK);
    int64_t dz[4], dc[4];
    const float *z = sdt_ref(ref, "t50.z_t", dz), *ctx = sdt_ref(ref, "context", dc);
    cat_sink s = {ref, &sd->unet, 0};
    sd_unet_run run = {.last_block = -1, .freeu = true, .b1 = SD_FREEU_B1, .b2 = SD_FREEU_B2, .s1 = SD_FREEU_S1,
                       .s2 = SD_FREEU_S2, .tap = cat_tap, .tap_ctx = &s, .feat_after_skip = true};
    assert_int_equal(sd_unet_forward(&sd->unet, z, dz[2], dz[3], 50.0f, ctx, dc[1], dc[2], &run, NULL), GC_OK);
    assert_int_equal(s.n, 4);
    /* stopped after output block 7 (as the pipeline runs it), block 8's input is still recorded */
    s.n = 0;
    run.last_block = 7;
    assert_int_equal(sd_unet_forward(&sd->unet, z, dz[2], dz[3], 50.0f, ctx, dc[1], dc[2], &run, NULL), GC_OK);
    assert_int_equal(s.n, 3);
    gc_sd_free(sd);
    gc_weights_free(ref);
}

/* ---- 2. the command, DINO only ----------------------------------------------------------------------- */

/* A w x h test image: a gradient with a bright disc at (cx, cy). */
static void write_image(const char *path, int w, int h, int cx, int cy, int r) {
    gc_image img;
    assert_int_equal(gc_image_alloc(&img, w, h), GC_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.rgb + 3 * (y * w + x);
            bool in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
            p[0] = in ? 240 : (uint8_t)(x * 255 / w), p[1] = in ? 200 : (uint8_t)(y * 255 / h), p[2] = in ? 40 : 90;
        }
    assert_int_equal(gc_image_save_png(path, &img), GC_OK);
    gc_image_free(&img);
}

/* A w x h mask PNG (0/255) with a filled rectangle. */
static void write_mask(const char *path, int w, int h, int x0, int y0, int x1, int y1) {
    gc_image img;
    assert_int_equal(gc_image_alloc(&img, w, h), GC_OK);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) memset(img.rgb + 3 * (y * w + x), 255, 3);
    assert_int_equal(gc_image_save_png(path, &img), GC_OK);
    gc_image_free(&img);
}

typedef struct {
    char dir[1024], targets[1100], masks[1100], labels[1100], ann[1100], sam[1100];
} target_set;

static const int k_tw[3] = {120, 64, 80}, k_th[3] = {90, 100, 80};
/* t3: a white square on black, prompted in a corner, where the tiny SAM's mask is small (about an eighth of
 * the canvas; its IMD costs in proportion) and not empty */
static const float k_t3_box[4] = {100, 100, 117, 117};

/* A SPair-71k image annotation of a w x h image with the box and no keypoints. */
static void write_annotation(const char *path, int w, int h, const float b[4]) {
    char kps[1024] = "";
    for (int i = 0; i < 30; i++) snprintf(kps + strlen(kps), sizeof kps - strlen(kps), "%s\"%d\": null", i ? ", " : "", i);
    char *t = gc_strfmt("{\"image_width\": %d, \"image_height\": %d, \"bndbox\": [%g, %g, %g, %g], \"kps\": {%s}}", w,
                        h, b[0], b[1], b[2], b[3], kps);
    gct_write_file(path, t, strlen(t));
    free(t);
}

/* Four generated targets t0..t3 with labels l, f, r, b and their mask sources:
 * t0: a mask file at the image's size, and a box (the file comes first);
 * t1: a mask file on the 960 canvas;
 * t2: neither a mask file nor a box: all ones (the fallback);
 * t3: only a box (a SPair annotation in ann/): SAM's mask from it.
 * The tiny SAM as a model folder in sam/. */
static void make_targets(target_set *t, const char *tag) {
    snprintf(t->dir, sizeof t->dir, "%s", gct_tmpdir(tag));
    snprintf(t->targets, sizeof t->targets, "%s/targets", t->dir);
    snprintf(t->masks, sizeof t->masks, "%s/masks", t->dir);
    snprintf(t->labels, sizeof t->labels, "%s/labels.json", t->dir);
    snprintf(t->ann, sizeof t->ann, "%s/ann", t->dir);
    snprintf(t->sam, sizeof t->sam, "%s/sam", t->dir);
    char p[8000];
    snprintf(p, sizeof p, "mkdir -p '%s' '%s' '%s' '%s' && ln -s '%s' '%s/config.json' && ln -s '%s' '%s/model.safetensors'",
             t->targets, t->masks, t->ann, t->sam, gct_fixture("sam/sam_tiny.config.json"), t->sam,
             gct_fixture("sam/sam_tiny.model.safetensors"), t->sam);
    assert_int_equal(system(p), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/t%d.png", t->targets, i);
        write_image(p, k_tw[i], k_th[i], k_tw[i] / 3 + 10 * i, k_th[i] / 2, 15 + 5 * i);
    }
    snprintf(p, sizeof p, "%s/t3.png", t->targets);
    write_mask(p, 120, 120, 50, 50, 70, 70);
    snprintf(p, sizeof p, "%s/t0.png", t->masks);
    write_mask(p, 120, 90, 20, 30, 60, 70);
    snprintf(p, sizeof p, "%s/t1.png", t->masks);
    write_mask(p, 960, 960, 300, 400, 500, 560);
    snprintf(p, sizeof p, "%s/t0.json", t->ann);
    write_annotation(p, 120, 90, (const float[4]){10, 10, 100, 80});
    snprintf(p, sizeof p, "%s/t3.json", t->ann);
    write_annotation(p, 120, 120, k_t3_box);
    const char *lab = "{\"targets\": [{\"name\": \"t0\", \"pose\": \"l\"}, {\"name\": \"t1.png\", \"pose\": \"f\"}, "
                      "{\"name\": \"t2\", \"pose\": \"r\"}, {\"name\": \"t3\", \"pose\": \"b\"}]}";
    gct_write_file(t->labels, lab, strlen(lab));
}

/* Checks the report's shape: n targets named and labelled as given, 12 positive finite distances each,
 * n_masked in 1..16384 (16384 where all_ones), votes in range, metrics and counts present. */
static cJSON *check_report(const char *path, int n, const char *const *names, const char *labels, const bool *all_ones) {
    cJSON *j = gct_load_json(path);
    const cJSON *ts = cJSON_GetObjectItem(j, "targets");
    assert_int_equal(cJSON_GetArraySize(ts), n);
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(ts, i);
        assert_string_equal(cJSON_GetObjectItem(t, "name")->valuestring, names[i]);
        assert_int_equal(cJSON_GetObjectItem(t, "label")->valuestring[0], labels[i]);
        int64_t nm = (int64_t)cJSON_GetObjectItem(t, "n_masked")->valuedouble;
        assert_true(nm >= 1 && nm <= 16384);
        if (all_ones[i]) assert_int_equal(nm, 16384);
        else assert_true(nm < 16384);
        const cJSON *d = cJSON_GetObjectItem(t, "distances");
        assert_int_equal(cJSON_GetArraySize(d), 12);
        for (int k = 0; k < 12; k++) assert_true(cJSON_GetArrayItem(d, k)->valuedouble > 0 && isfinite(cJSON_GetArrayItem(d, k)->valuedouble));
        for (int s = 0; s < 3; s++) assert_in_range(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "set_argmin"), s)->valueint, 0, 3);
        assert_non_null(strchr("bflr", cJSON_GetObjectItem(t, "pose4")->valuestring[0]));
    }
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counts"), "total")->valuedouble, n);
    const cJSON *m = cJSON_GetObjectItem(j, "metrics");
    double c2 = cJSON_GetObjectItem(m, "correct_2")->valuedouble;
    assert_true(c2 >= 0 && c2 <= 1);
    return j;
}

/* The tiny DINOv2 as a model folder (the other tiny models are not needed with --features dino). */
static void tiny_dino(models *m) { model_dir(m->dino, "pose_dino_model", "dinov2_tiny.config.json", "dinov2_tiny.model.safetensors"); }

/* Ones of a 0/1 960 x 960 mask at 128 x 128 by PyTorch's nearest (source index floor(dst * 7.5)), written
 * out here on its own. */
static int64_t ones_at_128(const uint8_t *m) {
    int64_t n = 0;
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++) n += m[(int)floor(y * 7.5) * 960 + (int)floor(x * 7.5)] != 0;
    return n;
}

static void test_cmd_dino(void **state) {
    models m;
    tiny_dino(&m);
    target_set t;
    make_targets(&t, "pose_cmd_dino");
    /* under the sanitizers without t2: its all-ones mask costs 12 x 16384^2 distances, twice */
    const bool san = getenv("GEOCORR_SANITIZED") != NULL;
    const int n = san ? 3 : 4, *idx = san ? (const int[]){0, 1, 3} : (const int[]){0, 1, 2, 3};
    if (san) {
        const char *lab = "{\"targets\": [{\"name\": \"t0\", \"pose\": \"l\"}, {\"name\": \"t1.png\", \"pose\": \"f\"}, "
                          "{\"name\": \"t3\", \"pose\": \"b\"}]}";
        gct_write_file(t.labels, lab, strlen(lab));
    }
    const char *tdir = gct_fixture("images/pose_template"), *out = gct_path(t.dir, "out.json");
    int rc = gct_geocorr("pose-test --dinov2 %s --features dino --templates %s --targets %s --labels %s --masks %s --sam %s "
                         "--boxes %s --json %s --verbose", m.dino, tdir, t.targets, t.labels, t.masks, t.sam, t.ann, out);
    if (rc != 0) fail_msg("pose-test failed: %s", gct_last_stderr());
    printf("%s", gct_last_stderr());
    static const char *const all_names[4] = {"t0", "t1.png", "t2", "t3"}, *const sources[4] = {"file", "file", "all_ones", "sam"};
    const char *names[4];
    char labs[5] = "";
    bool ones[4];
    for (int i = 0; i < n; i++) names[i] = all_names[idx[i]], labs[i] = "lfrb"[idx[i]], ones[i] = idx[i] == 2;
    cJSON *got = check_report(out, n, names, labs, ones);
    const cJSON *run = cJSON_GetObjectItem(got, "run");
    assert_string_equal(cJSON_GetObjectItem(run, "features")->valuestring, "dino");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(run, "templates")), 12);
    /* the mask sources: t0's file before its box, t1's file, t2 all ones (no file, no box), t3 SAM */
    const cJSON *mk = cJSON_GetObjectItem(run, "masks"), *src = cJSON_GetObjectItem(mk, "source"), *fb = cJSON_GetObjectItem(mk, "all_ones");
    assert_int_equal(cJSON_GetObjectItem(mk, "n_file")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(mk, "n_sam")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(mk, "n_all_ones")->valueint, san ? 0 : 1);
    assert_int_equal(cJSON_GetArraySize(src), n);
    for (int i = 0; i < n; i++) assert_string_equal(cJSON_GetArrayItem(src, i)->valuestring, sources[idx[i]]);
    assert_int_equal(cJSON_GetArraySize(fb), san ? 0 : 1);
    if (!san) assert_string_equal(cJSON_GetArrayItem(fb, 0)->valuestring, "t2");
    /* t3's mask is `geocorr mask` on its 960 canvas with the box mapped: its pixels at 128x128 are the
     * report's n_masked (exact: both count the same nearest samples) */
    float cb[4];
    uint8_t *sam3 = gct_sam_canvas_mask(t.sam, gct_path(t.targets, "t3.png"), k_t3_box, t.dir, cb);
    const int64_t want3 = ones_at_128(sam3);
    const cJSON *r3 = cJSON_GetArrayItem(cJSON_GetObjectItem(got, "targets"), n - 1);
    printf("  t3: geocorr mask with box (%.6g, %.6g, %.6g, %.6g) on the canvas: %lld pixels at 128x128, report n_masked %lld\n",
           cb[0], cb[1], cb[2], cb[3], (long long)want3, (long long)cJSON_GetObjectItem(r3, "n_masked")->valuedouble);
    assert_true(want3 >= 1 && want3 < 16384); /* a real mask, not the fallback */
    assert_int_equal((int64_t)cJSON_GetObjectItem(r3, "n_masked")->valuedouble, want3);

    if (san) { /* the comparison below is 15 more DINOv2 passes: Release only */
        free(sam3);
        cJSON_Delete(got);
        return;
    }
    /* the same maps through `features` and the trace, with the masks the command should have used: the
     * files, `geocorr mask`'s for t3; t2 (all ones, no mask: the same NULL mask in both) is left out here:
     * its 12 x 16384^2 distances would cost as much as the rest, and the trace's all-ones path is checked
     * against the reference in test_pose_test */
    static const int cmp[3] = {0, 1, 3};
    const char *cmp_labels = "{\"targets\": [{\"name\": \"t0\", \"pose\": \"l\"}, {\"name\": \"t1.png\", \"pose\": \"f\"}, "
                             "{\"name\": \"t3\", \"pose\": \"b\"}]}";
    const char *lab3 = gct_path(t.dir, "labels3.json");
    gct_write_file(lab3, cmp_labels, strlen(cmp_labels));
    gc_st_writer *wr = gc_st_writer_new();
    char img[1400], feat[1400], name[64];
    for (int i = 0; i < 12 + 3; i++) {
        bool tm = i < 12;
        const int ti = tm ? -1 : cmp[i - 12]; /* the target's index in t0..t3 */
        static const char *const tn[12] = {"black_back", "black_front", "black_left", "black_right", "orange_back", "orange_front",
                                           "orange_left", "orange_right", "white_back", "white_front", "white_left", "white_right"};
        if (tm) snprintf(img, sizeof img, "%s/cat_%s.png", tdir, tn[i]);
        else snprintf(img, sizeof img, "%s/t%d.png", t.targets, ti);
        snprintf(feat, sizeof feat, "%s/f%d.safetensors", t.dir, i);
        if (gct_geocorr("features --dinov2 %s --image %s --out %s", m.dino, img, feat) != 0) fail_msg("features: %s", gct_last_stderr());
        gc_weights *f = gct_open(feat);
        const gc_tensor_ref *r = gc_weights_find(f, "dino");
        snprintf(name, sizeof name, tm ? "template.%d.dino" : "target.%d.dino", tm ? i : i - 12);
        assert_int_equal(gc_st_writer_add(wr, name, r->dtype, r->ndim, r->shape, r->data), GC_OK);
        gc_weights_free(f);
        if (tm) continue;
        uint8_t *canvas = calloc(960 * 960, 1);
        if (ti < 2) {
            gc_image im, mi;
            assert_int_equal(gc_image_load(img, &im), GC_OK);
            snprintf(feat, sizeof feat, "%s/t%d.png", t.masks, ti);
            assert_int_equal(gc_image_load(feat, &mi), GC_OK);
            assert_int_equal(gc_mask_to_canvas(&mi, im.w, im.h, 0, canvas), GC_OK);
            gc_image_free(&mi), gc_image_free(&im);
        } else {
            memcpy(canvas, sam3, 960 * 960);
        }
        snprintf(name, sizeof name, "target.%d.mask", i - 12);
        assert_int_equal(gc_st_writer_add(wr, name, GC_DT_U8, 2, (const int64_t[]){960, 960}, canvas), GC_OK);
        free(canvas);
    }
    const char *in = gct_path(t.dir, "in.safetensors"), *out2 = gct_path(t.dir, "trace.json");
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    if (gct_geocorr("trace pose-test --features dino --inputs %s --labels %s --out %s", in, lab3, out2) != 0)
        fail_msg("trace: %s", gct_last_stderr());
    cJSON *tr = gct_load_json(out2);
    for (int j = 0; j < 3; j++) {
        const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(got, "targets"), cmp[j]), *b = cJSON_GetArrayItem(cJSON_GetObjectItem(tr, "targets"), j);
        assert_string_equal(cJSON_GetObjectItem(a, "name")->valuestring, cJSON_GetObjectItem(b, "name")->valuestring);
        assert_int_equal(cJSON_GetObjectItem(a, "n_masked")->valueint, cJSON_GetObjectItem(b, "n_masked")->valueint);
        for (int k = 0; k < 12; k++) /* the same floats through the same code */
            assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "distances"), k)->valuedouble ==
                        cJSON_GetArrayItem(cJSON_GetObjectItem(b, "distances"), k)->valuedouble);
    }
    printf("  command == trace on the same maps and masks (t3: geocorr mask's) for t0, t1, t3 x 12 templates\n");
    free(sam3);
    cJSON_Delete(tr);
    cJSON_Delete(got);
}

/* The box file's keys name targets by their stem; a target without a key has none. */
static void test_boxes_parse(void **state) {
    gc_pose_labels l;
    assert_int_equal(gc_pose_labels_parse("{\"targets\": [{\"name\": \"a\", \"pose\": \"l\"}, {\"name\": \"b.jpg\", "
                                          "\"pose\": \"r\"}, {\"name\": \"c\", \"pose\": \"f\"}]}", "labels", &l), GC_OK);
    gc_pose_box b[3];
    assert_int_equal(gc_pose_boxes_parse("{\"boxes\": {\"a.jpg\": [1, 2, 3, 4.5], \"b\": [0, 0, 10, 10], \"x\": [5, 6, 7, 8]}}",
                                         "boxes", &l, b), GC_OK);
    assert_true(b[0].found && b[1].found && !b[2].found);
    assert_memory_equal(b[0].box, ((const float[4]){1, 2, 3, 4.5f}), sizeof b[0].box);
    assert_memory_equal(b[1].box, ((const float[4]){0, 0, 10, 10}), sizeof b[1].box);
    assert_int_equal(b[0].w, 0); /* no image size in a box file */
    gc_pose_labels_free(&l);
}

static void expect_fail(const char *args, const char *needle) {
    int rc = gct_geocorr("pose-test %s", args);
    const char *err = gct_last_stderr();
    printf("  rc %d: %s", rc, err);
    assert_true(rc > 0 && rc < 128);
    if (!strstr(err, needle)) fail_msg("message lacks '%s'", needle);
}

static void test_cmd_bad(void **state) {
    models m;
    tiny_dino(&m);
    target_set t;
    make_targets(&t, "pose_cmd_bad");
    const char *tdir = gct_fixture("images/pose_template");
    char a[8000], d[1300], p[4800];
    /* 11 templates; then 12 in the wrong order */
    snprintf(d, sizeof d, "%s/tmpl", t.dir);
    snprintf(p, sizeof p, "mkdir -p '%s' && cp '%s'/*.png '%s'/ && rm '%s/cat_white_right.png'", d, tdir, d, d);
    assert_int_equal(system(p), 0);
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s", m.dino, d, t.targets, t.labels);
    expect_fail(a, "11 template PNGs; the test needs 12");
    snprintf(p, sizeof p, "cp '%s/cat_white_back.png' '%s/cat_white_zfront.png'", d, d);
    assert_int_equal(system(p), 0);
    expect_fail(a, "template 11 in sorted order is cat_white_zfront.png; expected a name ending in _right.png");
    /* a missing target image and a missing mask (--masks alone: every target needs its file), reported before
     * any model runs */
    snprintf(p, sizeof p, "%s/t1.png", t.targets);
    assert_int_equal(rename(p, gct_path(t.dir, "moved.png")), 0);
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s", m.dino, tdir, t.targets, t.labels);
    expect_fail(a, "no image for target \"t1.png\"");
    assert_int_equal(rename(gct_path(t.dir, "moved.png"), p), 0);
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s --masks %s", m.dino, tdir, t.targets,
             t.labels, t.masks);
    expect_fail(a, "t2.png: no mask for target \"t2\"");
    /* SAM options: --sam and --boxes together, --sam-config with --sam */
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s --sam %s", m.dino, tdir, t.targets,
             t.labels, t.sam);
    expect_fail(a, "--sam W and --boxes SRC go together");
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s --sam-config x.json", m.dino, tdir,
             t.targets, t.labels);
    expect_fail(a, "--sam-config needs --sam W");
    /* malformed box files, each named with the key at fault; a missing one */
    static const char *const bad[][2] = {
        {"{\"boxes\": {\"t3\": [1, 2, 3]", "not valid JSON"},
        {"{\"t3\": [1, 2, 3, 4]}", "expected {\"boxes\": {\"<target name>\": [x1, y1, x2, y2], ...}}"},
        {"{\"boxes\": {\"t3\": [1, 2, 3]}}", "boxes[\"t3\"] must be [x1, y1, x2, y2]"},
        {"{\"boxes\": {\"other\": [1, 2, \"3\", 4]}}", "boxes[\"other\"] must be [x1, y1, x2, y2]"},
        {"{\"boxes\": {\"t3\": [50, 10, 20, 30]}}", "boxes[\"t3\"] (50, 10, 20, 30) is inverted"},
        {"{\"boxes\": {\"t3\": [1, 2, 1e300, 4]}}", "coordinate 2 (inf) is not a number within 1e6 pixels"},
        {"{\"boxes\": {\"t3\": [1, 2, 3, 4], \"t3.png\": [1, 2, 3, 4]}}", "two boxes for target \"t3\""},
        {"{\"boxes\": {\"t3\": [200, 10, 300, 20]}}", "t3.png: its --boxes box (200, 10, 300, 20) lies outside the 120x120 image"},
    };
    const char *bf = gct_path(t.dir, "boxes.json");
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s --sam %s --boxes %s", m.dino, tdir,
             t.targets, t.labels, t.sam, bf);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gct_write_file(bf, bad[i][0], strlen(bad[i][0]));
        expect_fail(a, bad[i][1]);
        if (i < 7 && !strstr(gct_last_stderr(), bf)) fail_msg("message does not name %s", bf);
    }
    unlink(bf);
    expect_fail(a, "boxes.json");
    /* a malformed SPair annotation, and one of another image size */
    snprintf(a, sizeof a, "--dinov2 %s --features dino --templates %s --targets %s --labels %s --sam %s --boxes %s", m.dino, tdir,
             t.targets, t.labels, t.sam, t.ann);
    snprintf(p, sizeof p, "%s/t3.json", t.ann);
    const char *ann = "{\"image_width\": 120, \"image_height\": 120, \"bndbox\": [1, 2]}";
    gct_write_file(p, ann, strlen(ann));
    expect_fail(a, "t3.json: 'bndbox' must be a list of 4 numbers");
    write_annotation(p, 121, 120, k_t3_box);
    expect_fail(a, "t3.png: its --boxes annotation is for a 121x120 image, the image is 120x120");
    /* fused needs the SD branch; a bad mode; bad PCA dims */
    snprintf(a, sizeof a, "--dinov2 %s --templates %s --targets %s --labels %s", m.dino, tdir, t.targets, t.labels);
    expect_fail(a, "--features fused needs the SD branch");
    snprintf(a, sizeof a, "--dinov2 %s --features sdx --templates %s --targets %s --labels %s", m.dino, tdir, t.targets, t.labels);
    expect_fail(a, "--features 'sdx'");
    snprintf(a, sizeof a, "--dinov2 %s --features dino --pca-dims 0 --templates %s --targets %s --labels %s", m.dino, tdir,
             t.targets, t.labels);
    expect_fail(a, "--pca-dims 0");
}

/* ---- 3. the fused test with every tiny model -------------------------------------------------------- */

static void test_cmd_fused(void **state) {
    if (getenv("GEOCORR_SANITIZED")) {
        printf("  skipped under GEOCORR_SANITIZED=1 (13 SD passes of the 960 canvas)\n");
        return;
    }
    models m;
    tiny_models(&m);
    target_set t;
    make_targets(&t, "pose_cmd_fused");
    const char *lab = "{\"targets\": [{\"name\": \"t0\", \"pose\": \"b\"}]}";
    gct_write_file(t.labels, lab, strlen(lab));
    const char *out = gct_path(t.dir, "out.json");
    if (gct_geocorr("pose-test %s --templates %s --targets %s --labels %s --masks %s --pca-dims 8 --json %s", m.flags,
                    gct_fixture("images/pose_template"), t.targets, t.labels, t.masks, out) != 0)
        fail_msg("pose-test: %s", gct_last_stderr());
    const char *names[1] = {"t0"};
    const bool ones[1] = {false};
    cJSON *got = check_report(out, 1, names, "b", ones);
    const cJSON *run = cJSON_GetObjectItem(got, "run");
    assert_string_equal(cJSON_GetObjectItem(run, "features")->valuestring, "fused");
    assert_non_null(strstr(cJSON_GetObjectItem(run, "sd")->valuestring, "t = 100"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(got, "metrics"), "correct_2_lr")));
    cJSON_Delete(got);
}

/* `test_pose_cmd fused` runs the fused case alone (its own CTest test, so it runs beside the rest). */
int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sd_after_skip),
        cmocka_unit_test(test_boxes_parse),
        cmocka_unit_test(test_cmd_bad),
        cmocka_unit_test(test_cmd_dino),
    };
    const struct CMUnitTest fused[] = {cmocka_unit_test(test_cmd_fused)};
    if (argc > 1 && strcmp(argv[1], "fused") == 0) return cmocka_run_group_tests(fused, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
