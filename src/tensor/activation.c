/* Without trapping math GCC vectorises gc_verf's clamps (see tensor/vecmath.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "tensor/activation.h"

#include <math.h>

#include "base/base.h"
#include "tensor/vecmath.h"

#define GC_ELEMWISE_PARALLEL _Pragma("omp parallel for schedule(static) if (n > 65536)")

static inline float gelu_erf1(float x) { return x * 0.5f * (1.0f + gc_verf(x * (float)M_SQRT1_2)); }
static inline float quick_gelu1(float x) { return gc_vxsigmoid(x, 1.702f); }
static inline float silu1(float x) { return gc_vxsigmoid(x, 1.0f); }

GC_CLONES static void gelu_erf_v(float *x, int64_t n) {
    GC_ELEMWISE_PARALLEL
    for (int64_t i = 0; i < n; i++) x[i] = gelu_erf1(x[i]);
}

void gc_gelu_erf(float *x, int64_t n) { gelu_erf_v(x, n); }

GC_CLONES static void quick_gelu_v(float *x, int64_t n) {
    GC_ELEMWISE_PARALLEL
    for (int64_t i = 0; i < n; i++) x[i] = quick_gelu1(x[i]);
}

void gc_quick_gelu(float *x, int64_t n) { quick_gelu_v(x, n); }

GC_CLONES static void silu_v(float *x, int64_t n) {
    GC_ELEMWISE_PARALLEL
    for (int64_t i = 0; i < n; i++) x[i] = silu1(x[i]);
}

void gc_silu(float *x, int64_t n) { silu_v(x, n); }

void gc_act_apply(gc_act act, float *x, int64_t n) {
    switch (act) {
    case GC_ACT_NONE: break;
    case GC_ACT_GELU_ERF: gc_gelu_erf(x, n); break;
    case GC_ACT_QUICK_GELU: gc_quick_gelu(x, n); break;
    case GC_ACT_SILU: gc_silu(x, n); break;
    }
}

/* The same element functions as the passes above, so a tile's bytes are the pass's. (Static: a
 * target_clones function with external linkage would export its ifunc and resolver.) */
GC_CLONES static void act_rows(gc_act act, float *x, int64_t rows, int64_t cols, int64_t ld) {
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        switch (act) {
        case GC_ACT_NONE: return;
        case GC_ACT_GELU_ERF:
            for (int64_t i = 0; i < cols; i++) xr[i] = gelu_erf1(xr[i]);
            break;
        case GC_ACT_QUICK_GELU:
            for (int64_t i = 0; i < cols; i++) xr[i] = quick_gelu1(xr[i]);
            break;
        case GC_ACT_SILU:
            for (int64_t i = 0; i < cols; i++) xr[i] = silu1(xr[i]);
            break;
        }
    }
}

void gc_act_rows(gc_act act, float *x, int64_t rows, int64_t cols, int64_t ld) { act_rows(act, x, rows, cols, ld); }

GC_CLONES static void relu_v(float *x, int64_t n) {
    GC_ELEMWISE_PARALLEL
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gc_relu(float *x, int64_t n) { relu_v(x, n); }

GC_CLONES static void add_scaled_v(float *x, const float *y, const float *gamma, int64_t T, int64_t D) {
    if (!gamma) {
        const int64_t n = T * D;
        GC_ELEMWISE_PARALLEL
        for (int64_t i = 0; i < n; i++) x[i] += y[i];
        return;
    }
#pragma omp parallel for schedule(static) if (T * D > 65536)
    for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < D; d++) x[t * D + d] += gamma[d] * y[t * D + d];
}

void gc_add_scaled(float *x, const float *y, const float *gamma, int64_t T, int64_t D) {
    add_scaled_v(x, y, gamma, T, D);
}

GC_CLONES static void add_bias_v(float *x, const float *b, int64_t R, int64_t C, bool per_row) {
#pragma omp parallel for schedule(static) if (R * C > 65536)
    for (int64_t r = 0; r < R; r++) {
        float *xr = x + r * C;
        if (per_row)
            for (int64_t c = 0; c < C; c++) xr[c] += b[r];
        else
            for (int64_t c = 0; c < C; c++) xr[c] += b[c];
    }
}

void gc_add_bias(float *x, const float *b, int64_t R, int64_t C, bool per_row) { add_bias_v(x, b, R, C, per_row); }

void gc_softmax_rows(float *x, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t r = 0; r < N; r++) {
        float *row = x + r * C;
        float m = -INFINITY;
        for (int64_t c = 0; c < C; c++) m = row[c] > m ? row[c] : m;
        float s = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            row[c] = expf(row[c] - m);
            s += row[c];
        }
        float inv = 1.0f / s;
        for (int64_t c = 0; c < C; c++) row[c] *= inv;
    }
}
