/* Dense products. All heavy work of geocorr lands in gc_sgemm: one single-threaded oneDNN SGEMM,
 * whose JIT kernels are chosen from cpuid at run time (no BLAS CPU table, no environment variable).
 * gc_linear / gc_matmul split C into fixed tiles computed in parallel, so results are bit-identical
 * for every thread count. They fail only when oneDNN cannot allocate its packing buffers. */
#ifndef GC_LINEAR_H
#define GC_LINEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "geocorr.h"
#include "tensor/activation.h"

/* y[N,O] = x[N,K] · W[O,K]^T + b[O]   (PyTorch Linear; b may be NULL). */
gc_status gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O);
/* The same followed by y = act(y), each tile activated while it is in cache: the bytes of gc_linear
 * then gc_act_apply, without a second pass over y (an MLP's first layer). */
gc_status gc_linear_act(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O,
                        gc_act act);
/* C[M,N] = alpha · op(A) · op(B) + beta · C, row-major; op = transpose when trans_* is set.
 * A is M x K (K x M if trans_a), B is K x N (N x K if trans_b). */
gc_status gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
                    bool trans_b, float alpha, float beta);
/* One SGEMM on the calling thread (row-major, explicit leading dimensions): the building block of the
 * tiled products above, attention and convolution. Same arguments as cblas_sgemm. */
gc_status gc_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The same with C cut into fixed tiles computed in parallel (gc_linear and gc_matmul are this). */
gc_status gc_sgemm_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The GEMM library and the instruction set its kernels use, e.g. "oneDNN 2.6.3 sgemm (avx512_core)". */
const char *gc_gemm_kernel(void);

#endif
