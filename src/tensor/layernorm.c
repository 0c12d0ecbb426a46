#include "tensor/layernorm.h"

#include <math.h>

/* Rows are independent: one thread per row block, so the bytes do not depend on the thread count.
 * Mean and variance are accumulated in double (two passes): within rounding of PyTorch's float
 * Welford kernel (the fixtures' fp32-vs-fp64 runs differ by ~1e-6 relative) and order-independent. */
void gc_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *yr = y + n * C;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += xr[c];
        double mean = s / (double)C, v = 0;
        for (int64_t c = 0; c < C; c++) {
            double d = xr[c] - mean;
            v += d * d;
        }
        float fmean = (float)mean;
        float rstd = (float)(1.0 / sqrt(v / (double)C + (double)eps));
        for (int64_t c = 0; c < C; c++) {
            float t = (xr[c] - fmean) * rstd;
            if (w) t *= w[c];
            if (b) t += b[c];
            yr[c] = t;
        }
    }
}
