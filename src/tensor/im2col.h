/* Patch unfolding for k x k convolutions as GEMMs: conv(x, W[O, C, k, k]) = W[O, C*k*k] · im2col(x).
 * One implementation for every conv: gc_conv2d unfolds bands of output rows with any stride and
 * (asymmetric) padding; the post-processor's backward unfolds whole "same" 3x3 maps. col2im is the
 * adjoint of the "same" unfolding (the input gradient). */
#ifndef GC_IM2COL_H
#define GC_IM2COL_H

#include <stdint.h>

/* Zero padding per side. Symmetric `pad 1` = {1,1,1,1}; the SD VAE downsample pads right and
 * bottom only = {0,0,1,1}. */
typedef struct {
    int64_t top, left, bottom, right;
} gc_pad2d;

/* Output rows [r0, r1) of the unfolding of x[C, H, W] for a k x k kernel, output width Wo:
 * col[(c*k + ky)*k + kx, (r - r0)*Wo + ox] = x[c, r*stride - pad.top + ky, ox*stride - pad.left + kx]
 * (0 outside), col's rows ldc floats apart (>= (r1 - r0)*Wo; wider when a batch's images share the
 * rows). pad.bottom/right only bound the output size, which the caller passes (Wo, r1). */
void gc_im2col_band(float *col, int64_t ldc, const float *x, int64_t C, int64_t H, int64_t W, int64_t k,
                    int64_t stride, gc_pad2d pad, int64_t Wo, int64_t r0, int64_t r1);
/* col[C*k*k, H*W]: the whole map, stride 1, "same" padding k/2 (odd k). */
void gc_im2col(float *col, const float *x, int64_t C, int64_t H, int64_t W, int64_t k);
/* ViT patch embedding's unfolding, for a conv whose stride equals its kernel p (H, W multiples of p):
 * out[(H/p)*(W/p), C*p*p], patch (i, j) is row i*(W/p) + j holding its p x p window of every channel
 * in the conv weight's (c, ky, kx) order, so the conv is one gc_linear over the rows. */
void gc_patchify(float *out, const float *img, int64_t C, int64_t H, int64_t W, int64_t p);
/* dx[C, H*W] = sum of col entries back at the pixels they were read from (overwrites dx). */
void gc_col2im(float *dx, const float *col, int64_t C, int64_t H, int64_t W, int64_t k);

#endif
