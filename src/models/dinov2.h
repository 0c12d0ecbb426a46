/* DINOv2 ViT (facebookresearch/dinov2): ViT-S/B/L/G with patch 14, with or without register tokens,
 * MLP or SwiGLU FFN. Weights in HF transformers naming (Dinov2Model / Dinov2WithRegistersModel) or
 * the upstream hub naming (fused attn.qkv, ls1.gamma, ...), optionally behind a prefix
 * (`teacher.backbone.` in a training checkpoint). The model keeps pointers into its weight set:
 * one copy of every weight. */
#ifndef GC_MODELS_DINOV2_H
#define GC_MODELS_DINOV2_H

#include <pthread.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "io/weights.h"

typedef struct {
    const float *norm1_w, *norm1_b;          /* [D] */
    const float *wq, *wk, *wv;               /* [D, D] each (rows of the fused [3D, D] qkv in hub naming) */
    const float *bq, *bk, *bv;               /* [D] */
    const float *proj_w, *proj_b;            /* [D, D], [D] */
    const float *ls1, *ls2;                  /* [D] LayerScale gammas */
    const float *norm2_w, *norm2_b;          /* [D] */
    const float *fc1_w, *fc1_b;              /* [F, D], [F]  (SwiGLU: [2H, D], F = 2H) */
    const float *fc2_w, *fc2_b;              /* [D, F]       (SwiGLU: [D, H]) */
} gc_dinov2_block;

#define GC_DINO_PE_CACHE 8

struct gc_dinov2 {
    int64_t dim;        /* D */
    int64_t depth;      /* number of blocks */
    int64_t heads;      /* attention heads; head dim D / heads */
    int64_t registers;  /* R register tokens (0 for the plain models) */
    int64_t patch;      /* patch size (14) */
    int64_t pos_grid;   /* M: the stored position table is (1 + M*M) x D (37 for img_size 518) */
    int64_t ffn_hidden; /* F (MLP) or H (SwiGLU) */
    bool swiglu;        /* SwiGLU FFN (ViT-g) instead of fc1 -> GELU -> fc2 */
    float eps;          /* LayerNorm eps */
    bool interp_antialias;  /* position-table resampling: antialiased bicubic (register models) */
    double interp_offset;   /* +offset scale_factor path (0.1 plain models; 0 = resample to the size) */
    bool hub_naming;        /* upstream names (for messages) */
    const float *cls_token;      /* [D] */
    const float *register_tokens; /* [R, D] or NULL */
    const float *pos_embed;      /* [1 + M*M, D] */
    const float *patch_w;        /* [D, 3*p*p] flattened (c, ky, kx) */
    const float *patch_b;        /* [D] */
    const float *norm_w, *norm_b; /* [D] final LayerNorm */
    gc_dinov2_block *blocks;     /* [depth] */
    gc_weights *weights;         /* owned */
    gc_exec *ex;                 /* backend + scratch arena (owned) */
    /* Interpolated position tables of the patch grids met so far, append-only (a table handed to a
     * forward pass stays valid while the model lives) and behind pe_lock, so that threads can share
     * one model. Grids beyond GC_DINO_PE_CACHE get a table of their own per pass. */
    pthread_mutex_t pe_lock;
    int n_pe;
    int64_t pe_grid[GC_DINO_PE_CACHE][2]; /* (hp, wp) */
    float *pe_cache[GC_DINO_PE_CACHE];    /* [1 + hp*wp, D] each */
};

/* Build a model from a weight set (taking ownership of `w`, freed on failure too) and an optional
 * parsed config.json (`config_path` names it for messages; NULL = the defaults of TRACE.md A). */
gc_status gc_dinov2_from_weights(gc_weights *w, const cJSON *config, const char *config_path,
                                 gc_dinov2 **out);

/* What a forward pass writes; every pointer may be NULL. T = 1 + R + Hp*Wp tokens. */
typedef struct {
    float *pos_embed;   /* [1 + Hp*Wp, D] the position table added (cls entry first) */
    float *tokens_in;   /* [T, D] input of block 0 */
    float **blocks;     /* [depth] of [T, D] (entries may be NULL): output of each block, pre-norm */
    float *x_norm;      /* [T, D] final LayerNorm of the last block */
    float *geoaware;    /* [D, Hp, Wp] last block pre-norm, cls and registers dropped */
} gc_dinov2_outputs;

/* pixels: normalised image [3, H, W], H and W multiples of the patch size. */
gc_status gc_dinov2_forward(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, gc_dinov2_outputs *o);

/* ImageNet normalisation of an 8-bit HWC RGB image into [3, H, W]:
 * (u8/255 - mean)/std in float32, as torchvision ToTensor + Normalize. */
void gc_dinov2_normalize_u8(float *chw, const uint8_t *hwc, int64_t H, int64_t W);

#endif
