#include <cblas.h>
#include <string.h>

#include "tensor/conv2d.h"

/* Column-buffer budget in floats per band (32 MB). */
#define GC_CONV_BAND_FLOATS (8 << 20)

int64_t gc_conv2d_out(int64_t n, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
    return (n + pad_lo + pad_hi - k) / stride + 1;
}

static void fill_bias(float *y, const float *b, int64_t Cout, int64_t n) {
    for (int64_t o = 0; o < Cout; o++) {
        float v = b ? b[o] : 0.0f;
        float *row = y + o * n;
        for (int64_t i = 0; i < n; i++) row[i] = v;
    }
}

/* Rows [r0, r1) of the im2col matrix: col[(c*k + ki)*k + kj, (r - r0)*Wo + ox]. */
static void im2col_band(float *col, const float *x, int64_t Cin, int64_t H, int64_t W, int64_t k,
                        int64_t stride, gc_pad2d pad, int64_t Wo, int64_t r0, int64_t r1) {
    int64_t n = (r1 - r0) * Wo, rows = Cin * k * k;
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t row = 0; row < rows; row++) {
        int64_t c = row / (k * k), ki = (row / k) % k, kj = row % k;
        const float *xc = x + c * H * W;
        float *dst = col + row * n;
        for (int64_t r = r0; r < r1; r++) {
            int64_t iy = r * stride - pad.top + ki;
            float *d = dst + (r - r0) * Wo;
            if (iy < 0 || iy >= H) {
                memset(d, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            const float *xr = xc + iy * W;
            if (stride == 1) {
                for (int64_t ox = 0; ox < Wo; ox++) {
                    int64_t ix = ox - pad.left + kj;
                    d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
                }
            } else {
                for (int64_t ox = 0; ox < Wo; ox++) {
                    int64_t ix = ox * stride - pad.left + kj;
                    d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
                }
            }
        }
    }
}

gc_status gc_conv2d(float *y, const float *x, const float *w, const float *b, int64_t Cin, int64_t H,
                    int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad) {
    int64_t Ho = gc_conv2d_out(H, k, stride, pad.top, pad.bottom);
    int64_t Wo = gc_conv2d_out(W, k, stride, pad.left, pad.right);
    int64_t HWo = Ho * Wo, K = Cin * k * k;
    fill_bias(y, b, Cout, HWo);
    if (k == 1 && stride == 1 && !pad.top && !pad.left && !pad.bottom && !pad.right) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)HWo, (int)Cin, 1.0f, w,
                    (int)Cin, x, (int)HWo, 1.0f, y, (int)HWo);
        return GC_OK;
    }
    int64_t band = GC_CONV_BAND_FLOATS / (K * Wo);
    band = GC_MAX(1, GC_MIN(band, Ho));
    float *col = gc_alloc_array((size_t)(K * band * Wo), sizeof(float));
    if (!col) return gc_error_context(GC_ERR_NOMEM, "conv2d column buffer");
    for (int64_t r0 = 0; r0 < Ho; r0 += band) {
        int64_t r1 = GC_MIN(Ho, r0 + band), n = (r1 - r0) * Wo;
        im2col_band(col, x, Cin, H, W, k, stride, pad, Wo, r0, r1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)n, (int)K, 1.0f, w, (int)K,
                    col, (int)n, 1.0f, y + r0 * Wo, (int)HWo);
    }
    gc_free(col);
    return GC_OK;
}
