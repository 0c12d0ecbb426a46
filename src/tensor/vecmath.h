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
