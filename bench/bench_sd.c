/* SD-1.5 branch speed: the VAE encoder on a 512x512 image and the UNet up to output block 7 (GeoAware
 * taps, FreeU) on a 64x64 latent with a 77x768 context, SD-1.5 shapes from the fixtures' manifest
 * weights (generated in memory; the model holds them once). Prints seconds per stage and the peak
 * RSS; bench_sd.sh runs it next to tools/bench_sd_torch.py and prints the ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "io/prng_weights.h"
#include "models/sd.h"

/* Process CPU seconds: on a machine shared by many jobs, wall time mostly measures the queue. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    const char *fx = getenv("GEOCORR_FIXTURES");
    if (!fx) fx = getenv("GEOCORR_FIXTURES_DEFAULT");
    char manifest[1024];
    snprintf(manifest, sizeof manifest, "%s/sd_sd15.weights_manifest.json", fx ? fx : "../shared/fixtures");
    gc_set_threads(0);
    gc_weights *w;
    gc_sd *sd;
    double t0 = gc_now();
    if (gc_prng_weights_from_manifest(manifest, "ldm", &w) != GC_OK || sd_load_weights(w, NULL, &sd) != GC_OK) {
        fprintf(stderr, "bench_sd: %s\n", gc_last_error());
        return 1;
    }
    printf("geocorr weights_generation %.3f\n", gc_now() - t0);
    gc_sd_info info;
    gc_sd_get_info(sd, &info);
    int64_t S = 512, h = 64;
    float *img = malloc(sizeof(float) * 3 * S * S), *z0 = malloc(sizeof(float) * 4 * h * h),
          *zt = malloc(sizeof(float) * 4 * h * h), *ctx = malloc(sizeof(float) * 77 * 768),
          *cond = malloc(sizeof(float) * (size_t)info.time_embed_dim);
    float *s5 = malloc(sizeof(float) * (size_t)(info.feat_channels[0] * 8 * 8)),
          *s4 = malloc(sizeof(float) * (size_t)(info.feat_channels[1] * 16 * 16)),
          *s3 = malloc(sizeof(float) * (size_t)(info.feat_channels[2] * 32 * 32));
    gc_prng_fill("bench.image", 1, 0.0, 1.0, img, 3 * S * S);
    gc_prng_fill("bench.context", 1, 0.0, 1.0, ctx, 77 * 768);
    gc_prng_fill("bench.cond", 1, 0.0, 0.1, cond, info.time_embed_dim);
    t0 = gc_now();
    double c0 = cpu_now();
    gc_status st = gc_sd_encode(sd, img, S, S, z0);
    printf("geocorr vae_encoder_512 %.3f\ngeocorr vae_encoder_512_cpu %.3f\n", gc_now() - t0, cpu_now() - c0);
    if (st == GC_OK) st = gc_sd_add_noise(sd, z0, h, h, 50, zt);
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; st == GC_OK && r < 2; r++) {
        t0 = gc_now();
        c0 = cpu_now();
        st = gc_sd_unet_features(sd, zt, h, h, 50, ctx, 77, 768, cond, s5, s4, s3);
        best = GC_MIN(best, gc_now() - t0);
        best_cpu = GC_MIN(best_cpu, cpu_now() - c0);
    }
    if (st != GC_OK) {
        fprintf(stderr, "bench_sd: %s\n", gc_last_error());
        return 1;
    }
    printf("geocorr unet_to_block7_64 %.3f\ngeocorr unet_to_block7_64_cpu %.3f\n", best, best_cpu);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("geocorr peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);
    printf("geocorr threads %d\n", gc_get_threads());
    gc_sd_free(sd);
    free(img), free(z0), free(zt), free(ctx), free(cond), free(s5), free(s4), free(s3);
    return 0;
}
