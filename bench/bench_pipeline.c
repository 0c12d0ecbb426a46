/* One image through the whole GeoAware feature pipeline with real-shaped models (weights from the
 * fixture manifests: DINOv2 ViT-B/14, SD-1.5 UNet + VAE encoder, CLIP ViT-L/14-336, the SD-1.5 text
 * encoder, the ODISE captioner at its real shapes): seconds per stage for the first image of a
 * process and for the next one, and the peak RSS. Compare with
 * tools/bench_pipeline_torch.py (same-shaped PyTorch 1.13 models where they can be built here).
 * Usage: bench_pipeline [threads]   (fixtures from GEOCORR_FIXTURES / GEOCORR_FIXTURES_DEFAULT) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "io/config.h"
#include "io/prng_weights.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"

#define CHECK(expr)                                                             \
    do {                                                                        \
        gc_status s_ = (expr);                                                  \
        if (s_ != GC_OK) {                                                      \
            fprintf(stderr, "bench_pipeline: %s: %s\n", #expr, gc_last_error()); \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

/* The captioner at its real shapes (captioner_tiny.config.json "real_shapes"), scales of the tiny specs. */
static gc_weights *captioner_real(void) {
    gc_weights *w = gc_weights_new("captioner (real shapes, generated)");
    const struct { const char *name; int nd; int64_t shape[3]; double scale; } t[] = {
        {"clip_project.linear.weight", 2, {768, 768}, 0.036}, {"clip_project.linear.bias", 1, {768}, 0.1},
        {"clip_project.positional_embedding", 3, {1, 77, 768}, 0.5}, {"alpha_cond", 3, {1, 77, 768}, 1.5},
        {"time_embed_project.linear.weight", 2, {1280, 768}, 0.036}, {"time_embed_project.linear.bias", 1, {1280}, 0.1},
        {"time_embed_project.positional_embedding", 3, {1, 1, 1280}, 0.5}, {"alpha_cond_time_embed", 1, {1280}, 1.5},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        int64_t n = 1;
        for (int d = 0; d < t[i].nd; d++) n *= t[i].shape[d];
        float *x = gc_alloc_array((size_t)n, sizeof(float));
        gc_prng_fill(t[i].name, 313, 0.0, t[i].scale, x, n);
        CHECK(gc_weights_add_owned_f32(w, t[i].name, t[i].nd, t[i].shape, x));
    }
    CHECK(gc_weights_finalize(w));
    return w;
}

static uint8_t *canvas(int64_t S) {
    gc_weights *pre;
    CHECK(gc_weights_open(bench_fixture("preprocess.safetensors"), &pre));
    char key[64];
    snprintf(key, sizeof key, "antelope.%lld.band", (long long)S);
    const gc_tensor_ref *band = gc_weights_find(pre, key);
    int64_t h = band->shape[0];
    uint8_t *c = calloc((size_t)(S * S * 3), 1);
    memcpy(c + (S - h) / 2 * S * 3, band->data, (size_t)(h * S * 3));
    gc_weights_free(pre);
    return c;
}

int main(int argc, char **argv) {
    gc_set_threads(argc > 1 ? atoi(argv[1]) : 0);
    printf("bench_pipeline: one image twice (antelope, 960/840 canvases), real-shaped models, %d threads\n",
           gc_get_threads());
    double t0 = gc_now();
    gc_weights *w;
    cJSON *cfg;
    gc_dinov2 *dino;
    CHECK(gc_prng_weights_from_manifest(bench_fixture("dinov2_vitb14.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(bench_fixture("dinov2_vitb14.config.json"), &cfg));
    CHECK(gc_dinov2_from_weights(w, cfg, bench_fixture("dinov2_vitb14.config.json"), &dino));
    cJSON_Delete(cfg);
    gc_sd *sd;
    CHECK(gc_prng_weights_from_manifest(bench_fixture("sd_sd15.weights_manifest.json"), "ldm", &w));
    CHECK(sd_load_weights(w, NULL, &sd));
    clip_vision clip;
    CHECK(gc_prng_weights_from_manifest(bench_fixture("clip_vitl14_336.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(bench_fixture("clip_vitl14_336.config.json"), &cfg));
    CHECK(clip_vision_init(&clip, w, cfg, bench_fixture("clip_vitl14_336.config.json")));
    cJSON_Delete(cfg);
    clip_text text;
    CHECK(gc_prng_weights_from_manifest(bench_fixture("clip_text_l14.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(bench_fixture("clip_text_l14.config.json"), &cfg));
    CHECK(clip_text_init(&text, w, cfg, bench_fixture("clip_text_l14.config.json")));
    cJSON_Delete(cfg);
    captioner cap;
    CHECK(captioner_init(&cap, captioner_real()));
    double t_gen = gc_now() - t0;
    gc_features *f;
    CHECK(gc_features_assemble(dino, sd, &clip, &cap, &text, &f));
    clip_text_free(&text);
    printf("  %-36s %8.2f s  (PRNG weights of all models; peak RSS so far %.0f MiB)\n", "weight generation", t_gen,
           bench_peak_rss_mib());
    uint8_t *c960 = canvas(960), *c840 = canvas(840);
    /* The same image twice: the first in a fresh process (arena growth, first-touch page faults),
     * then as the next image of a run over a dataset (bench_util.h's protocol). */
    gc_feature_maps m[2];
    double stage[2][GC_STAGE_COUNT], total[2], cpu[2];
    for (int r = 0; r < 2; r++) {
        double before[GC_STAGE_COUNT];
        memcpy(before, f->stage_s, sizeof before);
        t0 = gc_now();
        double c0 = bench_cpu_seconds();
        CHECK(gc_features_run(f, c960, c840, &m[r], NULL));
        total[r] = gc_now() - t0, cpu[r] = bench_cpu_seconds() - c0;
        for (int i = 0; i < GC_STAGE_COUNT; i++) stage[r][i] = i == GC_STAGE_TEXT ? f->stage_s[i] : f->stage_s[i] - before[i];
        total[r] += stage[r][GC_STAGE_TEXT];
    }
    const char *calls[GC_STAGE_COUNT] = {"1 call", "4 crops", "4 crops", "4 crops", "4 crops", "4 crops", "3 maps", "1 call"};
    printf("  %-36s %10s %10s\n", "", "first", "next");
    for (int i = 0; i < GC_STAGE_COUNT; i++)
        printf("  %-36s %8.2f s %8.2f s  (%s)\n", gc_stage_names[i], stage[0][i], stage[1][i], calls[i]);
    printf("  %-36s %8.2f s %8.2f s  wall (one image: %.2f / %.2f s CPU over all threads)\n",
           "total (text encoder + one image)", total[0], total[1], cpu[0], cpu[1]);
    gc_feature_maps_free(&m[1]);
    printf("  outputs: s5 [%lld,%lld,%lld] s4 [%lld,%lld,%lld] s3 [%lld,%lld,%lld] dino [%lld,%lld,%lld]\n",
           (long long)m[0].c5, (long long)m[0].g5, (long long)m[0].g5, (long long)m[0].c4, (long long)m[0].g4, (long long)m[0].g4,
           (long long)m[0].c3, (long long)m[0].g3, (long long)m[0].g3, (long long)m[0].cd, (long long)m[0].gd, (long long)m[0].gd);
    printf("  peak RSS %.0f MiB\n", bench_peak_rss_mib());
    gc_feature_maps_free(&m[0]);
    gc_features_free(f);
    free(c960);
    free(c840);
    return 0;
}
