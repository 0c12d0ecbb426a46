#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/clip_text.h"
#include "tensor/layernorm.h"

static const char *const k_sections[] = {"text_config", NULL};

void clip_text_free(clip_text *m) {
    free(m->blocks);
    gc_weights_free(m->w);
    *m = (clip_text){0};
}

static gc_status init(clip_text *m, const cJSON *cfg, const char *cfg_file) {
    gc_weights *w = m->w;
    const char *label = gc_weights_label(w);
    clip_naming naming;
    const char *tok_name, *pos_name, *base, *lnf;
    if (gc_weights_detect_prefix(w, "text_model.embeddings.token_embedding.weight")) {
        naming = CLIP_NAMING_HF, tok_name = "text_model.embeddings.token_embedding.weight";
        pos_name = "text_model.embeddings.position_embedding.weight", base = "text_model.encoder.layers.";
        lnf = "text_model.final_layer_norm.";
    } else if (gc_weights_detect_prefix(w, "token_embedding.weight")) {
        naming = CLIP_NAMING_OPENAI, tok_name = "token_embedding.weight", pos_name = "positional_embedding";
        base = "transformer.resblocks.", lnf = "ln_final.";
    } else {
        return gc_errorf(GC_ERR_MISSING, "%s: not a CLIP text encoder: no 'text_model.embeddings.token_embedding."
                         "weight' (HF / diffusers text_encoder / SD single file) or 'token_embedding.weight' "
                         "(OpenAI naming)", label);
    }
    const gc_tensor_ref *tok = gc_weights_find(w, tok_name), *pos = gc_weights_find(w, pos_name);
    if (tok->ndim != 2 || !pos || pos->ndim != 2 || pos->shape[1] != tok->shape[1])
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' [V, D] and '%s' [n_ctx, D] missing or inconsistent", label,
                         tok_name, pos_name);
    int64_t D = m->width = tok->shape[1];
    m->vocab = tok->shape[0], m->ctx = pos->shape[0];
    GC_TRY(GC_WEIGHT(w, tok_name, &m->tok_emb, m->vocab, D));
    GC_TRY(GC_WEIGHT(w, pos_name, &m->pos_emb, m->ctx, D));
    char name[96];
    snprintf(name, sizeof name, "%sweight", lnf);
    GC_TRY(GC_WEIGHT(w, name, &m->ln_final_w, D));
    snprintf(name, sizeof name, "%sbias", lnf);
    GC_TRY(GC_WEIGHT(w, name, &m->ln_final_b, D));
    m->layers = clip_block_count(w, naming, base);
    if (m->layers < 1) return gc_errorf(GC_ERR_MISSING, "%s: no transformer blocks under '%s'", label, base);
    m->blocks = calloc((size_t)m->layers, sizeof *m->blocks);
    if (!m->blocks) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->layers; i++) GC_TRY(clip_block_load(&m->blocks[i], w, naming, base, i, D));

    const char *cf = cfg_file ? cfg_file : label;
    GC_TRY(clip_config_int(cfg, cf, k_sections, "num_attention_heads", D / 64, &m->heads));
    if (m->heads < 1 || D % m->heads)
        return gc_errorf(GC_ERR_SHAPE, "%s: %lld heads do not divide width %lld", cf, (long long)m->heads,
                         (long long)D);
    double eps;
    GC_TRY(clip_config_double(cfg, cf, k_sections, "layer_norm_eps", 1e-5, &eps));
    m->eps = (float)eps;
    GC_TRY(clip_config_int(cfg, cf, k_sections, "bos_token_id", 49406, &m->bos_id));
    GC_TRY(clip_config_int(cfg, cf, k_sections, "eos_token_id", 49407, &m->eos_id));
    /* Older transformers wrote CLIPTextConfig's placeholder ids (bos 0, eos 2) into config.json, e.g. in
     * SD-1.5's text_encoder/; the tokenizer that SD uses has <|startoftext|> 49406, <|endoftext|> 49407. */
    if (m->bos_id == 0 && m->eos_id == 2 && m->vocab == 49408) m->bos_id = 49406, m->eos_id = 49407;
    if (m->bos_id < 0 || m->bos_id >= m->vocab || m->eos_id < 0 || m->eos_id >= m->vocab)
        return gc_errorf(GC_ERR_SHAPE, "%s: bos/eos ids %lld/%lld outside the %lld-token vocabulary%s", cf,
                         (long long)m->bos_id, (long long)m->eos_id, (long long)m->vocab,
                         cfg ? "" : " (no config.json: a model with a small vocabulary needs one)");
    int64_t v;
    GC_TRY(clip_config_int(cfg, cf, k_sections, "hidden_size", D, &v));
    if (v != D) return gc_errorf(GC_ERR_SHAPE, "%s: hidden_size %lld but the weights give %lld", cf, (long long)v, (long long)D);
    GC_TRY(clip_config_int(cfg, cf, k_sections, "num_hidden_layers", m->layers, &v));
    if (v != m->layers)
        return gc_errorf(GC_ERR_SHAPE, "%s: num_hidden_layers %lld but the weights hold %lld blocks", cf,
                         (long long)v, (long long)m->layers);
    return GC_OK;
}

gc_status clip_text_init(clip_text *m, gc_weights *w, const cJSON *cfg, const char *cfg_file) {
    *m = (clip_text){.w = w};
    gc_status s = init(m, cfg, cfg_file);
    if (s != GC_OK) clip_text_free(m);
    return s;
}

gc_status clip_text_load(clip_text *m, const char *path) {
    static const char *const preferred[] = {"model.safetensors", NULL};
    char *cfg_path = NULL, *wpath = NULL;
    *m = (clip_text){0};
    GC_TRY(gc_resolve_model_path(path, "CLIP text encoder", preferred,
                                 "stable-diffusion-v1-5/text_encoder or the SD-1.5 single-file checkpoint",
                                 &cfg_path, &wpath));
    cJSON *cfg = NULL;
    gc_weights *w = NULL;
    gc_status s = cfg_path ? gc_json_load(cfg_path, &cfg) : GC_OK;
    if (s == GC_OK) s = gc_weights_open(wpath, &w);
    if (s == GC_OK) s = clip_text_init(m, w, cfg, cfg_path);
    cJSON_Delete(cfg);
    free(cfg_path);
    free(wpath);
    return s;
}

void clip_text_empty_prompt(const clip_text *m, int64_t *ids) {
    ids[0] = m->bos_id;
    for (int64_t i = 1; i < m->ctx; i++) ids[i] = m->eos_id;
}

gc_status clip_text_forward(const clip_text *m, const int64_t *ids, float *out, const gc_tap *tap) {
    int64_t D = m->width, T = m->ctx, F = m->blocks[0].mlp;
    for (int64_t i = 1; i < m->layers; i++) F = GC_MAX(F, m->blocks[i].mlp);
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->vocab)
            return gc_errorf(GC_ERR_ARG, "token id %lld at position %lld is outside the %lld-token vocabulary",
                             (long long)ids[t], (long long)t, (long long)m->vocab);
    float *scr = gc_alloc_array((size_t)clip_block_scratch(T, D, F), sizeof(float));
    if (!scr) return GC_ERR_NOMEM;
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < D; c++) out[t * D + c] = m->tok_emb[ids[t] * D + c] + m->pos_emb[t * D + c];
    gc_status s = GC_TAP(tap, "embeddings", out, 1, T, D);
    for (int i = 0; i < m->layers && s == GC_OK; i++) {
        clip_block_forward(&m->blocks[i], out, T, m->heads, m->eps, true, scr);
        s = gc_tap_f32f(tap, out, 3, (const int64_t[]){1, T, D}, "block%d", i);
    }
    gc_layernorm(out, out, m->ln_final_w, m->ln_final_b, T, D, m->eps);
    if (s == GC_OK) s = GC_TAP(tap, "last_hidden_state", out, 1, T, D);
    gc_free(scr);
    return s;
}
