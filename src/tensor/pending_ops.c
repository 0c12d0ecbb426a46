/* Weak stand-ins for ops declared on main whose implementations are on other branches (gc_matmul,
 * gc_linear: `dino`; gc_resize_bilinear: `dino`). The real definitions override these at link time;
 * delete this file once they are on main. */
#include "tensor/linear.h"
#include "tensor/resample.h"

#include <cblas.h> /* after linear.h: cblas pulls in complex.h, whose I clashes with parameter names */

__attribute__((weak)) void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N,
                                     bool trans_a, bool trans_b, float alpha, float beta) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, trans_a ? (int)M : (int)K, B, trans_b ? (int)K : (int)N,
                beta, C, (int)N);
}

static void bilinear_taps(int64_t in, int64_t out, int64_t i, int64_t *i0, int64_t *i1, float *l1) {
    const float scale = (float)in / (float)out;
    float src = ((float)i + 0.5f) * scale - 0.5f;
    if (src < 0) src = 0;
    *i0 = (int64_t)src;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l1 = src - (float)*i0;
}

__attribute__((weak)) void gc_resize_bilinear(float *out, const float *in, int64_t C, int64_t H, int64_t W,
                                              int64_t Ho, int64_t Wo) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float *s = in + c * H * W;
        float *d = out + c * Ho * Wo;
        for (int64_t y = 0; y < Ho; y++) {
            int64_t y0, y1;
            float ly;
            bilinear_taps(H, Ho, y, &y0, &y1, &ly);
            for (int64_t x = 0; x < Wo; x++) {
                int64_t x0, x1;
                float lx;
                bilinear_taps(W, Wo, x, &x0, &x1, &lx);
                d[y * Wo + x] = (1 - ly) * ((1 - lx) * s[y0 * W + x0] + lx * s[y0 * W + x1]) +
                                ly * ((1 - lx) * s[y1 * W + x0] + lx * s[y1 * W + x1]);
            }
        }
    }
}
