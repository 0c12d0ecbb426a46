/* The residual attention block shared by CLIP's image and text towers (OpenAI `ResidualAttentionBlock`
 * = HF `CLIPEncoderLayer`): pre-LN, x += out_proj(MHA(ln_1(x))); x += c_proj(QuickGELU(c_fc(ln_2(x)))).
 * Loaded from either naming without copying: the OpenAI fused in_proj [3W, W] is viewed as its q | k | v
 * row blocks, which are exactly HF's q_proj / k_proj / v_proj. */
#ifndef GC_CLIP_BLOCK_H
#define GC_CLIP_BLOCK_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "io/weights.h"
#include "models/tap.h"

typedef enum {
    CLIP_NAMING_OPENAI, /* visual.transformer.resblocks.{i}.{ln_1,attn.in_proj_weight,mlp.c_fc,...} */
    CLIP_NAMING_HF      /* vision_model.encoder.layers.{i}.{layer_norm1,self_attn.q_proj,mlp.fc1,...} */
} clip_naming;

typedef struct {
    int64_t width;                       /* W */
    int64_t mlp;                         /* F (4W in CLIP) */
    const float *ln1_w, *ln1_b;          /* [W] */
    const float *wq, *wk, *wv;           /* [W, W] each */
    const float *bq, *bk, *bv;           /* [W] each */
    const float *wo, *bo;                /* [W, W], [W] */
    const float *ln2_w, *ln2_b;          /* [W] */
    const float *fc1_w, *fc1_b;          /* [F, W], [F] */
    const float *fc2_w, *fc2_b;          /* [W, F], [W] */
} clip_block;

/* Number of consecutive blocks 0, 1, ... present under `base` ("visual.transformer.resblocks."). */
int clip_block_count(const gc_weights *w, clip_naming naming, const char *base);
/* Bind block i under `base` with width W (F is read from the MLP weight). */
gc_status clip_block_load(clip_block *b, gc_weights *w, clip_naming naming, const char *base, int i, int64_t W);
/* x [nseq * T, W] (nseq sequences of T tokens, each attending to itself) in place on ex's backend,
 * work space from `a`: rows 0..keep-1 of each sequence are updated (all T tokens serve as keys and
 * values), the others are left as they were (keep = 1: a CLS-only last block). causal: token t attends
 * to tokens <= t (text tower). */
gc_status clip_block_forward(const clip_block *b, const gc_exec *ex, gc_arena *a, float *x, int64_t nseq, int64_t T,
                             int64_t keep, int64_t heads, float eps, bool causal);

/* The stack of blocks of one tower and the hyper-parameters only config.json can give. */
typedef struct {
    int64_t width;      /* W */
    int64_t layers;     /* blocks */
    int64_t heads;      /* config num_attention_heads, else W/64 */
    int64_t mlp;        /* widest MLP (scratch size) */
    float eps;          /* LayerNorm eps: config layer_norm_eps, else 1e-5 (also the tower's other norms) */
    clip_block *blocks; /* [layers] */
    gc_exec *ex;        /* the tower's backend + scratch arena (owned) */
} clip_stack;

/* Bind blocks 0.. under `base` and read heads / eps from cfg (sections as clip_config_int). */
gc_status clip_stack_load(clip_stack *st, gc_weights *w, clip_naming naming, const char *base, int64_t W,
                          const cJSON *cfg, const char *cfg_file, const char *const *sections);
void clip_stack_free(clip_stack *st);
/* x [nseq * T, W] through every block in place, work space from `a` (the tower's arena, acquired by
 * the caller); taps block{i} [nseq, T, W]. The last block updates only rows 0..keep-1 of each
 * sequence (keep = T: all; 1: the CLS token, when nothing else is read) and is tapped only when
 * keep = T. */
gc_status clip_stack_forward(const clip_stack *st, gc_arena *a, float *x, int64_t nseq, int64_t T, int64_t keep,
                             bool causal, const gc_tap *tap);

/* A field of a CLIP config.json: looked up at the top level (CLIPVisionConfig / CLIPTextConfig),
 * then under `section` (a full CLIPConfig's "vision_config" / "text_config", or the fixtures'
 * "hf_CLIPVisionConfig"; NULL-terminated list). cfg may be NULL: def. */
gc_status clip_config_int(const cJSON *cfg, const char *file, const char *const *sections, const char *key,
                          int64_t def, int64_t *out);
gc_status clip_config_double(const cJSON *cfg, const char *file, const char *const *sections, const char *key,
                             double def, double *out);

#endif
