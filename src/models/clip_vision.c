#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/clip_vision.h"
#include "tensor/im2col.h"
#include "tensor/resample.h"

static const char *const k_sections[] = {"vision_config", "hf_CLIPVisionConfig", NULL};
static const float k_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float k_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void clip_vision_free(clip_vision *m) {
    clip_stack_free(&m->stack);
    gc_weights_free(m->w);
    *m = (clip_vision){0};
}

/* Check an optional config value against what the shapes say. */
static gc_status expect_cfg(const cJSON *cfg, const char *file, const char *key, int64_t have) {
    int64_t v;
    GC_TRY(clip_config_int(cfg, file, k_sections, key, have, &v));
    if (v != have)
        return gc_errorf(GC_ERR_SHAPE, "%s: %s = %lld but the weights give %lld", file, key, (long long)v,
                         (long long)have);
    return GC_OK;
}

static gc_status init(clip_vision *m, const cJSON *cfg, const char *cfg_file) {
    gc_weights *w = m->w;
    const char *label = gc_weights_label(w);
    clip_naming naming;
    const char *conv_name, *base;
    if (gc_weights_detect_prefix(w, "visual.conv1.weight")) {
        naming = CLIP_NAMING_OPENAI, conv_name = "visual.conv1.weight", base = "visual.transformer.resblocks.";
    } else if (gc_weights_detect_prefix(w, "vision_model.embeddings.patch_embedding.weight")) {
        naming = CLIP_NAMING_HF, conv_name = "vision_model.embeddings.patch_embedding.weight";
        base = "vision_model.encoder.layers.";
    } else {
        return gc_errorf(GC_ERR_MISSING, "%s: not a CLIP image tower: no 'visual.conv1.weight' (OpenAI/open_clip "
                         "naming) or 'vision_model.embeddings.patch_embedding.weight' (HF naming)", label);
    }
    bool hf = naming == CLIP_NAMING_HF;
    const gc_tensor_ref *conv = gc_weights_find(w, conv_name);
    if (conv->ndim != 4 || conv->shape[1] != 3 || conv->shape[2] != conv->shape[3] || conv->shape[2] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must be [W, 3, p, p]", label, conv_name);
    int64_t W = m->width = conv->shape[0], p = m->patch = conv->shape[2];
    GC_TRY(GC_WEIGHT(w, conv_name, &m->conv1_w, W, 3, p, p));
    const char *pos_name = hf ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding";
    const gc_tensor_ref *pos = gc_weights_find(w, pos_name);
    if (!pos || pos->ndim != 2 || pos->shape[1] != W)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' missing or not [T, %lld]", label, pos_name, (long long)W);
    int64_t T = m->tokens = pos->shape[0], g = (int64_t)llround(sqrt((double)(T - 1)));
    if (T < 2 || g * g != T - 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' has %lld rows, not 1 + g*g", label, pos_name, (long long)T);
    m->grid = g, m->image_size = g * p;
    GC_TRY(GC_WEIGHT(w, pos_name, &m->pos_emb, T, W));
    GC_TRY(GC_WEIGHT(w, hf ? "vision_model.embeddings.class_embedding" : "visual.class_embedding", &m->class_emb, W));
    GC_TRY(GC_WEIGHT(w, hf ? "vision_model.pre_layrnorm.weight" : "visual.ln_pre.weight", &m->ln_pre_w, W));
    GC_TRY(GC_WEIGHT(w, hf ? "vision_model.pre_layrnorm.bias" : "visual.ln_pre.bias", &m->ln_pre_b, W));
    GC_TRY(GC_WEIGHT(w, hf ? "vision_model.post_layernorm.weight" : "visual.ln_post.weight", &m->ln_post_w, W));
    GC_TRY(GC_WEIGHT(w, hf ? "vision_model.post_layernorm.bias" : "visual.ln_post.bias", &m->ln_post_b, W));
    const char *proj_name = hf ? "visual_projection.weight" : "visual.proj";
    const gc_tensor_ref *pr = gc_weights_find(w, proj_name);
    if (!pr || pr->ndim != 2)
        return gc_errorf(GC_ERR_MISSING, "%s: missing projection '%s%s' (the CLIP image tower needs it)", label,
                         gc_weights_prefix(w), proj_name);
    m->embed = hf ? pr->shape[0] : pr->shape[1];
    if (hf) GC_TRY(GC_WEIGHT(w, proj_name, &m->proj_t, m->embed, W));
    else GC_TRY(GC_WEIGHT(w, proj_name, &m->proj, W, m->embed));

    const char *cf = cfg_file ? cfg_file : label;
    GC_TRY(clip_stack_load(&m->stack, w, naming, base, W, cfg, cfg_file, k_sections));
    GC_TRY(expect_cfg(cfg, cf, "patch_size", p));
    GC_TRY(expect_cfg(cfg, cf, "image_size", m->image_size));
    GC_TRY(expect_cfg(cfg, cf, "projection_dim", m->embed));
    return GC_OK;
}

gc_status clip_vision_init(clip_vision *m, gc_weights *w, const cJSON *cfg, const char *cfg_file) {
    *m = (clip_vision){.w = w};
    gc_status s = init(m, cfg, cfg_file);
    if (s != GC_OK) clip_vision_free(m);
    return s;
}

gc_status clip_vision_load(clip_vision *m, const char *path) {
    static const char *const preferred[] = {"model.safetensors", "open_clip_pytorch_model.bin", NULL};
    gc_weights *w;
    cJSON *cfg;
    char *cfg_path;
    *m = (clip_vision){0};
    GC_TRY(gc_model_open(path, "CLIP image tower", preferred,
                         "openai/clip-vit-large-patch14-336 (HF) or open_clip ViT-L-14-336 'openai'",
                         NULL, &w, &cfg, &cfg_path));
    gc_status s = clip_vision_init(m, w, cfg, cfg_path);
    cJSON_Delete(cfg);
    free(cfg_path);
    return s;
}

gc_status clip_vision_preprocess(const clip_vision *m, const uint8_t *crop, int64_t H, int64_t W,
                                 int64_t row_stride, float *pixel_values) {
    int64_t S = m->image_size;
    if (H < 1 || W < 1) return gc_errorf(GC_ERR_ARG, "CLIP preprocess: empty crop");
    /* torchvision Resize(S) on a tensor: short side -> S, long side -> int(S * long / short). */
    int64_t Ho = H <= W ? S : (int64_t)((double)S * H / W), Wo = H <= W ? (int64_t)((double)S * W / H) : S;
    float *x = gc_alloc_array((size_t)(3 * H * W), sizeof(float));
    float *r = gc_alloc_array((size_t)(3 * Ho * Wo), sizeof(float));
    if (!x || !r) {
        gc_free(x);
        gc_free(r);
        return GC_ERR_NOMEM;
    }
    for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++) x[(c * H + y) * W + xx] = (float)crop[y * row_stride + xx * 3 + c] / 255.0f;
    gc_status s = gc_resize_bicubic(r, x, 3, H, W, Ho, Wo, (double)H / Ho, (double)W / Wo);
    /* CenterCrop(S): top = int(round((Ho - S) / 2)), round half to even. */
    int64_t top = (int64_t)nearbyint((Ho - S) / 2.0), left = (int64_t)nearbyint((Wo - S) / 2.0);
    for (int64_t c = 0; c < 3 && s == GC_OK; c++)
        for (int64_t y = 0; y < S; y++)
            for (int64_t xx = 0; xx < S; xx++)
                pixel_values[(c * S + y) * S + xx] = (r[(c * Ho + top + y) * Wo + left + xx] - k_clip_mean[c]) / k_clip_std[c];
    gc_free(x);
    gc_free(r);
    return s;
}

/* nb images pixel_values [nb, 3, S, S] -> image_embed [nb, E]: the images' tokens go through the
 * blocks together (each attends to its own), so every weight is read once for the batch and the
 * products are nb times taller. */
static gc_status vision_run(const clip_vision *m, gc_arena *a, const float *pixel_values, int64_t nb,
                            float *image_embed, const gc_tap *tap) {
    const gc_backend_i *be = m->stack.ex->be;
    int64_t W = m->width, T = m->tokens, g = m->grid, p = m->patch, E = m->embed, S = m->image_size;
    float *cols = gc_arena_floats(a, g * g * 3 * p * p), *x = gc_arena_floats(a, nb * T * W),
          *proj = gc_arena_floats(a, nb * T * E), *cls = gc_arena_floats(a, nb * W);
    if (!cols || !x || !proj || !cls) return GC_ERR_NOMEM;
    float eps = m->stack.eps;
    GC_TRY(GC_TAP(tap, "pixel_values", pixel_values, nb, 3, S, S));
    for (int64_t i = 0; i < nb; i++) {
        float *xi = x + i * T * W;
        gc_patchify(cols, pixel_values + i * 3 * S * S, 3, g * p, g * p, p);
        GC_TRY(be->linear(xi + W, cols, m->conv1_w, NULL, g * g, 3 * p * p, W));
        if (nb == 1) GC_TRY(GC_TAP(tap, "patch_embeds", xi + W, 1, g * g, W));
        else GC_TRY(gc_tap_f32f(tap, xi + W, 3, (const int64_t[]){1, g * g, W}, "patch_embeds%lld", (long long)i));
        memcpy(xi, m->class_emb, (size_t)W * sizeof(float));
        for (int64_t j = 0; j < T * W; j++) xi[j] += m->pos_emb[j];
    }
    GC_TRY(GC_TAP(tap, "tokens_in", x, nb, T, W));
    be->layernorm(x, x, m->ln_pre_w, m->ln_pre_b, nb * T, W, eps);
    GC_TRY(GC_TAP(tap, "ln_pre", x, nb, T, W));
    /* The embedding is the CLS token's: past the last block's keys and values, the other tokens are
     * needed only by a trace (3.7% of the tower's work). */
    char last[32];
    snprintf(last, sizeof last, "block%lld", (long long)(m->stack.layers - 1));
    const bool all = gc_tap_wants(tap, last) || gc_tap_wants(tap, "ln_post") || gc_tap_wants(tap, "proj_all");
    GC_TRY(clip_stack_forward(&m->stack, a, x, nb, T, all ? T : 1, false, tap));
    /* ln_post and proj: every token for a trace, else the CLS rows gathered */
    float *rows = x;
    int64_t nr = nb * T;
    if (!all) {
        for (int64_t i = 0; i < nb; i++) memcpy(cls + i * W, x + i * T * W, (size_t)W * sizeof(float));
        rows = cls, nr = nb;
    }
    be->layernorm(rows, rows, m->ln_post_w, m->ln_post_b, nr, W, eps);
    GC_TRY(GC_TAP(tap, "ln_post", rows, nb, T, W));
    GC_TRY(m->proj ? be->matmul(proj, rows, m->proj, nr, W, E, false, false, 1.0f, 0.0f)
                   : be->linear(proj, rows, m->proj_t, NULL, nr, W, E));
    GC_TRY(GC_TAP(tap, "proj_all", proj, nb, T, E));
    for (int64_t i = 0; i < nb; i++) memcpy(image_embed + i * E, proj + (all ? i * T : i) * E, (size_t)E * sizeof(float));
    return GC_TAP(tap, "image_embed", image_embed, nb, E);
}

gc_status clip_vision_forward_batch(const clip_vision *m, const float *pixel_values, int64_t nb, float *image_embed,
                                    const gc_tap *tap) {
    if (nb < 1) return gc_errorf(GC_ERR_ARG, "CLIP image tower: %lld images", (long long)nb);
    gc_arena local, *a = gc_arena_acquire(&m->stack.ex->arena, &local);
    gc_status s = vision_run(m, a, pixel_values, nb, image_embed, tap);
    gc_arena_release(a, &m->stack.ex->arena);
    return s;
}

gc_status clip_vision_forward(const clip_vision *m, const float *pixel_values, float *image_embed,
                              const gc_tap *tap) {
    return clip_vision_forward_batch(m, pixel_values, 1, image_embed, tap);
}
