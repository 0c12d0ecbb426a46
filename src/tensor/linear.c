/* Dense products through CBLAS (OpenBLAS). OpenBLAS splits M and N (never K) over its threads, so
 * every output element has the same summation order whatever the thread count. */
#include "tensor/linear.h"

#include <cblas.h>
#include <string.h>

void gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O) {
    if (N <= 0 || O <= 0) return;
    if (b) {
        for (int64_t n = 0; n < N; n++) memcpy(y + n * O, b, (size_t)O * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)N, (blasint)O, (blasint)K, 1.0f, x,
                (blasint)K, W, (blasint)K, b ? 1.0f : 0.0f, y, (blasint)O);
}

void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
               bool trans_b, float alpha, float beta) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)(trans_a ? M : K), B,
                (blasint)(trans_b ? K : N), beta, C, (blasint)N);
}
