/* GroupNorm over a channel-first map (PyTorch nn.GroupNorm, biased variance), optionally followed
 * by SiLU in the same pass over memory (every SD GroupNorm but the transformer's feeds a SiLU). */
#ifndef GC_GROUPNORM_H
#define GC_GROUPNORM_H

#include <stdbool.h>
#include <stdint.h>

/* y[C, HW] = (x - mean_g) / sqrt(var_g + eps) * w[c] + b[c] over G groups of C/G consecutive
 * channels (C must be a multiple of G); then y = silu(y) when `silu`. y may equal x. Statistics are
 * accumulated in double. */
void gc_groupnorm(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW, int64_t G,
                  float eps, bool silu);
/* GroupNorm over channel-first maps x[C, HW] (PyTorch nn.GroupNorm, affine). Shared with the SD
 * branch (ResNet blocks) and the post-processor; the backward pass lives in src/train/. */
#ifndef GC_GROUPNORM_H
#define GC_GROUPNORM_H

#include <stdint.h>

/* y[C,HW] = (x - mean_g) * rstd_g * gamma[c] + beta[c], statistics over the C/G channels x HW of each
 * group g (biased variance, rstd = 1/sqrt(var + eps)). y may alias x. stats (optional, [G,2]) receives
 * (mean, rstd) per group for the backward pass. */
void gc_groupnorm(float *y, const float *x, const float *gamma, const float *beta, int64_t C, int64_t HW,
                  int64_t G, float eps, float *stats);

#endif
