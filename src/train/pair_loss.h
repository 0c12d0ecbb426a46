/* One training pair through the reference's calculate_loss (REFERENCE.md §5.2-5.3): the pair term
 * (sparse CLIP + dense soft-argmax) on the original descriptors, then the pose-variant flip terms
 * (dense only) in the reference order single / double / self, each present only when its mutual
 * visibility set is non-empty; loss = sum_k w_k L_k / sum_k w_k. Gradients flow to the four
 * descriptor maps, logit_scale and the coordinate grids g = [g_x; g_y]. */
#ifndef GC_PAIR_LOSS_H
#define GC_PAIR_LOSS_H

#include <stdbool.h>

#include "base/base.h"

enum { GC_DESC_SRC = 0, GC_DESC_TRG = 1, GC_DESC_SRC_FLIP = 2, GC_DESC_TRG_FLIP = 3 };

typedef struct {
    double jitter;   /* GAUSSIAN_AUGMENT: jitter std = jitter * thr_grid / 2 (0: none) */
    double w_single; /* ADAPT_FLIP: single-flip weight (the reference ties it to test-time flipping; 0 = off) */
    double w_double; /* AUGMENT_DOUBLE_FLIP (1) */
    double w_self;   /* AUGMENT_SELF_FLIP (0.25) */
    float beta;      /* soft-argmax temperature (0.02) */
    int64_t anno;    /* keypoint frame (840) */
    int64_t side;    /* grid side (60) */
    bool flow_maps;  /* also compute every term's full flow map (traces) */
    bool thr_unscaled; /* PF-Pascal training quirk (REFERENCE.md §11.9): the reference passes the 840
                        * image threshold as grid units unscaled (jitter std 42 cells); true = parity */
} gc_loss_cfg;

/* Reference defaults (train_spair.yaml / train_ap10k.yaml). */
gc_loss_cfg gc_loss_cfg_default(void);

typedef struct {
    const char *name;      /* "pair", "single_flip", "double_flip", "self_flip" */
    double weight;
    int src, trg;          /* descriptor slots (GC_DESC_*) */
    int64_t n;             /* mutually visible keypoints */
    float *kps1, *kps2;    /* [n,3] keypoints passed to the term */
    int64_t *src_idx, *trg_idx; /* [n] cells */
    float *gt_pre, *z, *gt; /* [n,2] flow before jitter, standard-normal draws, jittered flow */
    float jitter_std;
    float sparse, dense, value; /* value = sparse + dense for the pair term, dense otherwise */
    float *flow_map;       /* [side*side, 2] when cfg.flow_maps */
} gc_loss_term;

typedef struct {
    int n_terms;
    gc_loss_term t[4];
    float loss;
} gc_pair_loss;

/* Jitter source: fill z[n*2] with standard-normal draws for term k (draw order of torch.randn_like). */
typedef gc_status (*gc_jitter_fn)(void *ctx, int term, int64_t n, float *z);

typedef struct {
    const float *desc[4];   /* [side*side, P] unit descriptors (flip slots may be NULL without flip terms) */
    int64_t P;
    const float *kps_src, *kps_trg; /* [nk,3] (x, y, vis) in the anno frame */
    int64_t nk;
    double thr_src, thr_trg; /* bbox thresholds in the anno frame */
    const int64_t *perm;    /* [np] flip permutation (NULL: no flip terms) */
    int64_t np;
    float logit_scale;
    const float *g;         /* [2*side] g_x then g_y */
} gc_pair_inputs;

/* Loss and (when ddesc is non-NULL) gradients: ddesc[k] [side*side, P] accumulators for the slots used,
 * dlogit_scale and dg [2*side] accumulators. */
gc_status gc_pair_loss_compute(const gc_loss_cfg *cfg, const gc_pair_inputs *in, gc_jitter_fn jitter, void *jctx,
                               float *const ddesc[4], float *dlogit_scale, float *dg, gc_pair_loss *out);
void gc_pair_loss_free(gc_pair_loss *l);

/* Which descriptor slots the terms of cfg can read (flip slots only when a flip weight is > 0). */
bool gc_loss_cfg_uses_flips(const gc_loss_cfg *cfg);

#endif
