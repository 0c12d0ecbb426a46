#include <math.h>

#include "tensor/timestep.h"

void gc_timestep_embedding(float *out, float t, int64_t dim) {
    int64_t half = dim / 2;
    const float neg_log = (float)-log(10000.0);
    for (int64_t i = 0; i < half; i++) {
        /* exp(-ln(1e4) * arange(half) / half) in float32, step by step as torch evaluates it */
        float f = expf((neg_log * (float)i) / (float)half);
        float a = t * f;
        out[i] = cosf(a);
        out[half + i] = sinf(a);
    }
    if (dim % 2) out[dim - 1] = 0.0f;
}
