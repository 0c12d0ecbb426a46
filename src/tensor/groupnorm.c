/* Without trapping math GCC vectorises the SiLU's exp (see tensor/vecmath.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "tensor/groupnorm.h"

#include <math.h>
#include <stddef.h>

#include "base/base.h"
#include "tensor/vecmath.h"

/* Groups are independent: one thread per group, so the bytes do not depend on the thread count.
 * Double accumulation (8 fixed lanes): PyTorch's float path is within ~5e-7 of exact statistics
 * (fixture fp32-vs-fp64 checks), so exact-to-double sums keep parity well inside the tolerance. */
GC_CLONES static void groupnorm(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW,
                                int64_t G, float eps, bool silu, float *stats, double *stats_d) {
    const int64_t cpg = C / G, n = cpg * HW;
#pragma omp parallel for schedule(static) if (C * HW > 65536)
    for (int64_t g = 0; g < G; g++) {
        const float *xg = x + g * n;
        const double mean = gc_vsum_d(xg, n) / (double)n;
        const double rstd_d = 1.0 / sqrt(gc_vsumsq_d(xg, n, mean) / (double)n + eps);
        const float m = (float)mean, rstd = (float)rstd_d;
        if (stats) {
            stats[2 * g] = m;
            stats[2 * g + 1] = rstd;
        }
        if (stats_d) {
            stats_d[2 * g] = mean;
            stats_d[2 * g + 1] = rstd_d;
        }
        for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
            const float a = rstd * (w ? w[c] : 1.0f), sh = (b ? b[c] : 0.0f) - m * a;
            const float *xc = x + c * HW;
            float *yc = y + c * HW;
            if (silu)
                for (int64_t i = 0; i < HW; i++) yc[i] = gc_vxsigmoid(xc[i] * a + sh, 1.0f);
            else
                for (int64_t i = 0; i < HW; i++) yc[i] = xc[i] * a + sh;
        }
    }
}

void gc_groupnorm(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW, int64_t G,
                  float eps, bool silu) {
    groupnorm(y, x, w, b, C, HW, G, eps, silu, NULL, NULL);
}

void gc_groupnorm_stats(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW,
                        int64_t G, float eps, float *stats, double *stats_d) {
    groupnorm(y, x, w, b, C, HW, G, eps, false, stats, stats_d);
}
