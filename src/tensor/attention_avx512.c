/* The AVX-512 attention kernel (built with AVX-512 flags; attention.c calls it only when
 * gc_cpu_level() >= 4). One job = one head x GC_ATT512_BQ queries, run by one thread, computed
 * transposed: one vector lane per query, so softmax statistics are vectors and no head width is
 * padded (a 40-wide head costs 40 columns, not 48).
 *   for each block of GC_ATT512_BK keys:
 *     S^T = K Q^T         register tiles of 8 keys x 48 queries, block max folded into the store
 *     online softmax      running max m, running sum l, acc *= 2^(m_old - m_new), lane-wise
 *     acc^T += V^T P^T    register tiles of 8 head columns x 48 queries over the key rows
 *   out = acc / l
 * Scores are in base-2 units (Q^T is packed scaled by scale * log2(e)), so the softmax takes 2^x: no
 * multiply per score, and the exponential needs neither the log2(e) product nor the two-step
 * reduction by ln 2. K and V are packed once per call into key rows the tiles broadcast from; Q^T once per job. The
 * order of every sum is fixed by the blocking alone: same bytes for every thread count. */
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
#define KR GC_ATT512_KR /* keys of a score tile, head columns of an output tile */
#define NV 3            /* query vectors of a tile: 8 x 3 accumulators + 3 loads + 1 broadcast in 32 registers */

static int64_t keys_pad(int64_t Tk) { return (Tk + KR - 1) / KR * KR; }

int64_t gc_att512_kfloats(int64_t Tk, int64_t hd) { return keys_pad(Tk) * hd; }
int64_t gc_att512_vfloats(int64_t Tk, int64_t hd) { return keys_pad(Tk) * hd; }
int64_t gc_att512_scratch(int64_t hd) { return BK * BQ + 2 * hd * BQ + 3 * BQ; }

void gc_att512_pack(float *kp, float *vp, const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t Tk,
                    int64_t hd, int64_t h) {
    float *kh = kp + h * gc_att512_kfloats(Tk, hd), *vh = vp + h * gc_att512_vfloats(Tk, hd);
    for (int64_t s = 0; s < keys_pad(Tk); s++) {
        if (s < Tk) {
            memcpy(kh + s * hd, k + s * ldk + h * hd, (size_t)hd * sizeof(float));
            memcpy(vh + s * hd, v + s * ldv + h * hd, (size_t)hd * sizeof(float));
        } else {
            memset(kh + s * hd, 0, (size_t)hd * sizeof(float));
            memset(vh + s * hd, 0, (size_t)hd * sizeof(float));
        }
    }
}

/* The register tile of both products: c[r][0..16nv) += sum_{k < n} B[r * rs + k * ks] A[k][0..16nv)
 * for r < nr, rows of A BQ apart; one broadcast per r and k, the sum in k order. */
static inline __attribute__((always_inline)) void tile_fma(__m512 c[KR][NV], const float *A, const float *B,
                                                           int64_t rs, int64_t ks, int64_t n, const int nr,
                                                           const int nv) {
    for (int64_t k = 0; k < n; k++) {
        __m512 a[NV];
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) a[j] = _mm512_loadu_ps(A + k * BQ + 16 * j);
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const __m512 b = _mm512_set1_ps(B[r * rs + k * ks]);
#pragma GCC unroll 3
            for (int j = 0; j < nv; j++) c[r][j] = _mm512_fmadd_ps(a[j], b, c[r][j]);
        }
    }
}

/* St[r][0..16nv) = K[r] . (queries of Qt), r < KR, for the key rows K (hd apart) and Q^T rows Qt
 * (BQ apart). Causal: lanes whose query precedes key r
 * (16j + lane < diag + r) get -inf. bm[j] = max(bm[j], rows r < nrow). */
static inline __attribute__((always_inline)) void qk_tile(const float *Qt, const float *K, int64_t hd,
                                                          float *St, __m512 *bm, int64_t nrow, bool causal,
                                                          int64_t diag, const int nv) {
    __m512 c[KR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < KR; r++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) c[r][j] = _mm512_setzero_ps();
    tile_fma(c, Qt, K, hd, 1, hd, KR, nv);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#pragma GCC unroll 8
    for (int r = 0; r < KR; r++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) {
            __m512 x = c[r][j];
            if (causal) {
                const __mmask16 before = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32(16 * j)),
                                                                 _mm512_set1_epi32((int)(diag + r)));
                x = _mm512_mask_mov_ps(x, before, _mm512_set1_ps(-INFINITY));
            }
            _mm512_storeu_ps(St + r * BQ + 16 * j, x);
            if (r < nrow) bm[j] = _mm512_max_ps(bm[j], x);
        }
}

/* At[r][0..16nv) += sum_{s < nk} V[s][r] St[s][0..16nv), r < nd: head columns of V (rows hd apart)
 * times the probabilities of the tile's queries (St and At rows BQ apart). */
static inline __attribute__((always_inline)) void pv_tile(const float *St, const float *V, int64_t hd, int64_t nk,
                                                          float *At, const int nd, const int nv) {
    __m512 c[KR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < nd; r++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) c[r][j] = _mm512_loadu_ps(At + r * BQ + 16 * j);
    tile_fma(c, St, V, 1, hd, nk, nd, nv);
#pragma GCC unroll 8
    for (int r = 0; r < nd; r++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) _mm512_storeu_ps(At + r * BQ + 16 * j, c[r][j]);
}

/* The tiles with the tile sizes as constants (full unrolling keeps the accumulators in registers). */
static void qk_tile_nv(int nv, const float *Qt, const float *K, int64_t hd, float *St, __m512 *bm,
                       int64_t nrow, bool causal, int64_t diag) {
    switch (nv) {
    case 3: qk_tile(Qt, K, hd, St, bm, nrow, causal, diag, 3); break;
    case 2: qk_tile(Qt, K, hd, St, bm, nrow, causal, diag, 2); break;
    default: qk_tile(Qt, K, hd, St, bm, nrow, causal, diag, 1); break;
    }
}

#define PV_CASE(ND, NVS) \
    case (ND) * 4 + (NVS): pv_tile(St, V, hd, nk, At, ND, NVS); break;
#define PV_CASES(ND) PV_CASE(ND, 1) PV_CASE(ND, 2) PV_CASE(ND, 3)
static void pv_tile_nd_nv(int nd, int nv, const float *St, const float *V, int64_t hd, int64_t nk, float *At) {
    switch (nd * 4 + nv) {
        PV_CASES(1) PV_CASES(2) PV_CASES(3) PV_CASES(4) PV_CASES(5) PV_CASES(6) PV_CASES(7) PV_CASES(8)
    }
}

/* 2^x for x <= 0 (below -126: 2^-126, the smallest normal float, so no subnormal ever reaches the
 * FMAs): x = n + f with |f| <= 1/2, 2^f = 1 + f P(f) (Cephes exp2f, relative error 1.4e-7), 2^n by
 * vscalefps. */
static inline __m512 exp2_512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    return _mm512_scalef_ps(_mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f)), n);
}

gc_status gc_att512_block(const gc_att_args *a, int64_t h, int64_t t0, int64_t nq, float *P, float *scratch) {
    const int64_t hd = a->hd, Tk = a->Tk, nvq = (nq + 15) / 16; /* query vectors (lanes past nq: zero queries) */
    const bool causal = a->causal;
    const float *kh = a->k + h * gc_att512_kfloats(Tk, hd), *vh = a->v + h * gc_att512_vfloats(Tk, hd);
    float *St = scratch, *At = St + BK * BQ, *Qt = At + hd * BQ, *m = Qt + hd * BQ, *l = m + BQ, *bmax = l + BQ;
    const gc_relpos *rp = a->rp;
    /* the relative position term is in natural units: scores are converted after it is added */
    const float qs = rp ? a->scale : a->scale * 1.44269504088896341f;
    for (int64_t d = 0; d < hd; d++) /* Q^T: the tiles load 16 queries of one head column */
        for (int64_t i = 0; i < 16 * nvq; i++)
            Qt[d * BQ + i] = i < nq ? a->q[(t0 + i) * a->ldq + h * hd + d] * qs : 0.0f;
    for (int64_t i = 0; i < 16 * nvq; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    for (int64_t d = 0; d < hd; d++) memset(At + d * BQ, 0, (size_t)(16 * nvq) * sizeof(float));
    float *ph = P, *pw = rp ? P + nq * (2 * rp->nh - 1) : NULL;
    if (rp) GC_TRY(gc_relpos_project(ph, pw, a->q + t0 * a->ldq + h * hd, a->ldq, nq, hd, rp));
    const int64_t kend = causal ? GC_MIN(Tk, t0 + nq) : Tk;
    for (int64_t s0 = 0; s0 < kend; s0 += BK) {
        const int64_t nk = GC_MIN(BK, kend - s0);
        const float *K = kh + s0 * hd, *V = vh + s0 * hd;
        for (int64_t j0 = 0; j0 < nvq; j0 += NV) {
            const int nv = (int)GC_MIN(NV, nvq - j0);
            __m512 bm[NV] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
            for (int64_t r0 = 0; r0 < nk; r0 += KR)
                qk_tile_nv(nv, Qt + 16 * j0, K + r0 * hd, hd, St + r0 * BQ + 16 * j0, bm, nk - r0, causal,
                           s0 + r0 - t0 - 16 * j0);
            for (int j = 0; j < nv; j++) _mm512_storeu_ps(bmax + 16 * (j0 + j), bm[j]);
        }
        if (rp) { /* the term changes the scores after the tiles took their max */
            gc_relpos_add(St, 1, BQ, ph, pw, t0, nq, s0, nk, rp);
            const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
            for (int64_t j = 0; j < nvq; j++) {
                __m512 mx = _mm512_set1_ps(-INFINITY);
                for (int64_t s = 0; s < nk; s++) {
                    const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(St + s * BQ + 16 * j), log2e);
                    _mm512_storeu_ps(St + s * BQ + 16 * j, x);
                    mx = _mm512_max_ps(mx, x);
                }
                _mm512_storeu_ps(bmax + 16 * j, mx);
            }
        }
        for (int64_t j = 0; j < nvq; j++) { /* one online-softmax step, 16 queries at a time */
            const __m512 mo = _mm512_loadu_ps(m + 16 * j), mx = _mm512_max_ps(mo, _mm512_loadu_ps(bmax + 16 * j));
            __m512 sum = _mm512_setzero_ps();
            for (int64_t s = 0; s < nk; s++) {
                const __m512 x = _mm512_loadu_ps(St + s * BQ + 16 * j);
                __m512 e = exp2_512(_mm512_sub_ps(x, mx));
                if (causal) e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ), e);
                _mm512_storeu_ps(St + s * BQ + 16 * j, e);
                sum = _mm512_add_ps(sum, e);
            }
            const __m512 corr = exp2_512(_mm512_sub_ps(mo, mx));
            _mm512_storeu_ps(l + 16 * j, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(l + 16 * j), corr), sum));
            _mm512_storeu_ps(m + 16 * j, mx);
            if (_mm512_cmp_ps_mask(corr, _mm512_set1_ps(1.0f), _CMP_NEQ_OQ)) /* a running max moved */
                for (int64_t d = 0; d < hd; d++)
                    _mm512_storeu_ps(At + d * BQ + 16 * j, _mm512_mul_ps(_mm512_loadu_ps(At + d * BQ + 16 * j), corr));
        }
        for (int64_t j0 = 0; j0 < nvq; j0 += NV)
            for (int64_t d0 = 0; d0 < hd; d0 += KR)
                pv_tile_nd_nv((int)GC_MIN(KR, hd - d0), (int)GC_MIN(NV, nvq - j0), St + 16 * j0, V + d0, hd, nk,
                              At + d0 * BQ + 16 * j0);
    }
    for (int64_t i = 0; i < nq; i++) {
        const float inv = 1.0f / l[i];
        float *o = a->out + (t0 + i) * a->ldo + h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = At[d * BQ + i] * inv;
    }
    return GC_OK;
}
#endif
