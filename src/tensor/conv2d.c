#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "tensor/conv2d.h"

/* Bands of about GC_CONV_BAND_COLS output positions: a K x 2048 column block stays in the 4 MB L2 for
 * the SD-1.5 VAE (K = 1152) and runs OpenBLAS near peak (~100 GFLOP/s per core here), while one
 * 32 MB block for the whole band ran at ~60. GC_CONV_BAND_FLOATS caps the block for large K. */
#define GC_CONV_BAND_COLS 2048
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
    int64_t band = GC_MIN((GC_CONV_BAND_COLS + Wo - 1) / Wo, GC_CONV_BAND_FLOATS / (K * Wo));
    band = GC_MAX(1, GC_MIN(band, Ho));
    int64_t nbands = (Ho + band - 1) / band;
    int nt = (int)GC_MIN((int64_t)omp_get_max_threads(), nbands);
    float *col = gc_alloc_array((size_t)(nt * K * band * Wo), sizeof(float));
    if (!col) return gc_error_context(GC_ERR_NOMEM, "conv2d column buffer");
    if (nt > 1) {
        /* Bands in parallel, one single-threaded GEMM each: a barrier per conv instead of one per
         * GEMM (with 2 cores shared by many processes, per-GEMM thread hand-offs cost more than the
         * GEMMs). Each band is computed by one thread in the same order: thread-count independent. */
        int blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t bi = 0; bi < nbands; bi++) {
            int64_t r0 = bi * band, r1 = GC_MIN(Ho, r0 + band), n = (r1 - r0) * Wo;
            float *c = col + (int64_t)omp_get_thread_num() * K * band * Wo;
            im2col_band(c, x, Cin, H, W, k, stride, pad, Wo, r0, r1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)n, (int)K, 1.0f, w, (int)K, c,
                        (int)n, 1.0f, y + r0 * Wo, (int)HWo);
        }
        openblas_set_num_threads(blas_threads);
    } else {
        for (int64_t r0 = 0; r0 < Ho; r0 += band) {
            int64_t r1 = GC_MIN(Ho, r0 + band), n = (r1 - r0) * Wo;
            im2col_band(col, x, Cin, H, W, k, stride, pad, Wo, r0, r1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)n, (int)K, 1.0f, w, (int)K, col,
                        (int)n, 1.0f, y + r0 * Wo, (int)HWo);
        }
    }
    gc_free(col);
    return GC_OK;
}
