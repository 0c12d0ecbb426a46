/* Patch descriptors for matching: unit-norm token rows [3600, C] on the 60x60 grid, built from the
 * named maps of a feature file or of gc_feature_maps in memory (REFERENCE.md §3.3-3.5). The public
 * gc_descriptors handle of geocorr.h is this struct. */
#ifndef GC_DESCRIPTOR_H
#define GC_DESCRIPTOR_H

#include "io/weights.h"
#include "models/postproc.h"
#include "pipeline/fuse.h"

#define GC_GRID 60                      /* feature grid side (NUM_PATCHES) */
#define GC_CELLS (GC_GRID * GC_GRID)    /* tokens per image */

/* The maps the recipes read, in concatenation order (the reference's cat(s3, up(s4), up(s5), dino)). */
enum { GC_MAP_S3, GC_MAP_S4, GC_MAP_S5, GC_MAP_DINO, GC_N_MAPS };
extern const char *const gc_map_names[GC_N_MAPS]; /* "s3", "s4", "s5", "dino" */

struct gc_descriptors {
    int64_t n;          /* tokens (GC_CELLS) */
    int64_t c;          /* channels */
    float *rows;        /* [n, c] unit rows (gc_alloc) */
    char recipe[64];    /* "zeroshot" (s3,s4,s5,dino), "dino", "postproc" or "map:<name>" */
};

/* Per row of x[n, c] (row stride ld): v / (||v|| + eps). */
void gc_normalize_rows(float *x, int64_t n, int64_t c, int64_t ld, float eps);
/* The zero-shot descriptor in place on fused[n, c_sd + c_dino]: normalise the SD part and the DINO
 * part separately, then the whole row (eps 1e-10 each time). */
void gc_desc_zeroshot(float *x, int64_t n, int64_t c_sd, int64_t c_dino);

/* Descriptor from maps (in concatenation order; the first c_sd channels are the SD part of the
 * zero-shot recipe, 0 = one normalisation over everything). */
gc_status gc_desc_from_maps(const gc_map_view *maps, int n_maps, int64_t c_sd, const char *recipe, gc_descriptors *out,
                            float **fused_out);

/* The maps s3, s4, s5, dino of a feature set (dino_only: dino alone), each [C,H,W] or [1,C,H,W] with
 * finite values; an absent map gets data NULL. */
gc_status gc_map_views_from_weights(gc_weights *w, bool dino_only, gc_map_view v[GC_N_MAPS]);
/* Every value of a present view finite (label names the source in the message). */
gc_status gc_map_views_check_finite(const gc_map_view v[GC_N_MAPS], const char *label);
/* The descriptor of the maps v (label names their source in messages). pp NULL: s3, s4, s5 and dino
 * give the zero-shot descriptor, dino alone the DINO one (fused_out, optional, receives the fused
 * token matrix before normalisation, gc_free). pp set: the supervised descriptor (§3.5) of the maps the
 * post-processor takes (s3, s4, s5, dino, or dino alone): fused as cat(s3, up(s4), up(s5), dino) ->
 * post-processor -> per-token v/(||v||+1e-10), recipe "postproc" (fused_out must be NULL). */
gc_status gc_desc_from_views(const gc_map_view v[GC_N_MAPS], const gc_postproc *pp, const char *label,
                             gc_descriptors *out, float **fused_out);
/* Descriptor from the maps of a feature set (a `geocorr features` file): map_name set: that one map
 * [C,60,60] normalised per token (a post-processed map); else gc_desc_from_views with pp. */
gc_status gc_desc_from_weights(gc_weights *w, const char *map_name, const gc_postproc *pp, gc_descriptors *out,
                               float **fused_out);
/* Same, opening the file. */
gc_status gc_desc_load(const char *path, const char *map_name, const gc_postproc *pp, gc_descriptors *out);
/* The post-processor input x[cin, 3600] from the maps of v (missing map / channel count / grid errors
 * name `label` and the map). */
gc_status gc_postproc_input(const gc_postproc *pp, const gc_map_view v[GC_N_MAPS], const char *label, float *x);
/* The block widths a feature file's maps call for: s3, s4, s5, dino channels (n_groups 4), or dino
 * alone (n_groups 1) when the file has no s3. fd: [4]. */
gc_status gc_postproc_input_dims(gc_weights *w, int *n_groups, int64_t *fd);
/* The descriptor of a fused post-processor input x[cin, 3600]. */
gc_status gc_desc_postproc_fused(const gc_postproc *pp, const float *x, gc_descriptors *out);
/* The DINOv2 descriptor of an image computed here: 840 canvas (the source mirrored first when
 * flip), ImageNet normalisation, last block -> dino [D,60,60] -> per-token normalisation. */
gc_status gc_desc_from_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors *out);
/* Release the rows of a struct filled above (gc_descriptors_free also frees a handle). */
void gc_desc_clear(gc_descriptors *d);
/* Descriptors of two images must share the recipe and channel count. */
gc_status gc_desc_check_pair(const gc_descriptors *a, const char *label_a, const gc_descriptors *b, const char *label_b);

/* Trace inputs: a token matrix `name` [1,3600,C] or [3600,C] of w (float32 view, *C set). */
gc_status gc_desc_tokens_view(gc_weights *w, const char *name, int64_t *C, const float **rows);
/* Trace inputs: keypoints `name` [K,3] of w. */
gc_status gc_kps_view(gc_weights *w, const char *name, int64_t *K, const float **kps);

#endif
