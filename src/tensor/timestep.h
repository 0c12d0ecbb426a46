/* Sinusoidal timestep embedding of LDM's `timestep_embedding` (diffusers flip_sin_to_cos=True,
 * freq_shift 0). */
#ifndef GC_TIMESTEP_H
#define GC_TIMESTEP_H

#include <stdint.h>

/* out[dim] = [cos(t*f_0..f_{half-1}), sin(t*f_0..)], f_i = exp(-ln(10000) * i / half), half = dim/2,
 * all in float32 as PyTorch computes it; an odd dim gets a trailing 0. */
void gc_timestep_embedding(float *out, float t, int64_t dim);

#endif
