/* GroupNorm over a channel-first map (PyTorch nn.GroupNorm, affine, biased variance). Shared by the
 * SD branch (optionally fused with the SiLU that follows almost every SD GroupNorm) and the
 * post-processor (which keeps the per-group statistics for its backward pass in src/train/). */
#ifndef GC_GROUPNORM_H
#define GC_GROUPNORM_H

#include <stdbool.h>
#include <stdint.h>

/* y[C, HW] = (x - mean_g) * rstd_g * w[c] + b[c] over G groups of C/G consecutive channels (C a
 * multiple of G; rstd = 1/sqrt(var + eps)), computed as PyTorch's CPU kernel does: x * a + (b - mean * a)
 * with a = rstd * w. Then y = silu(y) when `silu`. y may equal x. w, b may be NULL (1, 0).
 * Statistics are accumulated in double. */
void gc_groupnorm(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW, int64_t G,
                  float eps, bool silu);
/* The same without SiLU, also writing (mean, rstd) per group into stats[G, 2] and, in double,
 * stats_d[G, 2] (either may be NULL). */
void gc_groupnorm_stats(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW,
                        int64_t G, float eps, float *stats, double *stats_d);
#endif
