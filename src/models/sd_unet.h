/* SD UNet (CompVis openaimodel.UNetModel with SpatialTransformers, SD-1.x settings), run up to a
 * chosen output block, with GeoAware-SC's FreeU decoder and feature taps. */
#ifndef GC_SD_UNET_H
#define GC_SD_UNET_H

#include "models/sd_blocks.h"

typedef struct {
    int64_t C, heads, ctx_dim;   /* channels, heads (head dim C/heads), context width */
    sd_norm norm;                /* GroupNorm(32, eps 1e-6) */
    sd_linear proj_in, proj_out; /* 1x1 convs [C, C, 1, 1] (or Linear) */
    sd_norm ln1, ln2, ln3;       /* LayerNorm(C, eps 1e-5) */
    sd_linear q1, k1, v1, o1;    /* self-attention: [C, C], no bias on q/k/v */
    sd_linear q2, k2, v2, o2;    /* cross-attention: q [C, C], k/v [C, ctx_dim] */
    sd_linear ff1, ff2;          /* GEGLU proj [8C, C], out [C, 4C] */
} sd_transformer;

/* One TimestepEmbedSequential: a ResBlock (+ SpatialTransformer) (+ Upsample), or a Downsample. */
typedef struct {
    bool is_down;       /* input Downsample: 3x3 stride 2 pad 1 only */
    sd_resblock res;
    bool has_attn;
    sd_transformer attn;
    bool has_up;        /* output Upsample: nearest x2 + 3x3 conv */
    sd_conv conv;       /* the Downsample / Upsample conv */
    int64_t cout;       /* channels of the block's output */
} sd_unet_block;

typedef struct {
    int64_t in_ch, out_ch;          /* 4, 4 */
    int64_t mc;                     /* model_channels (320) */
    int64_t emb_dim;                /* time embedding width 4*mc */
    int64_t ctx_dim;                /* cross-attention context width (768) */
    int levels, nr;                 /* len(channel_mult), res blocks per level */
    int64_t mult[SD_MAX_LEVELS];    /* channel_mult */
    bool attn[SD_MAX_LEVELS];       /* level has SpatialTransformers */
    int64_t heads[SD_MAX_LEVELS];   /* heads per level (SD-1.5: 8 everywhere); mid block: last level */
    sd_linear temb1, temb2;         /* [emb_dim, mc], [emb_dim, emb_dim] */
    int n_in, n_out;                /* input blocks after conv_in (levels*(nr+1)-1), output blocks */
    sd_conv conv_in;                /* input_blocks.0 */
    sd_unet_block *in;              /* [n_in]: input_blocks.1.. */
    sd_resblock mid1, mid2;
    sd_transformer mid_attn;
    sd_unet_block *out;             /* [n_out] */
    sd_norm norm_out;               /* GroupNorm eps 1e-5 + SiLU */
    sd_conv conv_out;               /* [out_ch, mc, 3, 3] */
    gc_exec *ex;                    /* backend + arena of the gc_sd holding this UNet (not owned) */
} sd_unet;

/* Hyper-parameters shapes cannot give; heads[l] <= 0 and ctx_dim <= 0 mean "SD-1.5 default" (8) /
 * "from the tensors". */
typedef struct {
    int64_t heads[SD_MAX_LEVELS];
    int64_t head_channels; /* > 0: heads = channels / head_channels (LDM num_head_channels) */
} sd_unet_hparams;

/* `s` must have been probed (sd_source_probe_unet). */
gc_status sd_unet_load(const sd_source *s, const sd_unet_hparams *hp, sd_unet *u);
void sd_unet_free(sd_unet *u);

typedef struct {
    const float *cond_emb;  /* [emb_dim] added to the time embedding, or NULL */
    int last_block;         /* run output blocks 0..last_block; n_out-1 (or < 0) also runs the final `out` */
    bool freeu;             /* GeoAware's FreeU (b1 s1 on 4*mc-channel backbones, b2 s2 on 2*mc) */
    float b1, b2, s1, s2;
    sd_tap_fn tap;          /* t_emb, emb, emb_plus_cond, input_blocks.{i}, middle_block,
                             * output_blocks.{i}[.pre_upsample], feat{k} (the h entering output block k,
                             * k = the last block of each level, after FreeU's in-place scaling), out */
    void *tap_ctx;
    bool feat_after_skip;   /* feat{k} = [h, FreeU-filtered skip], the block's whole input (ODISE with
                             * decoder_only=False, the pose-awareness test); run to block last_block + 1's
                             * concatenation when that is a feature block */
} sd_unet_run;

/* GeoAware-SC's FreeU constants. */
#define SD_FREEU_B1 1.2f
#define SD_FREEU_B2 1.4f
#define SD_FREEU_S1 0.9f
#define SD_FREEU_S2 0.2f

/* Channels of the skip tensor that output block k concatenates after h. */
int64_t sd_unet_skip_channels(const sd_unet *u, int k);

/* z[in_ch, h, w] (h, w multiples of 2^(levels-1)), context[n_ctx, ctx_dim] (ctx_dim must be the
 * model's), timestep t. out[out_ch, h, w] is written when the run reaches the end (may be NULL). */
gc_status sd_unet_forward(const sd_unet *u, const float *z, int64_t h, int64_t w, float t, const float *context,
                          int64_t n_ctx, int64_t ctx_dim, const sd_unet_run *run, float *out);
/* The same for B images at once: z[B, in_ch, h, w], context[B, n_ctx, ctx_dim], out[B, out_ch, h, w],
 * runs[B] (each image's cond_emb, tap and tap_ctx; the other fields must agree). Each weight is read
 * once per batch where the maps are small (GC_CONV_BATCH_FLOATS, UNET_ATTN_TOKENS): the 16x16 and
 * 8x8 levels stream 59-118 MB of weights per conv for 64-256 positions of one image. */
gc_status sd_unet_forward_batch(const sd_unet *u, int64_t B, const float *z, int64_t h, int64_t w, float t,
                                const float *context, int64_t n_ctx, int64_t ctx_dim, const sd_unet_run *runs,
                                float *out);

#endif
