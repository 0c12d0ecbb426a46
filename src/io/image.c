/* Image decoding and PNG writing.
 *
 * Decoding reproduces Pillow's Image.open(p).convert('RGB'), which is what the reference does,
 * so that geocorr's canvases hash-match the reference's:
 *  - JPEG through the libjpeg API of libjpeg-turbo with the library defaults Pillow keeps (ISLOW
 *    IDCT, fancy upsampling, the library's own colour-space guess), output JCS_RGB for 3
 *    components; 1 component is decoded gray and replicated (Pillow: mode L, then convert);
 *    4 components (CMYK / YCCK) are decoded to CMYK, inverted (Pillow assumes Adobe's inverted
 *    convention: rawmode "CMYK;I") and converted with Pillow's cmyk2rgb integer formula.
 *    A truncated file is an error (Pillow raises "image file is truncated"); other libjpeg
 *    warnings (corrupt data it can skip) are tolerated, as in Pillow.
 *  - PNG through stb_image (compiled into this file, so the fuzzer instruments it): palettes
 *    expanded, gray replicated, alpha dropped without compositing, 16-bit samples reduced to
 *    their high byte -- except 16-bit gray without colour, which Pillow opens as mode "I" and
 *    clamps to 255 in convert('RGB') (values >= 255 saturate instead of being scaled). Checked
 *    against Pillow 9.4 for 16-bit gray, gray+alpha, RGB and RGBA.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "io/atomic_file.h"
#include "io/image.h"

/* stb declares static prototypes of decoders compiled out here; unused-function fires at the end of
 * the file, after a push/pop would have restored it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
/* stb_image inflates IDAT into a buffer that grows without bound (to 4 GiB), whatever the declared
 * size: a zip bomb. Its allocations go through these, which refuse anything above a per-call cap
 * derived from the declared size (set by decode_png_stb, thread-local). */
static _Thread_local size_t g_stbi_cap;
static _Thread_local bool g_stbi_capped;
static void *stbi_guarded_realloc(void *p, size_t n) {
    if (n > g_stbi_cap) {
        g_stbi_capped = true;
        return NULL;
    }
    return realloc(p, n);
}
#define STBI_MALLOC(n) stbi_guarded_realloc(NULL, n)
#define STBI_REALLOC(p, n) stbi_guarded_realloc(p, n)
#define STBI_FREE(p) free(p)
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS 65535
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#pragma GCC diagnostic pop

/* Largest image file read from disk (a JPEG of GC_IMAGE_MAX_PIXELS is far smaller). */
#define GC_IMAGE_MAX_FILE (1ull << 30)

gc_status gc_image_alloc(gc_image *img, int32_t w, int32_t h) {
    img->w = img->h = 0;
    img->rgb = NULL;
    int64_t n;
    if (w <= 0 || h <= 0 || !gc_mul_ok(w, h, &n) || !gc_mul_ok(n, 3, &n))
        return gc_errorf(GC_ERR_ARG, "image size %dx%d is invalid", (int)w, (int)h);
    img->rgb = gc_calloc((size_t)n, 1);
    if (!img->rgb) return GC_ERR_NOMEM;
    img->w = w;
    img->h = h;
    return GC_OK;
}

void gc_image_free(gc_image *img) {
    if (!img) return;
    gc_free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

static gc_status check_size(const char *label, const char *fmt, int64_t w, int64_t h, int64_t max_pixels) {
    if (w <= 0 || h <= 0) return gc_errorf(GC_ERR_FORMAT, "%s: %s image has zero size (%lldx%lld)", label, fmt,
                                           (long long)w, (long long)h);
    int64_t n; /* PNG sizes go up to 2^32 - 1 per side: the product can overflow int64 */
    if (!gc_mul_ok(w, h, &n) || n > max_pixels)
        return gc_errorf(GC_ERR_REFUSED, "%s: %s image of %lldx%lld pixels exceeds the limit of %lld pixels "
                         "(decompression bomb guard)", label, fmt, (long long)w, (long long)h,
                         (long long)max_pixels);
    return GC_OK;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub; /* must be first: libjpeg sees only this */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_err;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings: running out of data is fatal, even when only the EOI marker is missing (Pillow 9.4
 * raises "image file is truncated" in both cases, checked). Other warnings (corrupt data libjpeg
 * can skip) are ignored, as in Pillow. Nothing is printed. */
static void jpeg_on_message(j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(c);
}

static void jpeg_on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > GC_JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans (refused)", GC_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

static void jpeg_silent(j_common_ptr c) { GC_UNUSED(c); }

/* Pillow's cmyk2rgb on the inverted samples: nk = 255 - k; out = nk - nk * c / 255 (rounded). */
static uint8_t cmyk_channel(int c, int nk) {
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* header_only: out->w, out->h from the header (checked like a decode), no pixels. */
static gc_status decode_jpeg(const uint8_t *data, size_t len, const char *label, int64_t max_pixels, bool header_only,
                             gc_image *out) {
    struct jpeg_decompress_struct d;
    jpeg_err err;
    struct jpeg_progress_mgr progress;
    uint8_t *volatile rgb = NULL;
    memset(&d, 0, sizeof d);
    memset(&progress, 0, sizeof progress);
    d.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    err.pub.output_message = jpeg_silent;
    progress.progress_monitor = jpeg_on_progress;
    if (setjmp(err.jump)) {
        gc_free(rgb);
        jpeg_destroy_decompress(&d);
        return gc_errorf(GC_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", label, err.msg);
    }
    jpeg_create_decompress(&d);
    d.progress = &progress;
    jpeg_mem_src(&d, data, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    gc_status s = check_size(label, "JPEG", d.image_width, d.image_height, max_pixels);
    if (s == GC_OK && d.num_components != 1 && d.num_components != 3 && d.num_components != 4)
        s = gc_errorf(GC_ERR_UNSUPPORTED, "%s: JPEG with %d colour components is not supported (1, 3 or 4)",
                      label, d.num_components);
    if (s != GC_OK || header_only) {
        if (s == GC_OK) out->w = (int32_t)d.image_width, out->h = (int32_t)d.image_height;
        jpeg_destroy_decompress(&d);
        return s;
    }
    d.out_color_space = d.num_components == 1 ? JCS_GRAYSCALE : d.num_components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_start_decompress(&d);
    const int w = (int)d.output_width, h = (int)d.output_height, nc = d.output_components;
    rgb = gc_alloc((size_t)w * h * 3);
    if (!rgb) {
        jpeg_destroy_decompress(&d);
        return gc_error_context(GC_ERR_NOMEM, "%s", label);
    }
    JSAMPARRAY scratch = nc == 3 ? NULL : (*d.mem->alloc_sarray)((j_common_ptr)&d, JPOOL_IMAGE, (JDIMENSION)w * nc, 1);
    while (d.output_scanline < d.output_height) {
        uint8_t *row = rgb + (size_t)d.output_scanline * w * 3;
        if (nc == 3) {
            JSAMPROW rows[1] = {row};
            jpeg_read_scanlines(&d, rows, 1);
            continue;
        }
        jpeg_read_scanlines(&d, scratch, 1);
        const uint8_t *src = scratch[0];
        for (int x = 0; x < w; x++) {
            if (nc == 1) {
                row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = src[x];
            } else {
                const uint8_t *p = src + 4 * x;
                int nk = p[3]; /* 255 - inverted k */
                for (int c = 0; c < 3; c++) row[3 * x + c] = cmyk_channel(255 - p[c], nk);
            }
        }
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    return GC_OK;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Walk the chunks before stb_image sees the file, for two of its flaws (both found by fuzz_image):
 *  - a chunk declaring more bytes than the file holds made it allocate that much (up to 4 GiB)
 *    before noticing: such a file is truncated (Pillow: "image file is truncated"), refused here;
 *  - an empty first IDAT chunk makes it offset a NULL pointer (undefined behaviour): empty IDAT
 *    chunks carry nothing and are dropped from a copy (*clean, else NULL), which is decoded instead. */
static gc_status png_check_chunks(const uint8_t *data, size_t len, const char *label, uint8_t **clean,
                                  size_t *clean_len) {
    uint8_t *copy = NULL;
    size_t pos = 8, n = 8;
    *clean = NULL;
    while (pos + 12 <= len) {
        const uint32_t clen = be32(data + pos);
        if (clen > len - pos - 12) {
            free(copy);
            return gc_errorf(GC_ERR_FORMAT, "%s: truncated PNG: chunk '%.4s' at byte %zu declares %u bytes, "
                             "%zu remain", label, (const char *)data + pos + 4, pos, clen, len - pos - 12);
        }
        if (memcmp(data + pos + 4, "IEND", 4) == 0) break;
        const bool empty_idat = clen == 0 && memcmp(data + pos + 4, "IDAT", 4) == 0;
        if (empty_idat && !copy) {
            if (!(copy = malloc(len))) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", label);
            memcpy(copy, data, pos);
            n = pos;
        }
        if (copy && !empty_idat) {
            memcpy(copy + n, data + pos, clen + 12);
            n += clen + 12;
        }
        pos += clen + 12;
    }
    if (copy) {
        memcpy(copy + n, data + pos, len - pos);
        *clean = copy;
        *clean_len = n + (len - pos);
    }
    return GC_OK;
}

static gc_status png_failure(const char *label) {
    if (g_stbi_capped)
        return gc_errorf(GC_ERR_REFUSED, "%s: PNG data inflates beyond what its declared size needs "
                         "(decompression bomb guard)", label);
    return gc_errorf(GC_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", label, stbi_failure_reason());
}

static gc_status decode_png_stb(const uint8_t *data, size_t len, const char *label, int64_t max_pixels,
                                gc_image *out) {
    if (len > INT32_MAX) return gc_errorf(GC_ERR_REFUSED, "%s: PNG file larger than 2 GiB", label);
    /* IHDR must be the first chunk (stb_image also accepts Apple's CgBI variant, Pillow does not). */
    if (len < 33 || memcmp(data + 12, "IHDR", 4) != 0)
        return gc_errorf(GC_ERR_FORMAT, "%s: corrupt or truncated PNG: the first chunk is not IHDR", label);
    /* The declared size first, so that a bomb gets the refusal rather than a decoder message. */
    GC_TRY(check_size(label, "PNG", be32(data + 16), be32(data + 20), max_pixels));
    /* Largest honest allocation: the 16-bit RGBA image or its filtered rows (8 bytes a pixel + a
     * filter byte a row), doubled for stb's growth steps; plus the compressed data. */
    g_stbi_cap = 2 * (8 * (size_t)be32(data + 16) * be32(data + 20) + 8 * (size_t)be32(data + 20)) + len + (1 << 20);
    g_stbi_capped = false;
    int w, h, comp;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp))
        return gc_errorf(GC_ERR_FORMAT, "%s: corrupt PNG header: %s", label, stbi_failure_reason());
    const int depth = data[24], color_type = data[25];
    if (depth == 16 && color_type == 0) {
        /* Pillow: mode "I", convert('RGB') clamps each value to 255. */
        uint16_t *g = stbi_load_16_from_memory(data, (int)len, &w, &h, &comp, 1);
        if (!g) return png_failure(label);
        uint8_t *rgb = gc_alloc((size_t)w * h * 3);
        if (!rgb) {
            stbi_image_free(g);
            return gc_error_context(GC_ERR_NOMEM, "%s", label);
        }
        for (size_t i = 0; i < (size_t)w * h; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i] > 255 ? 255 : (uint8_t)g[i];
        stbi_image_free(g);
        out->rgb = rgb;
    } else {
        /* stb's 16 -> 8 bit reduction keeps the high byte, as Pillow's ";16B" unpackers do. */
        out->rgb = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 3);
        if (!out->rgb) return png_failure(label);
    }
    out->w = w;
    out->h = h;
    return GC_OK;
}

static gc_status decode_png(const uint8_t *data, size_t len, const char *label, int64_t max_pixels,
                            gc_image *out) {
    size_t n;
    uint8_t *clean;
    GC_TRY(png_check_chunks(data, len, label, &clean, &n));
    if (!clean) return decode_png_stb(data, len, label, max_pixels, out);
    gc_status s = decode_png_stb(clean, n, label, max_pixels, out);
    free(clean);
    return s;
}

/* ---- Entry points -------------------------------------------------------------------------- */

typedef enum { KIND_NONE, KIND_JPEG, KIND_PNG } image_kind;

/* Recognised by the signature, never by the name. */
static image_kind kind_of(const uint8_t *p, size_t len) {
    static const uint8_t k_png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return KIND_JPEG;
    if (len >= 8 && memcmp(p, k_png, 8) == 0) return KIND_PNG;
    return KIND_NONE;
}

gc_status gc_image_decode_limited(const void *data, size_t len, const char *label, int64_t max_pixels,
                                  gc_image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    const uint8_t *p = data;
    if (len == 0) return gc_errorf(GC_ERR_FORMAT, "%s: empty image file", label);
    image_kind k = kind_of(p, len);
    if (k == KIND_JPEG) return decode_jpeg(p, len, label, max_pixels, false, out);
    if (k == KIND_PNG) return decode_png(p, len, label, max_pixels, out);
    return gc_errorf(GC_ERR_FORMAT, "%s: not a JPEG or PNG image (unrecognised signature)", label);
}

gc_status gc_image_size(const void *data, size_t len, const char *label, int32_t *w, int32_t *h) {
    *w = *h = 0;
    const uint8_t *p = data;
    image_kind k = kind_of(p, len);
    if (k == KIND_JPEG) {
        gc_image hdr = {0};
        GC_TRY(decode_jpeg(p, len, label, GC_IMAGE_MAX_PIXELS, true, &hdr));
        *w = hdr.w, *h = hdr.h;
        return GC_OK;
    }
    if (k == KIND_NONE) return gc_errorf(GC_ERR_FORMAT, "%s: not a JPEG or PNG image (unrecognised signature)", label);
    /* PNG: the IHDR chunk comes first (length 13, then width and height) */
    if (len < 24 || be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0)
        return gc_errorf(GC_ERR_FORMAT, "%s: PNG without an IHDR chunk first", label);
    GC_TRY(check_size(label, "PNG", be32(p + 16), be32(p + 20), GC_IMAGE_MAX_PIXELS));
    *w = (int32_t)be32(p + 16), *h = (int32_t)be32(p + 20);
    return GC_OK;
}

gc_status gc_image_decode(const void *data, size_t len, const char *label, gc_image *out) {
    return gc_image_decode_limited(data, len, label ? label : "image", GC_IMAGE_MAX_PIXELS, out);
}

gc_status gc_image_load(const char *path, gc_image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    if (gc_dir_exists(path)) return gc_errorf(GC_ERR_ARG, "%s: is a folder, not an image file", path);
    char *buf;
    size_t len;
    GC_TRY(gc_read_file(path, &buf, &len, GC_IMAGE_MAX_FILE));
    gc_status s = gc_image_decode(buf, len, path, out);
    free(buf);
    return s;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    bool failed;
} mem_sink;

static void sink_write(void *ctx, void *data, int size) {
    mem_sink *m = ctx;
    if (m->failed || size <= 0) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        while (cap < m->len + (size_t)size) cap *= 2;
        uint8_t *b = gc_realloc_array(m->buf, cap, 1);
        if (!b) {
            m->failed = true;
            return;
        }
        m->buf = b;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

gc_status gc_png_encode(const uint8_t *px, int32_t w, int32_t h, int comp, const char *label, uint8_t **png, size_t *len) {
    *png = NULL;
    *len = 0;
    if (!px || w <= 0 || h <= 0 || (comp != 1 && comp != 3) || (int64_t)w * comp > INT32_MAX)
        return gc_errorf(GC_ERR_ARG, "%s: cannot encode an empty or oversized image", label);
    mem_sink m = {0};
    int ok = stbi_write_png_to_func(sink_write, &m, w, h, comp, px, w * comp);
    if (!ok || m.failed) {
        free(m.buf);
        return gc_errorf(GC_ERR_NOMEM, "%s: PNG encoding failed", label);
    }
    *png = m.buf;
    *len = m.len;
    return GC_OK;
}

/* An 8-bit PNG of `comp` channels (1: gray, colour type 0; 3: RGB), written atomically. */
static gc_status save_png(const char *path, const uint8_t *px, int32_t w, int32_t h, int comp) {
    uint8_t *png;
    size_t n;
    GC_TRY(gc_png_encode(px, w, h, comp, path, &png, &n));
    gc_status s = gc_write_file_atomic(path, png, n);
    free(png);
    return s;
}

gc_status gc_image_save_png(const char *path, const gc_image *img) {
    if (!img) return gc_errorf(GC_ERR_ARG, "%s: no image to save", path);
    return save_png(path, img->rgb, img->w, img->h, 3);
}

gc_status gc_png_save_gray(const char *path, const uint8_t *gray, int32_t w, int32_t h) {
    return save_png(path, gray, w, h, 1);
}
