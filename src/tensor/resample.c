/* Resampling as PyTorch 1.13's CPU kernels compute it (float32 coordinates and weights, separable
 * sums in the same nesting), so the position-embedding tables of DINOv2 match to rounding. Channels
 * are independent: parallel over C, same bytes for every thread count. */
#include "tensor/resample.h"

#include <math.h>

#include "base/base.h"

static gc_status check_sizes(const char *what, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
    if (H <= 0 || W <= 0 || Ho <= 0 || Wo <= 0)
        return gc_errorf(GC_ERR_ARG, "resize %s: empty size %lldx%lld -> %lldx%lld", what, (long long)H,
                         (long long)W, (long long)Ho, (long long)Wo);
    return GC_OK;
}

/* Cubic convolution weights for fractional offset t (PyTorch get_cubic_upsample_coefficients),
 * evaluated in double and rounded to float: of the float/double splits tried against torch 1.13's
 * output, this one lands closest (~5e-7 relative on a 37 -> 60 grid). */
static void cubic_coeffs(float w[4], double t, double A) {
    double x1 = t + 1.0, x2 = t, x3 = 1.0 - t, x4 = 2.0 - t;
    w[0] = (float)(((A * x1 - 5.0 * A) * x1 + 8.0 * A) * x1 - 4.0 * A);
    w[1] = (float)(((A + 2.0) * x2 - (A + 3.0)) * x2 * x2 + 1.0);
    w[2] = (float)(((A + 2.0) * x3 - (A + 3.0)) * x3 * x3 + 1.0);
    w[3] = (float)(((A * x4 - 5.0 * A) * x4 + 8.0 * A) * x4 - 4.0 * A);
}

/* PyTorch's area_pixel_compute_source_index: the scale is stored as a float, (i + 0.5) is a double. */
static double source_index(float scale, int64_t i) { return (double)scale * ((double)i + 0.5) - 0.5; }

/* Clamped 4-tap indices and weights along one axis of n_out outputs. */
static void bicubic_axis(int64_t n_in, int64_t n_out, double src_scale, int64_t *idx, float *wt) {
    float s = (float)src_scale;
    for (int64_t i = 0; i < n_out; i++) {
        double real = source_index(s, i);
        double fl = floor(real);
        int64_t in0 = (int64_t)fl;
        cubic_coeffs(wt + 4 * i, real - fl, -0.75);
        for (int k = 0; k < 4; k++) idx[4 * i + k] = GC_MIN(GC_MAX(in0 - 1 + k, 0), n_in - 1);
    }
}

GC_CLONES static gc_status resize_bicubic_v(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                            int64_t Wo, double src_scale_h, double src_scale_w) {
    GC_TRY(check_sizes("bicubic", H, W, Ho, Wo));
    int64_t *iy = gc_alloc_array((size_t)(4 * (Ho + Wo)), sizeof(int64_t));
    float *wy = gc_alloc_array((size_t)(4 * (Ho + Wo)), sizeof(float));
    if (!iy || !wy) {
        gc_free(iy);
        gc_free(wy);
        return GC_ERR_NOMEM;
    }
    int64_t *ix = iy + 4 * Ho;
    float *wx = wy + 4 * Ho;
    bicubic_axis(H, Ho, src_scale_h, iy, wy);
    bicubic_axis(W, Wo, src_scale_w, ix, wx);
#pragma omp parallel for schedule(static) if (C * Ho * Wo > 65536)
    for (int64_t c = 0; c < C; c++) {
        const float *src = in + c * H * W;
        for (int64_t y = 0; y < Ho; y++)
            for (int64_t x = 0; x < Wo; x++) {
                float acc = 0.0f;
                for (int ky = 0; ky < 4; ky++) {
                    const float *row = src + iy[4 * y + ky] * W;
                    float r = 0.0f;
                    for (int kx = 0; kx < 4; kx++) r += wx[4 * x + kx] * row[ix[4 * x + kx]];
                    acc += wy[4 * y + ky] * r;
                }
                out[(c * Ho + y) * Wo + x] = acc;
            }
    }
    gc_free(iy);
    gc_free(wy);
    return GC_OK;
}

gc_status gc_resize_bicubic(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                            int64_t Wo, double src_scale_h, double src_scale_w) {
    return resize_bicubic_v(out, in, C, H, W, Ho, Wo, src_scale_h, src_scale_w);
}

/* PIL-style cubic filter (A = -0.5) of the antialiased path. */
static float aa_cubic(float x) {
    const float a = -0.5f;
    x = fabsf(x);
    if (x < 1.0f) return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
    if (x < 2.0f) return (((x - 5.0f) * x + 8.0f) * x - 4.0f) * a;
    return 0.0f;
}

static int64_t aa_max_taps(double scale) {
    return (int64_t)ceil(2.0 * (scale >= 1.0 ? 2.0 * scale : 2.0)) + 2;
}

/* Variable-width taps of one axis (PyTorch _compute_indices_weights_aa): start[i], cnt[i] taps with
 * weights wt[i*maxw ..] normalised to sum 1; taps outside the input are dropped. The float/double
 * mix is PyTorch's (float scale, center and weights; integer + 0.5 in double): against torch 1.13
 * this is 3x closer than evaluating the taps in double. */
static void aa_axis(int64_t n_in, int64_t n_out, double src_scale, int64_t maxw, int64_t *start, int64_t *cnt,
                    float *wt) {
    float scale = (float)src_scale;
    float support = (float)(scale >= 1.0f ? 2.0 * scale : 2.0);
    float invscale = (float)(scale >= 1.0f ? 1.0 / scale : 1.0);
    for (int64_t i = 0; i < n_out; i++) {
        float center = (float)((double)scale * ((double)i + 0.5));
        int64_t lo = GC_MAX((int64_t)((double)(center - support) + 0.5), 0);
        int64_t n = GC_MIN((int64_t)((double)(center + support) + 0.5), n_in) - lo;
        n = GC_MIN(n, maxw);
        float total = 0.0f, *w = wt + i * maxw;
        for (int64_t j = 0; j < n; j++) {
            w[j] = aa_cubic((float)(((double)((float)(j + lo) - center) + 0.5) * (double)invscale));
            total += w[j];
        }
        for (int64_t j = 0; j < n; j++)
            if (total != 0.0f) w[j] /= total;
        start[i] = lo;
        cnt[i] = n;
    }
}

GC_CLONES static gc_status resize_bicubic_aa_v(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                               int64_t Wo, double src_scale_h, double src_scale_w) {
    GC_TRY(check_sizes("bicubic antialias", H, W, Ho, Wo));
    if (!(src_scale_h > 0 && src_scale_w > 0 && src_scale_h < 1e6 && src_scale_w < 1e6))
        return gc_errorf(GC_ERR_ARG, "resize bicubic antialias: bad scale %g x %g", src_scale_h, src_scale_w);
    int64_t mh = aa_max_taps(src_scale_h), mw = aa_max_taps(src_scale_w);
    int64_t *sy = gc_alloc_array((size_t)(2 * (Ho + Wo)), sizeof(int64_t));
    float *wy = gc_alloc_array((size_t)(Ho * mh + Wo * mw), sizeof(float));
    float *tmp = gc_alloc_array((size_t)C * (size_t)H, (size_t)Wo * sizeof(float));
    if (!sy || !wy || !tmp) {
        gc_free(sy);
        gc_free(wy);
        gc_free(tmp);
        return GC_ERR_NOMEM;
    }
    int64_t *ny = sy + Ho, *sx = ny + Ho, *nx = sx + Wo;
    float *wx = wy + Ho * mh;
    aa_axis(H, Ho, src_scale_h, mh, sy, ny, wy);
    aa_axis(W, Wo, src_scale_w, mw, sx, nx, wx);
    /* Horizontal pass first, then vertical, as PyTorch's separable kernel (an axis whose size does
     * not change is copied). */
#pragma omp parallel for schedule(static) if (C * Ho * Wo > 65536)
    for (int64_t c = 0; c < C; c++) {
        float *t = tmp + c * H * Wo;
        for (int64_t y = 0; y < H; y++) {
            const float *row = in + (c * H + y) * W;
            for (int64_t x = 0; x < Wo; x++) {
                float acc = 0.0f;
                if (W == Wo) {
                    acc = row[x];
                } else {
                    const float *w = wx + x * mw;
                    for (int64_t j = 0; j < nx[x]; j++) acc += row[sx[x] + j] * w[j];
                }
                t[y * Wo + x] = acc;
            }
        }
        for (int64_t y = 0; y < Ho; y++)
            for (int64_t x = 0; x < Wo; x++) {
                float acc = 0.0f;
                if (H == Ho) {
                    acc = t[y * Wo + x];
                } else {
                    const float *w = wy + y * mh;
                    for (int64_t j = 0; j < ny[y]; j++) acc += t[(sy[y] + j) * Wo + x] * w[j];
                }
                out[(c * Ho + y) * Wo + x] = acc;
            }
    }
    gc_free(sy);
    gc_free(wy);
    gc_free(tmp);
    return GC_OK;
}

gc_status gc_resize_bicubic_aa(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                               int64_t Wo, double src_scale_h, double src_scale_w) {
    return resize_bicubic_aa_v(out, in, C, H, W, Ho, Wo, src_scale_h, src_scale_w);
}

/* Linear taps of one axis (PyTorch 1.13 compute_indices_weights_linear, align_corners=False): the
 * ratio is a float, the source index and the weight's difference are computed in double (its
 * accscalar_t) and the weight stored as float. Rounding the index to float first moves 1024 -> 960
 * SAM mask logits by ~3e-6 of their max (sam/README.md step 6). */
static void linear_axis(int64_t n_in, int64_t n_out, int64_t *i0, int64_t *i1, float *l0, float *l1) {
    float scale = (float)n_in / (float)n_out;
    for (int64_t i = 0; i < n_out; i++) {
        double real = source_index(scale, i);
        real = real < 0.0 ? 0.0 : real;
        int64_t a = (int64_t)real;
        i0[i] = a;
        i1[i] = a + (a < n_in - 1 ? 1 : 0);
        l1[i] = (float)(real - (double)a);
        l0[i] = 1.0f - l1[i];
    }
}

/* Per-axis source indices and weights of a bilinear resize H x W -> Ho x Wo. */
typedef struct {
    int64_t *idx;                 /* backing of y0, y1 [Ho], x0, x1 [Wo] */
    float *lam;                   /* backing of hy0, hy1 [Ho], wx0, wx1 [Wo] */
    int64_t *y0, *y1, *x0, *x1;
    float *hy0, *hy1, *wx0, *wx1;
} bilinear_tables;

static void bilinear_tables_free(bilinear_tables *t) {
    gc_free(t->idx);
    gc_free(t->lam);
}

static gc_status bilinear_tables_init(bilinear_tables *t, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
    GC_TRY(check_sizes("bilinear", H, W, Ho, Wo));
    t->idx = gc_alloc_array((size_t)(2 * (Ho + Wo)), sizeof(int64_t));
    t->lam = gc_alloc_array((size_t)(2 * (Ho + Wo)), sizeof(float));
    if (!t->idx || !t->lam) {
        bilinear_tables_free(t);
        return GC_ERR_NOMEM;
    }
    t->y0 = t->idx, t->y1 = t->y0 + Ho, t->x0 = t->y1 + Ho, t->x1 = t->x0 + Wo;
    t->hy0 = t->lam, t->hy1 = t->hy0 + Ho, t->wx0 = t->hy1 + Ho, t->wx1 = t->wx0 + Wo;
    linear_axis(H, Ho, t->y0, t->y1, t->hy0, t->hy1);
    linear_axis(W, Wo, t->x0, t->x1, t->wx0, t->wx1);
    return GC_OK;
}

GC_CLONES static gc_status resize_bilinear_v(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                             int64_t Wo) {
    bilinear_tables t;
    GC_TRY(bilinear_tables_init(&t, H, W, Ho, Wo));
    const int64_t *y0 = t.y0, *y1 = t.y1, *x0 = t.x0, *x1 = t.x1;
    const float *hy0 = t.hy0, *hy1 = t.hy1, *wx0 = t.wx0, *wx1 = t.wx1;
#pragma omp parallel for schedule(static) if (C * Ho * Wo > 65536)
    for (int64_t c = 0; c < C; c++) {
        const float *src = in + c * H * W;
        for (int64_t y = 0; y < Ho; y++) {
            const float *r0 = src + y0[y] * W, *r1 = src + y1[y] * W;
            for (int64_t x = 0; x < Wo; x++) {
                float a = r0[x0[x]] * wx0[x] + r0[x1[x]] * wx1[x];
                float b = r1[x0[x]] * wx0[x] + r1[x1[x]] * wx1[x];
                out[(c * Ho + y) * Wo + x] = a * hy0[y] + b * hy1[y];
            }
        }
    }
    bilinear_tables_free(&t);
    return GC_OK;
}

gc_status gc_resize_bilinear(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
    return resize_bilinear_v(out, in, C, H, W, Ho, Wo);
}

GC_CLONES static gc_status resize_bilinear_tokens_v(float *out, int64_t ldo, const float *in, int64_t C, int64_t H, int64_t W,
                                    int64_t Ho, int64_t Wo, const int64_t *pix, int64_t n) {
    bilinear_tables t;
    GC_TRY(bilinear_tables_init(&t, H, W, Ho, Wo));
    const int64_t *y0 = t.y0, *y1 = t.y1, *x0 = t.x0, *x1 = t.x1;
    const float *hy0 = t.hy0, *hy1 = t.hy1, *wx0 = t.wx0, *wx1 = t.wx1;
#pragma omp parallel for schedule(static) if (n * C > 65536)
    for (int64_t k = 0; k < n; k++) {
        int64_t p = pix ? pix[k] : k, y = p / Wo, x = p % Wo;
        const float *p00 = in + (y0[y] * W + x0[x]) * C, *p01 = in + (y0[y] * W + x1[x]) * C;
        const float *p10 = in + (y1[y] * W + x0[x]) * C, *p11 = in + (y1[y] * W + x1[x]) * C;
        float *o = out + k * ldo;
        for (int64_t c = 0; c < C; c++) {
            float a = p00[c] * wx0[x] + p01[c] * wx1[x];
            float b = p10[c] * wx0[x] + p11[c] * wx1[x];
            o[c] = a * hy0[y] + b * hy1[y];
        }
    }
    bilinear_tables_free(&t);
    return GC_OK;
}

gc_status gc_resize_bilinear_tokens(float *out, int64_t ldo, const float *in, int64_t C, int64_t H, int64_t W,
                                    int64_t Ho, int64_t Wo, const int64_t *pix, int64_t n) {
    return resize_bilinear_tokens_v(out, ldo, in, C, H, W, Ho, Wo, pix, n);
}
