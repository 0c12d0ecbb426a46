/* One GeoAware-SC training step with the real post-processor (manifest weights, 5.15M parameters):
 * four fused 3968x60x60 maps (source, target, flipped source, flipped target), forward, pair loss
 * (CLIP + soft-argmax + double and self flip terms), backward, AdamW. Random maps and keypoints:
 * speed does not depend on the values. Usage: bench_train_step [--threads N] [--runs R] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geocorr.h"
#include "io/prng_weights.h"
#include "models/postproc.h"
#include "train/optim.h"
#include "train/train_step.h"

static const char *fixture(const char *name) {
    static char buf[1024];
    const char *d = getenv("GEOCORR_FIXTURES");
    if (!d) d = getenv("GEOCORR_FIXTURES_DEFAULT");
    if (!d) d = "../shared/fixtures";
    snprintf(buf, sizeof buf, "%s/%s", d, name);
    return buf;
}

static gc_status zero_jitter(void *ctx, int term, int64_t n, float *z) {
    (void)ctx, (void)term;
    for (int64_t i = 0; i < 2 * n; i++) z[i] = (float)((i * 37 % 11) - 5) / 5.0f;
    return GC_OK;
}

int main(int argc, char **argv) {
    int threads = 2, runs = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    }
    gc_set_threads(threads);
    gc_weights *w;
    gc_postproc m;
    if (gc_prng_weights_from_manifest(fixture("geoaware_postproc_real.weights_manifest.json"), NULL, &w) != GC_OK ||
        gc_postproc_from_weights(&m, w, 32) != GC_OK) {
        fprintf(stderr, "bench_train_step: %s\n", gc_last_error());
        return 1;
    }
    gc_weights_free(w);
    const int64_t n = m.cin * 3600, N = m.n_params + 120;
    float *x[4];
    for (int k = 0; k < 4; k++) {
        x[k] = malloc((size_t)n * sizeof(float));
        char name[32];
        snprintf(name, sizeof name, "bench.map%d", k);
        gc_prng_fill(name, 1, 0.5, 0.5, x[k], n);
    }
    /* 20 visible keypoints spread over the frame, left/right pairs swapped by the flip table */
    float kps[2][90];
    int64_t perm[30];
    for (int i = 0; i < 30; i++) {
        for (int s = 0; s < 2; s++) {
            kps[s][3 * i] = (float)(100 + (i * 97 + s * 211) % 640);
            kps[s][3 * i + 1] = (float)(120 + (i * 53 + s * 131) % 600);
            kps[s][3 * i + 2] = i < 20 ? 1.0f : 0.0f;
        }
        perm[i] = i ^ 1;
    }
    gc_step_inputs in = {.kps_src = kps[0], .kps_trg = kps[1], .nk = 30, .thr_src = 500, .thr_trg = 450,
                         .perm = perm, .np = 30};
    for (int k = 0; k < 4; k++) in.x[k] = x[k];
    float *p = malloc((size_t)N * sizeof(float)), *grad = malloc((size_t)N * sizeof(float));
    memcpy(p, m.data, (size_t)m.n_params * sizeof(float));
    gc_grid_linspace(p + m.n_params, 60);
    gc_grid_linspace(p + m.n_params + 60, 60);
    gc_adamw opt;
    gc_adamw_init(&opt, N, 1.25e-3, 1e-3);
    gc_loss_cfg cfg = gc_loss_cfg_default();
    double best = 1e30, fwdbwd = 0;
    for (int r = 0; r < runs + 1; r++) { /* first run warms up */
        const double t0 = gc_now();
        memcpy(m.data, p, (size_t)m.n_params * sizeof(float));
        memset(grad, 0, (size_t)N * sizeof(float));
        gc_pp_cache caches[4];
        gc_pair_loss loss;
        if (gc_train_step(&m, p + m.n_params, &cfg, &in, zero_jitter, NULL, grad, grad + m.n_params, caches, &loss) != GC_OK) {
            fprintf(stderr, "bench_train_step: %s\n", gc_last_error());
            return 1;
        }
        const double t1 = gc_now();
        gc_adamw_step(&opt, p, grad, NULL);
        const double t2 = gc_now();
        const float value = loss.loss;
        for (int k = 0; k < 4; k++) gc_pp_cache_free(&caches[k]);
        gc_pair_loss_free(&loss);
        if (r > 0 && t2 - t0 < best) {
            best = t2 - t0;
            fwdbwd = t1 - t0;
        }
        printf("run %d: loss %.4f  fwd+bwd %.2f s  adamw %.3f s\n", r, value, t1 - t0, t2 - t1);
    }
    printf("geocorr train step %.2f s (fwd+bwd %.2f s), %d threads\n", best, fwdbwd, threads);
    return 0;
}
