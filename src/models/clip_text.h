/* SD-1.5's text encoder (OpenAI CLIP ViT-L/14 text tower, HF CLIPTextModel): token + position
 * embedding -> causal pre-LN QuickGELU blocks -> final LayerNorm = last_hidden_state. GeoAware only
 * ever encodes the empty prompt, so the result U [77, D] is a constant per model: compute it once.
 * Naming: HF `text_model.*` (diffusers `text_encoder/`), the SD-1.x single-file prefix
 * `cond_stage_model.transformer.text_model.*` (found by prefix detection), or OpenAI/open_clip
 * `token_embedding.weight`, `positional_embedding`, `transformer.resblocks.*`, `ln_final.*`. */
#ifndef GC_CLIP_TEXT_H
#define GC_CLIP_TEXT_H

#include <cjson/cJSON.h>

#include "models/clip_block.h"
#include "models/tap.h"

typedef struct {
    int64_t width;                    /* D (768) */
    int64_t vocab;                    /* V (49408) */
    int64_t ctx;                      /* n_ctx = position table rows (77) */
    int64_t bos_id, eos_id;           /* 49406, 49407 (config.json) */
    const float *tok_emb;             /* [V, D] */
    const float *pos_emb;             /* [n_ctx, D] */
    clip_stack stack;                 /* 12 causal blocks, 12 heads, eps 1e-5 */
    const float *ln_final_w, *ln_final_b; /* [D] */
    gc_weights *w;                    /* owned */
} clip_text;

/* Load from a path as TRACE.md §6 (folder with config.json + weights, or a weights file such as an
 * SD single-file checkpoint). */
gc_status clip_text_load(clip_text *m, const char *path);
/* Bind an open weight set (ownership passes to m, also on failure). cfg may be NULL. */
gc_status clip_text_init(clip_text *m, gc_weights *w, const cJSON *cfg, const char *cfg_file);
void clip_text_free(clip_text *m);

/* The empty prompt as SD's HF CLIPTokenizer encodes it: [bos, eos, eos, ...] (n_ctx ids; the pad
 * token is eos). */
void clip_text_empty_prompt(const clip_text *m, int64_t *ids);
/* ids [n_ctx] -> last_hidden_state [n_ctx, D]. Taps: embeddings, block{i}, last_hidden_state. */
gc_status clip_text_forward(const clip_text *m, const int64_t *ids, float *out, const gc_tap *tap);

#endif
