/* Where the tensors of one SD sub-model (UNet or VAE) live, and the name translation between the
 * two layouts users hold. geocorr names everything internally with the CompVis LDM names (as in a
 * single-file checkpoint, without `model.diffusion_model.` / `first_stage_model.`); a diffusers
 * folder is read through sd_ldm_to_diffusers, a rule-based rewrite (index arithmetic on the block
 * numbers plus a handful of per-module renames), not a table of every tensor. */
#ifndef GC_SD_SOURCE_H
#define GC_SD_SOURCE_H

#include <stdbool.h>

#include "io/weights.h"

#define SD_MAX_LEVELS 8

typedef enum { SD_NAMING_LDM, SD_NAMING_DIFFUSERS } sd_naming;

typedef struct {
    gc_weights *w;        /* not owned; may be shared by the UNet and VAE sources (one file) */
    char *prefix;         /* in front of every name in the file ("model.diffusion_model.", "unet.", "") */
    sd_naming naming;
    /* UNet structure the diffusers translation needs (block numbers -> down/up block indices) */
    int levels;                  /* len(channel_mult) */
    int nr;                      /* res blocks per level */
    bool attn[SD_MAX_LEVELS];    /* level l has a SpatialTransformer after each res block */
} sd_source;

/* Translate an LDM UNet or VAE name (unprefixed: "output_blocks.5.2.conv.weight",
 * "encoder.mid.attn_1.q.weight") into its diffusers name. false if the name has no counterpart. */
bool sd_ldm_to_diffusers(const sd_source *s, const char *ldm, char *out, size_t n);

/* The tensor named `ldm` (translated, prefixed), or NULL. */
const gc_tensor_ref *sd_source_find(const sd_source *s, const char *ldm);
/* gc_weights_f32 by LDM name; errors name the file and the name as stored in it. */
gc_status sd_source_f32(const sd_source *s, const char *ldm, int ndim, const int64_t *shape, const float **out);
#define SD_WEIGHT(s, name, out, ...)                                                       \
    sd_source_f32((s), (name), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                  (const int64_t[]){__VA_ARGS__}, (out))

/* Probe the UNet structure (levels, nr, attn) of a source from the names present. */
gc_status sd_source_probe_unet(sd_source *s);

#endif
