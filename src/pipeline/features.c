#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/clip_text.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"
#include "pipeline/stitch.h"

const char *const gc_stage_names[GC_STAGE_COUNT] = {"text encoder (U, once)", "CLIP image tower",
                                                    "implicit captioner", "VAE encoder", "noise",
                                                    "UNet (to output block 7)", "stitching", "DINOv2"};

/* ---- finding the models ------------------------------------------------------------------------ */

typedef struct {
    const char *what;          /* for messages */
    const char *const *names;  /* usual file / folder names inside the models folder, in preference order */
    const char *source;        /* where users get it */
    const char *flag;          /* the gc_features_config field that overrides the folder */
} model_spec;

static const char *const k_dino_names[] = {"dinov2-base", "dinov2_vitb14", "dinov2_vitb14_pretrain.pth", NULL};
static const char *const k_sd_names[] = {"stable-diffusion-v1-5", "v1-5-pruned-emaonly.safetensors",
                                         "v1-5-pruned-emaonly.ckpt", "v1-5-pruned.safetensors", "v1-5-pruned.ckpt",
                                         NULL};
static const char *const k_clip_names[] = {"clip-vit-large-patch14-336", "ViT-L-14-336",
                                           "open_clip_pytorch_model.bin", NULL};
static const char *const k_cap_names[] = {"odise_label_coco_50e-b67d2efc.pth", "odise_label_coco_50e.pth", NULL};
static const char *const k_sdcfg_names[] = {"v1-inference.json", NULL};

static const model_spec k_dino = {"DINOv2 ViT-B/14", k_dino_names,
                                  "HF facebook/dinov2-base, or dinov2_vitb14_pretrain.pth from facebookresearch/dinov2",
                                  "dinov2"};
static const model_spec k_sd = {"Stable Diffusion 1.5", k_sd_names,
                                "a diffusers folder of stable-diffusion-v1-5, or the single file v1-5-pruned-emaonly",
                                "sd"};
static const model_spec k_clip = {"CLIP ViT-L/14-336 image tower", k_clip_names,
                                  "HF openai/clip-vit-large-patch14-336, or open_clip ViT-L-14-336 'openai' weights",
                                  "clip_vision"};
static const model_spec k_cap = {"ODISE implicit captioner", k_cap_names,
                                 "the ODISE checkpoint odise_label_coco_50e-b67d2efc.pth (github.com/NVlabs/ODISE)",
                                 "captioner"};

/* The path given by `flag`, else the first usual name present in models_dir. */
static gc_status find_model(const char *given, const char *models_dir, const model_spec *m, char **out) {
    *out = NULL;
    if (given) return (*out = gc_strdup(given)) ? GC_OK : GC_ERR_NOMEM;
    if (!models_dir)
        return gc_errorf(GC_ERR_ARG, "no %s: give its path (%s) or a models folder (models_dir) (%s)", m->what, m->flag, m->source);
    if (!gc_dir_exists(models_dir))
        return gc_errorf(GC_ERR_MISSING, "%s: no such models folder (docs/models.md lists what it holds)", models_dir);
    char looked[512] = "";
    for (int i = 0; m->names[i]; i++) {
        char *p = gc_strfmt("%s/%s", models_dir, m->names[i]);
        if (!p) return GC_ERR_NOMEM;
        if (gc_file_exists(p) || gc_dir_exists(p)) return *out = p, GC_OK;
        free(p);
        size_t n = strlen(looked);
        snprintf(looked + n, sizeof looked - n, "%s%s", n ? ", " : "", m->names[i]);
    }
    return gc_errorf(GC_ERR_MISSING, "%s: models folder has no %s (looked for %s; get %s, or give its path (%s))",
                     models_dir, m->what, looked, m->source, m->flag);
}

/* ---- loading ------------------------------------------------------------------------------------ */

void gc_features_free(gc_features *f) {
    if (!f) return;
    gc_dinov2_free(f->dino);
    gc_sd_free(f->sd);
    clip_vision_free(&f->clip);
    captioner_free(&f->cap);
    gc_free(f->U);
    free(f);
}

/* U: the text encoder on the empty prompt, computed once. */
static gc_status compute_U(gc_features *f, const clip_text *t) {
    double t0 = gc_now();
    int64_t *ids = gc_alloc_array((size_t)t->ctx, sizeof(int64_t));
    f->U = gc_alloc_array((size_t)(t->ctx * t->width), sizeof(float));
    gc_status s = ids && f->U ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) {
        clip_text_empty_prompt(t, ids);
        s = clip_text_forward(t, ids, f->U, NULL);
    }
    f->n_ctx = t->ctx, f->ctx_dim = t->width;
    gc_free(ids);
    f->stage_s[GC_STAGE_TEXT] += gc_now() - t0;
    return s;
}

/* The pieces must fit together: widths of CLIP, captioner, text encoder and UNet. */
static gc_status check_shapes(const gc_features *f, const clip_text *t) {
    gc_sd_info si;
    gc_sd_get_info(f->sd, &si);
    const captioner *c = &f->cap;
    const char *cap_file = gc_weights_label(c->w), *sd_file = gc_weights_label(f->sd->wu);
    if (c->embed != f->clip.embed)
        return gc_errorf(GC_ERR_SHAPE, "%s: captioner expects a %lld-d CLIP embedding but %s gives %lld", cap_file,
                         (long long)c->embed, gc_weights_label(f->clip.w), (long long)f->clip.embed);
    if (c->width != f->ctx_dim || c->ctx != f->n_ctx)
        return gc_errorf(GC_ERR_SHAPE, "%s: captioner conditioning is [%lld, %lld] but the text encoder %s gives "
                         "[%lld, %lld]", cap_file, (long long)c->ctx, (long long)c->width, gc_weights_label(t->w),
                         (long long)f->n_ctx, (long long)f->ctx_dim);
    if (si.context_dim != f->ctx_dim)
        return gc_errorf(GC_ERR_SHAPE, "%s: UNet cross-attention width %lld != text width %lld (%s)", sd_file,
                         (long long)si.context_dim, (long long)f->ctx_dim, gc_weights_label(t->w));
    if (si.time_embed_dim != c->time_dim)
        return gc_errorf(GC_ERR_SHAPE, "%s: UNet time embedding %lld != captioner time projection %lld (%s)",
                         sd_file, (long long)si.time_embed_dim, (long long)c->time_dim, cap_file);
    return GC_OK;
}

static gc_status setup_sd_branch(gc_features *f, const clip_text *text) {
    GC_TRY(compute_U(f, text));
    GC_TRY(check_shapes(f, text));
    gc_sd_info si;
    gc_sd_get_info(f->sd, &si);
    const sd_unet *u = &f->sd->unet;
    int per = u->nr + 1;
    int64_t latent = GC_SD_CROP >> (f->sd->vae.levels - 1);
    f->time_dim = si.time_embed_dim;
    for (int j = 0; j < 3; j++) {
        f->unet_feat[j] = j * per + u->nr;
        f->feat_g[j] = si.feat_stride[j] ? latent / si.feat_stride[j] : 0;
    }
    gc_features_set_sd_variant(f, GC_SD_T, false);
    if (u->levels < 3 || latent < 1 || f->feat_g[2] < 1 || GC_SD_CROP % f->feat_g[2])
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: UNet with %d levels does not give the s5/s4/s3 features",
                         gc_weights_label(f->sd->wu), u->levels);
    return GC_OK;
}

/* The stages run one after another: one scratch arena for all the networks, so the memory held
 * between passes is the largest network's (the VAE encoder's) rather than the sum. */
static void share_arena(gc_features *f) {
    gc_exec *ex = f->dino->ex;
    if (f->sd) {
        gc_exec_share(&f->sd->ex, ex);
        f->sd->vae.ex = f->sd->unet.ex = ex;
    }
    if (f->clip.stack.ex) gc_exec_share(&f->clip.stack.ex, ex);
}

void gc_features_set_sd_variant(gc_features *f, int t, bool after_skip) {
    if (f->dino_only) return;
    gc_sd_info si;
    gc_sd_get_info(f->sd, &si);
    f->sd_t = t, f->sd_after_skip = after_skip;
    for (int j = 0; j < 3; j++)
        f->feat_c[j] = si.feat_channels[j] + (after_skip ? sd_unet_skip_channels(&f->sd->unet, f->unet_feat[j]) : 0);
}

gc_status gc_features_assemble(gc_dinov2 *dino, gc_sd *sd, clip_vision *clip, captioner *cap, const clip_text *text,
                               gc_features **out) {
    *out = NULL;
    gc_features *f = calloc(1, sizeof *f);
    if (!f) {
        gc_dinov2_free(dino);
        gc_sd_free(sd);
        if (clip) clip_vision_free(clip);
        if (cap) captioner_free(cap);
        return gc_errorf(GC_ERR_NOMEM, "out of memory");
    }
    f->dino = dino, f->sd = sd, f->dino_only = sd == NULL;
    if (clip) f->clip = *clip, *clip = (clip_vision){0};
    if (cap) f->cap = *cap, *cap = (captioner){0};
    gc_dinov2_info di;
    gc_dinov2_info_get(f->dino, &di);
    f->dino_dim = di.dim;
    share_arena(f);
    gc_status s = f->dino_only ? GC_OK : setup_sd_branch(f, text);
    if (s != GC_OK) {
        gc_features_free(f);
        return s;
    }
    *out = f;
    return GC_OK;
}

gc_status gc_features_load(const gc_features_config *cfg, gc_features **out) {
    *out = NULL;
    char *dino_p = NULL, *sd_p = NULL, *clip_p = NULL, *cap_p = NULL, *te_p = NULL, *sdcfg = NULL;
    gc_dinov2 *dino = NULL;
    gc_sd *sd = NULL;
    clip_vision clip = {0};
    captioner cap = {0};
    clip_text text = {0};
    gc_status s = find_model(cfg->dinov2, cfg->models_dir, &k_dino, &dino_p);
    if (s == GC_OK && !cfg->dino_only) {
        s = find_model(cfg->sd, cfg->models_dir, &k_sd, &sd_p);
        if (s == GC_OK) s = find_model(cfg->clip_vision, cfg->models_dir, &k_clip, &clip_p);
        if (s == GC_OK) s = find_model(cfg->captioner, cfg->models_dir, &k_cap, &cap_p);
        if (s == GC_OK && cfg->sd_config) {
            if (!(sdcfg = gc_strdup(cfg->sd_config))) s = GC_ERR_NOMEM;
        } else if (s == GC_OK && cfg->models_dir) {
            char *p = gc_strfmt("%s/%s", cfg->models_dir, k_sdcfg_names[0]);
            if (p && gc_file_exists(p)) sdcfg = p;
            else free(p);
        }
    }
    if (s == GC_OK && !cfg->dino_only) {
        /* Text encoder: the given path, else the diffusers folder's text_encoder/, else the SD single file. */
        char *sub = gc_strfmt("%s/text_encoder", sd_p);
        if (cfg->text_encoder) te_p = gc_strdup(cfg->text_encoder);
        else if (sub && gc_dir_exists(sub)) te_p = sub, sub = NULL;
        else te_p = gc_strdup(sd_p);
        free(sub);
        if (!te_p) s = GC_ERR_NOMEM;
    }
    if (s == GC_OK) s = gc_dinov2_load(dino_p, &dino);
    if (s == GC_OK && !cfg->dino_only) {
        s = gc_sd_load(sd_p, sdcfg, &sd);
        if (s == GC_OK) s = clip_vision_load(&clip, clip_p);
        if (s == GC_OK) s = captioner_load(&cap, cap_p);
        if (s == GC_OK) s = clip_text_load(&text, te_p);
    }
    if (s == GC_OK) {
        s = gc_features_assemble(dino, sd, &clip, &cap, &text, out);
    } else {
        gc_dinov2_free(dino);
        gc_sd_free(sd);
        clip_vision_free(&clip);
        captioner_free(&cap);
    }
    clip_text_free(&text); /* U is computed: the text encoder is not needed any more */
    free(dino_p);
    free(sd_p);
    free(clip_p);
    free(cap_p);
    free(te_p);
    free(sdcfg);
    return s;
}

/* ---- running ------------------------------------------------------------------------------------ */

void gc_feature_maps_free(gc_feature_maps *m) {
    gc_free(m->s5);
    gc_free(m->s4);
    gc_free(m->s3);
    gc_free(m->dino);
    memset(m, 0, sizeof *m);
}

/* Collects the s5/s4/s3 taps of the UNet and forwards a few intermediates to the trace. */
typedef struct {
    const gc_features *f;
    float *feat[3];
    int found;
    const gc_tap *tap;
} unet_sink;

static gc_status unet_tap(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape) {
    unet_sink *u = ctx;
    int k;
    if (sscanf(name, "feat%d", &k) == 1) {
        for (int j = 0; j < 3; j++)
            if (u->f->unet_feat[j] == k) {
                int64_t g = u->f->feat_g[j], c = u->f->feat_c[j];
                if (ndim != 3 || shape[0] != c || shape[1] != g || shape[2] != g)
                    return gc_errorf(GC_ERR_INTERNAL, "UNet feature %s has an unexpected shape", name);
                memcpy(u->feat[j], x, (size_t)(c * g * g) * sizeof(float));
                u->found++;
            }
        return GC_OK;
    }
    if (strcmp(name, "emb") && strcmp(name, "emb_plus_cond") && strcmp(name, "middle_block")) return GC_OK;
    int64_t sh[GC_MAX_DIMS] = {1};
    for (int i = 0; i < ndim && i + 1 < GC_MAX_DIMS; i++) sh[i + 1] = shape[i];
    return gc_tap_f32f(u->tap, x, ndim + 1, sh, "unet.%s", name);
}

/* Work buffers of the crops. */
typedef struct {
    float *clip_pix; /* [n crops, 3, S, S] */
    float *embed;    /* [n crops, E] */
    float *cond;     /* [n crops, n_ctx, D] */
    float *cond_emb; /* [n crops, Dt] */
    float *img;      /* [3, 512, 512] in [-1, 1] */
    float *z0;       /* [4, h, w] */
    float *z_t;      /* [n crops, 4, h, w] */
    float *feat[3];  /* [n crops, ...]: s5, s4, s3 of each crop */
} crop_bufs;

/* Crop k up to the UNet's inputs: its captioner conditioning and its noised latent. */
static gc_status encode_crop(gc_features *f, const uint8_t *canvas, int64_t full, int k, const int64_t yx[2],
                             crop_bufs *b, const gc_tap *t_crop) {
    char cprefix[96];
    snprintf(cprefix, sizeof cprefix, "%sclip.", t_crop->prefix);
    static const char *const clip_keep[] = {"pixel_values", "image_embed", NULL};
    static const char *const cap_keep[] = {"cond", "cond_emb", NULL};
    gc_tap t_clip = {.wr = t_crop->wr, .prefix = cprefix, .only = clip_keep};
    gc_tap t_cap = {.wr = t_crop->wr, .prefix = t_crop->prefix, .only = cap_keep};
    const uint8_t *crop = canvas + (yx[0] * full + yx[1]) * 3;
    const int64_t S = f->clip.image_size, E = f->clip.embed;
    const float *embed = b->embed + k * E; /* the CLIP tower ran on all crops first (run_sd) */
    const int64_t n = GC_SD_CROP, h = n >> (f->sd->vae.levels - 1), lc = f->sd->vae.e2 / 2;
    float *z_t = b->z_t + k * lc * h * h;
    GC_TRY(gc_tap_raw(t_crop, "yx", GC_DT_I64, yx, 1, (const int64_t[]){2}));
    GC_TRY(GC_TAP(&t_clip, "pixel_values", b->clip_pix + k * 3 * S * S, 1, 3, S, S));
    GC_TRY(GC_TAP(&t_clip, "image_embed", embed, 1, E));
    double t1 = gc_now();
    GC_TRY(captioner_forward(&f->cap, embed, f->U, b->cond + k * f->n_ctx * f->ctx_dim, b->cond_emb + k * f->time_dim,
                             &t_cap));
    double t0 = gc_now();
    f->stage_s[GC_STAGE_CAPTIONER] += t0 - t1;
    /* ODISE: pixels / 255 in [0, 1], then (x - 0.5) / 0.5 for the VAE. */
    for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < n; y++)
            for (int64_t x = 0; x < n; x++)
                b->img[(c * n + y) * n + x] = ((float)crop[(y * full + x) * 3 + c] / 255.0f - 0.5f) / 0.5f;
    GC_TRY(gc_sd_encode(f->sd, b->img, n, n, b->z0));
    GC_TRY(GC_TAP(t_crop, "z0", b->z0, 1, lc, h, h));
    t1 = gc_now();
    f->stage_s[GC_STAGE_VAE] += t1 - t0;
    GC_TRY(gc_sd_add_noise(f->sd, b->z0, h, h, f->sd_t, z_t));
    GC_TRY(GC_TAP(t_crop, "z_t", z_t, 1, lc, h, h));
    f->stage_s[GC_STAGE_NOISE] += gc_now() - t1;
    return GC_OK;
}

/* The n crops' latents through the UNet as one batch (each weight read once for all of them where
 * the maps are small), each crop's s5, s4, s3 into b->feat. */
static gc_status unet_crops(gc_features *f, int n, crop_bufs *b, const gc_tap *t_crop) {
    const int64_t h = GC_SD_CROP >> (f->sd->vae.levels - 1);
    unet_sink sink[GC_SLIDE_MAX_CROPS];
    sd_unet_run run[GC_SLIDE_MAX_CROPS];
    for (int k = 0; k < n; k++) {
        sink[k] = (unet_sink){.f = f, .tap = &t_crop[k]};
        for (int j = 0; j < 3; j++) sink[k].feat[j] = b->feat[j] + k * f->feat_c[j] * f->feat_g[j] * f->feat_g[j];
        run[k] = (sd_unet_run){.cond_emb = b->cond_emb + k * f->time_dim, .last_block = f->unet_feat[2] - 1,
                               .freeu = true, .b1 = SD_FREEU_B1, .b2 = SD_FREEU_B2, .s1 = SD_FREEU_S1,
                               .s2 = SD_FREEU_S2, .tap = unet_tap, .tap_ctx = &sink[k],
                               .feat_after_skip = f->sd_after_skip};
    }
    double t0 = gc_now();
    GC_TRY(sd_unet_forward_batch(&f->sd->unet, n, b->z_t, h, h, (float)f->sd_t, b->cond, f->n_ctx, f->ctx_dim, run,
                                 NULL));
    f->stage_s[GC_STAGE_UNET] += gc_now() - t0;
    static const char *const names[3] = {"s5", "s4", "s3"};
    for (int k = 0; k < n; k++) {
        if (sink[k].found != 3) return gc_errorf(GC_ERR_INTERNAL, "UNet run did not report s5, s4 and s3");
        for (int j = 0; j < 3; j++)
            GC_TRY(gc_tap_f32(&t_crop[k], names[j], sink[k].feat[j], 4,
                              (const int64_t[]){1, f->feat_c[j], f->feat_g[j], f->feat_g[j]}));
    }
    return GC_OK;
}

static gc_status run_sd(gc_features *f, const uint8_t *canvas, int64_t full, gc_feature_maps *out, const gc_tap *tap) {
    int64_t yx[GC_SLIDE_MAX_CROPS][2];
    int n = gc_slide_corners(full, GC_SD_CROP, GC_SD_CROP, yx);
    int64_t S = f->clip.image_size, lat = GC_SD_CROP >> (f->sd->vae.levels - 1), lc = f->sd->vae.e2 / 2;
    crop_bufs b = {0};
    gc_stitch st[3] = {{0}};
    char prefix[GC_SLIDE_MAX_CROPS][64];
    gc_tap t_crop[GC_SLIDE_MAX_CROPS];
    for (int k = 0; k < n; k++) {
        snprintf(prefix[k], sizeof prefix[k], "%scrop%d.", tap && tap->prefix ? tap->prefix : "", k);
        t_crop[k] = (gc_tap){.wr = tap ? tap->wr : NULL, .prefix = prefix[k]};
    }
    b.clip_pix = gc_alloc_array((size_t)(n * 3 * S * S), sizeof(float));
    b.embed = gc_alloc_array((size_t)(n * f->clip.embed), sizeof(float));
    b.cond = gc_alloc_array((size_t)(n * f->n_ctx * f->ctx_dim), sizeof(float));
    b.cond_emb = gc_alloc_array((size_t)(n * f->time_dim), sizeof(float));
    b.img = gc_alloc_array((size_t)(3 * GC_SD_CROP * GC_SD_CROP), sizeof(float));
    b.z0 = gc_alloc_array((size_t)(lc * lat * lat), sizeof(float));
    b.z_t = gc_alloc_array((size_t)(n * lc * lat * lat), sizeof(float));
    gc_status s = b.clip_pix && b.embed && b.cond && b.cond_emb && b.img && b.z0 && b.z_t ? GC_OK : GC_ERR_NOMEM;
    for (int j = 0; j < 3 && s == GC_OK; j++) {
        b.feat[j] = gc_alloc_array((size_t)(n * f->feat_c[j] * f->feat_g[j] * f->feat_g[j]), sizeof(float));
        if (!b.feat[j]) s = GC_ERR_NOMEM;
        if (s == GC_OK) s = gc_stitch_init(&st[j], f->feat_c[j], full, GC_SD_CROP / f->feat_g[j]);
    }
    /* The crops' CLIP passes in one batch: each weight is read once for all crops (same bytes) */
    double t0 = gc_now();
    for (int k = 0; k < n && s == GC_OK; k++)
        s = clip_vision_preprocess(&f->clip, canvas + (yx[k][0] * full + yx[k][1]) * 3, GC_SD_CROP, GC_SD_CROP,
                                   full * 3, b.clip_pix + k * 3 * S * S);
    if (s == GC_OK) s = clip_vision_forward_batch(&f->clip, b.clip_pix, n, b.embed, NULL);
    f->stage_s[GC_STAGE_CLIP] += gc_now() - t0;
    for (int k = 0; k < n && s == GC_OK; k++) s = encode_crop(f, canvas, full, k, yx[k], &b, &t_crop[k]);
    if (s == GC_OK) s = unet_crops(f, n, &b, t_crop);
    t0 = gc_now();
    for (int k = 0; k < n && s == GC_OK; k++)
        for (int j = 0; j < 3 && s == GC_OK; j++)
            s = gc_stitch_add(&st[j], b.feat[j] + k * f->feat_c[j] * f->feat_g[j] * f->feat_g[j], f->feat_g[j],
                              yx[k][0], yx[k][1]);
    f->stage_s[GC_STAGE_STITCH] += gc_now() - t0;
    float **dst[3] = {&out->s5, &out->s4, &out->s3};
    int64_t *cs[3] = {&out->c5, &out->c4, &out->c3}, *gs[3] = {&out->g5, &out->g4, &out->g3};
    static const char *const names[3] = {"s5", "s4", "s3"};
    for (int j = 0; j < 3 && s == GC_OK; j++) {
        int64_t g = st[j].g;
        *dst[j] = gc_alloc_array((size_t)(f->feat_c[j] * g * g), sizeof(float));
        *cs[j] = f->feat_c[j], *gs[j] = g;
        s = *dst[j] ? gc_stitch_finish(&st[j], *dst[j]) : GC_ERR_NOMEM;
        if (s == GC_OK) s = gc_tap_f32(tap, names[j], *dst[j], 4, (const int64_t[]){1, f->feat_c[j], g, g});
    }
    for (int j = 0; j < 3; j++) {
        gc_stitch_free(&st[j]);
        gc_free(b.feat[j]);
    }
    gc_free(b.clip_pix);
    gc_free(b.embed);
    gc_free(b.cond);
    gc_free(b.cond_emb);
    gc_free(b.img);
    gc_free(b.z0);
    gc_free(b.z_t);
    return s;
}

static gc_status run_dino(gc_features *f, const uint8_t *canvas, int64_t full, gc_feature_maps *out, const gc_tap *tap) {
    gc_dinov2_info di;
    gc_dinov2_info_get(f->dino, &di);
    int64_t g = full / di.patch, D = di.dim;
    float *pix = gc_alloc_array((size_t)(3 * full * full), sizeof(float));
    out->dino = gc_alloc_array((size_t)(D * g * g), sizeof(float));
    if (!pix || !out->dino) {
        gc_free(pix);
        return GC_ERR_NOMEM;
    }
    out->cd = D, out->gd = g;
    gc_dinov2_normalize_u8(pix, canvas, full, full);
    gc_status s = GC_TAP(tap, "dino.pixel_values", pix, 1, 3, full, full);
    double t0 = gc_now();
    if (s == GC_OK) s = gc_dinov2_features(f->dino, pix, full, full, out->dino);
    f->stage_s[GC_STAGE_DINO] += gc_now() - t0;
    if (s == GC_OK) s = GC_TAP(tap, "dino.feat", out->dino, 1, D, g, g);
    gc_free(pix);
    return s;
}

gc_status gc_features_run(gc_features *f, const uint8_t *canvas960, const uint8_t *canvas840, gc_feature_maps *out,
                          const gc_tap *tap) {
    memset(out, 0, sizeof *out);
    gc_status s = GC_OK;
    if (canvas960 && !f->dino_only) {
        s = GC_TAP(tap, "U", f->U, 1, f->n_ctx, f->ctx_dim);
        if (s == GC_OK) s = run_sd(f, canvas960, GC_CANVAS_SD, out, tap);
    }
    if (s == GC_OK && canvas840) s = run_dino(f, canvas840, GC_CANVAS_DINO, out, tap);
    if (s != GC_OK) gc_feature_maps_free(out);
    return s;
}

gc_status gc_features_compute(gc_features *f, const gc_image *img, int flip, gc_feature_maps *out) {
    gc_image c960 = {0}, c840 = {0};
    memset(out, 0, sizeof *out);
    gc_status s = f->dino_only ? GC_OK : gc_image_to_canvas(img, GC_CANVAS_SD, flip, &c960, NULL);
    if (s == GC_OK) s = gc_image_to_canvas(img, GC_CANVAS_DINO, flip, &c840, NULL);
    if (s == GC_OK) s = gc_features_run(f, c960.rgb, c840.rgb, out, NULL);
    gc_image_free(&c960);
    gc_image_free(&c840);
    return s;
}
