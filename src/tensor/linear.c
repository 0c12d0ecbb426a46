/* Dense products through CBLAS (OpenBLAS). OpenBLAS's own threading is not bit-stable: its threaded
 * driver blocks K differently from the serial one when K exceeds its block size (the 3600x588x64
 * patch embedding differs between 1 and 2 threads). So geocorr tiles C into fixed blocks and runs
 * serial SGEMMs on them in an OpenMP loop: every element is computed by the serial driver on a
 * tile that does not depend on the thread count. */
#include "tensor/linear.h"

#include <cblas.h>
#include <string.h>

#include "base/base.h"

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

/* C tiles: rows x cols (large enough for near-peak serial SGEMM, small enough to spread a
 * 3601 x 768 product over the cores). */
enum { GC_GEMM_TILE_M = 256, GC_GEMM_TILE_N = 512 };

int gc_blas_serial_begin(void) {
    int n = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return n;
}

void gc_blas_serial_end(int n) { openblas_set_num_threads(n); }

/* C[M,N] = alpha op(A) op(B) + beta C over fixed tiles, in parallel. lda/ldb as CBLAS row-major. */
static void gemm_tiled(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
                       bool trans_b, float alpha, float beta) {
    int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    int64_t tm = (M + GC_GEMM_TILE_M - 1) / GC_GEMM_TILE_M, tn = (N + GC_GEMM_TILE_N - 1) / GC_GEMM_TILE_N;
    int saved = gc_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (tm * tn > 1)
    for (int64_t t = 0; t < tm * tn; t++) {
        int64_t i0 = (t / tn) * GC_GEMM_TILE_M, j0 = (t % tn) * GC_GEMM_TILE_N;
        int64_t mi = GC_MIN(GC_GEMM_TILE_M, M - i0), nj = GC_MIN(GC_GEMM_TILE_N, N - j0);
        const float *a = trans_a ? A + i0 : A + i0 * lda;
        const float *b = trans_b ? B + j0 * ldb : B + j0;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    (blasint)mi, (blasint)nj, (blasint)K, alpha, a, (blasint)lda, b, (blasint)ldb, beta,
                    C + i0 * N + j0, (blasint)N);
    }
    gc_blas_serial_end(saved);
}

void gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O) {
    if (N <= 0 || O <= 0) return;
    if (b) {
        for (int64_t n = 0; n < N; n++) memcpy(y + n * O, b, (size_t)O * sizeof(float));
    }
    gemm_tiled(y, x, W, N, K, O, false, true, 1.0f, b ? 1.0f : 0.0f);
}

void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
               bool trans_b, float alpha, float beta) {
    if (M <= 0 || N <= 0) return;
    gemm_tiled(C, A, B, M, K, N, trans_a, trans_b, alpha, beta);
}
