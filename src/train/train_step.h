/* One training step's forward and backward pass on a pair (REFERENCE.md §5): the post-processor on
 * the four fused maps (source, target, flipped source, flipped target; flipped ones only when a flip
 * weight is on), the pair loss, and the gradient of every parameter. */
#ifndef GC_TRAIN_STEP_H
#define GC_TRAIN_STEP_H

#include "models/postproc.h"
#include "train/pair_loss.h"

/* The coordinate grids' initial value, float32(numpy.linspace(-1, 1, side)). */
void gc_grid_linspace(float *g, int64_t side);

typedef struct {
    const float *x[4];    /* [cin, side*side] fused maps per slot (GC_DESC_*); flip slots may be NULL
                           * when cfg uses no flips */
    const float *drop[4]; /* dropout multipliers per slot, same size (NULL: no dropout) */
    const float *kps_src, *kps_trg; /* [nk,3] */
    int64_t nk;
    double thr_src, thr_trg; /* bbox thresholds, anno frame */
    const int64_t *perm;  /* [np] flip permutation (NULL: none) */
    int64_t np;
} gc_step_inputs;

/* Forward + backward. grad ([m->n_params], m's layout) and grad_g ([2*side]) are ACCUMULATED (zero them
 * first); caches[4] receive the network intermediates (descriptors in caches[k].desc; free with
 * gc_pp_cache_free; unused slots stay empty). */
gc_status gc_train_step(const gc_postproc *m, const float *g, const gc_loss_cfg *cfg, const gc_step_inputs *in,
                        gc_jitter_fn jitter, void *jctx, float *grad, float *grad_g, gc_pp_cache caches[4],
                        gc_pair_loss *loss);

#endif
