/* The reference preprocessing against fixtures/preprocess.safetensors (Pillow 9.4 + libjpeg-turbo
 * 2.1.5): for every fixture image, canvases 840 and 960, original and flipped, starting from the
 * stored Pillow-decoded pixels AND from geocorr's own decode of the image file. Everything is
 * compared exactly (SHA-256 of canvas and band, per-channel sums, the stored rows, keypoints
 * bit for bit): observed 0 differing bytes in all 112 cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "base/sha256.h"
#include "io/config.h"
#include "io/image.h"
#include "pipeline/preprocess.h"

static gc_weights *g_ref;
static cJSON *g_geo;

static int setup(void **state) {
    g_ref = gct_open(gct_fixture("preprocess.safetensors"));
    if (gc_json_load(gct_fixture("preprocess_geometry.json"), &g_geo) != GC_OK) return -1;
    return 0;
}

static int teardown(void **state) {
    gc_weights_free(g_ref);
    cJSON_Delete(g_geo);
    return 0;
}

static const gc_tensor_ref *ref_find(const char *fmt, const char *tag, const char *suffix) {
    const gc_tensor_ref *r = gc_weights_findf(g_ref, fmt, tag, suffix);
    if (!r) fail_msg("fixture key missing: %s%s", tag, suffix);
    return r;
}

/* Float32 view of a fixture tensor (converted/aligned by the set: fixture tensors are packed). */
static const float *ref_f32(const char *tag, const char *suffix) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", tag, suffix);
    const float *p;
    if (GC_WEIGHT(g_ref, name, &p, -1, 3) != GC_OK) fail_msg("%s", gc_last_error());
    return p;
}

static void expect_digest(const char *key, const uint8_t *data, size_t len) {
    const gc_tensor_ref *r = gc_weights_find(g_ref, key);
    if (!r || r->nbytes != 32) fail_msg("fixture key missing: %s", key);
    uint8_t d[32];
    gc_sha256(data, len, d);
    if (memcmp(d, r->data, 32) != 0) fail_msg("%s: SHA-256 differs from the reference", key);
}

/* Fixture tags: every "<tag>.kps.in" key. Returns the count; names into tags (caller frees). */
static int fixture_tags(char ***tags) {
    int n = 0;
    *tags = calloc((size_t)gc_weights_count(g_ref), sizeof(char *));
    for (int64_t i = 0; i < gc_weights_count(g_ref); i++) {
        const char *name = gc_weights_at(g_ref, i)->name;
        size_t l = strlen(name);
        if (l > 7 && strcmp(name + l - 7, ".kps.in") == 0) (*tags)[n++] = strndup(name, l - 7);
    }
    assert_true(n >= 14);
    return n;
}

static void free_tags(char **tags, int n) {
    for (int i = 0; i < n; i++) free(tags[i]);
    free(tags);
}

/* resize(img, S) for one tag / size / flip, compared with everything the fixture stores. */
static void check_canvas(const char *tag, const gc_image *img, int S, int flip) {
    char key[256], sub[32];
    snprintf(sub, sizeof sub, "%d%s", S, flip ? ".flip" : "");
    gc_image canvas, band;
    assert_int_equal(gc_image_to_canvas(img, S, flip, &canvas, &band), GC_OK);
    assert_int_equal(canvas.w, S);
    assert_int_equal(canvas.h, S);

    /* Geometry as preprocess_geometry.json records it. */
    const cJSON *gs = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(g_geo, tag), "sizes"), sub);
    assert_non_null(gs);
    const cJSON *wh = cJSON_GetObjectItem(gs, "resized_WxH"), *rows = cJSON_GetObjectItem(gs, "rows"),
                *cols = cJSON_GetObjectItem(gs, "cols");
    gc_canvas_geom g;
    assert_int_equal(gc_canvas_geometry(img->w, img->h, S, &g), GC_OK);
    assert_int_equal(band.w, cJSON_GetArrayItem(wh, 0)->valueint);
    assert_int_equal(band.h, cJSON_GetArrayItem(wh, 1)->valueint);
    assert_int_equal(g.off_y, cJSON_GetArrayItem(rows, 0)->valueint);
    assert_int_equal(g.off_y + g.band_h, cJSON_GetArrayItem(rows, 1)->valueint);
    assert_int_equal(g.off_x, cJSON_GetArrayItem(cols, 0)->valueint);
    assert_int_equal(g.off_x + g.band_w, cJSON_GetArrayItem(cols, 1)->valueint);

    snprintf(key, sizeof key, "%s.%s.canvas.sha256", tag, sub);
    expect_digest(key, canvas.rgb, (size_t)S * S * 3);
    snprintf(key, sizeof key, "%s.%s.band.sha256", tag, sub);
    expect_digest(key, band.rgb, (size_t)band.w * band.h * 3);

    /* The stored sums and rows give a readable failure when a hash differs. */
    int64_t sum[3] = {0, 0, 0};
    for (size_t i = 0; i < (size_t)S * S; i++)
        for (int c = 0; c < 3; c++) sum[c] += canvas.rgb[3 * i + c];
    snprintf(key, sizeof key, ".%s.canvas.sum", sub);
    const gc_tensor_ref *rs = ref_find("%s%s", tag, key);
    assert_memory_equal(sum, rs->data, sizeof sum);
    snprintf(key, sizeof key, ".%s.canvas.rows_index", sub);
    const gc_tensor_ref *ri = ref_find("%s%s", tag, key);
    snprintf(key, sizeof key, ".%s.canvas.rows", sub);
    const gc_tensor_ref *rr = ref_find("%s%s", tag, key);
    int64_t idx[8]; /* tensors in the fixture are packed: copy, do not cast (alignment) */
    assert_true(ri->numel <= 8);
    memcpy(idx, ri->data, ri->nbytes);
    for (int64_t k = 0; k < ri->numel; k++) {
        const uint8_t *want = (const uint8_t *)rr->data + k * S * 3, *got = canvas.rgb + idx[k] * S * 3;
        int maxd = 0;
        for (int i = 0; i < S * 3; i++) maxd = GC_MAX(maxd, abs((int)want[i] - (int)got[i]));
        if (maxd) fail_msg("%s.%s canvas row %lld: max |diff| %d", tag, sub, (long long)idx[k], maxd);
    }
    snprintf(key, sizeof key, ".%s.band", sub);
    const gc_tensor_ref *rb = gc_weights_findf(g_ref, "%s%s", tag, key);
    if (rb) {
        assert_int_equal(rb->nbytes, (size_t)band.w * band.h * 3);
        assert_memory_equal(rb->data, band.rgb, rb->nbytes);
    }
    gc_image_free(&canvas);
    gc_image_free(&band);
}

static void check_all_canvases(const char *tag, const gc_image *img) {
    for (int S = GC_CANVAS_DINO; S <= GC_CANVAS_SD; S += GC_CANVAS_SD - GC_CANVAS_DINO)
        for (int flip = 0; flip < 2; flip++) check_canvas(tag, img, S, flip);
}

/* The resampler alone, from the pixels Pillow decoded (the small fixtures store them in full). */
static void test_canvas_from_stored_pixels(void **state) {
    char **tags;
    int n = fixture_tags(&tags), checked = 0;
    for (int t = 0; t < n; t++) {
        const gc_tensor_ref *r = gc_weights_findf(g_ref, "%s.src_rgb", tags[t]);
        if (!r) continue;
        gc_image img = {(int32_t)r->shape[1], (int32_t)r->shape[0], (uint8_t *)r->data};
        check_all_canvases(tags[t], &img);
        checked++;
    }
    printf("canvases from stored pixels: %d images x 4 canvases bit-exact\n", checked);
    assert_true(checked >= 7);
    free_tags(tags, n);
}

/* Our decode of the image files (JPEG through libjpeg-turbo, PNG through stb_image), then the
 * canvases: src_rgb must equal Pillow's decode bit for bit, so must everything after it. */
static void test_canvas_from_decoded_files(void **state) {
    char **tags;
    int n = fixture_tags(&tags);
    /* Under the sanitizers the two big JPEGs and four of the 512x512 PNGs stay (time budget). */
    const bool quick = getenv("GEOCORR_SANITIZED") != NULL;
    int checked = 0;
    for (int t = 0; t < n; t++) {
        const char *tag = tags[t];
        if (quick && strstr(tag, "pose_template") && !strstr(tag, "black")) continue;
        const cJSON *file = cJSON_GetObjectItem(cJSON_GetObjectItem(g_geo, tag), "file");
        assert_non_null(file);
        char rel[256];
        snprintf(rel, sizeof rel, "%s", file->valuestring);
        gc_image img;
        if (gc_image_load(gct_fixture(rel), &img) != GC_OK) fail_msg("%s: %s", rel, gc_last_error());
        const size_t nb = (size_t)img.w * img.h * 3;
        const gc_tensor_ref *full = gc_weights_findf(g_ref, "%s.src_rgb", tag);
        if (full) {
            assert_int_equal(full->nbytes, nb);
            assert_memory_equal(full->data, img.rgb, nb);
        } else {
            char key[256];
            snprintf(key, sizeof key, "%s.src_rgb.sha256", tag);
            int64_t sum[3] = {0, 0, 0};
            for (size_t i = 0; i < nb; i++) sum[i % 3] += img.rgb[i];
            const gc_tensor_ref *rs = ref_find("%s%s", tag, ".src_rgb.sum");
            const gc_tensor_ref *rm = ref_find("%s%s", tag, ".src_rgb.row_mid");
            if (memcmp(sum, rs->data, sizeof sum) != 0 || rm->nbytes != (size_t)img.w * 3 ||
                memcmp(rm->data, img.rgb + (size_t)(img.h / 2) * img.w * 3, rm->nbytes) != 0)
                fail_msg("%s: decoded pixels differ from Pillow's (channel sums or middle row)", rel);
            expect_digest(key, img.rgb, nb);
        }
        check_all_canvases(tag, &img);
        gc_image_free(&img);
        checked++;
    }
    printf("decoded files: %d images, src_rgb and 4 canvases each bit-exact\n", checked);
    free_tags(tags, n);
}

static void test_keypoints(void **state) {
    char **tags;
    int n = fixture_tags(&tags);
    for (int t = 0; t < n; t++) {
        const char *tag = tags[t];
        const cJSON *e = cJSON_GetObjectItem(g_geo, tag);
        const int w = cJSON_GetObjectItem(e, "W")->valueint, h = cJSON_GetObjectItem(e, "H")->valueint;
        const gc_tensor_ref *kin = ref_find("%s%s", tag, ".kps.in"), *k840 = ref_find("%s%s", tag, ".kps.840"),
                            *kflip = ref_find("%s%s", tag, ".kps.840.flip"),
                            *oxs = ref_find("%s%s", tag, ".kps.offset_xy_scale");
        const int64_t nk = kin->shape[0];
        float got[64 * 3], flip[64 * 3], back[64 * 3];
        assert_true(nk <= 64);
        const float *in = ref_f32(tag, ".kps.in");
        assert_int_equal(gc_kps_to_canvas(in, nk, w, h, GC_CANVAS_DINO, got), GC_OK);
        if (memcmp(got, k840->data, k840->nbytes) != 0) fail_msg("%s: kps.840 differs from the reference", tag);
        gc_kps_flip(got, nk, GC_CANVAS_DINO, flip);
        if (memcmp(flip, kflip->data, kflip->nbytes) != 0) fail_msg("%s: kps.840.flip differs", tag);

        gc_canvas_geom g;
        assert_int_equal(gc_canvas_geometry(w, h, GC_CANVAS_DINO, &g), GC_OK);
        double o[3];
        assert_int_equal(oxs->nbytes, sizeof o);
        memcpy(o, oxs->data, sizeof o);
        assert_true(o[0] == (h > w ? g.off_x : 0) && o[1] == (h < w ? g.off_y : 0) && o[2] == g.scale);
        assert_true(gc_threshold_to_canvas(100.0, w, h, GC_CANVAS_DINO) == 100.0 * o[2]);

        /* Back to original pixels: visible rows return (float32 round trip), invisible rows are 0. */
        assert_int_equal(gc_kps_from_canvas(got, nk, w, h, GC_CANVAS_DINO, back), GC_OK);
        for (int64_t i = 0; i < nk; i++) {
            if (in[3 * i + 2] == 0.0f) {
                assert_true(back[3 * i] == 0.0f && back[3 * i + 1] == 0.0f && back[3 * i + 2] == 0.0f);
                continue;
            }
            for (int c = 0; c < 2; c++)
                if (fabsf(back[3 * i + c] - in[3 * i + c]) > 1e-4f * GC_MAX(w, h))
                    fail_msg("%s kp %lld: from_canvas %g vs %g", tag, (long long)i, back[3 * i + c], in[3 * i + c]);
            assert_true(back[3 * i + 2] == in[3 * i + 2]);
        }
    }
    free_tags(tags, n);
}

/* Same bytes for any thread count (rows are partitioned, never reduced across threads). */
static void test_thread_determinism(void **state) {
    gc_image img, c1, c2;
    assert_int_equal(gc_image_load(gct_fixture("images/synth_square_101x101.png"), &img), GC_OK);
    gc_set_threads(1);
    assert_int_equal(gc_image_to_canvas(&img, GC_CANVAS_SD, 1, &c1, NULL), GC_OK);
    gc_set_threads(3);
    assert_int_equal(gc_image_to_canvas(&img, GC_CANVAS_SD, 1, &c2, NULL), GC_OK);
    gc_set_threads(0);
    assert_memory_equal(c1.rgb, c2.rgb, (size_t)GC_CANVAS_SD * GC_CANVAS_SD * 3);
    gc_image_free(&img);
    gc_image_free(&c1);
    gc_image_free(&c2);
}

/* Properties that hold for Pillow's LANCZOS: a constant image stays constant (normalised weights),
 * an unchanged size is a copy, and a one-axis change runs one pass only. */
static void test_lanczos_properties(void **state) {
    enum { W = 23, H = 17 };
    uint8_t src[H * W * 3], dst[64 * 64 * 3];
    for (int i = 0; i < H * W * 3; i++) src[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 7 : 255);
    const int sizes[][2] = {{64, 64}, {5, 3}, {23, 40}, {11, 17}, {1, 1}};
    for (size_t s = 0; s < GC_COUNTOF(sizes); s++) {
        const int ow = sizes[s][0], oh = sizes[s][1];
        assert_int_equal(gc_resize_lanczos_rgb(src, W, H, dst, ow, oh), GC_OK);
        for (int i = 0; i < ow * oh * 3; i++) assert_int_equal(dst[i], src[i % 3]);
    }
    for (int i = 0; i < H * W * 3; i++) src[i] = (uint8_t)(i * 37);
    assert_int_equal(gc_resize_lanczos_rgb(src, W, H, dst, W, H), GC_OK);
    assert_memory_equal(src, dst, sizeof src);
    /* Width only: each row is resampled independently, so rows of a vertically constant image match. */
    for (int y = 0; y < H; y++) memcpy(src + y * W * 3, src, W * 3);
    assert_int_equal(gc_resize_lanczos_rgb(src, W, H, dst, 40, H), GC_OK);
    for (int y = 1; y < H; y++) assert_memory_equal(dst, dst + y * 40 * 3, 40 * 3);
    assert_int_equal(gc_resize_lanczos_rgb(src, 0, H, dst, 4, 4), GC_ERR_ARG);
}

static void test_geometry(void **state) {
    gc_canvas_geom g;
    /* 840 * 51 / 112 = 382.5: round half to even gives 382 (half-up would give 383). */
    assert_int_equal(gc_canvas_geometry(112, 51, 840, &g), GC_OK);
    assert_int_equal(g.band_h, 382);
    assert_int_equal(g.off_y, 229);
    assert_int_equal(gc_canvas_geometry(51, 112, 960, &g), GC_OK);
    assert_int_equal(g.band_w, 437); /* 437.14 */
    assert_int_equal(g.off_x, 261);  /* pads 261 left, 262 right */
    assert_int_equal(gc_canvas_geometry(0, 5, 840, &g), GC_ERR_ARG);
    assert_int_equal(gc_canvas_geometry(20000, 1, 840, &g), GC_ERR_UNSUPPORTED);
    assert_non_null(strstr(gc_last_error(), "20000x1"));
    float k[3] = {1, 2, 1};
    assert_int_equal(gc_kps_to_canvas(k, 1, 0, 5, 840, k), GC_ERR_ARG);
    assert_int_equal(gc_kps_from_canvas(k, 1, 5, 5, -1, k), GC_ERR_ARG);
    gc_image img = {0}, canvas;
    assert_int_equal(gc_image_to_canvas(&img, 840, 0, &canvas, NULL), GC_ERR_ARG);
    assert_null(canvas.rgb);
}


/* `geocorr trace preprocess` end to end: keys, shapes, exact values; on error no output file. */
static void test_trace_command(void **state) {
    const char *dir = gct_tmpdir("trace_preprocess");
    char in[1024], out[1024], key[256];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    const char *tag = "synth_portrait_51x112";
    const gc_tensor_ref *src = ref_find("%s%s", tag, ".src_rgb"), *kin = ref_find("%s%s", tag, ".kps.in");
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_st_writer_add(wr, "src_rgb", GC_DT_U8, 3, src->shape, src->data), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "kps.in", GC_DT_F32, 2, kin->shape, kin->data), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);

    /* Stored pixels, flipped 960 canvas (the odd-padding case), keypoints. */
    assert_int_equal(gct_geocorr("trace preprocess --inputs '%s' --canvas 960 --flip --out '%s'", in, out), 0);
    gc_weights *o = gct_open(out);
    const gc_tensor_ref *c = gc_weights_find(o, "canvas"), *b = gc_weights_find(o, "band"),
                        *sr = gc_weights_find(o, "src_rgb");
    assert_true(c && b && sr && c->dtype == GC_DT_U8 && c->ndim == 3 && c->shape[0] == 960 && c->shape[1] == 960);
    assert_true(b->shape[0] == 960 && b->shape[1] == 437 && b->shape[2] == 3);
    assert_memory_equal(sr->data, src->data, src->nbytes);
    snprintf(key, sizeof key, "%s.960.flip.canvas.sha256", tag);
    expect_digest(key, c->data, c->nbytes);
    snprintf(key, sizeof key, "%s.960.flip.band.sha256", tag);
    expect_digest(key, b->data, b->nbytes);
    const gc_tensor_ref *k = gc_weights_find(o, "kps.960"), *kf = gc_weights_find(o, "kps.960.flip"),
                        *oxs = gc_weights_find(o, "kps.offset_xy_scale");
    assert_true(k && kf && oxs && k->dtype == GC_DT_F32 && oxs->dtype == GC_DT_F64 && oxs->numel == 3);
    float want[64 * 3];
    assert_int_equal(gc_kps_to_canvas(ref_f32(tag, ".kps.in"), kin->shape[0], 51, 112, 960, want), GC_OK);
    assert_memory_equal(k->data, want, k->nbytes);
    double v[3];
    memcpy(v, oxs->data, sizeof v);
    assert_true(v[0] == 261 && v[1] == 0 && v[2] == 960.0 / 112);
    gc_weights_free(o);

    /* Decoding a file; the 840 keypoints match the fixture's. */
    snprintf(key, sizeof key, "images/%s.png", tag);
    assert_int_equal(gct_geocorr("trace preprocess --image '%s' --inputs '%s' --canvas 840 --out '%s'",
                                 gct_fixture(key), in, out), 0);
    o = gct_open(out);
    snprintf(key, sizeof key, "%s.840.canvas.sha256", tag);
    expect_digest(key, gc_weights_find(o, "canvas")->data, 840 * 840 * 3);
    const gc_tensor_ref *k840 = ref_find("%s%s", tag, ".kps.840");
    assert_memory_equal(gc_weights_find(o, "kps.840")->data, k840->data, k840->nbytes);
    gc_weights_free(o);

    /* Errors: exit non-zero, a message naming the culprit, no output file. */
    remove(out);
    assert_int_not_equal(gct_geocorr("trace preprocess --image '%s/missing.png' --canvas 840 --out '%s'", dir, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "missing.png"));
    assert_false(gc_file_exists(out));
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/bad.jpg", dir);
    gct_write_file(bad, "\xff\xd8\xff\xe0 truncated", 15);
    assert_int_not_equal(gct_geocorr("trace preprocess --image '%s' --canvas 840 --out '%s'", bad, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "bad.jpg"));
    assert_false(gc_file_exists(out));
    assert_int_not_equal(gct_geocorr("trace preprocess --inputs '%s' --out '%s'", in, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "--canvas"));
    assert_int_not_equal(gct_geocorr("trace preprocess --canvas 840 --out '%s'", out), 0);
    assert_false(gc_file_exists(out));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canvas_from_stored_pixels), cmocka_unit_test(test_canvas_from_decoded_files),
        cmocka_unit_test(test_keypoints),                 cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_lanczos_properties),        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_trace_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
