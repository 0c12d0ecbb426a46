#include "train/groupnorm_grad.h"

void gc_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *stats, const float *gamma, int64_t C, int64_t HW, int64_t G) {
    const int64_t cpg = C / G;
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < G; g++) {
        const float mean = stats[2 * g], rstd = stats[2 * g + 1];
        /* group means of dxhat and dxhat * xhat */
        double s1 = 0, s2 = 0;
        for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
            const float *xc = x + c * HW, *dyc = dy + c * HW;
            double sdy = 0, sdyx = 0;
            for (int64_t i = 0; i < HW; i++) {
                const double xh = (double)(xc[i] - mean) * rstd;
                sdy += dyc[i];
                sdyx += dyc[i] * xh;
            }
            dgamma[c] += (float)sdyx;
            dbeta[c] += (float)sdy;
            s1 += sdy * gamma[c];
            s2 += sdyx * gamma[c];
        }
        const double n = (double)(cpg * HW), m1 = s1 / n, m2 = s2 / n;
        for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
            const float *xc = x + c * HW, *dyc = dy + c * HW;
            float *dxc = dx + c * HW;
            for (int64_t i = 0; i < HW; i++) {
                const double xh = (double)(xc[i] - mean) * rstd;
                dxc[i] = (float)(rstd * ((double)dyc[i] * gamma[c] - m1 - xh * m2));
            }
        }
    }
}
