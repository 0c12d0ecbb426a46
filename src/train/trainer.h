/* The training loop's state (REFERENCE.md §5): post-processor parameters plus the learnable
 * coordinate grids g_x, g_y (trained, never saved with the model), AdamW moments, the schedule, and
 * the C random stream that draws dropout masks and target jitter. Deterministic for a seed; save /
 * resume round-trips every bit of it (atomic writes).
 *
 * Random stream (documented so runs can be reproduced elsewhere): splitmix64 over a 64-bit state
 * seeded with `seed`; uniform u = (z >> 40) * 2^-24 in [0, 1); standard normal by Box-Muller from
 * two uniforms, sqrt(-2 ln(1 - u1)) * cos(2 pi u2). Per step: the dropout masks of the four maps in
 * slot order, element order (keep when u >= p, scale 1/(1-p)), then the jitter draws of the terms in
 * loss order.
 *
 * Initialisation without a checkpoint (gc_postproc_init_reference): its own splitmix64 stream seeded
 * with seed ^ 0x494E4954 ("INIT"), so it does not consume the dropout / jitter stream; the conv
 * weights in tensor-table order (state-dict order: block 0 conv1, conv2, conv3, shortcut, block 1,
 * ...), elements in row-major order, each std * (Box-Muller normal above, two uniforms per draw). */
#ifndef GC_TRAINER_H
#define GC_TRAINER_H

#include "models/postproc.h"
#include "train/optim.h"
#include "train/train_step.h"

typedef struct {
    gc_loss_cfg loss;
    gc_lr_schedule sched;
    double lr, weight_decay; /* AdamW (1.25e-3, 1e-3) */
    double dropout;          /* input dropout p (0.2) */
    uint64_t seed;
} gc_trainer_cfg;

typedef struct {
    gc_postproc *m;   /* the model being trained (its data is refreshed from p every step) */
    gc_trainer_cfg cfg;
    int64_t n;        /* m->n_params + 2 * side */
    float *p;         /* [n] parameters: post-processor, then g_x, g_y */
    float *grad;      /* [n] */
    uint8_t *skip;    /* [n] parameters without gradient (self_logit_scale) */
    gc_adamw opt;
    uint64_t rng;     /* splitmix64 state */
    float *drop[4];   /* [cin * side^2] dropout multipliers (when dropout > 0) */
    double best;      /* best validation score so far (-1: none) */
} gc_trainer;

/* The reference's initialisation (REFERENCE.md §4), deterministic for seed: conv weights Kaiming
 * normal, mode fan_out, ReLU gain (std = sqrt(2 / (C_out k k)), "c2_msra_fill"); GroupNorm weight 1,
 * bias 0; mixing_weights 1; logit_scale ln(1/0.07); self_logit_scale ln(10). */
void gc_postproc_init_reference(gc_postproc *m, uint64_t seed);

gc_status gc_trainer_init(gc_trainer *t, gc_postproc *m, const gc_trainer_cfg *cfg);
void gc_trainer_free(gc_trainer *t);

/* One optimiser step on one pair (in->drop is ignored: the trainer draws its own masks).
 * loss receives the terms (caller frees with gc_pair_loss_free); lr_out the learning rate used. */
gc_status gc_trainer_step(gc_trainer *t, const gc_step_inputs *in, gc_pair_loss *loss, double *lr_out);

/* `<dir>/<name>.safetensors`: the post-processor under the reference's state-dict names;
 * `<dir>/<name>.state.safetensors`: g_x, g_y, AdamW moments, step, random state, best score. */
gc_status gc_trainer_save(const gc_trainer *t, const char *dir, const char *name);
/* Restore parameters, moments, step, random state and best score saved by gc_trainer_save. */
gc_status gc_trainer_resume(gc_trainer *t, const char *dir, const char *name);

/* The random stream (exposed for tests). */
double gc_rng_uniform(uint64_t *state);
double gc_rng_normal(uint64_t *state);

#endif
