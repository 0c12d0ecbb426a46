/* Without trapping math GCC vectorises the SiLU's exp (see tensor/vecmath.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "tensor/groupnorm.h"

#include <math.h>
#include <stddef.h>

#include "base/base.h"
#include "tensor/vecmath.h"

enum { GN_LANES = 32 };

/* Mean and 1/sqrt(var + eps) of x[0..n) in one read: sums of d = x - x[0] and d^2 in double over
 * GN_LANES fixed lanes (independent chains, so the loop runs at memory speed, not at the latency of
 * one add; the VAE's 512^2 groups are 4 MiB, read from L3 or memory). Shifting by a sample keeps
 * E[d^2] - E[d]^2 free of cancellation: in double, far below float's resolution. */
static inline __attribute__((always_inline)) void group_stats(const float *x, int64_t n, double eps, double *mean, double *rstd) {
    double s1[GN_LANES] = {0}, s2[GN_LANES] = {0};
    const double k0 = (double)x[0];
    int64_t j = 0;
    for (; j + GN_LANES <= n; j += GN_LANES)
        for (int k = 0; k < GN_LANES; k++) {
            const double d = (double)x[j + k] - k0;
            s1[k] += d;
            s2[k] += d * d;
        }
    for (int k = 0; j < n; j++, k++) {
        const double d = (double)x[j] - k0;
        s1[k] += d;
        s2[k] += d * d;
    }
    for (int w = GN_LANES / 2; w > 0; w /= 2) /* a fixed tree */
        for (int k = 0; k < w; k++) {
            s1[k] += s1[k + w];
            s2[k] += s2[k + w];
        }
    const double m1 = s1[0] / (double)n, var = s2[0] / (double)n - m1 * m1;
    *mean = k0 + m1;
    *rstd = 1.0 / sqrt((var > 0.0 ? var : 0.0) + eps);
}

/* Groups are independent: one thread per group, so the bytes do not depend on the thread count.
 * Double accumulation: PyTorch's float path is within ~5e-7 of exact statistics (fixture
 * fp32-vs-fp64 checks), so exact-to-double sums keep parity well inside the tolerance. */
GC_CLONES static void groupnorm(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW,
                                int64_t G, float eps, bool silu, float *stats, double *stats_d) {
    const int64_t cpg = C / G, n = cpg * HW;
#pragma omp parallel for schedule(static) if (C * HW > 65536)
    for (int64_t g = 0; g < G; g++) {
        const float *xg = x + g * n;
        double mean, rstd_d;
        group_stats(xg, n, eps, &mean, &rstd_d);
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
