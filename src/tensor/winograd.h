/* Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (tensor/winograd.c), called by gc_conv2d. */
#ifndef GC_WINOGRAD_H
#define GC_WINOGRAD_H

#include <stdint.h>

#include "backend/arena.h"
#include "base/base.h"

/* y[Cout, H, W] = (b + conv3x3(x[Cin, H, W], w[Cout, Cin, 3, 3])) + res[Cout, H, W], stride 1, zero
 * padding 1 (b NULL: no bias; res NULL: no residual); m = 2 or 4: the output tile. Work space from
 * `scratch`; fails only on allocation. */
gc_status gc_winograd3x3(gc_arena *scratch, int m, float *y, const float *x, const float *w, const float *b,
                         const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout);

#endif
