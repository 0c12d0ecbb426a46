/* AVX-512 row pass of the F(4x4,3x3) input transform (winograd_kernels.h). Tile j reads the six
 * inputs at 4j .. 4j+5: for 16 tiles that is every fourth float of 66, which plain vector code can
 * only gather element by element (the row pass was 8% of a VAE pass). Here four loads and two-source
 * permutes pull out the 16 tiles' inputs k = 0..3, and inputs 4 and 5 are inputs 0 and 1 of the next
 * tile (one lane along). */
#include "tensor/winograd_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Lanes 0..7 of permutex2var(a, idx, b): element k of the 8 four-float groups of a | b. */
static inline __m512 every4th(__m512 a, __m512 b, int k) {
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                         _mm512_set1_epi32(k));
    return _mm512_permutex2var_ps(a, idx, b);
}

int64_t gc_wino4_bt_row_avx512(float *vr, int64_t stride, const float *tr, int64_t tw) {
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f);
    int64_t j0 = 0;
    for (; j0 + 16 <= tw; j0 += 16) {
        const float *p = tr + 4 * j0; /* p[0 .. 65]: 4 (j0 + 16) + 1 < 4 tw + 2 */
        const __m512 z0 = _mm512_loadu_ps(p), z1 = _mm512_loadu_ps(p + 16), z2 = _mm512_loadu_ps(p + 32),
                     z3 = _mm512_loadu_ps(p + 48);
        __m512 d[6];
        for (int k = 0; k < 4; k++) /* tiles 0..7 from z0|z1, 8..15 from z2|z3 */
            d[k] = _mm512_shuffle_f32x4(every4th(z0, z1, k), every4th(z2, z3, k), _MM_SHUFFLE(1, 0, 1, 0));
        d[4] = _mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(p[64])), _mm512_castps_si512(d[0]), 1));
        d[5] = _mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(p[65])), _mm512_castps_si512(d[1]), 1));
        /* WINO_BT, operation for operation (no contraction: the scalar loop is built without it) */
        const __m512 o0 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(c4, d[0]), _mm512_mul_ps(c5, d[2])), d[4]);
        const __m512 o1 = _mm512_sub_ps(_mm512_add_ps(d[3], d[4]), _mm512_mul_ps(c4, _mm512_add_ps(d[1], d[2])));
        const __m512 o2 = _mm512_add_ps(_mm512_sub_ps(d[4], d[3]), _mm512_mul_ps(c4, _mm512_sub_ps(d[1], d[2])));
        const __m512 o3 = _mm512_add_ps(_mm512_sub_ps(d[4], d[2]), _mm512_mul_ps(c2, _mm512_sub_ps(d[3], d[1])));
        const __m512 o4 = _mm512_add_ps(_mm512_sub_ps(d[4], d[2]), _mm512_mul_ps(c2, _mm512_sub_ps(d[1], d[3])));
        const __m512 o5 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(c4, d[1]), _mm512_mul_ps(c5, d[3])), d[5]);
        float *o = vr + j0;
        _mm512_storeu_ps(o, o0);
        _mm512_storeu_ps(o + stride, o1);
        _mm512_storeu_ps(o + 2 * stride, o2);
        _mm512_storeu_ps(o + 3 * stride, o3);
        _mm512_storeu_ps(o + 4 * stride, o4);
        _mm512_storeu_ps(o + 5 * stride, o5);
    }
    return j0;
}
#endif
