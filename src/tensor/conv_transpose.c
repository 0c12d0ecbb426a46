#include "tensor/conv_transpose.h"

#include "tensor/linear.h"

gc_status gc_conv_transpose2x2(float *y, const float *x, const float *w, const float *b, int64_t H, int64_t W,
                               int64_t Cin, int64_t Cout) {
    const int64_t N = H * W, O4 = Cout * 4;
    /* t[n, o*4 + i*2 + j] = sum_c x[n, c] w[c, o, i, j]: the weight is already a [Cin, Cout*4] matrix */
    float *t = gc_alloc_array((size_t)N, (size_t)O4 * sizeof(float));
    if (!t) return gc_error_context(GC_ERR_NOMEM, "transposed convolution (%lld x %lld)", (long long)N, (long long)O4);
    gc_status st = gc_matmul(t, x, w, N, Cin, O4, false, false, 1.0f, 0.0f);
    if (st != GC_OK) {
        gc_free(t);
        return st;
    }
#pragma omp parallel for schedule(static) if (N * O4 > 65536)
    for (int64_t n = 0; n < N; n++) {
        const int64_t py = n / W, px = n % W;
        const float *tn = t + n * O4;
        for (int64_t ij = 0; ij < 4; ij++) {
            float *yo = y + ((2 * py + ij / 2) * 2 * W + 2 * px + ij % 2) * Cout;
            for (int64_t o = 0; o < Cout; o++) yo[o] = tn[o * 4 + ij] + (b ? b[o] : 0.0f);
        }
    }
    gc_free(t);
    return GC_OK;
}
