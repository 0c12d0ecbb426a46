/* Dense products through oneDNN's dnnl_sgemm. Why oneDNN and not the system BLAS: Debian's
 * OpenBLAS 0.3.21 picks its kernels from a table of CPU models and falls back to SSE3 on any CPU it
 * does not know (48 instead of 258 GFLOP/s on a family 6 model 207 Xeon), while oneDNN generates
 * its kernels at run time from the cpuid feature bits (measurements: docs/architecture.md).
 *
 * Determinism: a library's own threading is not bit-stable (a threaded driver may split K
 * differently from the serial one), so geocorr tiles C into fixed blocks and runs one
 * single-threaded SGEMM per tile in an OpenMP loop: every element is computed by the same serial
 * kernel call on a tile that does not depend on the thread count. */
#include "tensor/linear.h"

#include <omp.h>
#include <pthread.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

/* C tiles. Each tile's SGEMM packs its A rows and B columns again, which costs ~20% at 256 x 512
 * (2048^3, one core: 118 GFLOP/s against 145 for one 512 x 2048 tile and 151 for one whole call),
 * so tiles start at up to GEMM_BIG_M x GEMM_BIG_N (132 GFLOP/s) and are cut smaller, down to
 * GEMM_SMALL_M x GEMM_SMALL_N, only while a product has fewer than GEMM_MIN_TILES tiles to spread
 * over the threads. Equal tile sizes (a multiple of 16) keep the threads' shares even: 3601 rows
 * are 8 tiles of 464 rows (the last 353), not 7 of 512 and one of 17. The tiling depends on M and
 * N only, never on the thread count. */
enum { GEMM_BIG_M = 512, GEMM_BIG_N = 1024, GEMM_SMALL_M = 256, GEMM_SMALL_N = 512, GEMM_MIN_TILES = 8, GEMM_EVEN_MIN = 64 };

typedef struct {
    int64_t mt, nt; /* tile rows, cols */
    int64_t tm, tn; /* tiles down, across */
} gemm_tiling;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static gemm_tiling gemm_tiles(int64_t M, int64_t N) {
    int64_t r = ceil_div(M, GEMM_BIG_M), c = ceil_div(N, GEMM_BIG_N);
    while (r * c < GEMM_MIN_TILES) {
        if (ceil_div(N, c) > GEMM_SMALL_N) c++;
        else if (ceil_div(M, r) > GEMM_SMALL_M) r++;
        else break;
    }
    /* An odd count under GEMM_MIN_TILES leaves a thread idle for a whole tile at the end: the UNet's
     * 1280-channel convs at 16^2 and 8^2 made 5 tiles (2 threads: 83% busy), its 16^2 projections 3.
     * Cut the longer tile side once more (to no less than GEMM_EVEN_MIN). */
    while (r * c < GEMM_MIN_TILES && (r * c) % 2) {
        const int64_t mt = ceil_div(M, r), nt = ceil_div(N, c);
        if (mt >= nt && ceil_div(M, r + 1) >= GEMM_EVEN_MIN) r++;
        else if (ceil_div(N, c + 1) >= GEMM_EVEN_MIN) c++;
        else if (ceil_div(M, r + 1) >= GEMM_EVEN_MIN) r++;
        else break;
    }
    gemm_tiling t = {.mt = ceil_div(ceil_div(M, r), 16) * 16, .nt = ceil_div(ceil_div(N, c), 16) * 16};
    t.tm = ceil_div(M, t.mt), t.tn = ceil_div(N, t.nt);
    return t;
}

/* oneDNN runs products of fewer than GEMM_MIN_ROWS rows through other kernels, and a row's bytes then
 * differ from the same row computed in a larger call (measured: M = 1..15 vs 16..512 at K 768, N 3600;
 * from 16 rows on they are identical). Short products are therefore computed as GEMM_MIN_ROWS-row ones
 * with zero rows added, so that a row's result never depends on how many rows come with it: one query
 * point matched alone equals the same point in a batch (geocorr match vs eval --cache, dense vs points). */
enum { GEMM_MIN_ROWS = 16 };

static gc_status sgemm_call(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

static gc_status sgemm_short(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const int64_t R = GEMM_MIN_ROWS;
    float *a = gc_calloc((size_t)(R * K + R * N), sizeof(float)), *c = a ? a + R * K : NULL;
    if (!a) return gc_errorf(GC_ERR_NOMEM, "SGEMM %lldx%lldx%lld: no memory for its padded rows", (long long)M,
                             (long long)N, (long long)K);
    for (int64_t i = 0; i < M; i++) {
        if (trans_a)
            for (int64_t k = 0; k < K; k++) a[k * R + i] = A[k * lda + i];
        else
            memcpy(a + i * K, A + i * lda, (size_t)K * sizeof(float));
        if (beta != 0.0f) memcpy(c + i * N, C + i * ldc, (size_t)N * sizeof(float));
    }
    gc_status st = sgemm_call(trans_a, trans_b, R, N, K, alpha, a, trans_a ? R : K, B, ldb, beta, c, N);
    for (int64_t i = 0; st == GC_OK && i < M; i++) memcpy(C + i * ldc, c + i * N, (size_t)N * sizeof(float));
    gc_free(a);
    return st;
}

gc_status gc_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return GC_OK;
    if (M < GEMM_MIN_ROWS) return sgemm_short(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return sgemm_call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* One dnnl_sgemm on the calling thread. */
static gc_status sgemm_call(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    /* oneDNN threads a call made outside an active parallel region with omp_get_max_threads()
     * threads: pin this call to the calling thread (the ICV is per thread, so this is cheap and
     * does not affect other threads). */
    int saved = omp_get_max_threads();
    if (saved != 1) omp_set_num_threads(1);
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta,
                                  C, ldc);
    if (saved != 1) omp_set_num_threads(saved);
    if (st == dnnl_success) return GC_OK;
    return gc_errorf(st == dnnl_out_of_memory ? GC_ERR_NOMEM : GC_ERR_INTERNAL,
                     "SGEMM %lldx%lldx%lld failed in oneDNN (status %d%s)", (long long)M, (long long)N, (long long)K,
                     (int)st, st == dnnl_out_of_memory ? ": out of memory for its packing buffers" : "");
}

/* What a tile does around its product while its C block is in cache, instead of passes over all of C:
 * C = bias first (a bias per column; the product then accumulates onto it), the activation after. */
typedef struct {
    const float *bias; /* [N] or NULL */
    gc_act act;
} gemm_epilogue;

/* Tile t of C (row-major over the tiling). */
static gc_status gemm_tile(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                           int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                           const gemm_tiling *g, const gemm_epilogue *ep, int64_t t) {
    int64_t i0 = (t / g->tn) * g->mt, j0 = (t % g->tn) * g->nt;
    int64_t mi = GC_MIN(g->mt, M - i0), nj = GC_MIN(g->nt, N - j0);
    const float *a = trans_a ? A + i0 : A + i0 * lda;
    const float *b = trans_b ? B + j0 * ldb : B + j0;
    float *c = C + i0 * ldc + j0;
    if (ep->bias)
        for (int64_t i = 0; i < mi; i++) memcpy(c + i * ldc, ep->bias + j0, (size_t)nj * sizeof(float));
    GC_TRY(gc_sgemm(trans_a, trans_b, mi, nj, K, alpha, a, lda, b, ldb, beta, c, ldc));
    gc_act_rows(ep->act, c, mi, nj, ldc);
    return GC_OK;
}

static gc_status sgemm_tiled_ep(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                                int64_t ldc, const gemm_epilogue *ep) {
    if (M <= 0 || N <= 0) return GC_OK;
    const gemm_tiling g = gemm_tiles(M, N);
    const int64_t n_tiles = g.tm * g.tn;
    int64_t failed = n_tiles;
#pragma omp parallel for schedule(dynamic, 1) if (n_tiles > 1) reduction(min : failed)
    for (int64_t t = 0; t < n_tiles; t++)
        if (gemm_tile(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &g, ep, t) != GC_OK)
            failed = GC_MIN(failed, t); /* a reduction: a named critical section would export a lock symbol */
    /* a worker's message is its thread's: redo the first failing tile here to report it */
    return failed < n_tiles ? gemm_tile(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &g, ep, failed)
                            : GC_OK;
}

gc_status gc_sgemm_tiled(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const gemm_epilogue none = {NULL, GC_ACT_NONE};
    return sgemm_tiled_ep(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &none);
}

gc_status gc_linear_act(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O,
                        gc_act act) {
    const gemm_epilogue ep = {b, act};
    return sgemm_tiled_ep(false, true, N, O, K, 1.0f, x, K, W, K, b ? 1.0f : 0.0f, y, O, &ep);
}

gc_status gc_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O) {
    return gc_linear_act(y, x, W, b, N, K, O, GC_ACT_NONE);
}

gc_status gc_matmul(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
                    bool trans_b, float alpha, float beta) {
    return gc_sgemm_tiled(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
    }
}

static char g_kernel[96];
static void kernel_name(void) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(g_kernel, sizeof g_kernel, "oneDNN %d.%d.%d sgemm (%s)", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa()));
}

const char *gc_gemm_kernel(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, kernel_name);
    return g_kernel;
}
