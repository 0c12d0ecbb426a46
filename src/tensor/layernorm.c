#include "tensor/layernorm.h"

#include <math.h>

#include "base/base.h"
#include "tensor/vecmath.h"

/* Rows are independent: one thread per row block, so the bytes do not depend on the thread count.
 * Mean and variance are accumulated in double (two passes, 8 fixed lanes): within rounding of
 * PyTorch's float Welford kernel (the fixtures' fp32-vs-fp64 runs differ by ~1e-6 relative) and
 * order-independent. */
GC_CLONES static void layernorm_v(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C,
                            float eps) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *yr = y + n * C;
        double mean = gc_vsum_d(xr, C) / (double)C;
        float fmean = (float)mean;
        float rstd = (float)(1.0 / sqrt(gc_vsumsq_d(xr, C, mean) / (double)C + (double)eps));
        for (int64_t c = 0; c < C; c++) {
            float t = (xr[c] - fmean) * rstd;
            if (w) t *= w[c];
            if (b) t += b[c];
            yr[c] = t;
        }
    }
}

void gc_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps) {
    layernorm_v(y, x, w, b, N, C, eps);
}
