/* The machine's SGEMM peak: one 2048^3 product, best of R, through each library present, with the
 * library's own threading, next to geocorr's gc_matmul (fixed tiles of serial oneDNN calls).
 * OpenBLAS and BLIS are opened at run time (dlopen; neither is a dependency of geocorr), so the
 * bench also runs where they are absent. OpenBLAS picks its kernels from a CPU-model table when it
 * loads: --openblas-core NAME sets OPENBLAS_CORETYPE first (one core per process; bench/compare.sh
 * runs the candidates and keeps the best as the machine's peak).
 * Prints one line per library: "sgemm <library> <kernel> <GFLOP/s>". --cpu: GFLOP per process-CPU
 * second instead of per wall second (with --threads 1, the per-core rate, the steadier figure on a
 * machine shared with other work). Usage: bench_sgemm [--threads N] [--runs R] [--cpu] [--openblas-core NAME] */
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "tensor/linear.h"

enum { N_ = 2048 };

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

static float *g_a, *g_b, *g_c;
static int g_runs = 3, g_cpu;

static double now(void) {
    if (!g_cpu) return gc_now();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rate(double best) { return 2.0 * N_ * N_ * N_ / best * 1e-9; }

/* One cblas_sgemm of a library opened at run time. */
static void cblas_lib(const char *label, const char *soname, int threads, const char *core) {
    if (core) setenv("OPENBLAS_CORETYPE", core, 1); /* read by OpenBLAS's constructor, i.e. at dlopen */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("sgemm %-10s (not installed: %s)\n", label, soname);
        return;
    }
    cblas_sgemm_fn sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
    void (*ob_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    char *(*ob_core)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    void (*blis_threads)(long) = (void (*)(long))dlsym(h, "bli_thread_set_num_threads");
    if (!sgemm) {
        printf("sgemm %-10s (%s has no cblas_sgemm)\n", label, soname);
        return;
    }
    if (ob_threads) ob_threads(threads);
    if (blis_threads) blis_threads(threads);
    double best = 1e30;
    for (int r = 0; r <= g_runs; r++) {
        double t = now();
        sgemm(101, 111, 111, N_, N_, N_, 1.0f, g_a, N_, g_b, N_, 0.0f, g_c, N_); /* row-major, no transposes */
        t = now() - t;
        if (r > 0 && t < best) best = t;
    }
    char kernel[96];
    snprintf(kernel, sizeof kernel, "%s%s%s%s", ob_core ? ob_core() : "its own choice",
             core ? " (OPENBLAS_CORETYPE=" : " (as shipped)", core ? core : "", core ? ")" : "");
    printf("sgemm %-10s %-40s %7.1f GFLOP/s\n", label, kernel, rate(best));
}

int main(int argc, char **argv) {
    int threads = 0;
    const char *core = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu")) g_cpu = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) g_runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--openblas-core") && i + 1 < argc) core = argv[++i];
    }
    gc_set_threads(threads);
    threads = gc_get_threads();
    g_a = gc_alloc_array(N_ * N_, sizeof(float)), g_b = gc_alloc_array(N_ * N_, sizeof(float));
    g_c = gc_alloc_array(N_ * N_, sizeof(float));
    if (!g_a || !g_b || !g_c) return 1;
    for (int64_t i = 0; i < (int64_t)N_ * N_; i++) {
        g_a[i] = (float)(i % 7) * 0.1f;
        g_b[i] = (float)(i % 5) * 0.1f;
    }
    printf("# SGEMM 2048^3, %d threads, best of %d, GFLOP per %s second\n", threads, g_runs, g_cpu ? "CPU" : "wall");
    if (core) { /* only the forced OpenBLAS core: one library per process */
        cblas_lib("OpenBLAS", "libopenblas.so.0", threads, core);
        return 0;
    }
    double best = 1e30;
    for (int r = 0; r <= g_runs; r++) {
        double t = now();
        if (gc_matmul(g_c, g_a, g_b, N_, N_, N_, false, false, 1.0f, 0.0f) != GC_OK) {
            fprintf(stderr, "bench_sgemm: %s\n", gc_last_error());
            return 1;
        }
        t = now() - t;
        if (r > 0 && t < best) best = t;
    }
    printf("sgemm %-10s %-40s %7.1f GFLOP/s\n", "geocorr", gc_gemm_kernel(), rate(best));
    best = 1e30;
    for (int r = 0; r <= g_runs; r++) {
        double t = now();
        dnnl_sgemm('N', 'N', N_, N_, N_, 1.0f, g_a, N_, g_b, N_, 0.0f, g_c, N_);
        t = now() - t;
        if (r > 0 && t < best) best = t;
    }
    printf("sgemm %-10s %-40s %7.1f GFLOP/s\n", "oneDNN", "its own threading (one dnnl_sgemm)", rate(best));
    cblas_lib("OpenBLAS", "libopenblas.so.0", threads, NULL);
    cblas_lib("BLIS", "libblis.so.4", threads, NULL);
    return 0;
}
