#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/sd.h"

#define SD_HINT "a diffusers folder (unet/, vae/) or a single-file SD checkpoint such as v1-5-pruned-emaonly.safetensors"

/* Hyper-parameters shapes cannot give, from an LDM config (model.params...) or a diffusers config. */
typedef struct {
    sd_unet_hparams hp;
    double scale, linear_start, linear_end;
    int64_t timesteps;
} sd_hparams;

static void hparams_default(sd_hparams *h) {
    memset(h, 0, sizeof *h);
    h->scale = 0.18215;
    h->linear_start = 0.00085;
    h->linear_end = 0.012;
    h->timesteps = 1000;
}

static gc_status hparams_from_ldm(sd_hparams *h, const char *path) {
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    int64_t heads, hc;
    gc_status st = gc_json_int(j, path, "model.params.unet_config.params.num_heads", -1, &heads);
    if (st == GC_OK) st = gc_json_int(j, path, "model.params.unet_config.params.num_head_channels", -1, &hc);
    if (st == GC_OK) st = gc_json_double(j, path, "model.params.scale_factor", h->scale, &h->scale);
    if (st == GC_OK) st = gc_json_double(j, path, "model.params.linear_start", h->linear_start, &h->linear_start);
    if (st == GC_OK) st = gc_json_double(j, path, "model.params.linear_end", h->linear_end, &h->linear_end);
    if (st == GC_OK) st = gc_json_int(j, path, "model.params.timesteps", h->timesteps, &h->timesteps);
    if (st == GC_OK && !gc_json_get(j, "model.params.unet_config"))
        st = gc_errorf(GC_ERR_FORMAT, "%s: not an LDM config (no model.params.unet_config)", path);
    if (st == GC_OK && hc > 0) h->hp.head_channels = hc;
    else if (st == GC_OK && heads > 0)
        for (int l = 0; l < SD_MAX_LEVELS; l++) h->hp.heads[l] = heads;
    cJSON_Delete(j);
    return st;
}

/* diffusers: num_attention_heads, else attention_head_dim (which SD-1.x configs use for the head
 * COUNT); an int, or a list per down block. */
static gc_status hparams_from_diffusers_unet(sd_hparams *h, const char *path) {
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    const cJSON *a = gc_json_get(j, "num_attention_heads");
    if (!a || cJSON_IsNull(a)) a = gc_json_get(j, "attention_head_dim");
    gc_status st = GC_OK;
    if (cJSON_IsNumber(a)) {
        for (int l = 0; l < SD_MAX_LEVELS; l++) h->hp.heads[l] = (int64_t)a->valuedouble;
    } else if (cJSON_IsArray(a)) {
        int l = 0;
        for (const cJSON *e = a->child; e && l < SD_MAX_LEVELS; e = e->next, l++) {
            if (!cJSON_IsNumber(e)) st = gc_errorf(GC_ERR_FORMAT, "%s: attention_head_dim entries must be numbers", path);
            h->hp.heads[l] = (int64_t)e->valuedouble;
        }
    } else if (a && !cJSON_IsNull(a)) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: attention_head_dim must be a number or a list", path);
    }
    cJSON_Delete(j);
    return st;
}

static gc_status hparams_from_json_number(const char *path, const char *key, double *v) {
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    gc_status st = gc_json_double(j, path, key, *v, v);
    cJSON_Delete(j);
    return st;
}

/* diffusers scheduler/scheduler_config.json (optional). */
static gc_status hparams_from_scheduler(sd_hparams *h, const char *path) {
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    gc_status st = gc_json_double(j, path, "beta_start", h->linear_start, &h->linear_start);
    if (st == GC_OK) st = gc_json_double(j, path, "beta_end", h->linear_end, &h->linear_end);
    if (st == GC_OK) st = gc_json_int(j, path, "num_train_timesteps", h->timesteps, &h->timesteps);
    const cJSON *bs = gc_json_get(j, "beta_schedule");
    if (st == GC_OK && cJSON_IsString(bs) && strcmp(bs->valuestring, "scaled_linear") != 0)
        st = gc_errorf(GC_ERR_UNSUPPORTED, "%s: beta_schedule '%s' (geocorr follows LDM's scaled_linear schedule)",
                       path, bs->valuestring);
    cJSON_Delete(j);
    return st;
}

/* Hyper-parameters of a model at `path`: SD-1.5 defaults, then the LDM config, then (diffusers
 * folder) unet/config.json, vae/config.json and scheduler/scheduler_config.json where present. */
static gc_status read_hparams(const char *path, bool diffusers, const char *ldm_config, sd_hparams *h) {
    hparams_default(h);
    if (ldm_config) GC_TRY(hparams_from_ldm(h, ldm_config));
    if (!diffusers) return GC_OK;
    static const char *const files[] = {"unet/config.json", "vae/config.json", "scheduler/scheduler_config.json"};
    gc_status st = GC_OK;
    for (size_t i = 0; st == GC_OK && i < GC_COUNTOF(files); i++) {
        char *f = gc_strfmt("%s/%s", path, files[i]);
        if (!f) return GC_ERR_NOMEM;
        if (gc_file_exists(f))
            st = i == 0 ? hparams_from_diffusers_unet(h, f)
               : i == 1 ? hparams_from_json_number(f, "scaling_factor", &h->scale)
                        : hparams_from_scheduler(h, f);
        free(f);
    }
    return st;
}

static bool is_diffusers_folder(const char *path) {
    char *u = gc_strfmt("%s/unet", path), *v = gc_strfmt("%s/vae", path);
    bool r = u && v && gc_dir_exists(path) && (gc_dir_exists(u) || gc_dir_exists(v));
    free(u);
    free(v);
    return r;
}

gc_status sd_schedule_for(const char *path, const char *ldm_config, sd_schedule *s) {
    if (!path || !(gc_file_exists(path) || gc_dir_exists(path)))
        return gc_errorf(GC_ERR_MISSING, "%s: no such SD weights file or folder (%s)", path ? path : "(none)", SD_HINT);
    sd_hparams h;
    GC_TRY(read_hparams(path, is_diffusers_folder(path), ldm_config, &h));
    return sd_schedule_init(s, h.linear_start, h.linear_end, h.timesteps);
}

static void sd_free_parts(gc_sd *sd) {
    sd_unet_free(&sd->unet);
    sd_vae_free(&sd->vae);
    sd_schedule_free(&sd->sched);
    free(sd->su.prefix);
    free(sd->sv.prefix);
    if (sd->wv != sd->wu) gc_weights_free(sd->wv);
    gc_weights_free(sd->wu);
    gc_exec_free(sd->ex);
}

void gc_sd_free(gc_sd *sd) {
    if (!sd) return;
    sd_free_parts(sd);
    free(sd);
}

/* Everything after the weights are open and the sources named. */
static gc_status sd_build(gc_sd *sd, const sd_hparams *h) {
    GC_TRY(sd_source_probe_unet(&sd->su));
    sd->sv.levels = sd->su.levels; /* unused by VAE names; kept consistent */
    GC_TRY(sd_unet_load(&sd->su, &h->hp, &sd->unet));
    GC_TRY(sd_vae_load(&sd->sv, &sd->vae));
    if (!(sd->ex = gc_exec_new(gc_backend_cpu()))) return GC_ERR_NOMEM;
    sd->unet.ex = sd->vae.ex = sd->ex; /* one arena: the encoder and the UNet run one after the other */
    sd->scale_factor = (float)h->scale;
    return sd_schedule_init(&sd->sched, h->linear_start, h->linear_end, h->timesteps);
}

/* Name the UNet and VAE inside one weight set: LDM single file (any outer prefix such as
 * `state_dict.`) or diffusers names under unet./vae. */
static gc_status detect_single(gc_sd *sd) {
    gc_weights *w = sd->wu;
    const char *label = gc_weights_label(w);
    if (gc_weights_detect_prefix(w, "model.diffusion_model.input_blocks.0.0.weight")) {
        const char *p = gc_weights_prefix(w);
        sd->su.prefix = gc_strfmt("%smodel.diffusion_model.", p ? p : "");
        sd->sv.prefix = gc_strfmt("%sfirst_stage_model.", p ? p : "");
        sd->su.naming = sd->sv.naming = SD_NAMING_LDM;
    } else if (gc_weights_has(w, "unet.conv_in.weight")) {
        sd->su.prefix = gc_strdup("unet.");
        sd->sv.prefix = gc_strdup("vae.");
        sd->su.naming = sd->sv.naming = SD_NAMING_DIFFUSERS;
    } else {
        gc_weights_set_prefix(w, "");
        return gc_errorf(GC_ERR_FORMAT, "%s: not a Stable Diffusion checkpoint (no model.diffusion_model.* or "
                         "unet.* tensors; expected %s)", label, SD_HINT);
    }
    gc_weights_set_prefix(w, "");
    if (!sd->su.prefix || !sd->sv.prefix) return GC_ERR_NOMEM;
    return GC_OK;
}

gc_status sd_load_weights(gc_weights *w, const char *ldm_config, gc_sd **out) {
    *out = NULL;
    gc_sd *sd = calloc(1, sizeof *sd);
    if (!sd) {
        gc_weights_free(w);
        return gc_errorf(GC_ERR_NOMEM, "out of memory");
    }
    sd->wu = sd->wv = w;
    sd->su.w = sd->sv.w = w;
    sd_hparams h;
    gc_status st = detect_single(sd);
    if (st == GC_OK) st = read_hparams(NULL, false, ldm_config, &h);
    if (st == GC_OK) st = sd_build(sd, &h);
    if (st != GC_OK) {
        gc_sd_free(sd);
        return st;
    }
    *out = sd;
    return GC_OK;
}

/* One part of a diffusers folder: <root>/<part>/ with config.json and the weights. */
static gc_status open_part(const char *root, const char *part, char **config, gc_weights **w) {
    static const char *const names[] = {"diffusion_pytorch_model.safetensors",
                                        "diffusion_pytorch_model.fp16.safetensors", NULL};
    char *dir = gc_strfmt("%s/%s", root, part), *weights = NULL;
    if (!dir) return GC_ERR_NOMEM;
    gc_status st = GC_OK;
    if (!gc_dir_exists(dir))
        st = gc_errorf(GC_ERR_MISSING, "%s: diffusers folder has no %s/ (needs unet/ and vae/, each with config.json "
                       "and diffusion_pytorch_model[.fp16].safetensors)", root, part);
    if (st == GC_OK) st = gc_resolve_model_path(dir, part, names, SD_HINT, config, &weights);
    if (st == GC_OK) st = gc_weights_open(weights, w);
    free(weights);
    free(dir);
    return st;
}

gc_status gc_sd_load(const char *path, const char *ldm_config, gc_sd **out) {
    *out = NULL;
    if (!path || !*path) return gc_errorf(GC_ERR_ARG, "no SD weights given (%s)", SD_HINT);
    bool diffusers = is_diffusers_folder(path);
    if (!diffusers) {
        char *cfg = NULL, *file = NULL;
        GC_TRY(gc_resolve_model_path(path, "Stable Diffusion", NULL, SD_HINT, &cfg, &file));
        free(cfg);
        gc_weights *w;
        gc_status st = gc_weights_open(file, &w);
        free(file);
        GC_TRY(st);
        return sd_load_weights(w, ldm_config, out);
    }
    gc_sd *sd = calloc(1, sizeof *sd);
    if (!sd) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    sd_hparams h;
    char *ucfg = NULL, *vcfg = NULL;
    gc_status st = open_part(path, "unet", &ucfg, &sd->wu);
    if (st == GC_OK) st = open_part(path, "vae", &vcfg, &sd->wv);
    free(ucfg);
    free(vcfg);
    if (st == GC_OK) st = read_hparams(path, true, ldm_config, &h);
    if (st == GC_OK) {
        sd->su = (sd_source){.w = sd->wu, .prefix = gc_strdup(""), .naming = SD_NAMING_DIFFUSERS};
        sd->sv = (sd_source){.w = sd->wv, .prefix = gc_strdup(""), .naming = SD_NAMING_DIFFUSERS};
        if (!sd->su.prefix || !sd->sv.prefix) st = GC_ERR_NOMEM;
    }
    if (st == GC_OK) st = sd_build(sd, &h);
    if (st != GC_OK) {
        gc_sd_free(sd);
        return st;
    }
    *out = sd;
    return GC_OK;
}

void gc_sd_get_info(const gc_sd *sd, gc_sd_info *info) {
    memset(info, 0, sizeof *info);
    info->latent_channels = sd->vae.e2 / 2;
    info->model_channels = sd->unet.mc;
    info->context_dim = sd->unet.ctx_dim;
    info->time_embed_dim = sd->unet.emb_dim;
    info->scale_factor = sd->scale_factor;
    int per = sd->unet.nr + 1;
    for (int j = 0; j < 3 && j < sd->unet.levels; j++) {
        int k = j * per + sd->unet.nr; /* the output block whose input is tapped */
        info->feat_channels[j] = sd->unet.out[k - 1].cout;
        info->feat_stride[j] = (int64_t)1 << (sd->unet.levels - 1 - j);
    }
}

gc_status gc_sd_encode(gc_sd *sd, const float *image, int64_t H, int64_t W, float *z0) {
    return sd_vae_encode(&sd->vae, image, H, W, sd->scale_factor, z0, NULL, NULL);
}

gc_status gc_sd_add_noise(gc_sd *sd, const float *z0, int64_t h, int64_t w, int t, float *z_t) {
    int64_t c = sd->vae.e2 / 2;
    if (c != SD_NOISE_C)
        return gc_errorf(GC_ERR_UNSUPPORTED, "the shared noise has %d channels, the latent %lld", SD_NOISE_C, (long long)c);
    float *noise = gc_alloc_array((size_t)(c * h * w), sizeof(float));
    if (!noise) return GC_ERR_NOMEM;
    gc_status st = sd_noise_resized(h, w, noise);
    if (st == GC_OK) st = sd_q_sample(&sd->sched, t, z0, noise, c * h * w, z_t);
    gc_free(noise);
    return st;
}

typedef struct {
    float *dst[3];
    int found;
    int want[3];
} feat_sink;

static gc_status take_feature(void *ctx, const char *name, const float *x, int ndim, const int64_t *shape) {
    feat_sink *s = ctx;
    int k;
    if (sscanf(name, "feat%d", &k) != 1) return GC_OK;
    for (int j = 0; j < 3; j++) {
        if (s->want[j] != k || !s->dst[j]) continue;
        memcpy(s->dst[j], x, (size_t)(shape[0] * shape[1] * shape[2]) * sizeof(float));
        s->found++;
    }
    return GC_OK;
}

gc_status gc_sd_unet_features(gc_sd *sd, const float *z_t, int64_t h, int64_t w, int t, const float *context,
                              int64_t n_ctx, int64_t ctx_dim, const float *cond_emb, float *s5, float *s4, float *s3) {
    const sd_unet *u = &sd->unet;
    if (u->levels < 3) return gc_errorf(GC_ERR_UNSUPPORTED, "UNet with %d levels has no s3 feature", u->levels);
    int per = u->nr + 1;
    feat_sink sink = {{s5, s4, s3}, 0, {u->nr, per + u->nr, 2 * per + u->nr}};
    sd_unet_run run = {.cond_emb = cond_emb, .last_block = sink.want[2] - 1, .freeu = true, .b1 = SD_FREEU_B1,
                       .b2 = SD_FREEU_B2, .s1 = SD_FREEU_S1, .s2 = SD_FREEU_S2, .tap = take_feature, .tap_ctx = &sink};
    return sd_unet_forward(u, z_t, h, w, (float)t, context, n_ctx, ctx_dim, &run, NULL);
}
