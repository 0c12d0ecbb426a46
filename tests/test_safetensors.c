/* The safetensors reader and writer: round trip, half-precision conversion, and every class of bad
 * input the foundation issue lists, each a clear error (run under ASan+UBSan in CI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/prng_weights.h"
#include "testutil.h"

/* A file from a raw header string and `data_len` data bytes. */
static const char *make_st(const char *dir, const char *name, const char *hdr, size_t data_len,
                           uint64_t claimed_len) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t hl = strlen(hdr);
    size_t total = 8 + hl + data_len;
    unsigned char *buf = calloc(1, total);
    uint64_t n = claimed_len ? claimed_len : hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    gct_write_file(path, buf, total);
    free(buf);
    return path;
}

static void expect_fail(const char *path, gc_status want, const char *needle) {
    gc_weights *w = NULL;
    gc_status s = gc_weights_open(path, &w);
    printf("  %s -> %s\n", gc_basename(path), gc_last_error());
    assert_int_equal(s, want);
    assert_null(w);
    assert_non_null(strstr(gc_last_error(), gc_basename(path)));
    if (needle) assert_non_null(strstr(gc_last_error(), needle));
}

static void test_roundtrip(void **state) {
    const char *dir = gct_tmpdir("st_rt");
    char path[1200];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float a[6] = {1, -2, 3.5f, 0, 1e-8f, -65504};
    uint16_t h[3] = {gc_f32_to_f16(1.5f), gc_f32_to_f16(-0.0001f), 0x3c00};
    uint16_t bf[2] = {0x3f80, 0xc000}; /* 1.0, -2.0 */
    int64_t i64[2] = {-5, 7};
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "b.a", a, 2, 3), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "a.half", GC_DT_F16, 1, (int64_t[]){3}, h), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "c.bf", GC_DT_BF16, 1, (int64_t[]){2}, bf), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "d.i64", GC_DT_I64, 1, (int64_t[]){2}, i64), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "e.scalar", GC_DT_F32, 0, NULL, a), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "f.empty", GC_DT_F32, 2, (int64_t[]){3, 0}, a), GC_OK);
    assert_int_equal(gc_st_writer_meta(wr, "model", "test"), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);

    gc_weights *w = gct_open(path);
    assert_int_equal(gc_weights_count(w), 6);
    assert_string_equal(gc_weights_meta(w, "model"), "test");
    const float *p;
    assert_int_equal(GC_WEIGHT(w, "b.a", &p, 2, 3), GC_OK);
    assert_memory_equal(p, a, sizeof a);
    assert_int_equal(GC_WEIGHT(w, "a.half", &p, 3), GC_OK);
    assert_true(p[0] == 1.5f && p[2] == 1.0f);
    assert_true(p[1] > -0.000101f && p[1] < -0.000099f);
    assert_int_equal(GC_WEIGHT(w, "c.bf", &p, -1), GC_OK);
    assert_true(p[0] == 1.0f && p[1] == -2.0f);
    assert_int_equal(gc_weights_f32(w, "e.scalar", 0, NULL, &p), GC_OK);
    assert_true(p[0] == 1.0f);
    const gc_tensor_ref *r = gc_weights_find(w, "f.empty");
    assert_non_null(r);
    assert_int_equal(r->numel, 0);
    /* a wrong shape and a missing tensor name the file and the tensor */
    assert_int_equal(GC_WEIGHT(w, "b.a", &p, 3, 2), GC_ERR_SHAPE);
    assert_non_null(strstr(gc_last_error(), "'b.a' has shape [2, 3], expected [3, 2]"));
    assert_non_null(strstr(gc_last_error(), "rt.safetensors"));
    assert_int_equal(GC_WEIGHT(w, "nope", &p, 1), GC_ERR_MISSING);
    assert_non_null(strstr(gc_last_error(), "missing tensor 'nope'"));
    /* integer tensors are not handed out as float weights */
    assert_int_equal(GC_WEIGHT(w, "d.i64", &p, 2), GC_ERR_SHAPE);
    gc_weights_free(w);
}

static void test_half_conversion(void **state) {
    /* every finite half round-trips through float exactly */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = gc_f16_to_f32((uint16_t)h);
        assert_int_equal(gc_f32_to_f16(f), h);
    }
    assert_true(gc_f16_to_f32(0x0001) == 5.9604644775390625e-08f); /* smallest subnormal */
    assert_int_equal(gc_f32_to_f16(65520.0f), 0x7c00);             /* rounds to inf */
    assert_int_equal(gc_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);   /* tie to even */
}

static void test_bad_inputs(void **state) {
    const char *d = gct_tmpdir("st_bad");
    const char *ok_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char path[1200];
    snprintf(path, sizeof path, "%s/short.safetensors", d);
    gct_write_file(path, "abc", 3);
    expect_fail(path, GC_ERR_FORMAT, "too short");
    expect_fail(make_st(d, "hdr_beyond.safetensors", ok_hdr, 8, 4096), GC_ERR_FORMAT, "past the end");
    expect_fail(make_st(d, "hdr_huge.safetensors", ok_hdr, 8, 1ull << 40), GC_ERR_FORMAT, "100 MB");
    expect_fail(make_st(d, "notjson.safetensors", "{\"a\": [1, 2", 8, 0), GC_ERR_FORMAT, "not valid JSON");
    expect_fail(make_st(d, "notobj.safetensors", "[1,2,3]", 8, 0), GC_ERR_FORMAT, "not a JSON object");
    expect_fail(make_st(d, "dtype.safetensors",
                        "{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 0),
                GC_ERR_FORMAT, "unknown dtype 'F8'");
    expect_fail(make_st(d, "span.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0),
                GC_ERR_FORMAT, "does not match");
    expect_fail(make_st(d, "beyond.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0),
                GC_ERR_FORMAT, "beyond");
    expect_fail(make_st(d, "overlap.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0),
                GC_ERR_FORMAT, "overlap");
    expect_fail(make_st(d, "dup.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0),
                GC_ERR_FORMAT, "twice");
    expect_fail(make_st(d, "negshape.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0),
                GC_ERR_FORMAT, "shape entry 0");
    expect_fail(make_st(d, "overflow.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                        4, 0), GC_ERR_FORMAT, "shape entry 1");
    expect_fail(make_st(d, "fracoff.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4, 0),
                GC_ERR_FORMAT, "data_offsets");
    expect_fail(make_st(d, "meta.safetensors", "{\"__metadata__\":{\"k\":1}}", 0, 0), GC_ERR_FORMAT,
                "not a string");
    expect_fail(make_st(d, "trailing.safetensors", "{} xyz", 0, 0), GC_ERR_FORMAT, "trailing");
    snprintf(path, sizeof path, "%s/absent.safetensors", d);
    expect_fail(path, GC_ERR_IO, "cannot open");
    /* an empty header is a valid file with no tensors (the fuzzer's first find: qsort(NULL, 0)) */
    gc_weights *e = gct_open(make_st(d, "empty.safetensors", "{}", 0, 0));
    assert_int_equal(gc_weights_count(e), 0);
    gc_weights_free(e);
    /* a valid file parses */
    gc_weights *w = gct_open(make_st(d, "ok.safetensors", ok_hdr, 8, 0));
    gc_weights_free(w);
}

static void test_prng_generator(void **state) {
    /* the generator matches the values the fixture manifest lists */
    gc_weights *w = NULL;
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("dinov2_tiny.weights_manifest.json"), NULL, &w), GC_OK);
    const float *p;
    assert_int_equal(GC_WEIGHT(w, "embeddings.cls_token", &p, 1, 1, 64), GC_OK);
    const float want[4] = {0.3683629035949707f, -0.6127756834030151f, 0.9858708381652832f, 0.9140400886535645f};
    assert_memory_equal(p, want, sizeof want);
    /* and equals the shipped weights bit for bit */
    gc_weights *shipped = gct_open(gct_fixture("dinov2_tiny.model.safetensors"));
    assert_int_equal(gc_weights_count(shipped), gc_weights_count(w));
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *a = gc_weights_at(w, i), *b = gc_weights_find(shipped, a->name);
        assert_non_null(b);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
    }
    gc_weights_free(shipped);
    gc_weights_free(w);
}

static void test_prefix(void **state) {
    const char *dir = gct_tmpdir("st_prefix");
    char path[1200];
    snprintf(path, sizeof path, "%s/p.safetensors", dir);
    float a[2] = {1, 2};
    gc_st_writer *wr = gc_st_writer_new();
    GC_ST_ADD_F32(wr, "teacher.backbone.cls_token", a, 2);
    GC_ST_ADD_F32(wr, "teacher.head.w", a, 2);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
    gc_weights *w = gct_open(path);
    assert_true(gc_weights_detect_prefix(w, "cls_token"));
    assert_string_equal(gc_weights_prefix(w), "teacher.backbone.");
    assert_true(gc_weights_has(w, "cls_token"));
    gc_weights_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_half_conversion),
        cmocka_unit_test(test_bad_inputs),     cmocka_unit_test(test_prng_generator),
        cmocka_unit_test(test_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
