/* SD-1.5 branch speed: the VAE encoder on a 512x512 image and the UNet up to output block 7 (GeoAware
 * taps, FreeU) on a 64x64 latent with a 77x768 context, one crop and (unet_to_block7_64_x4) the
 * pipeline's 4 crops as one batch, SD-1.5 shapes from the fixtures' manifest
 * weights (generated in memory; the model holds them once). Prints seconds per stage (the first call
 * and the best of two after it) and the peak RSS; bench_sd.sh runs it next to tools/bench_sd_torch.py and prints the ratios. */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "io/prng_weights.h"
#include "models/sd.h"

typedef struct {
    gc_sd *sd;
    const float *img;
    int64_t S;
    float *z0;
} vae_call;

static int vae_encode(void *ctx) {
    vae_call *c = ctx;
    return gc_sd_encode(c->sd, c->img, c->S, c->S, c->z0) != GC_OK;
}

typedef struct {
    gc_sd *sd;
    const float *zt;
    int64_t h;
    const float *ctx, *cond;
    float *s5, *s4, *s3;
} unet_call;

static int unet_features(void *ctx) {
    unet_call *c = ctx;
    return gc_sd_unet_features(c->sd, c->zt, c->h, c->h, 50, c->ctx, 77, 768, c->cond, c->s5, c->s4, c->s3) != GC_OK;
}

/* The feature pipeline's UNet call: 4 crops as one batch (each with its context and cond_emb). */
typedef struct {
    gc_sd *sd;
    const float *zt, *ctx, *cond;
    int64_t h;
    sd_unet_run run[4];
} unet_batch_call;

static int unet_batch(void *ctx) {
    unet_batch_call *c = ctx;
    return sd_unet_forward_batch(&c->sd->unet, 4, c->zt, c->h, c->h, 50, c->ctx, 77, 768, c->run, NULL) != GC_OK;
}

/* NAME: best of the calls after the first; NAME_first: the first call (bench_util.h). */
static void report(const char *name, const bench_times *t) {
    printf("geocorr %s %.3f\ngeocorr %s_cpu %.3f\ngeocorr %s_first %.3f\ngeocorr %s_first_cpu %.3f\n", name, t->best,
           name, t->best_cpu, name, t->first, name, t->first_cpu);
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
    vae_call vc = {sd, img, S, z0};
    bench_times tv, tu;
    if (bench_time_calls(vae_encode, &vc, 2, &tv) || gc_sd_add_noise(sd, z0, h, h, 50, zt) != GC_OK) {
        fprintf(stderr, "bench_sd: %s\n", gc_last_error());
        return 1;
    }
    report("vae_encoder_512", &tv);
    unet_call uc = {sd, zt, h, ctx, cond, s5, s4, s3};
    if (bench_time_calls(unet_features, &uc, 2, &tu)) {
        fprintf(stderr, "bench_sd: %s\n", gc_last_error());
        return 1;
    }
    report("unet_to_block7_64", &tu);
    /* the batch: crop k's latent, context and cond_emb are the single call's, scaled by 1 + k / 8 */
    float *zt4 = malloc(sizeof(float) * 4 * 4 * h * h), *ctx4 = malloc(sizeof(float) * 4 * 77 * 768),
          *cond4 = malloc(sizeof(float) * 4 * (size_t)info.time_embed_dim);
    unet_batch_call ub = {.sd = sd, .zt = zt4, .ctx = ctx4, .cond = cond4, .h = h};
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < 4 * h * h; i++) zt4[k * 4 * h * h + i] = zt[i] * (1.0f + k / 8.0f);
        for (int64_t i = 0; i < 77 * 768; i++) ctx4[k * 77 * 768 + i] = ctx[i] * (1.0f + k / 8.0f);
        for (int64_t i = 0; i < info.time_embed_dim; i++)
            cond4[k * info.time_embed_dim + i] = cond[i] * (1.0f + k / 8.0f);
        ub.run[k] = (sd_unet_run){.cond_emb = cond4 + k * info.time_embed_dim, .last_block = 7, .freeu = true,
                                  .b1 = SD_FREEU_B1, .b2 = SD_FREEU_B2, .s1 = SD_FREEU_S1, .s2 = SD_FREEU_S2};
    }
    if (bench_time_calls(unet_batch, &ub, 2, &tu)) {
        fprintf(stderr, "bench_sd: %s\n", gc_last_error());
        return 1;
    }
    report("unet_to_block7_64_x4", &tu);
    free(zt4), free(ctx4), free(cond4);
    printf("geocorr peak_rss_mb %.0f\n", bench_peak_rss_mib());
    printf("geocorr threads %d\n", gc_get_threads());
    gc_sd_free(sd);
    free(img), free(z0), free(zt), free(ctx), free(cond), free(s5), free(s4), free(s3);
    return 0;
}
