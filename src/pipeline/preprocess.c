/* The reference preprocessing: utils_correspondence.resize() and preprocess_kps_pad().
 *
 * The resampler is a port of Pillow's src/libImaging/Resample.c (identical in Pillow 9.4 and 9.5,
 * see fixtures/README.md "Pillow") restricted to what geocorr uses: LANCZOS (a = 3; resize()) and
 * BILINEAR (SAM's ResizeLongestSide), 8-bit RGB, the whole image as the box. Every arithmetic step is kept as Pillow writes it (double filter
 * weights, per-pixel normalisation, rounding to PRECISION_BITS fixed point away from zero, int32
 * accumulation starting at half an LSB, clip to 0..255, 8-bit intermediate between the passes),
 * because the canvases are compared by SHA-256. Output rows are independent, so the OpenMP loops
 * give the same bytes for every thread count. */
#include <math.h>
#include <string.h>

#include "pipeline/preprocess.h"

/* Pillow: 8 bits for the result, 2 for overflow of negative lobes, the rest for the fraction. */
#define PRECISION_BITS (32 - 8 - 2)

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos(double x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
}

/* Pillow's bilinear_filter (the triangle, support 1). */
static double triangle(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

/* Pillow's clip8 (a lookup over -640..639 of the shifted sum) as a clamp. */
static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Resampling weights of one axis: output index o reads inputs [bounds[2o], bounds[2o] + bounds[2o+1])
 * with fixed-point weights k[o * ksize + i]. */
typedef struct {
    int32_t ksize;   /* max taps per output */
    int32_t *bounds; /* [out_size, 2]: first input, tap count */
    int32_t *k;      /* [out_size, ksize] fixed-point weights (unused taps are 0) */
} pillow_coeffs;

static void coeffs_free(pillow_coeffs *c) {
    gc_free(c->bounds);
    gc_free(c->k);
    c->bounds = c->k = NULL;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for box [0, in_size). */
static gc_status coeffs_init(pillow_coeffs *c, int32_t in_size, int32_t out_size, gc_pillow_filter f) {
    double (*filter)(double) = f == GC_PILLOW_LANCZOS ? lanczos : triangle;
    const double scale = (double)(float)in_size / out_size; /* Pillow: (double)(in1 - in0) / outSize, floats */
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = (f == GC_PILLOW_LANCZOS ? 3.0 : 1.0) * filterscale;
    c->ksize = (int32_t)ceil(support) * 2 + 1;
    c->bounds = gc_alloc_array((size_t)out_size * 2, sizeof(int32_t));
    c->k = gc_alloc_array((size_t)out_size * c->ksize, sizeof(int32_t));
    double *w = gc_alloc_array((size_t)c->ksize, sizeof(double));
    if (!c->bounds || !c->k || !w) {
        coeffs_free(c);
        gc_free(w);
        return GC_ERR_NOMEM;
    }
    for (int32_t xx = 0; xx < out_size; xx++) {
        const double center = 0.0 + (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        double ww = 0.0;
        int32_t xmin = (int32_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int32_t x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * c->ksize;
        for (int32_t x = 0; x < c->ksize; x++) {
            double v = 0.0;
            if (x < xmax) v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    gc_free(w);
    return GC_OK;
}

/* Horizontal pass: src [h, w, 3] -> dst [h, ow, 3]. */
static void resample_rows(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst, int32_t ow,
                          const pillow_coeffs *c) {
#pragma omp parallel for schedule(static) if ((int64_t)h * ow > 65536)
    for (int32_t y = 0; y < h; y++) {
        const uint8_t *in = src + (size_t)y * w * 3;
        uint8_t *out = dst + (size_t)y * ow * 3;
        for (int32_t xx = 0; xx < ow; xx++) {
            const int32_t xmin = c->bounds[2 * xx], xn = c->bounds[2 * xx + 1];
            const int32_t *k = c->k + (size_t)xx * c->ksize;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int32_t x = 0; x < xn; x++) {
                const uint8_t *p = in + (size_t)(x + xmin) * 3;
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            out[3 * xx] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }
}

/* Vertical pass: src [h, w, 3] -> dst [oh, w, 3]. Sums run along rows in blocks (contiguous, SIMD);
 * integer sums do not depend on the order, so this is Pillow's per-pixel loop to the bit. */
static void resample_cols(const uint8_t *src, int32_t w, uint8_t *dst, int32_t oh, const pillow_coeffs *c) {
    enum { BLOCK = 1024 };
    const size_t stride = (size_t)w * 3;
#pragma omp parallel for schedule(static) if ((int64_t)oh * w > 65536)
    for (int32_t yy = 0; yy < oh; yy++) {
        const int32_t ymin = c->bounds[2 * yy], yn = c->bounds[2 * yy + 1];
        const int32_t *k = c->k + (size_t)yy * c->ksize;
        uint8_t *out = dst + (size_t)yy * stride;
        int32_t acc[BLOCK];
        for (size_t i0 = 0; i0 < stride; i0 += BLOCK) {
            const size_t n = GC_MIN((size_t)BLOCK, stride - i0);
            for (size_t i = 0; i < n; i++) acc[i] = 1 << (PRECISION_BITS - 1);
            for (int32_t y = 0; y < yn; y++) {
                const uint8_t *row = src + (size_t)(y + ymin) * stride + i0;
                const int32_t ky = k[y];
                for (size_t i = 0; i < n; i++) acc[i] += row[i] * ky;
            }
            for (size_t i = 0; i < n; i++) out[i0 + i] = clip8(acc[i]);
        }
    }
}

gc_status gc_resize_pillow_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst, int32_t ow, int32_t oh,
                               gc_pillow_filter f) {
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0)
        return gc_errorf(GC_ERR_ARG, "%s resize from %dx%d to %dx%d: sizes must be positive",
                         f == GC_PILLOW_LANCZOS ? "LANCZOS" : "BILINEAR", (int)w, (int)h, (int)ow, (int)oh);
    const bool need_h = ow != w, need_v = oh != h;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)w * h * 3);
        return GC_OK;
    }
    pillow_coeffs ch = {0}, cv = {0};
    uint8_t *tmp = NULL;
    gc_status s = GC_OK;
    if (need_h && (s = coeffs_init(&ch, w, ow, f)) != GC_OK) goto done;
    if (need_v && (s = coeffs_init(&cv, h, oh, f)) != GC_OK) goto done;
    if (!need_v) {
        resample_rows(src, w, h, dst, ow, &ch);
    } else if (!need_h) {
        resample_cols(src, w, dst, oh, &cv);
    } else {
        /* Pillow resamples only the rows the vertical pass reads; those are all rows here, and a row's
         * result does not depend on the others, so the full pass gives the same bytes. */
        tmp = gc_alloc_array((size_t)ow * h, 3);
        if (!tmp) {
            s = GC_ERR_NOMEM;
            goto done;
        }
        resample_rows(src, w, h, tmp, ow, &ch);
        resample_cols(tmp, ow, dst, oh, &cv);
    }
done:
    gc_free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return s;
}

gc_status gc_resize_lanczos_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst, int32_t ow, int32_t oh) {
    return gc_resize_pillow_rgb(src, w, h, dst, ow, oh, GC_PILLOW_LANCZOS);
}

void gc_flip_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst) {
    for (int32_t y = 0; y < h; y++) {
        const uint8_t *in = src + (size_t)y * w * 3;
        uint8_t *out = dst + (size_t)y * w * 3;
        for (int32_t x = 0; x < w; x++) memcpy(out + 3 * (size_t)x, in + 3 * (size_t)(w - 1 - x), 3);
    }
}

/* np.around: round half to even (the default rounding mode of nearbyint). */
static int64_t round_half_even(double v) { return (int64_t)nearbyint(v); }

gc_status gc_canvas_geometry(int32_t w, int32_t h, int32_t size, gc_canvas_geom *g) {
    if (w <= 0 || h <= 0 || size <= 0)
        return gc_errorf(GC_ERR_ARG, "canvas geometry: image %dx%d and canvas %d must be positive", (int)w, (int)h,
                         (int)size);
    g->size = size;
    /* Python: int(np.around(S * H / W)) -- exact integer product, one correctly rounded division. */
    if (h <= w) {
        g->band_w = size;
        g->band_h = (int32_t)round_half_even((double)((int64_t)size * h) / w);
    } else {
        g->band_w = (int32_t)round_half_even((double)((int64_t)size * w) / h);
        g->band_h = size;
    }
    if (g->band_w <= 0 || g->band_h <= 0)
        return gc_errorf(GC_ERR_UNSUPPORTED, "image of %dx%d is too elongated for a %d canvas (resized side is 0)",
                         (int)w, (int)h, (int)size);
    g->off_x = (size - g->band_w) / 2;
    g->off_y = (size - g->band_h) / 2;
    g->scale = (double)size / (w > h ? w : h);
    return GC_OK;
}

gc_status gc_image_to_canvas(const gc_image *img, int32_t size, int flip, gc_image *canvas, gc_image *band) {
    canvas->rgb = NULL;
    canvas->w = canvas->h = 0;
    if (band) *band = *canvas;
    if (!img || !img->rgb) return gc_errorf(GC_ERR_ARG, "image to canvas: no image");
    gc_canvas_geom g;
    GC_TRY(gc_canvas_geometry(img->w, img->h, size, &g));
    gc_image flipped = {0}, b = {0};
    const uint8_t *src = img->rgb;
    gc_status s;
    if (flip) {
        if ((s = gc_image_alloc(&flipped, img->w, img->h)) != GC_OK) return s;
        gc_flip_rgb(img->rgb, img->w, img->h, flipped.rgb);
        src = flipped.rgb;
    }
    if ((s = gc_image_alloc(&b, g.band_w, g.band_h)) != GC_OK) goto fail;
    if ((s = gc_resize_lanczos_rgb(src, img->w, img->h, b.rgb, g.band_w, g.band_h)) != GC_OK) goto fail;
    if ((s = gc_image_alloc(canvas, size, size)) != GC_OK) goto fail;
    for (int32_t y = 0; y < g.band_h; y++)
        memcpy(canvas->rgb + ((size_t)(y + g.off_y) * size + g.off_x) * 3, b.rgb + (size_t)y * g.band_w * 3,
               (size_t)g.band_w * 3);
    gc_image_free(&flipped);
    if (band) *band = b;
    else gc_image_free(&b);
    return GC_OK;
fail:
    gc_image_free(&flipped);
    gc_image_free(&b);
    gc_image_free(canvas);
    return s;
}

/* preprocess_kps_pad in float32 as torch does it: x,y *= scale (the Python float rounded to
 * float32 by the tensor op), + the integer offset on the padded axis, then the row *= vis. */
gc_status gc_kps_to_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out) {
    gc_canvas_geom g;
    GC_TRY(gc_canvas_geometry(w, h, size, &g));
    const float sc = (float)g.scale;
    const float ox = h > w ? (float)g.off_x : 0.0f, oy = h < w ? (float)g.off_y : 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float vis = kps[3 * i + 2];
        float x = kps[3 * i] * sc + ox, y = kps[3 * i + 1] * sc + oy;
        out[3 * i] = x * vis;
        out[3 * i + 1] = y * vis;
        out[3 * i + 2] = vis * vis;
    }
    return GC_OK;
}

void gc_kps_flip(const float *kps, int64_t n, int32_t size, float *out) {
    for (int64_t i = 0; i < n; i++) {
        out[3 * i] = (float)size - kps[3 * i];
        out[3 * i + 1] = kps[3 * i + 1];
        out[3 * i + 2] = kps[3 * i + 2];
    }
}

gc_status gc_kps_from_canvas(const float *kps, int64_t n, int32_t w, int32_t h, int32_t size, float *out) {
    gc_canvas_geom g;
    GC_TRY(gc_canvas_geometry(w, h, size, &g));
    const double ox = h > w ? g.off_x : 0, oy = h < w ? g.off_y : 0;
    for (int64_t i = 0; i < n; i++) {
        const float vis = kps[3 * i + 2];
        const bool keep = vis != 0.0f;
        out[3 * i] = keep ? (float)((kps[3 * i] - ox) / g.scale) : 0.0f;
        out[3 * i + 1] = keep ? (float)((kps[3 * i + 1] - oy) / g.scale) : 0.0f;
        out[3 * i + 2] = keep ? vis : 0.0f;
    }
    return GC_OK;
}

double gc_threshold_to_canvas(double thr, int32_t w, int32_t h, int32_t size) {
    return thr * ((double)size / (w > h ? w : h)); /* Python: thr * (S / max(W, H)) */
}
