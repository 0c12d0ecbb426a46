/* Flash-style attention: for each (head, query block) a running max m, running sum l and an
 * unnormalised output accumulator are updated key block by key block. Tile products are single-
 * threaded SGEMMs inside the OpenMP loop, so each output row is computed by one thread in a fixed
 * key-block order (bit-identical for every thread count). */
#include "tensor/attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "base/base.h"
#include "tensor/attention_kernels.h"
#include "tensor/linear.h"
#include "tensor/relpos.h"

/* Without trapping math GCC if-converts the clamp in gc_vexp_neg and vectorises the softmax loop (3x
 * faster attention). It does not reorder arithmetic. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "tensor/vecmath.h"

enum { GC_ATT_BQ = 256, GC_ATT_BK = 256 };

/* Portable kernel, one (head, query block): rows t0..t0+nq-1 of head h over head-major K and V. S:
 * scratch of the BQ x BK score tile, then the nq x hd accumulator, the running max and sum (BQ each);
 * with a relative position term, P holds the block's projections on its tables (BQ x (lh + lw)). */
GC_CLONES static gc_status att_block(const gc_att_args *a, int64_t h, int64_t t0, int64_t nq, float *P, float *S) {
    const int64_t Tk = a->Tk, hd = a->hd, ldq = a->ldq, ldo = a->ldo;
    const float *q = a->q + h * hd, *k = a->k + h * Tk * hd, *v = a->v + h * Tk * hd;
    const float scale = a->scale;
    const bool causal = a->causal;
    const gc_relpos *rp = a->rp;
    float *out = a->out + h * hd;
    float *acc = S + GC_ATT_BQ * GC_ATT_BK, *m = acc + GC_ATT_BQ * hd, *l = m + GC_ATT_BQ;
    float *ph = P, *pw = rp ? P + nq * (2 * rp->nh - 1) : NULL;
    if (rp) GC_TRY(gc_relpos_project(ph, pw, q + t0 * ldq, ldq, nq, hd, rp));
    for (int64_t i = 0; i < nq; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)(nq * hd) * sizeof(float));
    int64_t kend = causal ? GC_MIN(Tk, t0 + nq) : Tk;
    for (int64_t s0 = 0; s0 < kend; s0 += GC_ATT_BK) {
        int64_t nk = GC_MIN(GC_ATT_BK, kend - s0);
        GC_TRY(gc_sgemm(false, true, nq, nk, hd, scale, q + t0 * ldq, ldq, k + s0 * hd, hd, 0.0f, S, GC_ATT_BK));
        if (rp) gc_relpos_add(S, GC_ATT_BK, 1, ph, pw, t0, nq, s0, nk, rp);
        for (int64_t i = 0; i < nq; i++) {
            int64_t valid = causal ? GC_MAX(0, GC_MIN(nk, t0 + i - s0 + 1)) : nk;
            float corr = gc_softmax_online(S + i * GC_ATT_BK, valid, nk, &m[i], &l[i]);
            float *ar = acc + i * hd;
            for (int64_t d = 0; d < hd; d++) ar[d] *= corr;
        }
        GC_TRY(gc_sgemm(false, false, nq, hd, nk, 1.0f, S, GC_ATT_BK, v + s0 * hd, hd, 1.0f, acc, hd));
    }
    for (int64_t i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        const float *ar = acc + i * hd;
        float *o = out + (t0 + i) * ldo;
        for (int64_t d = 0; d < hd; d++) o[d] = ar[d] * inv;
    }
    return GC_OK;
}

/* The AVX-512 kernel is built where the compiler targets x86-64 (attention_avx512.c). */
#if defined(__x86_64__) && defined(__GNUC__)
#define GC_ATT512 1
#else
#define GC_ATT512 0
#endif

/* The fused kernel wins up to 256-wide heads (DINOv2, CLIP, UNet: 1.1-1.3x); wider heads (the VAE's
 * single 512-wide head) run faster as SGEMM tiles (bench/results/bench_kernels.txt). */
static bool use_avx512(int64_t hd) { return GC_ATT512 && gc_cpu_level() >= 4 && hd <= 256; }

/* Attention with an optional relative position term (rp, self-attention only), work space from scratch. */
static gc_status attention_run(gc_arena *scratch, float *out, int64_t ldo, const float *q, int64_t ldq, const float *k,
                               int64_t ldk, const float *v, int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads,
                               int64_t hd, float scale, bool causal, const gc_relpos *rp) {
    if (Tq <= 0 || heads <= 0 || hd <= 0) return GC_OK;
    if (Tk <= 0) return gc_errorf(GC_ERR_ARG, "attention: no keys (Tk = %lld)", (long long)Tk);
    const bool v512 = use_avx512(hd);
    /* query blocks are fixed by the kernel, never by the thread count */
    const int64_t bq = v512 ? GC_ATT512_BQ : GC_ATT_BQ, nqb = (Tq + bq - 1) / bq, jobs = heads * nqb;
    const int nt = omp_get_max_threads();
    size_t mark = gc_arena_mark(scratch);
    /* per thread: the relative position projections and the kernel's tiles; K and V once per call in
     * the kernel's layout (portable: head-major [heads, Tk, hd] copies, so the tile GEMMs pack
     * contiguous rows instead of 64-float pieces of 3D-strided ones, ~10% less time at 3,601 tokens) */
    const int64_t np = rp ? bq * (2 * rp->nh - 1 + 2 * rp->nw - 1) : 0;
    const int64_t per = np + (v512 ? gc_att512_scratch(hd) : GC_ATT_BQ * GC_ATT_BK + GC_ATT_BQ * hd + 2 * GC_ATT_BQ);
    const int64_t kf = v512 ? gc_att512_kfloats(Tk, hd) : Tk * hd, vf = v512 ? gc_att512_vfloats(Tk, hd) : Tk * hd;
    float *buf = gc_arena_floats(scratch, nt * per);
    float *kp = buf ? gc_arena_floats(scratch, heads * kf) : NULL, *vp = kp ? gc_arena_floats(scratch, heads * vf) : NULL;
    if (!vp) {
        gc_arena_rewind(scratch, mark);
        return gc_error_context(GC_ERR_NOMEM, "attention scratch");
    }
    if (v512) {
#pragma omp parallel for schedule(static) if (Tk * heads * hd > 65536)
        for (int64_t h = 0; h < heads; h++) gc_att512_pack(kp, vp, k, ldk, v, ldv, Tk, hd, h);
    } else {
#pragma omp parallel for schedule(static) if (Tk * heads * hd > 65536)
        for (int64_t s = 0; s < Tk; s++)
            for (int64_t h = 0; h < heads; h++) {
                memcpy(kp + (h * Tk + s) * hd, k + s * ldk + h * hd, (size_t)hd * sizeof(float));
                memcpy(vp + (h * Tk + s) * hd, v + s * ldv + h * hd, (size_t)hd * sizeof(float));
            }
    }
    const gc_att_args args = {out, ldo, q, ldq, kp, vp, Tk, hd, scale, causal, rp};
    int64_t failed = jobs;
#pragma omp parallel num_threads(nt)
    {
        float *P = buf + (int64_t)omp_get_thread_num() * per;
#pragma omp for schedule(dynamic, 1) reduction(min : failed)
        for (int64_t job = 0; job < jobs; job++) {
            int64_t h = job / nqb, t0 = (job % nqb) * bq, nq = GC_MIN(bq, Tq - t0);
            if ((v512 ? gc_att512_block : att_block)(&args, h, t0, nq, P, P + np) != GC_OK)
                failed = GC_MIN(failed, job);
        }
    }
    gc_status st = GC_OK;
    if (failed < jobs) { /* a worker's message is its thread's: redo the failing block here to report it */
        int64_t h = failed / nqb, t0 = (failed % nqb) * bq;
        st = (v512 ? gc_att512_block : att_block)(&args, h, t0, GC_MIN(bq, Tq - t0), buf, buf + np);
    }
    gc_arena_rewind(scratch, mark);
    return st;
}

gc_status gc_attention_scratch(gc_arena *scratch, float *out, int64_t ldo, const float *q, int64_t ldq,
                               const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t Tq, int64_t Tk,
                               int64_t heads, int64_t hd, float scale, bool causal) {
    return attention_run(scratch, out, ldo, q, ldq, k, ldk, v, ldv, Tq, Tk, heads, hd, scale, causal, NULL);
}

gc_status gc_attention(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                       const float *v, int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads, int64_t hd,
                       float scale, bool causal) {
    gc_arena a;
    gc_arena_init(&a, gc_alloc, gc_free);
    gc_status st = attention_run(&a, out, ldo, q, ldq, k, ldk, v, ldv, Tq, Tk, heads, hd, scale, causal, NULL);
    gc_arena_free(&a);
    return st;
}

gc_status gc_attention_relpos(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                              const float *v, int64_t ldv, int64_t T, int64_t heads, int64_t hd, float scale,
                              const gc_relpos *rp) {
    if (rp->nh < 1 || rp->nw < 1 || rp->nh * rp->nw != T)
        return gc_errorf(GC_ERR_ARG, "attention: relative positions on a %lldx%lld grid for %lld tokens",
                         (long long)rp->nh, (long long)rp->nw, (long long)T);
    gc_arena a;
    gc_arena_init(&a, gc_alloc, gc_free);
    gc_status st = attention_run(&a, out, ldo, q, ldq, k, ldk, v, ldv, T, T, heads, hd, scale, false, rp);
    gc_arena_free(&a);
    return st;
}

const char *gc_attention_kernel(void) {
    return use_avx512(64) ? "fused AVX-512 (QK^T, online softmax, PV in registers) for heads <= 256 wide"
                          : "tiled SGEMM + online softmax";
}
