#include <complex.h>
#include <math.h>

#include "base/base.h"
#include "tensor/fourier.h"

gc_status gc_fourier_lowfreq_scale(float *x, int64_t C, int64_t H, int64_t W, float s) {
    double *ca = gc_alloc_array((size_t)(2 * (H + W)), sizeof(double));
    if (!ca) return GC_ERR_NOMEM;
    double *sa = ca + H, *cb = sa + H, *sb = cb + W;
    for (int64_t m = 0; m < H; m++) {
        ca[m] = cos(2.0 * M_PI * (double)m / (double)H);
        sa[m] = sin(2.0 * M_PI * (double)m / (double)H);
    }
    for (int64_t n = 0; n < W; n++) {
        cb[n] = cos(2.0 * M_PI * (double)n / (double)W);
        sb[n] = sin(2.0 * M_PI * (double)n / (double)W);
    }
    /* the -1 frequency is a distinct bin only when the axis has at least 2 samples */
    double use_u = H >= 2 ? 1.0 : 0.0, use_v = W >= 2 ? 1.0 : 0.0;
    double k = ((double)s - 1.0) / (double)(H * W);
#pragma omp parallel for schedule(static) if (C * H * W > 65536)
    for (int64_t c = 0; c < C; c++) {
        float *xc = x + c * H * W;
        /* X(0,0), X(-1,0), X(0,-1), X(-1,-1) with a_m = e^{2 pi i m/H}, b_n = e^{2 pi i n/W}:
         * X(-1,v) = sum_m a_m (...), X(u,-1) = sum_n b_n (...) */
        double complex x00 = 0, x10 = 0, x01 = 0, x11 = 0;
        for (int64_t m = 0; m < H; m++) {
            double r = 0;
            double complex p = 0;
            for (int64_t n = 0; n < W; n++) {
                double v = xc[m * W + n];
                r += v;
                p += v * (cb[n] + I * sb[n]);
            }
            double complex am = ca[m] + I * sa[m];
            x00 += r;
            x10 += am * r;
            x01 += p;
            x11 += am * p;
        }
        for (int64_t m = 0; m < H; m++) {
            double complex am = ca[m] - I * sa[m]; /* e^{-2 pi i m/H}: the u = -1 inverse phase */
            for (int64_t n = 0; n < W; n++) {
                double complex bn = cb[n] - I * sb[n];
                double complex sum = x00 + use_u * x10 * am + use_v * x01 * bn + use_u * use_v * x11 * am * bn;
                xc[m * W + n] = (float)((double)xc[m * W + n] + k * creal(sum));
            }
        }
    }
    gc_free(ca);
    return GC_OK;
}
