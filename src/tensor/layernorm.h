/* LayerNorm over the last dimension of a token matrix (two-pass mean/variance in float32 like
 * PyTorch's CPU kernel, biased variance). */
#ifndef GC_LAYERNORM_H
#define GC_LAYERNORM_H

#include <stdint.h>

/* y[N,C] = (x - mean) / sqrt(var + eps) * w + b; y may equal x. w, b may be NULL (1, 0). */
void gc_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps);

#endif
