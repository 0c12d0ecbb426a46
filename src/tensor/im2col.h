/* Patch unfolding for 3x3 (and any k x k, stride 1, "same" padding) convolutions as one GEMM:
 * conv(x, W[O, C, k, k]) = W[O, C*k*k] · im2col(x). col2im is its adjoint (the input gradient). */
#ifndef GC_IM2COL_H
#define GC_IM2COL_H

#include <stdint.h>

/* col[C*k*k, H*W]: row (c*k + ky)*k + kx holds x[c, y + ky - k/2, x + kx - k/2] (0 outside). */
void gc_im2col(float *col, const float *x, int64_t C, int64_t H, int64_t W, int64_t k);
/* dx[C, H*W] = sum of col entries back at the pixels they were read from (overwrites dx). */
void gc_col2im(float *dx, const float *col, int64_t C, int64_t H, int64_t W, int64_t k);

#endif
