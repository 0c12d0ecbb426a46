/* Branch-free float functions that GCC vectorises inside loops (include from a .c that sets
 * `#pragma GCC optimize("no-trapping-math")` before any function, so the clamps if-convert; that
 * option does not reorder arithmetic). Same results for every thread count and vector width. */
#ifndef GC_VECMATH_H
#define GC_VECMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) for x <= 0: Cody-Waite reduction x = n ln2 + r (|r| <= ln2/2), degree-6 polynomial for e^r,
 * 2^n through the exponent bits. Relative error ~2 ulp; x below -87 gives ~1.6e-38 (exp(-inf) of an
 * empty softmax row then contributes 0). */
static inline float gc_vexp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest (1.5 * 2^23) */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* x * sigmoid(a x) through one exp of a non-positive argument, e = exp(-|a x|):
 * sigmoid(y) = 1 / (1 + e) for y >= 0, e / (1 + e) below (SiLU: a = 1, QuickGELU: a = 1.702). Within
 * ~3 ulp of x / (1 + expf(-a x)), like PyTorch's vectorised CPU kernels (Sleef exp). */
static inline float gc_vxsigmoid(float x, float a) {
    float y = a * x;
    float e = gc_vexp_neg(y < 0.0f ? y : -y);
    float s = (y < 0.0f ? e : 1.0f) / (1.0f + e);
    return x * s;
}

/* Sum of n floats in 8 fixed lanes (vectorises without reassociating: the order depends only on n). */
static inline float gc_vsum(const float *x, int64_t n) {
    float lane[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) lane[k] += x[j + k];
    for (int k = 0; j < n; j++, k++) lane[k] += x[j];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* One step of the online softmax of attention on a score row: exp(row - m_new) in place over the
 * `valid` keys (0 on [valid, n)), *m and *l (running max and sum) updated; returns the correction
 * exp(m_old - m_new) for the row's output accumulator. */
static inline float gc_softmax_online(float *row, int64_t valid, int64_t n, float *m, float *l) {
    float mx = *m;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < valid; j++) mx = row[j] > mx ? row[j] : mx; /* max: any order is exact */
    /* exp and sum in one pass, the sum over 16 fixed lanes (order set by `valid` alone) */
    float lane[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= valid; j += 16)
        for (int k = 0; k < 16; k++) lane[k] += row[j + k] = gc_vexp_neg(row[j + k] - mx);
    for (int k = 0; j < valid; j++, k++) lane[k] += row[j] = gc_vexp_neg(row[j] - mx);
    for (; j < n; j++) row[j] = 0.0f;
    for (int k = 0; k < 8; k++) lane[k] += lane[k + 8];
    const float sum = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    const float corr = gc_vexp_neg(*m - mx);
    *l = *l * corr + sum;
    *m = mx;
    return corr;
}

/* Sum of n floats in double, over 8 fixed lanes (vectorises without reassociating: the order depends
 * only on n), the lanes added pairwise. */
static inline double gc_vsum_d(const float *x, int64_t n) {
    double lane[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) lane[k] += (double)x[j + k];
    for (int k = 0; j < n; j++, k++) lane[k] += (double)x[j];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* Sum of (x - m)^2 in double over the same 8 lanes. */
static inline double gc_vsumsq_d(const float *x, int64_t n, double m) {
    double lane[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            double d = (double)x[j + k] - m;
            lane[k] += d * d;
        }
    for (int k = 0; j < n; j++, k++) {
        double d = (double)x[j] - m;
        lane[k] += d * d;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), the formula of PyTorch's vectorised
 * CPU erf (Vectorized<float>::erf, used by nn.GELU on CPU). */
static inline float gc_verf(float x) {
    float a = x < 0.0f ? -x : x;
    float t = 1.0f / (0.3275911f * a + 1.0f);
    float r = 1.061405429f;
    r = r * t + -1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t + -0.284496736f;
    r = r * t + 0.254829592f;
    float y = 1.0f - r * t * gc_vexp_neg(-(x * x));
    return x < 0.0f ? -y : y;
}

#endif
