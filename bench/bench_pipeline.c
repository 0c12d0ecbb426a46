/* One image through the whole GeoAware feature pipeline with real-shaped models (weights from the
 * fixture manifests: DINOv2 ViT-B/14, SD-1.5 UNet + VAE encoder, CLIP ViT-L/14-336, the SD-1.5 text
 * encoder, the ODISE captioner at its real shapes): seconds per stage and peak RSS. Compare with
 * tools/bench_pipeline_torch.py (same-shaped PyTorch 1.13 models where they can be built here).
 * Usage: bench_pipeline [threads]   (fixtures from GEOCORR_FIXTURES / GEOCORR_FIXTURES_DEFAULT) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "io/config.h"
#include "io/prng_weights.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"

static char g_dir[1024];

static const char *fx(const char *name) {
    static char buf[4][1200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 1200, "%s/%s", g_dir, name);
    return p;
}

/* Process CPU seconds (all threads): on a shared, loaded machine wall time overstates the work. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

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
    CHECK(gc_weights_open(fx("preprocess.safetensors"), &pre));
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
    const char *d = getenv("GEOCORR_FIXTURES");
    if (!d || !*d) d = getenv("GEOCORR_FIXTURES_DEFAULT");
    snprintf(g_dir, sizeof g_dir, "%s", d && *d ? d : "../shared/fixtures");
    gc_set_threads(argc > 1 ? atoi(argv[1]) : 0);
    printf("bench_pipeline: one image (antelope, 960/840 canvases), real-shaped models, %d threads\n",
           gc_get_threads());
    double t0 = gc_now();
    gc_weights *w;
    cJSON *cfg;
    gc_dinov2 *dino;
    CHECK(gc_prng_weights_from_manifest(fx("dinov2_vitb14.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(fx("dinov2_vitb14.config.json"), &cfg));
    CHECK(gc_dinov2_from_weights(w, cfg, fx("dinov2_vitb14.config.json"), &dino));
    cJSON_Delete(cfg);
    gc_sd *sd;
    CHECK(gc_prng_weights_from_manifest(fx("sd_sd15.weights_manifest.json"), "ldm", &w));
    CHECK(sd_load_weights(w, NULL, &sd));
    clip_vision clip;
    CHECK(gc_prng_weights_from_manifest(fx("clip_vitl14_336.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(fx("clip_vitl14_336.config.json"), &cfg));
    CHECK(clip_vision_init(&clip, w, cfg, fx("clip_vitl14_336.config.json")));
    cJSON_Delete(cfg);
    clip_text text;
    CHECK(gc_prng_weights_from_manifest(fx("clip_text_l14.weights_manifest.json"), NULL, &w));
    CHECK(gc_json_load(fx("clip_text_l14.config.json"), &cfg));
    CHECK(clip_text_init(&text, w, cfg, fx("clip_text_l14.config.json")));
    cJSON_Delete(cfg);
    captioner cap;
    CHECK(captioner_init(&cap, captioner_real()));
    double t_gen = gc_now() - t0;
    gc_features *f;
    CHECK(gc_features_assemble(dino, sd, &clip, &cap, &text, &f));
    clip_text_free(&text);
    printf("  %-36s %8.2f s  (PRNG weights of all models; peak RSS so far %.0f MiB)\n", "weight generation", t_gen,
           rss_mib());
    uint8_t *c960 = canvas(960), *c840 = canvas(840);
    gc_feature_maps m;
    t0 = gc_now();
    double c0 = cpu_s();
    CHECK(gc_features_run(f, c960, c840, &m, NULL));
    double total = gc_now() - t0 + f->stage_s[GC_STAGE_TEXT], cpu = cpu_s() - c0;
    const char *calls[GC_STAGE_COUNT] = {"1 call", "4 crops", "4 crops", "4 crops", "4 crops", "4 crops", "3 maps", "1 call"};
    for (int i = 0; i < GC_STAGE_COUNT; i++)
        printf("  %-36s %8.2f s  (%s)\n", gc_stage_names[i], f->stage_s[i], calls[i]);
    printf("  %-36s %8.2f s wall (one image: %.2f s CPU over all threads)\n", "total (text encoder + one image)",
           total, cpu);
    printf("  outputs: s5 [%lld,%lld,%lld] s4 [%lld,%lld,%lld] s3 [%lld,%lld,%lld] dino [%lld,%lld,%lld]\n",
           (long long)m.c5, (long long)m.g5, (long long)m.g5, (long long)m.c4, (long long)m.g4, (long long)m.g4,
           (long long)m.c3, (long long)m.g3, (long long)m.g3, (long long)m.cd, (long long)m.gd, (long long)m.gd);
    printf("  peak RSS %.0f MiB\n", rss_mib());
    gc_feature_maps_free(&m);
    gc_features_free(f);
    free(c960);
    free(c840);
    return 0;
}
