/* Nearest-neighbour upsampling by an integer factor 2 (F.interpolate(scale_factor=2, "nearest")). */
#ifndef GC_UPSAMPLE_H
#define GC_UPSAMPLE_H

#include <stdint.h>

/* y[C, 2H, 2W] from x[C, H, W]. */
void gc_upsample_nearest2x(float *y, const float *x, int64_t C, int64_t H, int64_t W);

#endif
