/* Dense products through CBLAS (OpenBLAS). All heavy work of geocorr lands here. Results are
 * bit-identical for every thread count (fixed C tiles, serial SGEMM per tile). */
#ifndef GC_LINEAR_H
#define GC_LINEAR_H

#include <stdbool.h>
#include <stdint.h>

/* y[N,O] = x[N,K] · W[O,K]^T + b[O]   (PyTorch Linear; b may be NULL). */
void gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O);
/* C[M,N] = alpha · op(A) · op(B) + beta · C, row-major; op = transpose when trans_* is set.
 * A is M x K (K x M if trans_a), B is K x N (N x K if trans_b). */
void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
               bool trans_b, float alpha, float beta);

/* Make OpenBLAS serial while OpenMP threads call it (returns the previous thread count for _end). */
int gc_blas_serial_begin(void);
void gc_blas_serial_end(int saved);

#endif
