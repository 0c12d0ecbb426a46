/* SD VAE encoder (CompVis ldm.modules.diffusionmodules.model.Encoder + quant_conv): image in
 * [-1, 1] -> posterior mean -> x scale_factor = latent z0. The decoder is never loaded. */
#ifndef GC_SD_VAE_H
#define GC_SD_VAE_H

#include "models/sd_blocks.h"

typedef struct {
    int64_t in_ch;                 /* 3 */
    int64_t ch;                    /* base channels (128 in SD-1.5) */
    int64_t levels;                /* len(ch_mult) */
    int64_t mult[SD_MAX_LEVELS];   /* ch_mult */
    int64_t nr;                    /* res blocks per level */
    int64_t z2;                    /* conv_out channels = 2 * z_channels (double_z) */
    int64_t e2;                    /* quant_conv channels = 2 * embed_dim; the mean is the first half */
    sd_conv conv_in;               /* [ch, in_ch, 3, 3] */
    sd_resblock *blocks;           /* [levels * nr], level-major */
    sd_conv down[SD_MAX_LEVELS];   /* [levels - 1]: pad (0,1,0,1) + 3x3 stride 2 */
    sd_resblock mid1, mid2;
    sd_norm attn_norm;             /* single-head spatial self-attention of the mid block */
    sd_linear attn_q, attn_k, attn_v, attn_proj;
    sd_norm norm_out;
    sd_conv conv_out;              /* [z2, C, 3, 3] */
    sd_conv quant;                 /* [e2, z2, 1, 1] */
    gc_exec *ex;                   /* backend + arena of the gc_sd holding this encoder (not owned) */
} sd_vae;

/* Shapes from the tensors (LDM names through `s`). */
gc_status sd_vae_load(const sd_source *s, sd_vae *v);
void sd_vae_free(sd_vae *v);

/* img[in_ch, H, W] in [-1, 1] (H, W multiples of 2^(levels-1)) -> z0[e2/2, H/8, W/8] = scale * mean.
 * Taps: encoder.down.{l}.downsample (l = 1..levels-2), encoder.down.{levels-1}.block.{nr-1},
 * encoder.mid, encoder.out, moments, posterior_mean, z0. tap may be NULL. */
gc_status sd_vae_encode(const sd_vae *v, const float *img, int64_t H, int64_t W, float scale, float *z0,
                        sd_tap_fn tap, void *ctx);

#endif
