#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "models/clip_text.h"

static const char *const k_sections[] = {"text_config", NULL};

void clip_text_free(clip_text *m) {
    clip_stack_free(&m->stack);
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
    const char *cf = cfg_file ? cfg_file : label;
    GC_TRY(clip_stack_load(&m->stack, w, naming, base, D, cfg, cfg_file, k_sections));
    GC_TRY(clip_config_int(cfg, cf, k_sections, "bos_token_id", 49406, &m->bos_id));
    GC_TRY(clip_config_int(cfg, cf, k_sections, "eos_token_id", 49407, &m->eos_id));
    /* Older transformers wrote CLIPTextConfig's placeholder ids (bos 0, eos 2) into config.json, e.g. in
     * SD-1.5's text_encoder/; the tokenizer that SD uses has <|startoftext|> 49406, <|endoftext|> 49407. */
    if (m->bos_id == 0 && m->eos_id == 2 && m->vocab == 49408) m->bos_id = 49406, m->eos_id = 49407;
    if (m->bos_id < 0 || m->bos_id >= m->vocab || m->eos_id < 0 || m->eos_id >= m->vocab)
        return gc_errorf(GC_ERR_SHAPE, "%s: bos/eos ids %lld/%lld outside the %lld-token vocabulary%s", cf,
                         (long long)m->bos_id, (long long)m->eos_id, (long long)m->vocab,
                         cfg ? "" : " (no config.json: a model with a small vocabulary needs one)");
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
    gc_weights *w;
    cJSON *cfg;
    char *cfg_path;
    *m = (clip_text){0};
    GC_TRY(gc_model_open(path, "CLIP text encoder", preferred,
                         "stable-diffusion-v1-5/text_encoder or the SD-1.5 single-file checkpoint",
                         NULL, &w, &cfg, &cfg_path));
    gc_status s = clip_text_init(m, w, cfg, cfg_path);
    cJSON_Delete(cfg);
    free(cfg_path);
    return s;
}

void clip_text_empty_prompt(const clip_text *m, int64_t *ids) {
    ids[0] = m->bos_id;
    for (int64_t i = 1; i < m->ctx; i++) ids[i] = m->eos_id;
}

gc_status clip_text_forward(const clip_text *m, const int64_t *ids, float *out, const gc_tap *tap) {
    int64_t D = m->width, T = m->ctx;
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->vocab)
            return gc_errorf(GC_ERR_ARG, "token id %lld at position %lld is outside the %lld-token vocabulary",
                             (long long)ids[t], (long long)t, (long long)m->vocab);
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < D; c++) out[t * D + c] = m->tok_emb[ids[t] * D + c] + m->pos_emb[t * D + c];
    gc_status s = GC_TAP(tap, "embeddings", out, 1, T, D);
    if (s == GC_OK) {
        gc_arena local, *a = gc_arena_acquire(&m->stack.ex->arena, &local);
        s = clip_stack_forward(&m->stack, a, out, 1, T, T, true, tap);
        gc_arena_release(a, &m->stack.ex->arena);
    }
    if (s == GC_OK) {
        m->stack.ex->be->layernorm(out, out, m->ln_final_w, m->ln_final_b, T, D, m->stack.eps);
        s = GC_TAP(tap, "last_hidden_state", out, 1, T, D);
    }
    return s;
}
