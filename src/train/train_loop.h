/* The training loop of `geocorr train` (REFERENCE.md §5.1, §5.4): pairs shuffled once with the seed
 * and visited in that order every epoch, one optimiser step per pair, validation every N steps and at
 * the end of each epoch, best.safetensors when the validation score improves and last.safetensors
 * (+ optimiser state) at every validation, a text log and a progress callback. Resumes from
 * last.safetensors. The data set comes through a pair source, so the loop does not depend on the
 * dataset readers. */
#ifndef GC_TRAIN_LOOP_H
#define GC_TRAIN_LOOP_H

#include <stdbool.h>

#include "train/trainer.h"

typedef struct {
    int64_t n_pairs;
    /* Fill `in` for pair `index` (0..n_pairs-1); buffers stay valid until the next call. */
    gc_status (*get)(void *ctx, int64_t index, gc_step_inputs *in);
    void *ctx;
} gc_pair_source;

/* Validation: a score to maximise (PCK@0.1, PF-Pascal PCK@0.05) of model m. */
typedef gc_status (*gc_val_fn)(void *ctx, const gc_postproc *m, double *score);

/* The pair order: a Fisher-Yates shuffle of 0..n-1 driven by the trainer's random stream seeded with
 * seed ^ 0x5348554646 ("SHUFF"), so it does not consume the dropout / jitter stream. */
gc_status gc_pair_order(int64_t n, uint64_t seed, int64_t **order);

/* The loop reads epochs, val_every, max_steps, out_dir, resume and progress of cfg. */
gc_status gc_train_loop(gc_trainer *t, const gc_pair_source *src, gc_val_fn val, void *val_ctx,
                        const gc_train_config *cfg);

#endif
