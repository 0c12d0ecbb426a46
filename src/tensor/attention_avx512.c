/* The AVX-512 attention kernel (built with AVX-512 flags; attention.c calls it only when
 * gc_cpu_level() >= 4). One job = one head x GC_ATT512_BQ query rows, run by one thread:
 *   for each block of GC_ATT512_BK keys:
 *     S = scale Q K^T     register tiles of 12 rows x 32 keys over K^T panels [hd][32]
 *     online softmax      running max m, running sum l, acc *= exp(m_old - m_new)
 *     acc += P V          register tiles of 6 rows x 64 columns over V rows [key][hdp]
 *   out = acc / l
 * K^T and V are packed once per call, so the tiles stream contiguous memory from L1/L2 and nothing is
 * repacked per query block (a GEMM library would repack K and V for every tile product). The order
 * of every sum is fixed by the blocking alone: same bytes for every thread count. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* vectorises gc_vexp_neg's clamp (tensor/vecmath.h) */
#endif

#include "tensor/attention_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "tensor/vecmath.h"

#define BQ GC_ATT512_BQ
#define BK GC_ATT512_BK
#define KP GC_ATT512_KP
#define MR_QK 12 /* rows of a score tile: 12 x 2 accumulators + 2 K loads in 32 registers */
#define MR_PV 6  /* rows of an output tile: 6 x 4 accumulators */

static int64_t hd_pad(int64_t hd) { return (hd + 15) & ~(int64_t)15; }
static int64_t n_panels(int64_t Tk) { return (Tk + KP - 1) / KP; }

int64_t gc_att512_kfloats(int64_t Tk, int64_t hd) { return n_panels(Tk) * KP * hd; }
int64_t gc_att512_vfloats(int64_t Tk, int64_t hd) { return n_panels(Tk) * KP * hd_pad(hd); }
int64_t gc_att512_scratch(int64_t hd) { return BQ * BK + 2 * BQ * hd_pad(hd) + 2 * BQ; }

void gc_att512_pack(float *kp, float *vp, const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t Tk,
                    int64_t hd, int64_t h) {
    const int64_t hdp = hd_pad(hd), np = n_panels(Tk);
    float *kh = kp + h * gc_att512_kfloats(Tk, hd), *vh = vp + h * gc_att512_vfloats(Tk, hd);
    for (int64_t p = 0; p < np; p++) {
        float *panel = kh + p * hd * KP;
        for (int64_t j = 0; j < KP; j++) {
            const int64_t s = p * KP + j;
            const float *ks = s < Tk ? k + s * ldk + h * hd : NULL;
            for (int64_t d = 0; d < hd; d++) panel[d * KP + j] = ks ? ks[d] : 0.0f;
            float *vr = vh + s * hdp;
            if (s < Tk) memcpy(vr, v + s * ldv + h * hd, (size_t)hd * sizeof(float));
            else memset(vr, 0, (size_t)hd * sizeof(float));
            memset(vr + hd, 0, (size_t)(hdp - hd) * sizeof(float));
        }
    }
}

/* S[i][0..31] = scale * (row i of Q) . (keys of one K^T panel), i < MR_QK; Q rows hdp apart. */
static inline __attribute__((always_inline)) void qk_tile(const float *Q, int64_t hdp, const float *panel, int64_t hd,
                                                          float scale, float *S) {
    __m512 c[MR_QK][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR_QK; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const __m512 k0 = _mm512_loadu_ps(panel + d * KP), k1 = _mm512_loadu_ps(panel + d * KP + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR_QK; i++) {
            const __m512 qi = _mm512_set1_ps(Q[i * hdp + d]);
            c[i][0] = _mm512_fmadd_ps(qi, k0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(qi, k1, c[i][1]);
        }
    }
    const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 12
    for (int i = 0; i < MR_QK; i++) {
        _mm512_storeu_ps(S + i * BK, _mm512_mul_ps(c[i][0], sc));
        _mm512_storeu_ps(S + i * BK + 16, _mm512_mul_ps(c[i][1], sc));
    }
}

/* acc[i][0..16*NZ) += sum_{s < nk} P[i][s] V[s][0..16*NZ), i < MR_PV (acc rows hdp apart). */
#define GC_PV_TILE(NZ)                                                                                      \
    static inline __attribute__((always_inline)) void pv_tile_##NZ(const float *P, const float *V, int64_t hdp, \
                                                                    int64_t nk, float *acc) {               \
        __m512 c[MR_PV][NZ];                                                                                \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR_PV; i++)                                            \
            _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) c[i][z] = _mm512_loadu_ps(acc + i * hdp + 16 * z); \
        for (int64_t s = 0; s < nk; s++) {                                                                  \
            __m512 vz[NZ];                                                                                  \
            _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) vz[z] = _mm512_loadu_ps(V + s * hdp + 16 * z); \
            _Pragma("GCC unroll 6") for (int i = 0; i < MR_PV; i++) {                                      \
                const __m512 p = _mm512_set1_ps(P[i * BK + s]);                                             \
                _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) c[i][z] = _mm512_fmadd_ps(p, vz[z], c[i][z]); \
            }                                                                                               \
        }                                                                                                   \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR_PV; i++)                                            \
            _Pragma("GCC unroll 4") for (int z = 0; z < NZ; z++) _mm512_storeu_ps(acc + i * hdp + 16 * z, c[i][z]); \
    }
GC_PV_TILE(1)
GC_PV_TILE(2)
GC_PV_TILE(3)
GC_PV_TILE(4)

/* exp(x) for x <= 0 (below -87: ~1.6e-38): x = n ln2 + r, e^r = 1 + r + r^2 P(r) with the
 * polynomial of gc_vexp_neg, 2^n by vscalefps; FMA throughout (~2 ulp). */
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

static inline __mmask16 tail_mask(int64_t j, int64_t valid) {
    return j + 16 <= valid ? (__mmask16)0xFFFF : j >= valid ? (__mmask16)0 : (__mmask16)((1u << (valid - j)) - 1);
}

/* One online-softmax step on a score row (gc_softmax_online in registers): exp(row - m_new) over the
 * valid keys, 0 up to nkp (a multiple of 16); *m, *l updated; returns exp(m_old - m_new). */
static float softmax_row(float *row, int64_t valid, int64_t nkp, float *m, float *l) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < valid; j += 16)
        vm = _mm512_mask_max_ps(vm, tail_mask(j, valid), vm, _mm512_loadu_ps(row + j));
    const float mx = GC_MAX(*m, _mm512_reduce_max_ps(vm)); /* max: any order is exact */
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nkp; j += 16) {
        const __m512 e = _mm512_maskz_mov_ps(tail_mask(j, valid), exp512(_mm512_sub_ps(_mm512_loadu_ps(row + j), vmx)));
        _mm512_storeu_ps(row + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    const float corr = _mm512_cvtss_f32(exp512(_mm512_set1_ps(*m - mx)));
    *l = *l * corr + _mm512_reduce_add_ps(sum); /* a fixed tree: the order depends on nothing else */
    *m = mx;
    return corr;
}

gc_status gc_att512_block(const gc_att_args *a, int64_t h, int64_t t0, int64_t nq, float *P, float *scratch) {
    const int64_t hd = a->hd, hdp = hd_pad(hd), Tk = a->Tk;
    const int64_t nr = (nq + MR_QK - 1) / MR_QK * MR_QK; /* rows past nq repeat row nq-1 (results unused) */
    const float *kh = a->k + h * gc_att512_kfloats(Tk, hd), *vh = a->v + h * gc_att512_vfloats(Tk, hd);
    float *S = scratch, *acc = S + BQ * BK, *Q = acc + BQ * hdp, *m = Q + BQ * hdp, *l = m + BQ;
    for (int64_t i = 0; i < nr; i++) { /* the block's queries, contiguous for the broadcasts of qk_tile */
        memcpy(Q + i * hdp, a->q + (t0 + GC_MIN(i, nq - 1)) * a->ldq + h * hd, (size_t)hd * sizeof(float));
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)(nr * hdp) * sizeof(float));
    const gc_relpos *rp = a->rp;
    float *ph = P, *pw = rp ? P + nq * (2 * rp->nh - 1) : NULL;
    if (rp) GC_TRY(gc_relpos_project(ph, pw, a->q + t0 * a->ldq + h * hd, a->ldq, nq, hd, rp));
    const int64_t kend = a->causal ? GC_MIN(Tk, t0 + nq) : Tk;
    for (int64_t s0 = 0; s0 < kend; s0 += BK) {
        const int64_t nk = GC_MIN(BK, kend - s0), nkp = (nk + KP - 1) / KP * KP;
        for (int64_t p = 0; p < nkp / KP; p++)
            for (int64_t i0 = 0; i0 < nr; i0 += MR_QK)
                qk_tile(Q + i0 * hdp, hdp, kh + (s0 / KP + p) * hd * KP, hd, a->scale, S + i0 * BK + p * KP);
        if (rp) gc_relpos_add(S, BK, ph, pw, t0, nq, s0, nk, rp);
        for (int64_t i = 0; i < nr; i++) {
            const int64_t valid = a->causal ? GC_MAX(0, GC_MIN(nk, t0 + GC_MIN(i, nq - 1) - s0 + 1)) : nk;
            const float corr = softmax_row(S + i * BK, valid, nkp, &m[i], &l[i]);
            if (corr != 1.0f) { /* the running max moved */
                float *ar = acc + i * hdp;
                for (int64_t d = 0; d < hdp; d++) ar[d] *= corr;
            }
        }
        const float *V = vh + s0 * hdp;
        for (int64_t z0 = 0; z0 < hdp; z0 += 64) {
            const int64_t nz = GC_MIN(4, (hdp - z0) / 16);
            for (int64_t i0 = 0; i0 < nr; i0 += MR_PV) {
                const float *Pr = S + i0 * BK;
                float *ac = acc + i0 * hdp + z0;
                switch (nz) {
                case 4: pv_tile_4(Pr, V + z0, hdp, nk, ac); break;
                case 3: pv_tile_3(Pr, V + z0, hdp, nk, ac); break;
                case 2: pv_tile_2(Pr, V + z0, hdp, nk, ac); break;
                default: pv_tile_1(Pr, V + z0, hdp, nk, ac); break;
                }
            }
        }
    }
    for (int64_t i = 0; i < nq; i++) {
        const float inv = 1.0f / l[i];
        const float *ar = acc + i * hdp;
        float *o = a->out + (t0 + i) * a->ldo + h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = ar[d] * inv;
    }
    return GC_OK;
}
#endif
