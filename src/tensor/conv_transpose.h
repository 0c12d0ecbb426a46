/* ConvTranspose2d with kernel 2 and stride 2 (no padding): every input pixel spreads into its own
 * 2x2 output block, so the layer is one GEMM over the tokens plus a scatter. Token-major in and out
 * (channels innermost), the layout SAM's mask decoder keeps its maps in. */
#ifndef GC_CONV_TRANSPOSE_H
#define GC_CONV_TRANSPOSE_H

#include <stdint.h>

#include "base/base.h"

/* y[(2H)*(2W), Cout] with y[(2y+i)*2W + 2x+j, o] = b[o] + sum_c w[c, o, i, j] x[y*W + x, c]
 * (PyTorch weight layout [Cin, Cout, 2, 2]; b may be NULL). Fails only on allocation. */
gc_status gc_conv_transpose2x2(float *y, const float *x, const float *w, const float *b, int64_t H, int64_t W,
                               int64_t Cin, int64_t Cout);

#endif
