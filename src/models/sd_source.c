#include <stdio.h>
#include <string.h>

#include "models/sd_source.h"

typedef struct {
    const char *from, *to;
} rename_rule;

/* Module renames inside a block (LDM -> diffusers), applied to the first matching head of the rest. */
static const rename_rule k_unet_res[] = {
    {"in_layers.0.", "norm1."},      {"in_layers.2.", "conv1."},  {"emb_layers.1.", "time_emb_proj."},
    {"out_layers.0.", "norm2."},     {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
};
static const rename_rule k_vae_res[] = {{"nin_shortcut.", "conv_shortcut."}};
static const rename_rule k_vae_attn[] = {
    {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."},
};
/* Older diffusers VAE files (e.g. the runwayml SD-1.5 repository) name the mid attention
 * query/key/value/proj_attn; tried when the current names are absent. */
static const rename_rule k_vae_attn_legacy[] = {
    {"norm.", "group_norm."}, {"q.", "query."}, {"k.", "key."}, {"v.", "value."}, {"proj_out.", "proj_attn."},
};
static const rename_rule k_top[] = {
    {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
    {"input_blocks.0.0.", "conv_in."},             {"out.0.", "conv_norm_out."},
    {"out.2.", "conv_out."},                       {"encoder.norm_out.", "encoder.conv_norm_out."},
};

static bool apply_rename(const rename_rule *r, size_t nr, const char *head, const char *rest, char *out, size_t n) {
    for (size_t i = 0; i < nr; i++) {
        size_t lf = strlen(r[i].from);
        if (strncmp(rest, r[i].from, lf) == 0)
            return snprintf(out, n, "%s%s%s", head, r[i].to, rest + lf) < (int)n;
    }
    return snprintf(out, n, "%s%s", head, rest) < (int)n;
}

bool sd_ldm_to_diffusers(const sd_source *s, const char *ldm, char *out, size_t n) {
    int i, j, pos, len = 0;
    char head[96];
    for (size_t k = 0; k < GC_COUNTOF(k_top); k++) {
        size_t lf = strlen(k_top[k].from);
        if (strncmp(ldm, k_top[k].from, lf) == 0) return snprintf(out, n, "%s%s", k_top[k].to, ldm + lf) < (int)n;
    }
    int per = s->nr + 1; /* blocks per level in LDM numbering */
    if (sscanf(ldm, "input_blocks.%d.%d.%n", &i, &j, &len) == 2 && len && i >= 1) {
        int l = (i - 1) / per;
        pos = (i - 1) % per;
        const char *rest = ldm + len;
        if (pos == s->nr) /* the level's Downsample: input_blocks.i.0.op */
            return strncmp(rest, "op.", 3) == 0 &&
                   snprintf(out, n, "down_blocks.%d.downsamplers.0.conv.%s", l, rest + 3) < (int)n;
        snprintf(head, sizeof head, "down_blocks.%d.%s.%d.", l, j == 0 ? "resnets" : "attentions", pos);
        return j == 0 ? apply_rename(k_unet_res, GC_COUNTOF(k_unet_res), head, rest, out, n)
                      : snprintf(out, n, "%s%s", head, rest) < (int)n;
    }
    if (sscanf(ldm, "middle_block.%d.%n", &j, &len) == 1 && len) {
        const char *rest = ldm + len;
        if (j == 1) return snprintf(out, n, "mid_block.attentions.0.%s", rest) < (int)n;
        snprintf(head, sizeof head, "mid_block.resnets.%d.", j / 2);
        return apply_rename(k_unet_res, GC_COUNTOF(k_unet_res), head, rest, out, n);
    }
    if (sscanf(ldm, "output_blocks.%d.%d.%n", &i, &j, &len) == 2 && len) {
        int u = i / per, level = s->levels - 1 - u;
        pos = i % per;
        const char *rest = ldm + len;
        if (j == 0) {
            snprintf(head, sizeof head, "up_blocks.%d.resnets.%d.", u, pos);
            return apply_rename(k_unet_res, GC_COUNTOF(k_unet_res), head, rest, out, n);
        }
        if (j == 1 && level >= 0 && level < SD_MAX_LEVELS && s->attn[level])
            return snprintf(out, n, "up_blocks.%d.attentions.%d.%s", u, pos, rest) < (int)n;
        /* the Upsample: output_blocks.i.{1|2}.conv */
        return strncmp(rest, "conv.", 5) == 0 &&
               snprintf(out, n, "up_blocks.%d.upsamplers.0.%s", u, rest) < (int)n;
    }
    if (sscanf(ldm, "encoder.down.%d.block.%d.%n", &i, &j, &len) == 2 && len) {
        snprintf(head, sizeof head, "encoder.down_blocks.%d.resnets.%d.", i, j);
        return apply_rename(k_vae_res, GC_COUNTOF(k_vae_res), head, ldm + len, out, n);
    }
    if (sscanf(ldm, "encoder.down.%d.downsample.%n", &i, &len) == 1 && len)
        return snprintf(out, n, "encoder.down_blocks.%d.downsamplers.0.%s", i, ldm + len) < (int)n;
    if (sscanf(ldm, "encoder.mid.block_%d.%n", &j, &len) == 1 && len) {
        snprintf(head, sizeof head, "encoder.mid_block.resnets.%d.", j - 1);
        return apply_rename(k_vae_res, GC_COUNTOF(k_vae_res), head, ldm + len, out, n);
    }
    if (strncmp(ldm, "encoder.mid.attn_1.", 19) == 0)
        return apply_rename(k_vae_attn, GC_COUNTOF(k_vae_attn), "encoder.mid_block.attentions.0.", ldm + 19, out, n);
    /* encoder.conv_in / encoder.conv_out / quant_conv keep their names */
    return snprintf(out, n, "%s", ldm) < (int)n;
}

/* The name as stored in the file: the LDM name, or its diffusers translation (the legacy VAE
 * attention names when only those are present). */
static const char *stored_name(const sd_source *s, const char *ldm, char *buf, size_t n) {
    if (s->naming == SD_NAMING_LDM) return ldm;
    if (!sd_ldm_to_diffusers(s, ldm, buf, n)) return NULL;
    static const char attn[] = "encoder.mid.attn_1.";
    gc_weights_set_prefix(s->w, s->prefix);
    if (strncmp(ldm, attn, sizeof attn - 1) == 0 && !gc_weights_find(s->w, buf)) {
        char legacy[256];
        if (apply_rename(k_vae_attn_legacy, GC_COUNTOF(k_vae_attn_legacy), "encoder.mid_block.attentions.0.",
                         ldm + sizeof attn - 1, legacy, sizeof legacy) &&
            gc_weights_find(s->w, legacy))
            return snprintf(buf, n, "%s", legacy) < (int)n ? buf : NULL;
    }
    return buf;
}

const gc_tensor_ref *sd_source_find(const sd_source *s, const char *ldm) {
    char buf[256];
    const char *name = stored_name(s, ldm, buf, sizeof buf);
    if (!name) return NULL;
    gc_weights_set_prefix(s->w, s->prefix);
    return gc_weights_find(s->w, name);
}

gc_status sd_source_f32(const sd_source *s, const char *ldm, int ndim, const int64_t *shape, const float **out) {
    char buf[256];
    const char *name = stored_name(s, ldm, buf, sizeof buf);
    if (!name)
        return gc_errorf(GC_ERR_INTERNAL, "%s: no diffusers name for '%s'", gc_weights_label(s->w), ldm);
    gc_weights_set_prefix(s->w, s->prefix);
    return gc_weights_f32(s->w, name, ndim, shape, out);
}

static bool has(const sd_source *s, const char *fmt, int a, int b) {
    char name[160];
    snprintf(name, sizeof name, fmt, a, b);
    gc_weights_set_prefix(s->w, s->prefix);
    return gc_weights_find(s->w, name) != NULL;
}

gc_status sd_source_probe_unet(sd_source *s) {
    const char *label = gc_weights_label(s->w);
    bool ldm = s->naming == SD_NAMING_LDM;
    if (ldm) {
        /* the first Downsample sits at input_blocks.{nr+1}; levels = Downsamples + 1 */
        int i = 1;
        while (i < 64 && !has(s, "input_blocks.%d.0.op.weight", i, 0)) i++;
        if (i == 64) return gc_errorf(GC_ERR_MISSING, "%s: no UNet Downsample (input_blocks.N.0.op.weight) found", label);
        s->nr = i - 1;
        s->levels = 1;
        while (has(s, "input_blocks.%d.0.op.weight", s->levels * (s->nr + 1), 0)) s->levels++;
    } else {
        s->nr = 0;
        while (has(s, "down_blocks.0.resnets.%d.norm1.weight", s->nr, 0)) s->nr++;
        s->levels = 0;
        while (has(s, "down_blocks.%d.resnets.0.norm1.weight", s->levels, 0)) s->levels++;
    }
    if (s->nr < 1 || s->levels < 1 || s->levels > SD_MAX_LEVELS)
        return gc_errorf(GC_ERR_MISSING, "%s: cannot find the UNet's down blocks (%s naming)", label,
                         ldm ? "LDM" : "diffusers");
    for (int l = 0; l < s->levels; l++)
        s->attn[l] = ldm ? has(s, "input_blocks.%d.1.norm.weight", 1 + l * (s->nr + 1), 0)
                         : has(s, "down_blocks.%d.attentions.0.norm.weight", l, 0);
    return GC_OK;
}
