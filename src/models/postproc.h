/* The GeoAware-SC post-processor (`AggregationNetwork`, REFERENCE.md §4): four ResNet bottleneck
 * blocks, one per feature group (SD s3 | s4 | s5 | DINOv2), mixed by softmax(mixing_weights).
 * Every block: 1x1 conv -> GN -> ReLU -> 3x3 conv -> GN -> ReLU -> 1x1 conv -> GN, plus a 1x1 conv+GN
 * projection shortcut when the group width differs from the output width, then ReLU of the sum.
 * Convs have no bias; GroupNorm has 32 groups, eps 1e-5.
 *
 * All parameters live in one flat float buffer (the tensor table below gives each one's state-dict
 * name, shape and offset), so gradients and optimiser moments are buffers of the same layout. */
#ifndef GC_POSTPROC_H
#define GC_POSTPROC_H

#include <stdbool.h>

#include "io/weights.h"

#define GC_PP_GROUPS 4
#define GC_PP_MAX_TENSORS (GC_PP_GROUPS * 12 + 3)

/* One block's parameters, pointers into a flat buffer. */
typedef struct {
    float *w1, *g1, *b1; /* conv1 [mid, cin], norm [mid] */
    float *w2, *g2, *b2; /* conv2 [mid, mid*3*3], norm [mid] */
    float *w3, *g3, *b3; /* conv3 [P, mid], norm [P] */
    float *ws, *gs, *bs; /* shortcut [P, cin], norm [P]; NULL for the identity shortcut */
} gc_pp_block;

/* A full parameter set (or a gradient / moment set of the same layout). */
typedef struct {
    gc_pp_block blk[GC_PP_GROUPS];
    float *mixing;           /* [n_groups] mixing logits */
    float *logit_scale;      /* [1] CLIP temperature (log) */
    float *self_logit_scale; /* [1] unused by the losses: never gets a gradient */
} gc_pp_params;

typedef struct {
    char name[64]; /* state-dict name, e.g. "bottleneck_layers.0.0.conv1.norm.weight" */
    int ndim;
    int64_t shape[4];
    int64_t numel;
    int64_t offset; /* into the flat buffer */
} gc_pp_tensor;

struct gc_postproc {
    int n_groups;                /* blocks: 4 (s3, s4, s5, dino) or 1 (a DINO-only network, feature_dims=[768]) */
    int64_t fd[GC_PP_GROUPS];    /* [n_groups] input channels per group (640, 1280, 1280, 768 for the real model) */
    int64_t cin;                 /* sum of fd */
    int64_t mid;                 /* bottleneck width (P/4) */
    int64_t proj;                /* output width P */
    int64_t groups;              /* GroupNorm groups (32) */
    float eps;                   /* GroupNorm eps (1e-5) */
    int n_tensors;
    gc_pp_tensor tensors[GC_PP_MAX_TENSORS];
    int64_t n_params;            /* floats in the flat buffer */
    float *data;                 /* [n_params] owned parameter values */
    gc_pp_params p;              /* views into data */
}; /* gc_postproc (geocorr.h) */

/* Load from a weight set with the authors' state-dict names (safetensors or the authors' .PTH via
 * gc_weights_open); widths come from the shapes. A prefix in front of the names is detected. `groups`:
 * the GroupNorm group count (checkpoints do not store it; <= 0: the reference's 32). */
gc_status gc_postproc_from_weights(gc_postproc *m, gc_weights *w, int64_t groups);
/* An untrained network (all parameters 0) of n_groups (4 or 1) blocks taking fd[i] channels each,
 * output width proj (bottleneck proj/4, the reference's 768 -> 192), `groups` GroupNorm groups.
 * gc_postproc_init_reference (train/trainer.h) gives it the reference's initialisation. */
gc_status gc_postproc_new(gc_postproc *m, int n_groups, const int64_t *fd, int64_t proj, int64_t groups);
/* Open `path` (a weights file or a folder holding one) and load it; groups > 0 sets the GroupNorm
 * group count, else a folder's config.json may give num_norm_groups (default 32). */
gc_status gc_postproc_open(gc_postproc *m, const char *path, int64_t groups);
/* Release the parameters of a struct filled by the functions above (gc_postproc_free of geocorr.h
 * also frees the handle gc_postproc_load allocated). */
void gc_postproc_clear(gc_postproc *m);
/* Point a gc_pp_params at a flat buffer of m's layout (gradients, moments). */
void gc_postproc_bind(const gc_postproc *m, float *base, gc_pp_params *out);
/* The tensor of the table named `name`, or NULL. */
const gc_pp_tensor *gc_postproc_tensor(const gc_postproc *m, const char *name);
/* Write the parameters of buffer `base` (m's layout) under their state-dict names. */
struct gc_st_writer;
gc_status gc_postproc_add_to_writer(const gc_postproc *m, const float *base, const char *prefix,
                                    struct gc_st_writer *wr);

/* Intermediates of one forward pass kept for the backward pass (train mode). */
typedef struct {
    float *h1, *a1; /* [mid, HW] conv1 output before GN, after GN+ReLU */
    float *h2, *a2; /* [mid, HW] conv2 likewise */
    float *h3, *hs; /* [P, HW] conv3 / shortcut conv outputs before GN (hs NULL: identity) */
    float *out;     /* [P, HW] block output relu(GN(h3) + shortcut) */
    float *stats;   /* [4, groups, 2] GN (mean, rstd) of conv1, conv2, conv3, shortcut */
    double *stats_d; /* [4, groups, 2] the same in double (for the exact output recompute) */
} gc_pp_block_cache;

typedef struct {
    int64_t H, W;
    float *x;                        /* [cin, HW] network input (after dropout) */
    gc_pp_block_cache blk[GC_PP_GROUPS];
    float mix[GC_PP_GROUPS];         /* softmax(mixing) */
    float *y;                        /* [P, HW] mixed output */
    float *norm;                     /* [HW] token norms */
    float *desc;                     /* [HW, P] unit descriptors y_t / (|y_t| + 1e-10) */
} gc_pp_cache;

void gc_pp_cache_free(gc_pp_cache *c);

/* Observer of the forward taps: name ("b0.conv1", "b2.out", "out", ...) and a [C, H, W] map. */
typedef gc_status (*gc_pp_tap_fn)(void *ctx, const char *name, const float *data, int64_t C, int64_t H,
                                  int64_t W);

/* Inference: out[P, H*W] = post-processor(x[cin, H*W]). tap (optional) sees every intermediate. */
gc_status gc_postproc_forward(const gc_postproc *m, const float *x, int64_t H, int64_t W, float *out,
                              gc_pp_tap_fn tap, void *tap_ctx);
/* Training forward: keeps every intermediate in c (allocated here) and ends with the unit token
 * descriptors c->desc. x is copied; with drop_mask (optional, [cin*H*W] of 0 / 1/(1-p)) it is
 * multiplied in (nn.Dropout). */
gc_status gc_postproc_forward_train(const gc_postproc *m, const float *x, const float *drop_mask, int64_t H,
                                    int64_t W, gc_pp_cache *c);

/* mix[4] = softmax(mixing_weights). */
void gc_postproc_mixing(const gc_postproc *m, float *mix);

/* Unit descriptors of inference: desc[HW, P] = tokens of out[P, HW] / (|.| + 1e-10) (§3.5). */
void gc_postproc_descriptors(float *desc, float *norm, const float *out, int64_t P, int64_t HW);

#endif
