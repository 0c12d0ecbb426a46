/* Image decoding: Pillow's convert('RGB') rules on PNGs the test builds (gray 2/8/16-bit, gray+alpha,
 * 16-bit RGB/LA, RGBA, palettes with transparency), gray and CMYK JPEGs checked against the pixels
 * Pillow 9.4 decoded from them, PNG writing, and bad input (empty, garbage, truncated, bombs). The
 * fixture photos are checked bit-exact in test_preprocess. The expected pixels of every built PNG
 * below were confirmed with Pillow 9.4 (Image.open(f).convert('RGB')) on the files this test writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "image_samples.h"
#include "io/image.h"

/* stb_image_write's deflate, exported by libstb (linked with the library); used for a zip bomb. */
unsigned char *stbi_zlib_compress(unsigned char *data, int data_len, int *out_len, int quality);

/* ---- A minimal PNG writer (stored deflate blocks) so the test controls colour type and depth ---- */

typedef struct {
    uint8_t *b;
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
    o->b = realloc(o->b, o->n + n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put32(buf *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(o, b, 4);
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void chunk(buf *o, const char *type, const uint8_t *data, size_t n) {
    put32(o, (uint32_t)n);
    buf t = {0};
    put(&t, type, 4);
    if (n) put(&t, data, n);
    put(o, t.b, t.n);
    put32(o, crc32_of(t.b, t.n));
    free(t.b);
}

/* rows: h rows of `row_bytes` packed samples each (filter type 0 is added here). */
static buf png_build(int w, int h, int depth, int ctype, const uint8_t *rows, size_t row_bytes,
                     const uint8_t *plte, size_t nplte, const uint8_t *trns, size_t ntrns) {
    buf o = {0}, raw = {0}, z = {0};
    put(&o, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    for (int i = 0; i < 4; i++) ihdr[i] = (uint8_t)(w >> (24 - 8 * i)), ihdr[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ctype;
    chunk(&o, "IHDR", ihdr, 13);
    if (nplte) chunk(&o, "PLTE", plte, nplte);
    if (ntrns) chunk(&o, "tRNS", trns, ntrns);
    for (int y = 0; y < h; y++) {
        put(&raw, "\0", 1);
        put(&raw, rows + y * row_bytes, row_bytes);
    }
    /* zlib stream of one stored block (raw is small) + adler32. */
    put(&z, "\x78\x01\x01", 3);
    uint8_t len[4] = {(uint8_t)raw.n, (uint8_t)(raw.n >> 8), (uint8_t)~raw.n, (uint8_t)(~raw.n >> 8)};
    put(&z, len, 4);
    put(&z, raw.b, raw.n);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw.n; i++) a = (a + raw.b[i]) % 65521, b = (b + a) % 65521;
    put32(&z, b << 16 | a);
    chunk(&o, "IDAT", z.b, z.n);
    chunk(&o, "IEND", NULL, 0);
    free(raw.b);
    free(z.b);
    return o;
}

/* Decode from memory AND through a file; both must give `want` ([h, w, 3]). */
static void expect_png(const char *name, buf png, int w, int h, const uint8_t *want) {
    gc_image img;
    if (gc_image_decode(png.b, png.n, name, &img) != GC_OK) fail_msg("%s: %s", name, gc_last_error());
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    for (int i = 0; i < w * h * 3; i++)
        if (img.rgb[i] != want[i]) fail_msg("%s: byte %d is %d, Pillow gives %d", name, i, img.rgb[i], want[i]);
    gc_image_free(&img);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.png", gct_tmpdir("image_png"), name);
    gct_write_file(path, png.b, png.n);
    assert_int_equal(gc_image_load(path, &img), GC_OK);
    assert_memory_equal(img.rgb, want, (size_t)w * h * 3);
    gc_image_free(&img);
    free(png.b);
}

static void gray3(uint8_t *out, const int *v, int n) {
    for (int i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = (uint8_t)v[i];
}

static void test_png_gray(void **state) {
    uint8_t want[64 * 3];
    { /* 8-bit gray, with a tRNS colour that convert('RGB') ignores */
        const uint8_t px[6] = {0, 17, 128, 200, 254, 255};
        const int v[6] = {0, 17, 128, 200, 254, 255};
        gray3(want, v, 6);
        expect_png("gray8", png_build(3, 2, 8, 0, px, 3, NULL, 0, NULL, 0), 3, 2, want);
        const uint8_t trns[2] = {0, 128};
        expect_png("gray8_trns", png_build(3, 2, 8, 0, px, 3, NULL, 0, trns, 2), 3, 2, want);
    }
    { /* 2-bit gray: Pillow scales by 85 */
        const uint8_t px[1] = {0x1b}; /* 0, 1, 2, 3 */
        const int v[4] = {0, 85, 170, 255};
        gray3(want, v, 4);
        expect_png("gray2", png_build(4, 1, 2, 0, px, 1, NULL, 0, NULL, 0), 4, 1, want);
    }
    { /* 16-bit gray: Pillow opens mode "I" and convert('RGB') CLAMPS to 255 (no scaling) */
        const uint8_t px[12] = {0, 0, 0, 200, 0, 255, 1, 0, 3, 232, 255, 255}; /* 0 200 255 256 1000 65535 */
        const int v[6] = {0, 200, 255, 255, 255, 255};
        gray3(want, v, 6);
        expect_png("gray16", png_build(6, 1, 16, 0, px, 12, NULL, 0, NULL, 0), 6, 1, want);
    }
    { /* 8-bit gray + alpha: alpha dropped */
        const uint8_t px[4] = {200, 7, 31, 0};
        const int v[2] = {200, 31};
        gray3(want, v, 2);
        expect_png("gray_alpha8", png_build(2, 1, 8, 4, px, 4, NULL, 0, NULL, 0), 2, 1, want);
    }
    { /* 16-bit gray + alpha: Pillow opens it as RGBA with the high bytes */
        const uint8_t px[8] = {1, 0, 0, 9, 3, 232, 255, 255}; /* gray 256 alpha 9, gray 1000 alpha 65535 */
        const int v[2] = {1, 3};
        gray3(want, v, 2);
        expect_png("gray_alpha16", png_build(2, 1, 16, 4, px, 8, NULL, 0, NULL, 0), 2, 1, want);
    }
}

static void test_png_color(void **state) {
    { /* 16-bit RGB: high byte of each sample */
        const uint8_t px[12] = {1, 0, 3, 232, 255, 255, 0, 255, 128, 0, 0, 1};
        const uint8_t want[6] = {1, 3, 255, 0, 128, 0};
        expect_png("rgb16", png_build(2, 1, 16, 2, px, 12, NULL, 0, NULL, 0), 2, 1, want);
    }
    { /* 8-bit RGBA: alpha dropped WITHOUT compositing (a transparent pixel keeps its colour) */
        const uint8_t px[8] = {10, 20, 30, 0, 250, 128, 3, 255};
        const uint8_t want[6] = {10, 20, 30, 250, 128, 3};
        expect_png("rgba8", png_build(2, 1, 8, 6, px, 8, NULL, 0, NULL, 0), 2, 1, want);
    }
    { /* 16-bit RGBA */
        const uint8_t px[8] = {1, 0, 3, 232, 255, 255, 0, 0};
        const uint8_t want[3] = {1, 3, 255};
        expect_png("rgba16", png_build(1, 1, 16, 6, px, 8, NULL, 0, NULL, 0), 1, 1, want);
    }
    { /* 8-bit palette with a transparency table: expanded, transparency ignored */
        const uint8_t plte[9] = {255, 0, 0, 0, 255, 0, 9, 8, 7};
        const uint8_t trns[2] = {0, 100};
        const uint8_t px[4] = {2, 0, 1, 2};
        const uint8_t want[12] = {9, 8, 7, 255, 0, 0, 0, 255, 0, 9, 8, 7};
        expect_png("palette8", png_build(4, 1, 8, 3, px, 4, plte, 9, trns, 2), 4, 1, want);
        /* 4-bit indices, odd width (the last nibble is padding) */
        const uint8_t px4[4] = {0x21, 0x00, 0x12, 0x20};
        const uint8_t want4[18] = {9, 8, 7, 0, 255, 0, 255, 0, 0, 0, 255, 0, 9, 8, 7, 9, 8, 7};
        expect_png("palette4", png_build(3, 2, 4, 3, px4, 2, plte, 9, NULL, 0), 3, 2, want4);
    }
}

/* An empty IDAT chunk before the data is valid PNG (Pillow decodes it); stb_image offsets a NULL
 * pointer on it, so the decoder drops such chunks first (found by fuzz_image under UBSan). */
static void test_png_empty_idat(void **state) {
    const uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    buf p = png_build(2, 1, 8, 2, px, 6, NULL, 0, NULL, 0), q = {0};
    put(&q, p.b, 33); /* signature + IHDR */
    chunk(&q, "IDAT", NULL, 0);
    put(&q, p.b + 33, p.n - 33);
    free(p.b);
    expect_png("empty_idat", q, 2, 1, px);
}

static void expect_jpeg(const char *name, const uint8_t *jpg, size_t n, const uint8_t *want) {
    gc_image img;
    if (gc_image_decode(jpg, n, name, &img) != GC_OK) fail_msg("%s: %s", name, gc_last_error());
    assert_int_equal(img.w, 16);
    assert_int_equal(img.h, 8);
    int maxd = 0;
    for (int i = 0; i < 16 * 8 * 3; i++) maxd = GC_MAX(maxd, abs((int)img.rgb[i] - (int)want[i]));
    printf("%s: max |geocorr - Pillow| = %d\n", name, maxd);
    assert_int_equal(maxd, 0);
    gc_image_free(&img);
}

/* Gray JPEG: decoded gray and replicated; CMYK (Adobe, inverted): Pillow's cmyk2rgb. */
static void test_jpeg_gray_cmyk(void **state) {
    expect_jpeg("gray.jpg", k_gray_jpg, sizeof k_gray_jpg, k_gray_jpg_pillow_rgb);
    expect_jpeg("cmyk.jpg", k_cmyk_jpg, sizeof k_cmyk_jpg, k_cmyk_jpg_pillow_rgb);
}

static void test_save_png_roundtrip(void **state) {
    gc_image img, back;
    assert_int_equal(gc_image_alloc(&img, 37, 11), GC_OK);
    for (int i = 0; i < 37 * 11 * 3; i++) img.rgb[i] = (uint8_t)(i * 7 + (i >> 5));
    char path[1024];
    snprintf(path, sizeof path, "%s/out.png", gct_tmpdir("image_save"));
    assert_int_equal(gc_image_save_png(path, &img), GC_OK);
    assert_int_equal(gc_image_load(path, &back), GC_OK);
    assert_int_equal(back.w, 37);
    assert_int_equal(back.h, 11);
    assert_memory_equal(back.rgb, img.rgb, 37 * 11 * 3);
    gc_image_free(&back);
    assert_int_not_equal(gc_image_save_png("/nonexistent-dir/x.png", &img), GC_OK);
    assert_non_null(strstr(gc_last_error(), "/nonexistent-dir/x.png"));
    gc_image_free(&img);
    gc_image empty = {0};
    assert_int_equal(gc_image_save_png(path, &empty), GC_ERR_ARG);
}

/* gc_png_encode gives the bytes gc_image_save_png writes; gc_image_size reads what decoding finds, from the
 * header alone, and refuses what decoding refuses by signature. */
static void test_png_encode_and_size(void **state) {
    gc_image img, back;
    assert_int_equal(gc_image_alloc(&img, 23, 9), GC_OK);
    for (int i = 0; i < 23 * 9 * 3; i++) img.rgb[i] = (uint8_t)(i * 13 + 5);
    uint8_t *png;
    size_t n;
    assert_int_equal(gc_png_encode(img.rgb, img.w, img.h, 3, "mem", &png, &n), GC_OK);
    char path[1024], *file;
    size_t nf;
    snprintf(path, sizeof path, "%s/enc.png", gct_tmpdir("image_encode"));
    assert_int_equal(gc_image_save_png(path, &img), GC_OK);
    assert_int_equal(gc_read_file(path, &file, &nf, 1 << 20), GC_OK);
    assert_int_equal(nf, n);
    assert_memory_equal(file, png, n);
    assert_int_equal(gc_image_decode(png, n, "mem", &back), GC_OK);
    assert_memory_equal(back.rgb, img.rgb, 23 * 9 * 3);
    int32_t w, h;
    assert_int_equal(gc_image_size(png, n, "mem", &w, &h), GC_OK);
    assert_true(w == 23 && h == 9);
    gc_image_free(&back);
    gc_image_free(&img);
    free(file);
    free(png);
    assert_int_equal(gc_png_encode(NULL, 1, 1, 3, "none", &png, &n), GC_ERR_ARG);
    /* the photos: size from the header == size decoded */
    const char *photos[] = {"images/antelope.jpg", "images/unicorn.jpg", "images/synth_portrait_51x112.png"};
    for (int i = 0; i < 3; i++) {
        char *data;
        size_t len;
        assert_int_equal(gc_read_file(gct_fixture(photos[i]), &data, &len, 1 << 24), GC_OK);
        assert_int_equal(gc_image_decode(data, len, photos[i], &back), GC_OK);
        assert_int_equal(gc_image_size(data, len, photos[i], &w, &h), GC_OK);
        if (w != back.w || h != back.h) fail_msg("%s: header says %dx%d, decoded %dx%d", photos[i], w, h, back.w, back.h);
        /* a JPEG cut before its frame header has no size */
        if (i == 0) assert_int_equal(gc_image_size(data, 20, photos[i], &w, &h), GC_ERR_FORMAT);
        gc_image_free(&back);
        free(data);
    }
    assert_int_equal(gc_image_size("GIF89a garbage bytes here", 25, "g.gif", &w, &h), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "g.gif"));
    assert_int_equal(gc_image_size("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDX", 16, "x.png", &w, &h), GC_ERR_FORMAT);
    assert_true(w == 0 && h == 0);
}

/* A failure must carry `status` and a message naming the source and containing `what`. */
static void expect_fail(const void *data, size_t n, const char *label, gc_status status, const char *what) {
    gc_image img = {1, 1, (uint8_t *)"x"};
    gc_status s = gc_image_decode(data, n, label, &img);
    if (s != status) fail_msg("%s: status %d, expected %d (%s)", label, s, status, gc_last_error());
    assert_null(img.rgb);
    if (!strstr(gc_last_error(), label) || !strstr(gc_last_error(), what))
        fail_msg("%s: message '%s' should name the source and say '%s'", label, gc_last_error(), what);
}

static void test_bad_input(void **state) {
    expect_fail("", 0, "empty.png", GC_ERR_FORMAT, "empty");
    expect_fail("GIF89a garbage bytes here", 25, "garbage.bin", GC_ERR_FORMAT, "not a JPEG or PNG");
    expect_fail("\xff\xd8\xff", 3, "soi_only.jpg", GC_ERR_FORMAT, "JPEG");
    expect_fail("\x89PNG\r\n\x1a\n", 8, "sig_only.png", GC_ERR_FORMAT, "PNG");

    /* Truncated real files: every cut must fail cleanly. */
    char *jpg, *png;
    size_t njpg, npng;
    assert_int_equal(gc_read_file(gct_fixture("images/antelope.jpg"), &jpg, &njpg, 1 << 24), GC_OK);
    assert_int_equal(gc_read_file(gct_fixture("images/synth_square_101x101.png"), &png, &npng, 1 << 24), GC_OK);
    const double cuts[] = {0.02, 0.5, 0.99};
    for (size_t i = 0; i < GC_COUNTOF(cuts); i++) {
        expect_fail(jpg, (size_t)(njpg * cuts[i]), "cut.jpg", GC_ERR_FORMAT, "truncated");
        expect_fail(png, (size_t)(npng * cuts[i]), "cut.png", GC_ERR_FORMAT, "PNG");
    }
    /* The end of image marker missing (all data present) is a truncation for Pillow 9.4 too (checked). */
    expect_fail(jpg, njpg - 2, "no_eoi.jpg", GC_ERR_FORMAT, "Premature end");

    /* Declared sizes: zero, and a decompression bomb (60000 x 60000 in a tiny file). */
    uint8_t px[3] = {1, 2, 3};
    buf p = png_build(1, 1, 8, 2, px, 3, NULL, 0, NULL, 0);
    memset(p.b + 16, 0, 4); /* width 0 */
    expect_fail(p.b, p.n, "zero.png", GC_ERR_FORMAT, "zero size");
    free(p.b);
    p = png_build(1, 1, 8, 2, px, 3, NULL, 0, NULL, 0);
    for (int i = 0; i < 2; i++) p.b[16 + 4 * i + 2] = 0xea, p.b[16 + 4 * i + 3] = 0x60; /* 60000 x 60000 */
    expect_fail(p.b, p.n, "bomb.png", GC_ERR_REFUSED, "limit");
    memset(p.b + 16, 0xff, 8); /* 2^32-1 per side: the product overflows int64 (found by fuzz_image) */
    expect_fail(p.b, p.n, "bomb32.png", GC_ERR_REFUSED, "limit");
    free(p.b);
    /* A chunk declaring 1 GiB in a tiny file (stb_image would allocate it first; fuzz_image). */
    p = png_build(1, 1, 8, 2, px, 3, NULL, 0, NULL, 0);
    p.b[33] = 0x40; /* IDAT length 0x400000xx */
    expect_fail(p.b, p.n, "long_chunk.png", GC_ERR_FORMAT, "truncated PNG");
    free(p.b);
    /* A zip bomb: a 1x1 gray image whose IDAT inflates to 16 MiB (stb_image would inflate it all). */
    uint8_t *zeros = calloc(16 << 20, 1);
    int zlen = 0;
    uint8_t *z = stbi_zlib_compress(zeros, 16 << 20, &zlen, 1);
    free(zeros);
    assert_non_null(z);
    p = png_build(1, 1, 8, 0, px, 1, NULL, 0, NULL, 0);
    buf q = {0};
    put(&q, p.b, 33);
    chunk(&q, "IDAT", z, (size_t)zlen);
    chunk(&q, "IEND", NULL, 0);
    free(z);
    free(p.b);
    expect_fail(q.b, q.n, "zip_bomb.png", GC_ERR_REFUSED, "bomb");
    free(q.b);

    uint8_t *j = malloc(sizeof k_gray_jpg);
    memcpy(j, k_gray_jpg, sizeof k_gray_jpg);
    for (size_t i = 0; i + 8 < sizeof k_gray_jpg; i++)
        if (j[i] == 0xff && j[i + 1] == 0xc0) { /* SOF0: length(2) precision(1) height(2) width(2) */
            j[i + 5] = j[i + 7] = 0xea, j[i + 6] = j[i + 8] = 0x60; /* 60000 x 60000 */
            break;
        }
    expect_fail(j, sizeof k_gray_jpg, "bomb.jpg", GC_ERR_REFUSED, "limit");
    gc_image img;
    assert_int_equal(gc_image_decode_limited(k_gray_jpg, sizeof k_gray_jpg, "small", 100, &img), GC_ERR_REFUSED);

    /* Corrupt entropy data in the middle: libjpeg recovers with a warning, as in Pillow (decoded). */
    memcpy(j, k_gray_jpg, sizeof k_gray_jpg);
    for (size_t i = sizeof k_gray_jpg - 40; i < sizeof k_gray_jpg - 10; i++) j[i] ^= 0x5a;
    gc_status s = gc_image_decode(j, sizeof k_gray_jpg, "corrupt.jpg", &img);
    if (s == GC_OK) gc_image_free(&img);
    else assert_non_null(strstr(gc_last_error(), "corrupt.jpg"));
    free(j);

    /* Files: missing, and a text file. */
    assert_int_equal(gc_image_load(gct_fixtures(), &img), GC_ERR_ARG);
    assert_non_null(strstr(gc_last_error(), "folder"));
    assert_int_equal(gc_image_load("/nonexistent/missing.jpg", &img), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "/nonexistent/missing.jpg"));
    char path[1024];
    snprintf(path, sizeof path, "%s/notes.txt", gct_tmpdir("image_bad"));
    gct_write_file(path, "hello\n", 6);
    assert_int_equal(gc_image_load(path, &img), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), path));
    free(jpg);
    free(png);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_gray),       cmocka_unit_test(test_png_color),
        cmocka_unit_test(test_png_empty_idat),
        cmocka_unit_test(test_jpeg_gray_cmyk), cmocka_unit_test(test_save_png_roundtrip),
        cmocka_unit_test(test_bad_input),      cmocka_unit_test(test_png_encode_and_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
