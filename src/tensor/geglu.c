#include <string.h>

#include "base/base.h"
#include "tensor/activation.h"
#include "tensor/geglu.h"

GC_CLONES static void geglu_v(float *y, const float *x, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D > 65536)
    for (int64_t t = 0; t < N; t++) {
        const float *a = x + t * 2 * D, *g = a + D;
        float *yt = y + t * D;
        memcpy(yt, g, (size_t)D * sizeof(float));
        gc_gelu_erf(yt, D);
        for (int64_t j = 0; j < D; j++) yt[j] = a[j] * yt[j];
    }
}

void gc_geglu(float *y, const float *x, int64_t N, int64_t D) { geglu_v(y, x, N, D); }
