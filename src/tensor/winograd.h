/* Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (tensor/winograd.c), called by gc_conv2d. */
#ifndef GC_WINOGRAD_H
#define GC_WINOGRAD_H

#include <stdint.h>

#include "backend/arena.h"
#include "base/base.h"

/* y[B, Cout, H, W] = (b + conv3x3(x[B, Cin, H, W], w[Cout, Cin, 3, 3])) + res[B, Cout, H, W], stride
 * 1, zero padding 1 (b NULL: no bias; res NULL: no residual); m = 2 or 4: the output tile. The filters
 * are transformed once for the batch; maps of one band each share their bands (and so each GEMM's
 * read of the filters). Work space from `scratch`; fails only on allocation. */
gc_status gc_winograd3x3(gc_arena *scratch, int m, int64_t B, float *y, const float *x, const float *w, const float *b,
                         const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout);

#endif
