#include "train/optim.h"

#include <math.h>
#include <string.h>

gc_status gc_adamw_init(gc_adamw *o, int64_t n, double lr, double weight_decay) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = weight_decay;
    o->n = n;
    o->m = gc_calloc((size_t)n, sizeof(float));
    o->v = gc_calloc((size_t)n, sizeof(float));
    if (!o->m || !o->v) {
        gc_adamw_free(o);
        return gc_error_context(GC_ERR_NOMEM, "AdamW moments");
    }
    return GC_OK;
}

void gc_adamw_free(gc_adamw *o) {
    gc_free(o->m);
    gc_free(o->v);
    memset(o, 0, sizeof *o);
}

void gc_adamw_step(gc_adamw *o, float *p, const float *g, const uint8_t *skip) {
    o->step++;
    const double t = (double)o->step;
    const float decay = (float)(1.0 - o->lr * o->weight_decay);
    const float b1 = (float)o->beta1, a1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, a2 = (float)(1.0 - o->beta2);
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    const float step_size = (float)(-(o->lr / bc1)), bc2_sqrt = (float)sqrt(bc2), eps = (float)o->eps;
    float *m = o->m, *v = o->v;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < o->n; i++) {
        if (skip && skip[i]) continue;
        p[i] *= decay;
        m[i] = m[i] * b1 + a1 * g[i];
        v[i] = v[i] * b2 + a2 * g[i] * g[i];
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] += step_size * (m[i] / denom);
    }
}

gc_lr_schedule gc_schedule_one_cycle(double max_lr, int64_t steps_per_epoch, int64_t epochs) {
    return (gc_lr_schedule){.kind = GC_SCHED_ONE_CYCLE, .max_lr = max_lr, .total_steps = steps_per_epoch * epochs,
                            .pct_start = 0.3, .div_factor = 25.0, .final_div = 1e4, .base_momentum = 0.85,
                            .max_momentum = 0.95, .beta1_constant = 0.9};
}

gc_lr_schedule gc_schedule_constant(double lr) {
    return (gc_lr_schedule){.kind = GC_SCHED_CONSTANT, .max_lr = lr, .beta1_constant = 0.9};
}

/* torch's _annealing_cos */
static double anneal_cos(double start, double end, double pct) {
    const double cos_out = cos(M_PI * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
}

gc_status gc_schedule_at(const gc_lr_schedule *s, int64_t k, double *lr, double *beta1) {
    if (s->kind == GC_SCHED_CONSTANT) {
        *lr = s->max_lr;
        *beta1 = s->beta1_constant;
        return GC_OK;
    }
    if (k > s->total_steps)
        return gc_errorf(GC_ERR_ARG, "one-cycle schedule: tried to step %lld times, the schedule has %lld steps",
                         (long long)k + 1, (long long)s->total_steps);
    const double initial = s->max_lr / s->div_factor, min_lr = initial / s->final_div;
    const double end1 = s->pct_start * (double)s->total_steps - 1.0, end2 = (double)s->total_steps - 1.0;
    const double step = (double)k;
    if (step <= end1) {
        const double pct = step / end1;
        *lr = anneal_cos(initial, s->max_lr, pct);
        *beta1 = anneal_cos(s->max_momentum, s->base_momentum, pct);
    } else {
        const double pct = (step - end1) / (end2 - end1);
        *lr = anneal_cos(s->max_lr, min_lr, pct);
        *beta1 = anneal_cos(s->base_momentum, s->max_momentum, pct);
    }
    return GC_OK;
}
