/* The heavy ops alone, at the shapes of the pipeline's models: GEMM (gc_matmul tiles vs one
 * threaded oneDNN call), attention (the portable tiled-SGEMM kernel vs the AVX-512 fused kernel),
 * 3x3 convolutions of the SD VAE encoder. GFLOP per second, best of R runs: per wall second, or with
 * --cpu per process-CPU second (the steadier figure on a machine shared with other work; meaningful
 * with --threads 1, where no thread waits at a barrier). Usage: bench_kernels [--threads N] [--runs R] [--cpu] */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "tensor/attention.h"
#include "tensor/conv2d.h"
#include "tensor/linear.h"

static float *filled(int64_t n, unsigned seed) {
    float *p = gc_alloc_array((size_t)n, sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_kernels: %s\n", gc_last_error());
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u + seed) % 2000) / 1000.0f - 1.0f;
    return p;
}

static int g_runs = 3;
static int g_cpu; /* time in process CPU seconds instead of wall seconds */

static double now(void) {
    if (!g_cpu) return gc_now();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best seconds of g_runs evaluations of expr (after one warm-up). */
#define BEST_OF(expr)                                                    \
    ({                                                                   \
        double best_ = 1e30;                                             \
        for (int r_ = 0; r_ <= g_runs; r_++) {                           \
            double t0_ = now();                                          \
            if ((expr) != GC_OK) {                                       \
                fprintf(stderr, "bench_kernels: %s\n", gc_last_error()); \
                exit(1);                                                 \
            }                                                            \
            double t_ = now() - t0_;                                     \
            if (r_ > 0 && t_ < best_) best_ = t_;                        \
        }                                                                \
        best_;                                                           \
    })

static gc_status dnnl_call(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N) {
    return dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N) == dnnl_success ? GC_OK : GC_ERR_INTERNAL;
}

static void gemm(int64_t M, int64_t K, int64_t N) {
    float *A = filled(M * K, 1), *B = filled(N * K, 2), *C = filled(M * N, 3);
    double flop = 2.0 * M * N * K;
    double tg = BEST_OF(gc_matmul(C, A, B, M, K, N, false, true, 1.0f, 0.0f));
    double td = BEST_OF(dnnl_call(C, A, B, M, K, N));
    printf("  GEMM %5lldx%5lldx%5lld      geocorr tiles %7.1f GFLOP/s   one threaded dnnl_sgemm %7.1f GFLOP/s\n",
           (long long)M, (long long)N, (long long)K, flop / tg * 1e-9, flop / td * 1e-9);
    gc_free(A), gc_free(B), gc_free(C);
}

static void attention(const char *what, int64_t T, int64_t heads, int64_t hd) {
    int64_t D = heads * hd;
    float *qkv = filled(3 * T * D, 4), *o = filled(T * D, 5);
    double flop = 4.0 * T * T * D, t[2];
    for (int k = 0; k < 2; k++) {
        gc_cpu_limit(k ? 4 : 3);
        t[k] = BEST_OF(gc_attention(o, D, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, T, T, heads, hd, 0.125f, false));
    }
    gc_cpu_limit(4);
    printf("  attention %-22s portable %7.1f GFLOP/s   %s %7.1f GFLOP/s\n", what, flop / t[0] * 1e-9,
           gc_cpu_level() >= 4 ? "AVX-512 fused" : "(no AVX-512)", flop / t[1] * 1e-9);
    gc_free(qkv), gc_free(o);
}

static void conv(int64_t C, int64_t H, int64_t Co) {
    float *x = filled(C * H * H, 6), *w = filled(Co * C * 9, 7), *b = filled(Co, 8), *y = filled(Co * H * H, 9);
    double flop = 2.0 * Co * C * 9 * H * H;
    double t = BEST_OF(gc_conv2d(y, x, w, b, C, H, H, Co, 3, 1, (gc_pad2d){1, 1, 1, 1}));
    printf("  conv3x3 %4lld -> %4lld at %4lldx%-4lld  %7.1f GFLOP/s (direct-conv equivalent)\n", (long long)C,
           (long long)Co, (long long)H, (long long)H, flop / t * 1e-9);
    gc_free(x), gc_free(w), gc_free(b), gc_free(y);
}

int main(int argc, char **argv) {
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu")) g_cpu = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) g_runs = atoi(argv[++i]);
    }
    gc_set_threads(threads);
    printf("bench_kernels: threads %d, GFLOP per %s second, kernels: %s\n", gc_get_threads(), g_cpu ? "CPU" : "wall",
           gc_kernels());
    gemm(2048, 2048, 2048);
    gemm(3601, 768, 768);
    gemm(3601, 768, 3072);
    gemm(4096, 320, 320);
    attention("DINOv2 3601 x 12 x 64", 3601, 12, 64);
    attention("UNet 4096 x 8 x 40", 4096, 8, 40);
    attention("UNet 1024 x 8 x 80", 1024, 8, 80);
    attention("VAE 4096 x 1 x 512", 4096, 1, 512);
    attention("CLIP 577 x 16 x 64", 577, 16, 64);
    conv(128, 512, 128);
    conv(256, 256, 256);
    conv(512, 128, 512);
    conv(512, 64, 512);
    conv(320, 64, 320);
    conv(640, 32, 640);
    conv(1280, 16, 1280);
    return 0;
}
