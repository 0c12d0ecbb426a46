#include "train/train_loop.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

gc_status gc_pair_order(int64_t n, uint64_t seed, int64_t **order) {
    *order = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(int64_t));
    if (!*order) return gc_error_context(GC_ERR_NOMEM, "pair order");
    uint64_t s = seed ^ 0x5348554646ull;
    for (int64_t i = 0; i < n; i++) (*order)[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(gc_rng_uniform(&s) * (double)(i + 1));
        const int64_t tmp = (*order)[i];
        (*order)[i] = (*order)[j];
        (*order)[j] = tmp;
    }
    return GC_OK;
}

static void log_line(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(FILE *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
    fflush(log);
}

static gc_status validate(gc_trainer *t, gc_val_fn val, void *val_ctx, const gc_train_config *cfg, FILE *log) {
    double score = 0;
    if (val) GC_TRY(val(val_ctx, t->m, &score));
    const bool better = val && score > t->best;
    if (better) t->best = score;
    log_line(log, "val step %lld score %.6f best %.6f%s\n", (long long)t->opt.step, score, t->best,
             better ? " (saved best)" : "");
    if (better) GC_TRY(gc_trainer_save(t, cfg->out_dir, "best"));
    return gc_trainer_save(t, cfg->out_dir, "last");
}

gc_status gc_train_loop(gc_trainer *t, const gc_pair_source *src, gc_val_fn val, void *val_ctx,
                        const gc_train_config *cfg) {
    if (src->n_pairs <= 0) return gc_errorf(GC_ERR_ARG, "training: no training pairs");
    if (!gc_dir_exists(cfg->out_dir)) return gc_errorf(GC_ERR_IO, "%s: output folder does not exist", cfg->out_dir);
    if (cfg->resume) GC_TRY(gc_trainer_resume(t, cfg->out_dir, "last"));
    int64_t *order;
    GC_TRY(gc_pair_order(src->n_pairs, t->cfg.seed, &order));
    char path[1200];
    snprintf(path, sizeof path, "%s/train.log", cfg->out_dir);
    FILE *log = fopen(path, cfg->resume ? "a" : "w");
    if (!log) {
        gc_free(order);
        return gc_errorf(GC_ERR_IO, "%s: cannot open the training log", path);
    }
    const int64_t total = src->n_pairs * cfg->epochs;
    const double t0 = gc_now();
    const int64_t start = t->opt.step;
    gc_status s = GC_OK;
    for (int64_t step = start; s == GC_OK && step < total; step++) {
        if (cfg->max_steps > 0 && step >= cfg->max_steps) break;
        const int64_t i = step % src->n_pairs;
        gc_step_inputs in;
        memset(&in, 0, sizeof in);
        s = src->get(src->ctx, order[i], &in);
        if (s != GC_OK) break;
        gc_pair_loss loss;
        double lr;
        s = gc_trainer_step(t, &in, &loss, &lr);
        if (s != GC_OK) break;
        log_line(log, "step %lld epoch %lld pair %lld loss %.6f lr %.6g", (long long)t->opt.step,
                 (long long)(step / src->n_pairs), (long long)order[i], loss.loss, lr);
        for (int k = 0; k < loss.n_terms; k++)
            log_line(log, " %s %.6f", loss.t[k].name, loss.t[k].value);
        log_line(log, " sparse %.6f\n", loss.t[0].sparse);
        if (cfg->progress) cfg->progress(cfg->progress_ctx, step + 1, total, loss.loss, gc_now() - t0);
        gc_pair_loss_free(&loss);
        const bool epoch_end = i == src->n_pairs - 1;
        if ((cfg->val_every > 0 && i > 0 && i % cfg->val_every == 0) || epoch_end)
            s = validate(t, val, val_ctx, cfg, log);
    }
    /* an interrupted schedule (max_steps) still leaves a resumable last checkpoint */
    if (s == GC_OK && cfg->max_steps > 0 && t->opt.step < total) s = gc_trainer_save(t, cfg->out_dir, "last");
    fclose(log);
    gc_free(order);
    return s;
}
