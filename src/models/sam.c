/* Loading SAM: the sizes from the weight shapes (TRACE.md §10: g from pos_embed, window or global
 * per block from rel_pos_h, heads = D / head dim, widths from the linear layers), checked against
 * config.json, which also gives what no shape holds (decoder heads, eps, pixel statistics,
 * threshold); then each part loads its tensors with full shape checks. */
#include "models/sam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

#define GC_SAM_HINT                                                                                          \
    "SAM weights are the official sam_vit_{b,l,h}_*.pth of facebookresearch/segment-anything (the reference " \
    "uses sam_vit_h_4b8939.pth), or a safetensors file with the same names"

gc_status gc_sam_param(gc_weights *w, const float **out, int ndim, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return gc_weights_f32(w, name, ndim, shape, out);
}

int64_t gc_sam_count(const gc_weights *w, const char *fmt) {
    int64_t n = 0;
    char name[256];
    for (;; n++) {
        snprintf(name, sizeof name, fmt, (long long)n);
        if (!gc_weights_has(w, name)) return n;
    }
}

/* Tensor `name` with exactly ndim dimensions (GC_ERR_MISSING / GC_ERR_SHAPE otherwise). */
static gc_status sam_ref(const gc_weights *w, const char *name, int ndim, const gc_tensor_ref **out) {
    const gc_tensor_ref *r = gc_weights_find(w, name);
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s%s'", gc_weights_label(w), gc_weights_prefix(w), name);
    char b[160];
    if (r->ndim != ndim)
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' has shape %s, expected %d dimensions", gc_weights_label(w),
                         gc_weights_prefix(w), name, gc_shape_str(r->ndim, r->shape, b, sizeof b), ndim);
    for (int i = 0; i < ndim; i++)
        if (r->shape[i] < 1)
            return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' has an empty shape %s", gc_weights_label(w),
                             gc_weights_prefix(w), name, gc_shape_str(r->ndim, r->shape, b, sizeof b));
    *out = r;
    return GC_OK;
}

/* The shape fields of hp (everything gc_sam_hparams_config does not fill). */
static gc_status sam_shapes(const gc_weights *w, gc_sam_hparams *hp) {
    const char *label = gc_weights_label(w);
    const gc_tensor_ref *r;
    char name[160];
    GC_TRY(sam_ref(w, "image_encoder.patch_embed.proj.weight", 4, &r));
    if (r->shape[1] != 3 || r->shape[2] != r->shape[3])
        return gc_errorf(GC_ERR_SHAPE, "%s: 'image_encoder.patch_embed.proj.weight' must be [D, 3, p, p]", label);
    hp->dim = r->shape[0], hp->patch = r->shape[2];
    const int64_t D = hp->dim;
    hp->abs_pos = gc_weights_has(w, "image_encoder.pos_embed");
    if (hp->abs_pos) {
        GC_TRY(sam_ref(w, "image_encoder.pos_embed", 4, &r));
        if (r->shape[0] != 1 || r->shape[1] != r->shape[2] || r->shape[3] != D)
            return gc_errorf(GC_ERR_SHAPE, "%s: 'image_encoder.pos_embed' must be [1, g, g, %lld]", label, (long long)D);
        hp->grid = r->shape[1];
        hp->img_size = hp->grid * hp->patch;
    }
    hp->depth = gc_sam_count(w, "image_encoder.blocks.%lld.norm1.weight");
    if (hp->depth < 1) return gc_errorf(GC_ERR_MISSING, "%s: no image encoder blocks (missing 'image_encoder.blocks.0.norm1.weight')", label);
    if (hp->depth > GC_SAM_MAX_BLOCKS)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: %lld encoder blocks (at most %d supported)", label, (long long)hp->depth,
                         GC_SAM_MAX_BLOCKS);
    GC_TRY(sam_ref(w, "image_encoder.blocks.0.mlp.lin1.weight", 2, &r));
    hp->mlp = r->shape[0];
    hp->qkv_bias = gc_weights_has(w, "image_encoder.blocks.0.attn.qkv.bias");
    hp->rel_pos = gc_weights_has(w, "image_encoder.blocks.0.attn.rel_pos_h");
    for (int64_t i = 0; hp->rel_pos && i < hp->depth; i++) {
        snprintf(name, sizeof name, "image_encoder.blocks.%lld.attn.rel_pos_h", (long long)i);
        GC_TRY(sam_ref(w, name, 2, &r));
        int64_t hd = r->shape[1], n = (r->shape[0] + 1) / 2;
        if (r->shape[0] % 2 == 0 || D % hd != 0)
            return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must be [2n-1, head dim] with the head dim dividing D = %lld", label,
                             name, (long long)D);
        if (i == 0) hp->heads = D / hd;
        if (D / hd != hp->heads)
            return gc_errorf(GC_ERR_SHAPE, "%s: '%s' gives %lld heads, block 0 has %lld", label, name,
                             (long long)(D / hd), (long long)hp->heads);
        hp->window[i] = n; /* n == g (a global block) is resolved once g is known */
    }
    GC_TRY(sam_ref(w, "image_encoder.neck.0.weight", 4, &r));
    hp->out_chans = r->shape[0];
    const int64_t C = hp->out_chans;
    hp->dec_depth = gc_sam_count(w, "mask_decoder.transformer.layers.%lld.norm1.weight");
    if (hp->dec_depth < 1)
        return gc_errorf(GC_ERR_MISSING, "%s: no mask decoder layers (missing 'mask_decoder.transformer.layers.0.norm1.weight')",
                         label);
    if (hp->dec_depth > GC_SAM_MAX_LAYERS)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: %lld decoder layers (at most %d)", label, (long long)hp->dec_depth,
                         GC_SAM_MAX_LAYERS);
    GC_TRY(sam_ref(w, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 2, &r));
    hp->dec_mlp = r->shape[0];
    GC_TRY(sam_ref(w, "mask_decoder.transformer.final_attn_token_to_image.q_proj.weight", 2, &r));
    hp->dec_internal = r->shape[0];
    GC_TRY(sam_ref(w, "mask_decoder.mask_tokens.weight", 2, &r));
    hp->n_mask_tokens = r->shape[0];
    if (hp->n_mask_tokens < 2 || hp->n_mask_tokens > GC_SAM_MAX_LAYERS || r->shape[1] != C)
        return gc_errorf(GC_ERR_SHAPE, "%s: 'mask_decoder.mask_tokens.weight' must be [M, %lld] with 2 <= M <= %d", label,
                         (long long)C, GC_SAM_MAX_LAYERS);
    hp->iou_depth = gc_sam_count(w, "mask_decoder.iou_prediction_head.layers.%lld.weight");
    if (hp->iou_depth < 1)
        return gc_errorf(GC_ERR_MISSING, "%s: missing tensor 'mask_decoder.iou_prediction_head.layers.0.weight'", label);
    GC_TRY(sam_ref(w, "mask_decoder.iou_prediction_head.layers.0.weight", 2, &r));
    hp->iou_hidden = hp->iou_depth > 1 ? r->shape[0] : 0;
    GC_TRY(sam_ref(w, "mask_decoder.output_upscaling.0.weight", 4, &r));
    hp->up_chans[0] = r->shape[1];
    GC_TRY(sam_ref(w, "mask_decoder.output_upscaling.3.weight", 4, &r));
    hp->up_chans[1] = r->shape[1];
    return GC_OK;
}

/* ---- config.json ---------------------------------------------------------------------------------- */

/* An integer key that the weights also determine: absent = the weights' value, else it must agree. */
static gc_status cfg_match(const cJSON *cfg, const char *file, const char *key, int64_t have) {
    int64_t v;
    GC_TRY(gc_json_int(cfg, file, key, have, &v));
    if (v != have)
        return gc_errorf(GC_ERR_SHAPE, "%s: %s is %lld but the weights have %lld", file, key, (long long)v, (long long)have);
    return GC_OK;
}

/* A [n, n] pair key (image_embedding_size, input_image_size) that must equal (have, have). */
static gc_status cfg_match_pair(const cJSON *cfg, const char *file, const char *key, int64_t have) {
    const cJSON *j = gc_json_get(cfg, key);
    if (!j || cJSON_IsNull(j)) return GC_OK;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 2)
        return gc_errorf(GC_ERR_FORMAT, "%s: %s must be a list of two integers", file, key);
    for (int i = 0; i < 2; i++) {
        const cJSON *e = cJSON_GetArrayItem(j, i);
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)have)
            return gc_errorf(GC_ERR_SHAPE, "%s: %s must be [%lld, %lld] for these weights", file, key, (long long)have,
                             (long long)have);
    }
    return GC_OK;
}

/* A flag saying whether tensors exist (use_abs_pos, use_rel_pos, qkv_bias): SAM's value is true. */
static gc_status cfg_flag(const cJSON *cfg, const char *file, const char *key, bool present, const char *tensor) {
    bool want;
    GC_TRY(gc_json_bool(cfg, file, key, true, &want));
    if (want && !present) return gc_errorf(GC_ERR_MISSING, "missing tensor '%s' (%s: %s is true)", tensor, file, key);
    if (!want && present) return gc_errorf(GC_ERR_SHAPE, "%s: %s is false but the weights have '%s'", file, key, tensor);
    return GC_OK;
}

static gc_status cfg_eps(const cJSON *cfg, const char *file, const char *key, double def, float *out) {
    double v;
    GC_TRY(gc_json_double(cfg, file, key, def, &v));
    if (!(v > 0 && v < 1)) return gc_errorf(GC_ERR_ARG, "%s: %s = %g is out of range (0, 1)", file, key, v);
    *out = (float)v;
    return GC_OK;
}

static gc_status cfg_triple(const cJSON *cfg, const char *file, const char *key, const float def[3], bool positive,
                            float out[3]) {
    const cJSON *j = gc_json_get(cfg, key);
    memcpy(out, def, 3 * sizeof(float));
    if (!j || cJSON_IsNull(j)) return GC_OK;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 3)
        return gc_errorf(GC_ERR_FORMAT, "%s: %s must be a list of three numbers", file, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(j, i);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (positive && !(e->valuedouble > 0)))
            return gc_errorf(GC_ERR_FORMAT, "%s: %s must hold three %snumbers", file, key, positive ? "positive " : "");
        out[i] = (float)e->valuedouble;
    }
    return GC_OK;
}

/* Encoder block layout: the window sizes of the shapes (or, without rel_pos tables, of the config)
 * against image_encoder.window_size / global_attn_indexes. A window as large as the grid is global
 * attention (one window, no padding), so either description of such a block is accepted. */
static gc_status cfg_windows(gc_sam_hparams *hp, const cJSON *cfg, const char *file) {
    int64_t ws;
    GC_TRY(gc_json_int(cfg, file, "image_encoder.window_size", -1, &ws));
    if (ws < -1 || ws > GC_SAM_MAX_WINDOW)
        return gc_errorf(GC_ERR_ARG, "%s: image_encoder.window_size %lld is out of range [0, %d]", file, (long long)ws,
                         GC_SAM_MAX_WINDOW);
    bool listed[GC_SAM_MAX_BLOCKS] = {0};
    const cJSON *gl = gc_json_get(cfg, "image_encoder.global_attn_indexes");
    if (gl && !cJSON_IsNull(gl)) {
        if (!cJSON_IsArray(gl))
            return gc_errorf(GC_ERR_FORMAT, "%s: image_encoder.global_attn_indexes must be a list of block indices", file);
        const cJSON *e;
        cJSON_ArrayForEach(e, gl) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble >= (double)hp->depth)
                return gc_errorf(GC_ERR_FORMAT, "%s: image_encoder.global_attn_indexes holds a value that is not a "
                                 "block index in [0, %lld)", file, (long long)hp->depth);
            listed[(int64_t)e->valuedouble] = true;
        }
    }
    for (int64_t i = 0; i < hp->depth; i++) {
        /* what the config makes block i: 0 global, n > 0 a window of n, -1 not said */
        int64_t want = ws == 0 || listed[i] ? 0 : ws;
        if (!hp->rel_pos) {
            hp->window[i] = want > 0 ? want : 0; /* upstream's default window_size 0: global */
            continue;
        }
        int64_t n = hp->window[i];
        if (n > GC_SAM_MAX_WINDOW)
            return gc_errorf(GC_ERR_UNSUPPORTED, "block %lld: relative position tables of %lld rows (window at most %d)",
                             (long long)i, (long long)(2 * n - 1), GC_SAM_MAX_WINDOW);
        if ((want == 0 && n != hp->grid) || (want > 0 && n != want)) {
            char said[64], has[64];
            snprintf(said, sizeof said, want ? "a window block of %lld" : "a global block", (long long)want);
            snprintf(has, sizeof has, n == hp->grid ? "global attention over %lld" : "a window of %lld", (long long)n);
            return gc_errorf(GC_ERR_SHAPE, "%s: block %lld is %s in the config, but its rel_pos_h has %lld rows (%s)",
                             file, (long long)i, said, (long long)(2 * n - 1), has);
        }
        hp->window[i] = n == hp->grid ? 0 : n;
    }
    return GC_OK;
}

gc_status gc_sam_hparams_config(gc_sam_hparams *hp, const cJSON *cfg, const char *file) {
    file = file ? file : "config.json";
    GC_TRY(cfg_flag(cfg, file, "image_encoder.use_abs_pos", hp->abs_pos, "image_encoder.pos_embed"));
    GC_TRY(cfg_flag(cfg, file, "image_encoder.use_rel_pos", hp->rel_pos, "image_encoder.blocks.0.attn.rel_pos_h"));
    GC_TRY(cfg_flag(cfg, file, "image_encoder.qkv_bias", hp->qkv_bias, "image_encoder.blocks.0.attn.qkv.bias"));
    GC_TRY(cfg_match(cfg, file, "image_encoder.patch_size", hp->patch));
    if (hp->abs_pos) {
        GC_TRY(cfg_match(cfg, file, "image_encoder.img_size", hp->img_size));
    } else {
        GC_TRY(gc_json_int(cfg, file, "image_encoder.img_size", 1024, &hp->img_size));
        if (hp->img_size < hp->patch || hp->img_size % hp->patch)
            return gc_errorf(GC_ERR_ARG, "%s: image_encoder.img_size %lld is not a positive multiple of the patch size %lld",
                             file, (long long)hp->img_size, (long long)hp->patch);
        hp->grid = hp->img_size / hp->patch;
    }
    if (hp->img_size > 8192)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: image size %lld (at most 8192 supported)", file, (long long)hp->img_size);
    GC_TRY(cfg_match(cfg, file, "image_encoder.in_chans", 3));
    GC_TRY(cfg_match(cfg, file, "image_encoder.embed_dim", hp->dim));
    GC_TRY(cfg_match(cfg, file, "image_encoder.depth", hp->depth));
    GC_TRY(cfg_match(cfg, file, "image_encoder.out_chans", hp->out_chans));
    if (hp->rel_pos) {
        GC_TRY(cfg_match(cfg, file, "image_encoder.num_heads", hp->heads));
    } else {
        if (!gc_json_get(cfg, "image_encoder.num_heads"))
            return gc_errorf(GC_ERR_MISSING, "%s: without relative position tables the encoder head count must come "
                             "from image_encoder.num_heads", cfg ? file : "config.json (none given)");
        GC_TRY(gc_json_int(cfg, file, "image_encoder.num_heads", 0, &hp->heads));
        if (hp->heads < 1 || hp->dim % hp->heads)
            return gc_errorf(GC_ERR_ARG, "%s: image_encoder.num_heads %lld does not divide embed_dim %lld", file,
                             (long long)hp->heads, (long long)hp->dim);
    }
    double ratio;
    GC_TRY(gc_json_double(cfg, file, "image_encoder.mlp_ratio", -1, &ratio));
    /* upstream: int(embed_dim * mlp_ratio) */
    if (ratio != -1 && !(ratio > 0 && (double)hp->dim * ratio < 1e15 && (int64_t)((double)hp->dim * ratio) == hp->mlp))
        return gc_errorf(GC_ERR_SHAPE, "%s: image_encoder.mlp_ratio %g does not give the weights' MLP width %lld", file,
                         ratio, (long long)hp->mlp);
    GC_TRY(cfg_windows(hp, cfg, file));
    GC_TRY(cfg_eps(cfg, file, "image_encoder.layer_norm_eps", 1e-6, &hp->enc_eps));
    GC_TRY(cfg_eps(cfg, file, "image_encoder.neck_layer_norm_eps", 1e-6, &hp->neck_eps));
    /* prompt encoder */
    GC_TRY(cfg_match(cfg, file, "prompt_encoder.embed_dim", hp->out_chans));
    GC_TRY(cfg_match_pair(cfg, file, "prompt_encoder.image_embedding_size", hp->grid));
    GC_TRY(cfg_match_pair(cfg, file, "prompt_encoder.input_image_size", hp->img_size));
    /* mask decoder */
    int64_t C = hp->out_chans, rate;
    GC_TRY(cfg_match(cfg, file, "mask_decoder.transformer_dim", C));
    GC_TRY(cfg_match(cfg, file, "mask_decoder.num_multimask_outputs", hp->n_mask_tokens - 1));
    GC_TRY(cfg_match(cfg, file, "mask_decoder.iou_head_depth", hp->iou_depth));
    if (hp->iou_depth > 1) GC_TRY(cfg_match(cfg, file, "mask_decoder.iou_head_hidden_dim", hp->iou_hidden));
    GC_TRY(cfg_match(cfg, file, "mask_decoder.transformer.depth", hp->dec_depth));
    GC_TRY(cfg_match(cfg, file, "mask_decoder.transformer.embedding_dim", C));
    GC_TRY(cfg_match(cfg, file, "mask_decoder.transformer.mlp_dim", hp->dec_mlp));
    GC_TRY(gc_json_int(cfg, file, "mask_decoder.transformer.attention_downsample_rate", C / hp->dec_internal, &rate));
    if (rate < 1 || C / rate != hp->dec_internal)
        return gc_errorf(GC_ERR_SHAPE, "%s: mask_decoder.transformer.attention_downsample_rate %lld gives width %lld, "
                         "the weights have %lld", file, (long long)rate, (long long)(rate > 0 ? C / rate : 0),
                         (long long)hp->dec_internal);
    GC_TRY(gc_json_int(cfg, file, "mask_decoder.transformer.num_heads", 8, &hp->dec_heads));
    if (hp->dec_heads < 1 || C % hp->dec_heads || hp->dec_internal % hp->dec_heads)
        return gc_errorf(GC_ERR_ARG, "%s: mask_decoder.transformer.num_heads %lld must divide the decoder widths %lld and "
                         "%lld%s", file, (long long)hp->dec_heads, (long long)C, (long long)hp->dec_internal,
                         cfg ? "" : " (no config: SAM's 8 heads)");
    GC_TRY(cfg_eps(cfg, file, "mask_decoder.transformer.layer_norm_eps", 1e-5, &hp->dec_eps));
    GC_TRY(cfg_eps(cfg, file, "mask_decoder.layer_norm_eps_upscaling", 1e-6, &hp->up_eps));
    /* predictor constants */
    static const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    GC_TRY(cfg_triple(cfg, file, "pixel_mean", mean, false, hp->pixel_mean));
    GC_TRY(cfg_triple(cfg, file, "pixel_std", std, true, hp->pixel_std));
    double thr;
    GC_TRY(gc_json_double(cfg, file, "mask_threshold", 0.0, &thr));
    if (!isfinite(thr)) return gc_errorf(GC_ERR_FORMAT, "%s: mask_threshold must be a finite number", file);
    hp->mask_threshold = (float)thr;
    const cJSON *fmt = gc_json_get(cfg, "image_format");
    hp->bgr = false;
    if (fmt && !cJSON_IsNull(fmt)) {
        if (!cJSON_IsString(fmt) || (strcmp(fmt->valuestring, "RGB") && strcmp(fmt->valuestring, "BGR")))
            return gc_errorf(GC_ERR_FORMAT, "%s: image_format must be \"RGB\" or \"BGR\"", file);
        hp->bgr = strcmp(fmt->valuestring, "BGR") == 0;
    }
    return GC_OK;
}

/* ---- the model ------------------------------------------------------------------------------------- */

void gc_sam_free(gc_sam *m) {
    if (!m) return;
    gc_sam_encoder_free(&m->enc);
    gc_sam_prompt_encoder_free(&m->pe);
    gc_sam_decoder_free(&m->dec);
    gc_weights_free(m->weights);
    gc_free(m);
}

gc_status gc_sam_from_weights(gc_weights *w, const cJSON *config, const char *config_path, gc_sam **out) {
    *out = NULL;
    gc_sam *m = gc_calloc(1, sizeof *m);
    if (!m) {
        gc_weights_free(w);
        return GC_ERR_NOMEM;
    }
    m->weights = w;
    gc_status s = GC_OK;
    if (!gc_weights_detect_prefix(w, "image_encoder.patch_embed.proj.weight"))
        s = gc_errorf(GC_ERR_MISSING, "%s: not a SAM checkpoint: no tensor 'image_encoder.patch_embed.proj.weight' "
                      "(expected SAM's state-dict names image_encoder.*, prompt_encoder.*, mask_decoder.*; %s)",
                      gc_weights_label(w), GC_SAM_HINT);
    if (s == GC_OK) s = sam_shapes(w, &m->hp);
    if (s == GC_OK) s = gc_sam_hparams_config(&m->hp, config, config_path);
    if (s == GC_OK) s = gc_sam_encoder_load(&m->enc, w, &m->hp);
    if (s == GC_OK) s = gc_sam_prompt_encoder_load(&m->pe, w, &m->hp);
    if (s == GC_OK) s = gc_sam_decoder_load(&m->dec, w, &m->hp);
    if (s != GC_OK) {
        gc_sam_free(m);
        return s;
    }
    *out = m;
    return GC_OK;
}

gc_status gc_sam_load(const char *path, const char *config, gc_sam **out) {
    *out = NULL;
    static const char *const preferred[] = {"model.safetensors", NULL};
    gc_weights *w;
    cJSON *cfg;
    char *cfg_path;
    GC_TRY(gc_model_open(path, "SAM", preferred, GC_SAM_HINT, config, &w, &cfg, &cfg_path));
    gc_status s = gc_sam_from_weights(w, cfg, cfg_path, out);
    cJSON_Delete(cfg);
    free(cfg_path);
    return s;
}

void gc_sam_info_get(const gc_sam *m, gc_sam_info *info) {
    const gc_sam_hparams *hp = &m->hp;
    memset(info, 0, sizeof *info);
    info->img_size = hp->img_size;
    info->dim = hp->dim;
    info->depth = hp->depth;
    info->heads = hp->heads;
    for (int64_t i = 0; i < hp->depth; i++) {
        if (hp->window[i]) info->window = hp->window[i];
        else info->n_global++;
    }
    info->out_chans = hp->out_chans;
    info->multimask = hp->n_mask_tokens - 1;
}

void gc_sam_transpose(float *dst, const float *src, int64_t n, int64_t c) {
#pragma omp parallel for schedule(static) if (n * c > 65536)
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < n; i++) dst[j * n + i] = src[i * c + j];
}

gc_status gc_sam_tap_nchw(const gc_tap *tap, const char *name, const float *x, int64_t H, int64_t W, int64_t C) {
    if (!tap || !tap->wr) return GC_OK;
    float *t = gc_alloc_array((size_t)(H * W), (size_t)C * sizeof(float));
    if (!t) return GC_ERR_NOMEM;
    gc_sam_transpose(t, x, H * W, C);
    gc_status s = GC_TAP(tap, name, t, 1, C, H, W);
    gc_free(t);
    return s;
}
