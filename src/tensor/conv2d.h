/* 2-D convolution of channel-first maps (PyTorch nn.Conv2d, groups 1, dilation 1): 3x3 stride-1 maps
 * through Winograd (tensor/winograd.h), 3x3 stride-2 ones from 4096 outputs as GEMMs over phase
 * copies of the input, the rest as im2col + SGEMM; processed in bands of output rows so the work
 * buffers stay small (a 512² VAE layer's whole column buffer would take 1.2 GB). */
#ifndef GC_CONV2D_H
#define GC_CONV2D_H

#include <stdint.h>

#include "backend/arena.h"
#include "base/base.h"
#include "tensor/im2col.h" /* gc_pad2d */

/* Convolutions run over bands of output rows. With at least GC_CONV_PAR_BANDS bands, bands run in
 * parallel (one thread each, serial GEMMs); with fewer (small maps: the UNet's 32x32 and 16x16
 * levels are one band), bands run one after another and each GEMM is spread over the threads in
 * fixed tiles, so no map size caps the thread count. The mode depends on the shape alone. */
#define GC_CONV_PAR_BANDS 8

/* Output size along one axis: (n + lo + hi - k) / stride + 1. */
int64_t gc_conv2d_out(int64_t n, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi);

/* y[Cout, Ho, Wo] = w[Cout, Cin, k, k] (*) x[Cin, H, W] + b[Cout] (b may be NULL).
 * Fails only when its buffers cannot be allocated (GC_ERR_NOMEM). */
gc_status gc_conv2d(float *y, const float *x, const float *w, const float *b, int64_t Cin, int64_t H,
                    int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad);
/* The same over a batch, x[B, Cin, H, W] -> y[B, Cout, Ho, Wo], with its work space (column or
 * Winograd buffers) taken from `scratch`, and a residual: y = conv + b, then y += res[B, Cout, Ho, Wo]
 * (res NULL: none; the Winograd path adds it while each output row is in cache, the bytes of a
 * separate pass). Small maps of a batch share their GEMMs, so the weights are read once for several
 * (the UNet's 32x32 to 8x8 levels): Winograd bands of whole maps, or im2col GEMMs of
 * GC_CONV_BATCH_COLS columns over maps of at most half that. The path, and so the bytes, depend on
 * B and the shapes, never on the thread count. */
#define GC_CONV_BATCH_COLS 256
gc_status gc_conv2d_scratch(gc_arena *scratch, int64_t B, float *y, const float *x, const float *w, const float *b,
                            const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k,
                            int64_t stride, gc_pad2d pad);

#endif
