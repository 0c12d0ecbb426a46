/* Backward pass of gc_groupnorm (src/tensor/groupnorm.h). */
#ifndef GC_GROUPNORM_GRAD_H
#define GC_GROUPNORM_GRAD_H

#include <stdint.h>

/* Given dy[C,HW] for y = GN(x), the forward input x[C,HW] and its stats[G,2] (mean, rstd):
 * dx[C,HW] = (overwritten), dgamma[C] += sum dy*xhat, dbeta[C] += sum dy. dx may alias dy. */
void gc_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *stats, const float *gamma, int64_t C, int64_t HW, int64_t G);

#endif
