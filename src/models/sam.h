/* Segment Anything (facebookresearch/segment-anything @ dca509f) as SamPredictor runs it, in four
 * parts that follow the architecture diagram:
 *   sam_image_encoder.c   ViT (patch embed, abs pos, windowed / global attention with decomposed
 *                         relative positions, MLP) + conv neck with channel LayerNorms
 *   sam_prompt_encoder.c  random Fourier positional encoding, point / box / no-mask embeddings
 *   sam_mask_decoder.c    two-way transformer, output upscaling, hypernetwork MLPs, IoU head
 *   sam_predictor.c       resize (Pillow BILINEAR), normalise, pad; prompts to the model frame;
 *                         masks back to the image size; the public gc_sam_* calls
 * sam.c loads a model: sizes from the weight shapes, checked against config.json, which supplies
 * what no shape holds. The model keeps pointers into its weight set (one copy of every weight) and
 * is read-only after loading. Maps inside are token-major ([tokens, channels], NHWC); taps report
 * the fixture layouts (sam/README.md "Keys"). */
#ifndef GC_MODELS_SAM_H
#define GC_MODELS_SAM_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "io/weights.h"
#include "models/tap.h"

#define GC_SAM_MAX_BLOCKS 256   /* encoder blocks (ViT-H has 32) */
#define GC_SAM_MAX_LAYERS 64    /* decoder layers and MLP layers */
#define GC_SAM_MAX_POINTS 4096  /* point prompts per call */
#define GC_SAM_MAX_WINDOW 1024  /* window size (14 in the released models) */

/* Every size and constant of a model. The shape fields are read off the weights; the others come
 * from config.json or, without one, SAM's values (gc_sam_hparams_config). */
typedef struct {
    /* image encoder */
    int64_t img_size, patch, grid;   /* S, p, g = S / p */
    int64_t dim, depth, heads, mlp;  /* D, blocks, heads (D / head dim), MLP width */
    int64_t out_chans;               /* C: neck output = prompt / decoder width */
    int64_t window[GC_SAM_MAX_BLOCKS]; /* per block: window size, 0 = global attention */
    bool abs_pos, rel_pos, qkv_bias;
    /* mask decoder */
    int64_t dec_depth, dec_mlp, dec_internal; /* two-way layers, MLP width, cross-attention width C/r */
    int64_t n_mask_tokens;           /* 1 + multimask outputs (4) */
    int64_t iou_depth, iou_hidden;
    int64_t up_chans[2];             /* output upscaling widths (C/4, C/8) */
    /* not in any shape */
    int64_t dec_heads;               /* 8 */
    float enc_eps, neck_eps;         /* 1e-6 */
    float dec_eps, up_eps;           /* 1e-5 (transformer), 1e-6 (upscaling LayerNorm2d) */
    float pixel_mean[3], pixel_std[3];
    float mask_threshold;            /* 0 */
    bool bgr;                        /* image_format "BGR": the model expects BGR input */
} gc_sam_hparams;

/* Check config.json (may be NULL) against the shape fields of hp and fill the rest. `file` names the
 * config in messages. Every present key must agree with the weights; wrong types and values are
 * errors (GC_ERR_FORMAT / GC_ERR_SHAPE / GC_ERR_ARG). */
gc_status gc_sam_hparams_config(gc_sam_hparams *hp, const cJSON *cfg, const char *file);

/* ---- image encoder ---- */
typedef struct {
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b; /* [D] */
    const float *qkv_w, *qkv_b;                         /* [3D, D], [3D] (NULL without qkv bias) */
    const float *proj_w, *proj_b;                       /* [D, D], [D] */
    const float *rel_h, *rel_w;                         /* [2n-1, hd] (n = window or g), NULL without */
    const float *lin1_w, *lin1_b, *lin2_w, *lin2_b;     /* [mlp, D], [mlp], [D, mlp], [D] */
} gc_sam_vit_block;

typedef struct {
    const float *patch_w, *patch_b;         /* [D, 3*p*p], [D] */
    const float *pos_embed;                 /* [g*g, D] or NULL */
    gc_sam_vit_block *blocks;               /* [depth] */
    const float *neck1_w;                   /* [C, D] (1x1 conv, no bias) */
    const float *neck1_ln_w, *neck1_ln_b;   /* [C] */
    const float *neck2_w;                   /* [C, C, 3, 3] (no bias) */
    const float *neck2_ln_w, *neck2_ln_b;   /* [C] */
} gc_sam_encoder;

/* ---- prompt encoder ---- */
typedef struct {
    const float *gauss;         /* [2, C/2] positional_encoding_gaussian_matrix (row 0 x, row 1 y) */
    const float *point_embed[4]; /* [C]: background point, foreground point, box corner 1, corner 2 */
    const float *not_a_point;   /* [C] */
    const float *no_mask;       /* [C] */
    float *dense_pe;            /* [g*g, C] PE of the grid centres (computed at load, owned) */
} gc_sam_prompt_encoder;

/* ---- mask decoder ---- */
typedef struct {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* [I, C], [I] */
    const float *o_w, *o_b;                         /* [C, I], [C] */
    int64_t internal;                               /* I = C / downsample rate */
} gc_sam_attn;

typedef struct {
    int64_t n;                       /* layers (ReLU between them) */
    const float *w[GC_SAM_MAX_LAYERS], *b[GC_SAM_MAX_LAYERS];
    int64_t in[GC_SAM_MAX_LAYERS], out[GC_SAM_MAX_LAYERS];
} gc_sam_mlp;

typedef struct {
    gc_sam_attn self_attn, token_to_image, image_to_token;
    const float *norm_w[4], *norm_b[4]; /* norm1..norm4 [C] */
    const float *lin1_w, *lin1_b, *lin2_w, *lin2_b;
} gc_sam_twoway_layer;

typedef struct {
    gc_sam_twoway_layer *layers;     /* [dec_depth] */
    gc_sam_attn final_attn;
    const float *norm_final_w, *norm_final_b;
    const float *iou_token, *mask_tokens; /* [C], [M, C] */
    const float *up1_w, *up1_b;      /* ConvTranspose2d [C, C4, 2, 2], [C4] */
    const float *up_ln_w, *up_ln_b;  /* LayerNorm2d [C4] */
    const float *up2_w, *up2_b;      /* ConvTranspose2d [C4, C8, 2, 2], [C8] */
    gc_sam_mlp *hyper;               /* [M] C -> C -> C8 */
    gc_sam_mlp iou_head;             /* C -> hidden -> M */
} gc_sam_decoder;

struct gc_sam {
    gc_sam_hparams hp;
    gc_sam_encoder enc;
    gc_sam_prompt_encoder pe;
    gc_sam_decoder dec;
    gc_weights *weights; /* owned */
};

/* The per-image state of gc_sam_set_image. */
struct gc_sam_image {
    int32_t w, h;       /* the image */
    int32_t neww, newh; /* resized to long side S (ResizeLongestSide.get_preprocess_shape) */
    float *embed;       /* [g*g, C] image embeddings, token-major */
};

/* Build a model from a weight set (taking ownership of w, freed on failure too) and an optional
 * parsed config.json (config_path names it in messages). */
gc_status gc_sam_from_weights(gc_weights *w, const cJSON *config, const char *config_path, struct gc_sam **out);

/* Part loaders (sam_*.c), called by gc_sam_from_weights after the sizes are known. */
gc_status gc_sam_encoder_load(gc_sam_encoder *e, gc_weights *w, const gc_sam_hparams *hp);
void gc_sam_encoder_free(gc_sam_encoder *e);
gc_status gc_sam_prompt_encoder_load(gc_sam_prompt_encoder *pe, gc_weights *w, const gc_sam_hparams *hp);
void gc_sam_prompt_encoder_free(gc_sam_prompt_encoder *pe);
gc_status gc_sam_decoder_load(gc_sam_decoder *d, gc_weights *w, const gc_sam_hparams *hp);
void gc_sam_decoder_free(gc_sam_decoder *d);

/* The float32 view of the tensor named printf-style, checked against shape (ndim dims). */
gc_status gc_sam_param(gc_weights *w, const float **out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define GC_SAM_SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}
/* Number of consecutive i with "<fmt % i>" present (fmt holds one %lld), i from 0. */
int64_t gc_sam_count(const gc_weights *w, const char *fmt);

/* Image encoder: img [3, S, S] (normalised, padded) -> emb [g*g, C] token-major. Taps: patch_embed,
 * tokens_in, block{i} ([1,g,g,D]), image_embeddings ([1,C,g,g]). */
gc_status gc_sam_encode(const struct gc_sam *m, const float *img, float *emb, const gc_tap *tap);

/* Prompt encoder: box [4] (x1, y1, x2, y2) or NULL and n points [n, 2] with labels (0/1) already in
 * the model frame (before the +0.5 pixel-centre shift) -> sparse [n' , C], n' = n + 1 (padding point)
 * without a box, n + 2 with one (gc_sam_sparse_count). Taps: sparse_embeddings. */
int64_t gc_sam_sparse_count(int64_t n_points, bool has_box);
void gc_sam_embed_prompt(const struct gc_sam *m, const float *box, const float *points, const int32_t *labels,
                         int64_t n, float *sparse);

/* Mask decoder: image embeddings [g*g, C], sparse [ns, C] -> masks_all [M, 4g, 4g], iou_all [M].
 * Taps: decoder.layer{i}.queries/keys, decoder.hs, decoder.src, decoder.upscaled, decoder.masks_all,
 * decoder.iou_all. */
gc_status gc_sam_decode(const struct gc_sam *m, const float *emb, const float *sparse, int64_t ns, float *masks_all,
                        float *iou_all, const gc_tap *tap);

/* gc_sam_set_image / gc_sam_predict with taps (the trace). */
gc_status gc_sam_set_image_tap(const struct gc_sam *m, const gc_image *img, struct gc_sam_image **out,
                               const gc_tap *tap);
gc_status gc_sam_predict_tap(const struct gc_sam *m, const struct gc_sam_image *im, const gc_sam_prompt *p,
                             gc_sam_masks *out, const gc_tap *tap);
/* The reference's mask of a benchmark image (preprocess_mask_sam.py): gc_sam_box_mask, except that the
 * box (an annotation mapped into the image) may reach past the border, as the reference passes it on
 * unchecked (float rounding of the mapping alone can put a border box 1 ulp outside); an inverted or
 * non-finite box is still refused. */
gc_status gc_sam_annotation_mask(const struct gc_sam *m, const gc_image *img, const float box[4], uint8_t *mask);

/* [n, c] -> [c, n] (a token matrix to a channel-first map and back). */
void gc_sam_transpose(float *dst, const float *src, int64_t n, int64_t c);
/* Report a token-major map x[H*W, C] as the NCHW tensor [1, C, H, W] (no-op without a tap). */
gc_status gc_sam_tap_nchw(const gc_tap *tap, const char *name, const float *x, int64_t H, int64_t W, int64_t C);

#endif
