/* Patch descriptors for matching: unit-norm token rows [3600, C] on the 60x60 grid, built from the
 * named maps of a feature file (REFERENCE.md §3.3-3.5). */
#ifndef GC_DESCRIPTOR_H
#define GC_DESCRIPTOR_H

#include "io/weights.h"
#include "models/postproc.h"

#define GC_GRID 60                      /* feature grid side (NUM_PATCHES) */
#define GC_CELLS (GC_GRID * GC_GRID)    /* tokens per image */
#define GC_ANNO 840                     /* annotation frame side (ANNO_SIZE) */

/* A channel-first map view: data [c, h, w]. */
typedef struct {
    const float *data; /* [c, h, w] */
    int64_t c, h, w;
} gc_map_view;

typedef struct {
    int64_t n;          /* tokens (GC_CELLS) */
    int64_t c;          /* channels */
    float *rows;        /* [n, c] unit rows (gc_alloc) */
    char recipe[64];    /* "zeroshot" (s3,s4,s5,dino), "dino", or "map:<name>" */
} gc_desc;

/* dst[j * ldd + i] = src[i * cols + j] for a rows x cols src (cache-blocked). */
void gc_transpose_f32(float *dst, int64_t ldd, const float *src, int64_t rows, int64_t cols);
/* fused[G*G, sum c_i] = concat over maps (in order) of the map bilinearly upsampled to G x G
 * (align_corners=False), token-major. Maps already G x G are copied. */
gc_status gc_desc_fuse(float *fused, const gc_map_view *maps, int n_maps, int64_t G);
/* Per row of x[n, c] (row stride ld): v / (||v|| + eps). */
void gc_normalize_rows(float *x, int64_t n, int64_t c, int64_t ld, float eps);
/* The zero-shot descriptor in place on fused[n, c_sd + c_dino]: normalise the SD part and the DINO
 * part separately, then the whole row (eps 1e-10 each time). */
void gc_desc_zeroshot(float *x, int64_t n, int64_t c_sd, int64_t c_dino);

/* Descriptor from maps (in concatenation order; the first c_sd channels are the SD part of the
 * zero-shot recipe, 0 = one normalisation over everything). */
gc_status gc_desc_from_maps(const gc_map_view *maps, int n_maps, int64_t c_sd, const char *recipe, gc_desc *out,
                            float **fused_out);
/* Descriptor from the maps of a feature set (a `geocorr features` file). map_name NULL: s3, s4,
 * s5 and dino -> zero-shot descriptor; dino alone -> DINO normalisation. map_name set: that one
 * map [C,60,60] normalised per token (a post-processed map). fused_out (optional) receives the
 * fused token matrix before normalisation (gc_free). Maps may carry a leading batch dim of 1. */
gc_status gc_desc_from_weights(gc_weights *w, const char *map_name, gc_desc *out, float **fused_out);
/* Same, opening the file. */
gc_status gc_desc_load(const char *path, const char *map_name, gc_desc *out);
/* The supervised descriptor (§3.5): the maps s3, s4, s5, dino of w (channel counts from pp's feature
 * dims; dino alone for a DINO-only network) fused as cat(s3, up(s4), up(s5), dino) -> post-processor ->
 * per-token v/(||v||+1e-10). Recipe "postproc". */
gc_status gc_desc_from_postproc(const gc_postproc *pp, gc_weights *w, gc_desc *out);
/* Its two halves: x[cin, 3600] = the fused input from the maps of w (missing map / channel count /
 * grid errors name the file and the map), and the descriptor of a fused input. */
gc_status gc_postproc_input(const gc_postproc *pp, gc_weights *w, float *x);
/* The block widths a feature file's maps call for: s3, s4, s5, dino channels (n_groups 4), or dino
 * alone (n_groups 1) when the file has no s3. fd: [4]. */
gc_status gc_postproc_input_dims(gc_weights *w, int *n_groups, int64_t *fd);
gc_status gc_desc_postproc_fused(const gc_postproc *pp, const float *x, gc_desc *out);
/* Same, opening the file. */
gc_status gc_desc_load_postproc(const gc_postproc *pp, const char *path, gc_desc *out);
/* The DINOv2 descriptor of an image computed here: 840 canvas (the source mirrored first when
 * flip), ImageNet normalisation, last block -> dino [D,60,60] -> per-token normalisation. */
gc_status gc_desc_from_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_desc *out);
void gc_desc_free(gc_desc *d);
/* Descriptors of two images must share the recipe and channel count. */
gc_status gc_desc_check_pair(const gc_desc *a, const char *label_a, const gc_desc *b, const char *label_b);

/* Trace inputs: a token matrix `name` [1,3600,C] or [3600,C] of w (float32 view, *C set). */
gc_status gc_desc_tokens_view(gc_weights *w, const char *name, int64_t *C, const float **rows);
/* Trace inputs: keypoints `name` [K,3] of w. */
gc_status gc_kps_view(gc_weights *w, const char *name, int64_t *K, const float **kps);

#endif
