/* LayerNorm over the last dimension of a token matrix (biased variance, as PyTorch). Mean and
 * variance are two-pass sums in double: PyTorch's CPU kernel uses a float Welford, the two agree to
 * float rounding (~1e-7 relative), and the double sums do not depend on vector width. */
#ifndef GC_LAYERNORM_H
#define GC_LAYERNORM_H

#include <stdint.h>

/* y[N,C] = (x - mean) / sqrt(var + eps) * w + b; y may equal x. w, b may be NULL (1, 0). */
void gc_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps);

#endif
