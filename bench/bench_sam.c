/* SAM image encoder at 1024x1024 (the part that runs once per image; the decoder takes
 * milliseconds): ViT-B with the fixtures' manifest weights, ViT-H (D 1280, 32 blocks, 16 heads,
 * global blocks 7/15/23/31) with generated weights of the real shapes (encoder generated here, the
 * prompt encoder and decoder, identical in both, from the ViT-B manifest). Prints time, CPU time,
 * peak RSS and the pass's GFLOP. Usage: bench_sam [--model b|h] [--threads N] [--runs R]
 * (GEOCORR_FIXTURES or the build default locates sam/sam_vit_b.*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "io/config.h"
#include "io/prng_weights.h"
#include "models/sam.h"


/* A generated tensor (the fixtures' generator, keyed by name) added to w. */
static gc_status gen(gc_weights *w, const char *name, double offset, double scale, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *p = gc_alloc_array((size_t)n, sizeof(float));
    if (!p) return GC_ERR_NOMEM;
    gc_prng_fill(name, 503, offset, scale, p, n);
    return gc_weights_add_owned_f32(w, name, ndim, shape, p);
}
#define GEN(w, name, off, sc, ...) \
    GC_TRY(gen(w, name, off, sc, GC_SAM_SHAPE(__VA_ARGS__)))

/* ViT-H's image encoder (build_sam_vit_h) into w, scales as the fixture manifests choose them. */
static gc_status vit_h_encoder(gc_weights *w) {
    const int64_t D = 1280, depth = 32, heads = 16, hd = D / heads, g = 64, C = 256;
    char n[160];
    GEN(w, "image_encoder.patch_embed.proj.weight", 0, 0.0625, D, 3, 16, 16);
    GEN(w, "image_encoder.patch_embed.proj.bias", 0, 0.1, D);
    GEN(w, "image_encoder.pos_embed", 0, 1, 1, g, g, D);
    for (int64_t i = 0; i < depth; i++) {
        const int64_t win = (i % 8 == 7) ? g : 14; /* global blocks 7, 15, 23, 31 */
#define B(suffix) (snprintf(n, sizeof n, "image_encoder.blocks.%lld." suffix, (long long)i), n)
        GEN(w, B("norm1.weight"), 1, 0.2, D);
        GEN(w, B("norm1.bias"), 0, 0.1, D);
        GEN(w, B("attn.qkv.weight"), 0, 0.048, 3 * D, D);
        GEN(w, B("attn.qkv.bias"), 0, 0.1, 3 * D);
        GEN(w, B("attn.proj.weight"), 0, 0.048, D, D);
        GEN(w, B("attn.proj.bias"), 0, 0.1, D);
        GEN(w, B("attn.rel_pos_h"), 0, 0.19, 2 * win - 1, hd);
        GEN(w, B("attn.rel_pos_w"), 0, 0.19, 2 * win - 1, hd);
        GEN(w, B("norm2.weight"), 1, 0.2, D);
        GEN(w, B("norm2.bias"), 0, 0.1, D);
        GEN(w, B("mlp.lin1.weight"), 0, 0.048, 4 * D, D);
        GEN(w, B("mlp.lin1.bias"), 0, 0.1, 4 * D);
        GEN(w, B("mlp.lin2.weight"), 0, 0.024, D, 4 * D);
        GEN(w, B("mlp.lin2.bias"), 0, 0.1, D);
#undef B
    }
    GEN(w, "image_encoder.neck.0.weight", 0, 0.048, C, D, 1, 1);
    GEN(w, "image_encoder.neck.1.weight", 1, 0.2, C);
    GEN(w, "image_encoder.neck.1.bias", 0, 0.1, C);
    GEN(w, "image_encoder.neck.2.weight", 0, 0.036, C, C, 3, 3);
    GEN(w, "image_encoder.neck.3.weight", 1, 0.2, C);
    GEN(w, "image_encoder.neck.3.bias", 0, 0.1, C);
    return GC_OK;
}

/* The model: ViT-B from its manifest; ViT-H = its encoder + the ViT-B manifest's other parts. */
static gc_status load(const char *which, gc_sam **out, gc_weights **keep) {
    gc_weights *b;
    *keep = NULL;
    GC_TRY(gc_prng_weights_from_manifest(bench_fixture("sam/sam_vit_b.weights_manifest.json"), NULL, &b));
    if (!strcmp(which, "b")) return gc_sam_from_weights(b, NULL, NULL, out);
    gc_weights *h = gc_weights_new("generated SAM ViT-H");
    gc_status s = h ? vit_h_encoder(h) : GC_ERR_NOMEM;
    for (int64_t i = 0; s == GC_OK && i < gc_weights_count(b); i++) {
        const gc_tensor_ref *r = gc_weights_at(b, i);
        if (strncmp(r->name, "image_encoder.", 14)) s = gc_weights_add(h, r->name, r->dtype, r->ndim, r->shape, r->data);
    }
    if (s == GC_OK) s = gc_weights_finalize(h);
    *keep = b; /* owns the prompt encoder and decoder tensors h points at */
    if (s != GC_OK) {
        gc_weights_free(h);
        return s;
    }
    return gc_sam_from_weights(h, NULL, NULL, out);
}

typedef struct {
    gc_sam *m;
    const float *img;
    float *emb;
} sam_call;

static int sam_forward(void *ctx) {
    sam_call *c = ctx;
    return gc_sam_encode(c->m, c->img, c->emb, NULL) != GC_OK;
}

int main(int argc, char **argv) {
    const char *which = "b";
    int threads = 2, runs = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) which = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    }
    if (strcmp(which, "b") && strcmp(which, "h")) {
        fprintf(stderr, "bench_sam: --model b or h\n");
        return 2;
    }
    gc_set_threads(threads);
    gc_sam *m;
    gc_weights *keep;
    double t0 = gc_now();
    if (load(which, &m, &keep) != GC_OK) {
        fprintf(stderr, "bench_sam: %s\n", gc_last_error());
        return 1;
    }
    const double t_load = gc_now() - t0, rss_weights = bench_peak_rss_mib();
    const gc_sam_hparams *hp = &m->hp;
    const int64_t S = hp->img_size, g = hp->grid, T = g * g, D = hp->dim, C = hp->out_chans;
    float *img = gc_alloc_array((size_t)(3 * S * S), sizeof(float)), *emb = gc_alloc_array((size_t)(T * C), sizeof(float));
    for (int64_t i = 0; i < 3 * S * S; i++) img[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    sam_call call = {m, img, emb};
    bench_times tm;
    if (bench_time_calls(sam_forward, &call, runs, &tm)) {
        fprintf(stderr, "bench_sam: %s\n", gc_last_error());
        return 1;
    }
    const double best = tm.best, best_cpu = tm.best_cpu;
    /* FLOPs: qkv on the padded window tokens, proj + MLP on the grid, attention per window or global,
     * relative-position projections, patch embedding and neck */
    double lin = 0, att = 0;
    for (int64_t i = 0; i < hp->depth; i++) {
        const int64_t ws = hp->window[i], nb = ws ? (g + ws - 1) / ws : 1, n = ws ? ws : g, L = n * n, Tw = nb * nb * L;
        lin += 2.0 * Tw * D * 3 * D + 2.0 * T * D * D + 4.0 * T * D * hp->mlp;
        att += nb * nb * (4.0 * L * L * D + 2.0 * L * D * 2 * (2 * n - 1));
    }
    const double other = 2.0 * T * 768 * D + 2.0 * T * D * C + 18.0 * T * C * C, total = lin + att + other;
    printf("geocorr %s threads %d (%s): SAM ViT-%s image encoder %lldx%lld (%lld tokens, D %lld, %lld blocks) "
           "forward %.2f s  cpu %.2f s  peak RSS %.0f MiB (weights %.0f MiB, generated in %.1f s)\n",
           gc_version(), threads, gc_kernels(), !strcmp(which, "b") ? "B" : "H", (long long)S, (long long)S,
           (long long)T, (long long)D, (long long)hp->depth, best, best_cpu, bench_peak_rss_mib(), rss_weights, t_load);
    printf("  whole pass: %.0f GFLOP (%.0f linear, %.0f attention) -> %.1f GFLOP/s wall, %.1f GFLOP per cpu-s\n",
           total * 1e-9, lin * 1e-9, att * 1e-9, total / best * 1e-9, total / best_cpu * 1e-9);
    printf("  first call: %.2f s wall, %.2f s CPU (forward above: best of the %d after it)\n", tm.first, tm.first_cpu,
           runs);
    gc_free(img), gc_free(emb);
    gc_sam_free(m);
    gc_weights_free(keep);
    return 0;
}
