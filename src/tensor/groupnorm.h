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
