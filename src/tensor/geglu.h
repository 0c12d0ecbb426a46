/* GEGLU (diffusers/LDM FeedForward gate): the projection's first half times GELU of its second. */
#ifndef GC_GEGLU_H
#define GC_GEGLU_H

#include <stdint.h>

/* y[N, D] = x[:, :D] * gelu_erf(x[:, D:2D]) for x[N, 2D]. y must not overlap x. */
void gc_geglu(float *y, const float *x, int64_t N, int64_t D);

#endif
