/* Dense products through CBLAS (OpenBLAS). OpenBLAS 0.3.21 (pthread) blocks K differently with one
 * and with several threads once K exceeds its K-block (seen from K = 288 up: 32x3600x64,
 * 768x3600x1280, ... give different last bits with 1 and 2 threads), so products are issued in
 * fixed K-chunks of GC_K_CHUNK, accumulated in order through beta = 1: every output element then has
 * the same summation order whatever the thread count (checked up to 3600x1728x192). */
#include "tensor/linear.h"

#include <cblas.h>
#include <string.h>

#define GC_K_CHUNK 256

void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
               bool trans_b, float alpha, float beta) {
    if (M <= 0 || N <= 0) return;
    const blasint lda = (blasint)(trans_a ? M : K), ldb = (blasint)(trans_b ? K : N);
    if (K <= 0) { /* C = beta * C, as BLAS */
        for (int64_t i = 0; i < M * N; i++) C[i] = beta == 0.0f ? 0.0f : C[i] * beta;
        return;
    }
    for (int64_t k0 = 0; k0 < K; k0 += GC_K_CHUNK) {
        const int64_t kk = K - k0 < GC_K_CHUNK ? K - k0 : GC_K_CHUNK;
        const float *a = trans_a ? A + k0 * M : A + k0;
        const float *b = trans_b ? B + k0 : B + k0 * N;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    (blasint)M, (blasint)N, (blasint)kk, alpha, a, lda, b, ldb, k0 ? 1.0f : beta, C, (blasint)N);
    }
}

void gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O) {
    if (N <= 0 || O <= 0) return;
    if (b) {
        for (int64_t n = 0; n < N; n++) memcpy(y + n * O, b, (size_t)O * sizeof(float));
    }
    gc_matmul(y, x, W, N, K, O, false, true, 1.0f, b ? 1.0f : 0.0f);
}
