/* STOPGAP for the match branch until the dino branch's tensor commit lands on main: only what
 * src/match needs, same names and semantics as linear.h. On merge, take the dino version. */
#include "tensor/linear.h"

#include <cblas.h> /* after linear.h: cblas pulls in complex.h, whose I macro would hit its prototypes */

void gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
               bool trans_b, float alpha, float beta) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, trans_a ? (int)M : (int)K, B, trans_b ? (int)K : (int)N,
                beta, C, (int)N);
}

void gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t in, int64_t O) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) y[n * O + o] = b ? b[o] : 0.0f;
    gc_matmul(y, x, W, N, in, O, false, true, 1.0f, 1.0f);
}
