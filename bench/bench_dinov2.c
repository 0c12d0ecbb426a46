/* DINOv2 ViT-B/14 at 840x840 (GeoAware-SC's DINO branch) with the fixtures' manifest weights:
 * forward time, peak RSS, GFLOP/s of the model's GEMM shapes and of the whole pass, against the
 * machine's SGEMM peak (a large square SGEMM). Usage: bench_dinov2 [--threads N] [--size S] [--runs R]
 * (one first call, then R timed: bench_util.h)
 * (GEOCORR_FIXTURES or the build default locates dinov2_vitb14.*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "bench_util.h"
#include "io/config.h"
#include "io/prng_weights.h"
#include "models/dinov2.h"
#include "tensor/linear.h"

/* GFLOP per wall second of y[N,O] = x[N,K] W^T, best of `reps`; *per_cpu: per CPU second. raw: one
 * dnnl_sgemm call with oneDNN's own threading (the library's SGEMM peak; bench_sgemm compares it
 * with the other libraries on the machine), else gc_linear. */
static double gemm_gflops(int64_t N, int64_t K, int64_t O, int reps, bool raw, double *per_cpu) {
    float *x = gc_alloc_array((size_t)(N * K), 4), *w = gc_alloc_array((size_t)(O * K), 4);
    float *y = gc_alloc_array((size_t)(N * O), 4), *b = gc_alloc_array((size_t)O, 4);
    for (int64_t i = 0; i < N * K; i++) x[i] = (float)(i % 7) * 0.1f;
    for (int64_t i = 0; i < O * K; i++) w[i] = (float)(i % 5) * 0.1f;
    for (int64_t i = 0; i < O; i++) b[i] = 0.1f;
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
        double t0 = gc_now(), c0 = bench_cpu_seconds();
        if (raw)
            dnnl_sgemm('N', 'T', N, O, K, 1.0f, x, K, w, K, 0.0f, y, O);
        else
            gc_linear(y, x, w, b, N, K, O);
        if (r == 0) continue;
        double t = gc_now() - t0, c = bench_cpu_seconds() - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
    }
    gc_free(x), gc_free(w), gc_free(y), gc_free(b);
    *per_cpu = 2.0 * N * K * O / best_cpu * 1e-9;
    return 2.0 * N * K * O / best * 1e-9;
}

typedef struct {
    gc_dinov2 *m;
    const float *px;
    int64_t S;
    float *feat;
} dino_call;

static int dino_forward(void *ctx) {
    dino_call *c = ctx;
    return gc_dinov2_features(c->m, c->px, c->S, c->S, c->feat) != GC_OK;
}

int main(int argc, char **argv) {
    int threads = 2, size = 840, runs = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    }
    gc_set_threads(threads);
    cJSON *cfg;
    gc_weights *w;
    gc_dinov2 *m;
    const char *cfg_path = bench_fixture("dinov2_vitb14.config.json");
    if (gc_json_load(cfg_path, &cfg) != GC_OK ||
        gc_prng_weights_from_manifest(bench_fixture("dinov2_vitb14.weights_manifest.json"), NULL, &w) != GC_OK ||
        gc_dinov2_from_weights(w, cfg, cfg_path, &m) != GC_OK) {
        fprintf(stderr, "bench_dinov2: %s\n", gc_last_error());
        return 1;
    }
    cJSON_Delete(cfg);
    int64_t S = size, D = m->dim, Hp = S / 14, T = 1 + Hp * Hp, F = m->ffn_hidden;
    float *px = gc_alloc_array((size_t)(3 * S * S), 4), *feat = gc_alloc_array((size_t)(D * Hp * Hp), 4);
    for (int64_t i = 0; i < 3 * S * S; i++) px[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    dino_call call = {m, px, S, feat};
    bench_times tm;
    if (bench_time_calls(dino_forward, &call, runs, &tm)) {
        fprintf(stderr, "bench_dinov2: %s\n", gc_last_error());
        return 1;
    }
    const double best = tm.best, best_cpu = tm.best_cpu;
    /* FLOPs: linear layers 2*T*D*(3D + D + 2F) per block, attention 4*T*T*D per block, patch embed */
    double lin = 2.0 * T * D * (4.0 * D + 2.0 * F) * m->depth, att = 4.0 * T * T * D * m->depth;
    double total = lin + att + 2.0 * (T - 1) * D * 588;
    printf("geocorr %s threads %d: DINOv2 ViT-B/14 %dx%d (%lld tokens) forward %.2f s  cpu %.2f s  peak RSS %.0f MiB\n",
           gc_version(), threads, size, size, (long long)T, best, best_cpu, bench_peak_rss_mib());
    printf("  whole pass: %.0f GFLOP (%.0f linear, %.0f attention) -> %.1f GFLOP/s wall, %.1f GFLOP per cpu-s\n",
           total * 1e-9, lin * 1e-9, att * 1e-9, total / best * 1e-9, total / best_cpu * 1e-9);
    printf("  first call: %.2f s wall, %.2f s CPU (forward above: best of the %d after it)\n", tm.first, tm.first_cpu,
           runs);
    double pc, qc, f1c, f2c;
    double peak = gemm_gflops(2048, 2048, 2048, 3, true, &pc);
    double g_qkv = gemm_gflops(T, D, D, 3, false, &qc), g_fc1 = gemm_gflops(T, D, F, 3, false, &f1c);
    double g_fc2 = gemm_gflops(T, F, D, 3, false, &f2c);
    printf("  SGEMM peak (2048^3, one dnnl_sgemm, oneDNN threads %d): %.1f GFLOP/s wall, %.1f GFLOP per cpu-s\n", threads, peak, pc);
    printf("  model GEMMs (wall): q/k/v/proj [%lld,%lld]x[%lld,%lld]^T %.1f GFLOP/s (%.0f%% of peak), fc1 %.1f (%.0f%%), "
           "fc2 %.1f (%.0f%%)\n",
           (long long)T, (long long)D, (long long)D, (long long)D, g_qkv, 100 * g_qkv / peak, g_fc1,
           100 * g_fc1 / peak, g_fc2, 100 * g_fc2 / peak);
    printf("  model GEMMs (per cpu-s): q/k/v/proj %.1f (%.0f%% of peak), fc1 %.1f (%.0f%%), fc2 %.1f (%.0f%%)\n", qc,
           100 * qc / pc, f1c, 100 * f1c / pc, f2c, 100 * f2c / pc);
    gc_free(px), gc_free(feat);
    gc_dinov2_free(m);
    return 0;
}
