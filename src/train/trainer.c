#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

double gc_rng_uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 40) * (1.0 / 16777216.0);
}

double gc_rng_normal(uint64_t *state) {
    const double u1 = gc_rng_uniform(state), u2 = gc_rng_uniform(state);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

void gc_postproc_init_reference(gc_postproc *m, uint64_t seed) {
    uint64_t rng = seed ^ 0x494E4954ull; /* "INIT" */
    for (int i = 0; i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        float *p = m->data + t->offset;
        const char *leaf = strrchr(t->name, '.');
        if (t->ndim == 4) { /* c2_msra_fill: Kaiming normal, fan_out, ReLU gain */
            const double std = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
            for (int64_t j = 0; j < t->numel; j++) p[j] = (float)(std * gc_rng_normal(&rng));
        } else if (leaf && strcmp(leaf, ".bias") == 0) {
            memset(p, 0, (size_t)t->numel * sizeof(float));
        } else if (strcmp(t->name, "logit_scale") == 0) {
            *p = logf(1.0f / 0.07f);
        } else if (strcmp(t->name, "self_logit_scale") == 0) {
            *p = logf(10.0f);
        } else { /* norm.weight, mixing_weights */
            for (int64_t j = 0; j < t->numel; j++) p[j] = 1.0f;
        }
    }
}

gc_status gc_trainer_init(gc_trainer *t, gc_postproc *m, const gc_trainer_cfg *cfg) {
    memset(t, 0, sizeof *t);
    t->m = m;
    t->cfg = *cfg;
    t->best = -1;
    t->rng = cfg->seed;
    const int64_t side = cfg->loss.side;
    t->n = m->n_params + 2 * side;
    t->p = gc_alloc_array((size_t)t->n, sizeof(float));
    t->grad = gc_alloc_array((size_t)t->n, sizeof(float));
    t->skip = gc_calloc((size_t)t->n, 1);
    if (!t->p || !t->grad || !t->skip) {
        gc_trainer_free(t);
        return gc_error_context(GC_ERR_NOMEM, "trainer");
    }
    memcpy(t->p, m->data, (size_t)m->n_params * sizeof(float));
    gc_grid_linspace(t->p + m->n_params, side);
    gc_grid_linspace(t->p + m->n_params + side, side);
    t->skip[gc_postproc_tensor(m, "self_logit_scale")->offset] = 1;
    if (cfg->dropout > 0) {
        if (cfg->dropout >= 1) {
            gc_trainer_free(t);
            return gc_errorf(GC_ERR_ARG, "dropout %g: must be in [0, 1)", cfg->dropout);
        }
        for (int k = 0; k < 4; k++) {
            t->drop[k] = gc_alloc_array((size_t)(m->cin * side * side), sizeof(float));
            if (!t->drop[k]) {
                gc_trainer_free(t);
                return gc_error_context(GC_ERR_NOMEM, "dropout masks");
            }
        }
    }
    gc_status s = gc_adamw_init(&t->opt, t->n, cfg->lr, cfg->weight_decay);
    if (s != GC_OK) gc_trainer_free(t);
    return s;
}

void gc_trainer_free(gc_trainer *t) {
    gc_free(t->p);
    gc_free(t->grad);
    gc_free(t->skip);
    for (int k = 0; k < 4; k++) gc_free(t->drop[k]);
    gc_adamw_free(&t->opt);
    memset(t, 0, sizeof *t);
}

static gc_status rng_jitter(void *ctx, int term, int64_t n, float *z) {
    (void)term;
    for (int64_t i = 0; i < 2 * n; i++) z[i] = (float)gc_rng_normal(ctx);
    return GC_OK;
}

gc_status gc_trainer_step(gc_trainer *t, const gc_step_inputs *in, gc_pair_loss *loss, double *lr_out) {
    gc_postproc *m = t->m;
    const int64_t side = t->cfg.loss.side, n = m->cin * side * side;
    double lr, beta1;
    GC_TRY(gc_schedule_at(&t->cfg.sched, t->opt.step, &lr, &beta1));
    gc_step_inputs si = *in;
    const float keep = (float)(1.0 / (1.0 - t->cfg.dropout));
    for (int k = 0; k < 4; k++) {
        si.drop[k] = NULL;
        if (!t->drop[k] || !in->x[k]) continue;
        /* sequential draws: the mask does not depend on the thread count */
        for (int64_t i = 0; i < n; i++) t->drop[k][i] = gc_rng_uniform(&t->rng) >= t->cfg.dropout ? keep : 0.0f;
        si.drop[k] = t->drop[k];
    }
    memcpy(m->data, t->p, (size_t)m->n_params * sizeof(float));
    memset(t->grad, 0, (size_t)t->n * sizeof(float));
    gc_pp_cache caches[4];
    GC_TRY(gc_train_step(m, t->p + m->n_params, &t->cfg.loss, &si, rng_jitter, &t->rng, t->grad, t->grad + m->n_params,
                         caches, loss));
    for (int k = 0; k < 4; k++) gc_pp_cache_free(&caches[k]);
    t->opt.lr = lr;
    t->opt.beta1 = beta1;
    gc_adamw_step(&t->opt, t->p, t->grad, t->skip);
    memcpy(m->data, t->p, (size_t)m->n_params * sizeof(float));
    if (lr_out) *lr_out = lr;
    return GC_OK;
}

gc_status gc_trainer_save(const gc_trainer *t, const char *dir, const char *name) {
    const gc_postproc *m = t->m;
    const int64_t side = t->cfg.loss.side;
    char path[1200];
    gc_st_writer *wr = gc_st_writer_new();
    if (!wr) return gc_errorf(GC_ERR_NOMEM, "checkpoint writer");
    gc_status s = gc_postproc_add_to_writer(m, t->p, "", wr);
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    if (s != GC_OK) return s;
    wr = gc_st_writer_new();
    if (!wr) return gc_errorf(GC_ERR_NOMEM, "checkpoint writer");
    s = GC_ST_ADD_F32(wr, "corr_map_net.x_normal", t->p + m->n_params, side);
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "corr_map_net.y_normal", t->p + m->n_params + side, side);
    if (s == GC_OK) s = gc_postproc_add_to_writer(m, t->opt.m, "exp_avg.", wr);
    if (s == GC_OK) s = gc_postproc_add_to_writer(m, t->opt.v, "exp_avg_sq.", wr);
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "exp_avg.corr_map_net", t->opt.m + m->n_params, 2 * side);
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "exp_avg_sq.corr_map_net", t->opt.v + m->n_params, 2 * side);
    const int64_t counters[2] = {t->opt.step, (int64_t)t->rng};
    if (s == GC_OK) s = gc_st_writer_add(wr, "state.step_rng", GC_DT_I64, 1, (const int64_t[]){2}, counters);
    if (s == GC_OK) s = gc_st_writer_add(wr, "state.best", GC_DT_F64, 1, (const int64_t[]){1}, &t->best);
    snprintf(path, sizeof path, "%s/%s.state.safetensors", dir, name);
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    return s;
}

/* Copy every tensor of m's layout, with `prefix`, from w into dst. */
static gc_status read_layout(const gc_postproc *m, gc_weights *w, const char *prefix, float *dst) {
    for (int i = 0; i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        const float *src;
        GC_TRY(gc_weights_f32(w, name, t->ndim, t->shape, &src));
        memcpy(dst + t->offset, src, (size_t)t->numel * sizeof(float));
    }
    return GC_OK;
}

gc_status gc_trainer_resume(gc_trainer *t, const char *dir, const char *name) {
    const gc_postproc *m = t->m;
    const int64_t side = t->cfg.loss.side;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    gc_weights *w;
    GC_TRY(gc_weights_open(path, &w));
    gc_status s = read_layout(m, w, "", t->p);
    gc_weights_free(w);
    if (s != GC_OK) return s;
    snprintf(path, sizeof path, "%s/%s.state.safetensors", dir, name);
    GC_TRY(gc_weights_open(path, &w));
    const float *a, *b;
    s = GC_WEIGHT(w, "corr_map_net.x_normal", &a, side);
    if (s == GC_OK) s = GC_WEIGHT(w, "corr_map_net.y_normal", &b, side);
    if (s == GC_OK) {
        memcpy(t->p + m->n_params, a, (size_t)side * sizeof(float));
        memcpy(t->p + m->n_params + side, b, (size_t)side * sizeof(float));
        s = read_layout(m, w, "exp_avg.", t->opt.m);
    }
    if (s == GC_OK) s = read_layout(m, w, "exp_avg_sq.", t->opt.v);
    if (s == GC_OK) s = GC_WEIGHT(w, "exp_avg.corr_map_net", &a, 2 * side);
    if (s == GC_OK) s = GC_WEIGHT(w, "exp_avg_sq.corr_map_net", &b, 2 * side);
    if (s == GC_OK) {
        memcpy(t->opt.m + m->n_params, a, (size_t)(2 * side) * sizeof(float));
        memcpy(t->opt.v + m->n_params, b, (size_t)(2 * side) * sizeof(float));
        const gc_tensor_ref *c = gc_weights_find(w, "state.step_rng"), *bs = gc_weights_find(w, "state.best");
        if (!c || c->dtype != GC_DT_I64 || c->numel != 2 || !bs || bs->dtype != GC_DT_F64 || bs->numel != 1) {
            s = gc_errorf(GC_ERR_FORMAT, "%s: missing or malformed 'state.step_rng' / 'state.best'", path);
        } else {
            int64_t v[2];
            memcpy(v, c->data, sizeof v);
            memcpy(&t->best, bs->data, sizeof t->best);
            t->opt.step = v[0];
            t->rng = (uint64_t)v[1];
        }
    }
    gc_weights_free(w);
    if (s == GC_OK) memcpy(t->m->data, t->p, (size_t)m->n_params * sizeof(float));
    return s;
}
