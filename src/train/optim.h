/* AdamW exactly as PyTorch 1.13's single-tensor path, and the reference's learning-rate schedules
 * (OneCycleLR with cycled beta1, or a constant lr). REFERENCE.md §5.4. */
#ifndef GC_OPTIM_H
#define GC_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

typedef struct {
    double lr, beta1, beta2, eps, weight_decay; /* set per step by the schedule (lr, beta1) */
    int64_t step;  /* optimizer steps taken */
    int64_t n;     /* parameters */
    float *m, *v;  /* [n] first / second moments */
} gc_adamw;

gc_status gc_adamw_init(gc_adamw *o, int64_t n, double lr, double weight_decay);
void gc_adamw_free(gc_adamw *o);
/* One step over p[n] with gradient g[n]: p *= 1 - lr*wd; m, v updated; p -= lr/(1-beta1^t) * m /
 * (sqrt(v)/sqrt(1-beta2^t) + eps) with t = the step count and the CURRENT beta1 (torch 1.13). Scalars in
 * double, tensor arithmetic in float32 as torch. Elements with skip[i] set (params that get no
 * gradient, e.g. self_logit_scale) are left untouched; skip may be NULL. */
void gc_adamw_step(gc_adamw *o, float *p, const float *g, const uint8_t *skip);

typedef enum { GC_SCHED_CONSTANT = 0, GC_SCHED_ONE_CYCLE = 1 } gc_sched_kind;

typedef struct {
    gc_sched_kind kind;
    double max_lr;         /* LR (1.25e-3) */
    int64_t total_steps;   /* one-cycle: epochs * steps_per_epoch (reference: 53339 per epoch) */
    double pct_start;      /* 0.3 */
    double div_factor;     /* 25 */
    double final_div;      /* 1e4 */
    double base_momentum;  /* 0.85 */
    double max_momentum;   /* 0.95 */
    double beta1_constant; /* beta1 without a schedule (0.9) */
} gc_lr_schedule;

/* The reference's one-cycle schedule for `epochs` epochs of `steps_per_epoch` steps. */
gc_lr_schedule gc_schedule_one_cycle(double max_lr, int64_t steps_per_epoch, int64_t epochs);
gc_lr_schedule gc_schedule_constant(double lr);
/* lr and beta1 after k scheduler steps (k = 0: at construction) = what optimizer step k+1 uses.
 * One-cycle refuses k > total_steps as PyTorch does ("Tried to step ..."). */
gc_status gc_schedule_at(const gc_lr_schedule *s, int64_t k, double *lr, double *beta1);

#endif
