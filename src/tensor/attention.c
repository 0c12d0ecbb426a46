/* Flash-style attention: for each (head, query block) a running max m, running sum l and an
 * unnormalised output accumulator are updated key block by key block. Tile products are single-
 * threaded SGEMMs inside the OpenMP loop, so each output row is computed by one thread in a fixed
 * key-block order (bit-identical for every thread count). */
#include "tensor/attention.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "base/base.h"

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

enum { GC_ATT_BQ = 128, GC_ATT_BK = 256 };

/* exp(x) for x <= 0 (max-subtracted scores), written so that GCC vectorises it: Cody-Waite
 * reduction x = n ln2 + r, degree-6 polynomial for e^r, scale by 2^n through the exponent bits.
 * Relative error ~2 ulp; inputs below -87 flush to ~0 (exp(-inf) of an empty row gives 0). */
static inline float att_exp(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
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

/* One (head, query block): rows t0..t0+nq-1 of head h. S is BQ x BK scratch, acc nq x hd. */
static void att_block(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                      const float *v, int64_t ldv, int64_t t0, int64_t nq, int64_t Tk, int64_t hd,
                      float scale, bool causal, float *S, float *acc, float *m, float *l) {
    for (int64_t i = 0; i < nq; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)(nq * hd) * sizeof(float));
    int64_t kend = causal ? GC_MIN(Tk, t0 + nq) : Tk;
    for (int64_t s0 = 0; s0 < kend; s0 += GC_ATT_BK) {
        int64_t nk = GC_MIN(GC_ATT_BK, kend - s0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nq, (blasint)nk, (blasint)hd, scale,
                    q + t0 * ldq, (blasint)ldq, k + s0 * ldk, (blasint)ldk, 0.0f, S, GC_ATT_BK);
        for (int64_t i = 0; i < nq; i++) {
            float *row = S + i * GC_ATT_BK;
            int64_t valid = causal ? GC_MAX(0, GC_MIN(nk, t0 + i - s0 + 1)) : nk;
            float mx = m[i];
            for (int64_t j = 0; j < valid; j++) mx = row[j] > mx ? row[j] : mx;
            float sum = 0.0f;
            for (int64_t j = 0; j < valid; j++) {
                row[j] = att_exp(row[j] - mx);
                sum += row[j];
            }
            for (int64_t j = valid; j < nk; j++) row[j] = 0.0f;
            float corr = att_exp(m[i] - mx);
            m[i] = mx;
            l[i] = l[i] * corr + sum;
            float *ar = acc + i * hd;
            for (int64_t d = 0; d < hd; d++) ar[d] *= corr;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)nq, (blasint)hd, (blasint)nk, 1.0f, S,
                    GC_ATT_BK, v + s0 * ldv, (blasint)ldv, 1.0f, acc, (blasint)hd);
    }
    for (int64_t i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        const float *ar = acc + i * hd;
        float *o = out + (t0 + i) * ldo;
        for (int64_t d = 0; d < hd; d++) o[d] = ar[d] * inv;
    }
}

gc_status gc_attention(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                       const float *v, int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads, int64_t hd,
                       float scale, bool causal) {
    if (Tq <= 0 || heads <= 0 || hd <= 0) return GC_OK;
    if (Tk <= 0) return gc_errorf(GC_ERR_ARG, "attention: no keys (Tk = %lld)", (long long)Tk);
    int64_t nqb = (Tq + GC_ATT_BQ - 1) / GC_ATT_BQ;
    int64_t jobs = heads * nqb;
    int nt = omp_get_max_threads();
    /* Per-thread scratch: S tile, accumulator, running max and sum. */
    int64_t per = GC_ATT_BQ * GC_ATT_BK + GC_ATT_BQ * hd + 2 * GC_ATT_BQ;
    float *scratch = gc_alloc_array((size_t)nt * (size_t)per, sizeof(float));
    if (!scratch) return gc_error_context(GC_ERR_NOMEM, "attention scratch");
    /* The tile GEMMs run inside the parallel loop: OpenBLAS must not start its own threads there. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt)
    {
        float *S = scratch + (int64_t)omp_get_thread_num() * per;
        float *acc = S + GC_ATT_BQ * GC_ATT_BK;
        float *m = acc + GC_ATT_BQ * hd;
        float *l = m + GC_ATT_BQ;
#pragma omp for schedule(dynamic, 1)
        for (int64_t job = 0; job < jobs; job++) {
            int64_t h = job / nqb, t0 = (job % nqb) * GC_ATT_BQ;
            int64_t nq = GC_MIN(GC_ATT_BQ, Tq - t0);
            att_block(out + h * hd, ldo, q + h * hd, ldq, k + h * hd, ldk, v + h * hd, ldv, t0, nq, Tk, hd,
                      scale, causal, S, acc, m, l);
        }
    }
    openblas_set_num_threads(blas_threads);
    gc_free(scratch);
    return GC_OK;
}
