/* The public training API (gc_train of geocorr.h): the training split through the dataset module,
 * the feature cache, a post-processor from a checkpoint or the reference's initialisation, the
 * trainer and the loop. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "train/train_data.h"
#include "train/trainer.h"

#define GC_REF_STEPS_PER_EPOCH 53339 /* the reference's OneCycleLR steps_per_epoch (SPair trn // BZ) */

void gc_train_config_default(gc_train_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 2;
    c->lr = 1.25e-3;
    c->weight_decay = 1e-3;
    c->dropout = 0.2;
    c->jitter = 0.1;
    c->seed = 42;
}

static gc_status check_config(const gc_train_config *c) {
    if (!c->dataset || !c->root || !c->cache_dir || !c->out_dir)
        return gc_errorf(GC_ERR_ARG, "training: the dataset, its folder, the feature cache and the output folder are required");
    if (c->epochs < 1 || c->epochs > 1000000) return gc_errorf(GC_ERR_ARG, "training: %lld epochs (1 or more)", (long long)c->epochs);
    if (!(c->lr > 0) || !(c->weight_decay >= 0) || !(c->dropout >= 0 && c->dropout < 1) || !(c->jitter >= 0))
        return gc_errorf(GC_ERR_ARG, "training: learning rate > 0, weight decay >= 0, 0 <= dropout < 1 and jitter >= 0 expected");
    if (c->val_every < 0 || c->val_pairs < 0 || c->max_steps < 0)
        return gc_errorf(GC_ERR_ARG, "training: validation interval, validation pairs and step limit must not be negative");
    if (c->init && (c->n_feature_dims || c->proj_dim))
        return gc_errorf(GC_ERR_ARG, "training: feature widths and projection width build a new network; the checkpoint %s gives them",
                         c->init);
    if (c->proj_dim < 0 || c->norm_groups < 0) return gc_errorf(GC_ERR_ARG, "training: projection width and GroupNorm groups must be positive");
    if (c->n_feature_dims != 0 && c->n_feature_dims != 1 && c->n_feature_dims != GC_PP_GROUPS)
        return gc_errorf(GC_ERR_ARG, "training: %d feature widths (4: s3, s4, s5, dino; or 1: dino)", c->n_feature_dims);
    if ((unsigned)c->schedule > GC_SCHEDULE_CONSTANT) return gc_errorf(GC_ERR_ARG, "training: unknown schedule %d", (int)c->schedule);
    return GC_OK;
}

gc_status gc_train(const gc_train_config *c, gc_train_result *result) {
    memset(result, 0, sizeof *result);
    GC_TRY(check_config(c));
    gc_dataset_kind kind;
    GC_TRY(gc_dataset_kind_parse(c->dataset, &kind));
    if (!gc_dir_exists(c->out_dir) && mkdir(c->out_dir, 0777) != 0)
        return gc_errorf(GC_ERR_IO, "%s: cannot create the output folder", c->out_dir);
    const char *train_split = c->train_split ? c->train_split : "trn", *val_split = c->val_split ? c->val_split : "val";
    gc_postproc m = {0};
    gc_train_data data;
    gc_train_val val;
    gc_trainer t;
    memset(&val, 0, sizeof val);
    memset(&t, 0, sizeof t);
    GC_TRY(gc_train_data_init(&data, kind, c->root, train_split, c->cache_dir, c->pair_augment != 0, c->flip_tables, NULL));
    gc_status s;
    if (c->init) {
        s = gc_postproc_open(&m, c->init, c->norm_groups);
    } else {
        int n_groups = c->n_feature_dims;
        int64_t fd[GC_PP_GROUPS];
        memcpy(fd, c->feature_dims, sizeof fd);
        s = n_groups ? GC_OK : gc_train_data_cache_dims(&data, &n_groups, fd);
        if (s == GC_OK) s = gc_postproc_new(&m, n_groups, fd, c->proj_dim ? c->proj_dim : 768, c->norm_groups ? c->norm_groups : 32);
        if (s == GC_OK) gc_postproc_init_reference(&m, c->seed);
    }
    if (s != GC_OK) {
        gc_train_data_free(&data);
        return s;
    }
    data.m = &m;
    const double alpha = kind == GC_DS_PFPASCAL ? 0.05 : 0.1;
    s = gc_train_val_init(&val, kind, c->root, val_split, c->cache_dir, alpha, (int)c->val_pairs);
    gc_trainer_cfg cfg = {.loss = gc_loss_cfg_default(), .lr = c->lr, .weight_decay = c->weight_decay, .dropout = c->dropout,
                          .seed = c->seed};
    cfg.loss.jitter = c->jitter;
    if (!c->pair_augment) cfg.loss.w_single = cfg.loss.w_double = cfg.loss.w_self = 0;
    cfg.loss.thr_unscaled = kind == GC_DS_PFPASCAL; /* the reference's PF-Pascal quirk (§11.9), kept for parity */
    const int64_t steps = c->steps_per_epoch_dataset ? data.set.n_pairs : GC_REF_STEPS_PER_EPOCH;
    const bool one_cycle = c->schedule == GC_SCHEDULE_ONE_CYCLE || (c->schedule == GC_SCHEDULE_DEFAULT && kind == GC_DS_SPAIR);
    cfg.sched = one_cycle ? gc_schedule_one_cycle(c->lr, steps, c->epochs) : gc_schedule_constant(c->lr);
    if (s == GC_OK) s = gc_trainer_init(&t, &m, &cfg);
    if (s == GC_OK) {
        gc_pair_source src = gc_train_data_source(&data);
        s = gc_train_loop(&t, &src, gc_train_val_score, &val, c);
        if (s == GC_OK) *result = (gc_train_result){.steps = t.opt.step, .best = t.best, .alpha = alpha};
    }
    gc_trainer_free(&t);
    gc_train_val_free(&val);
    gc_train_data_free(&data);
    gc_postproc_clear(&m);
    return s;
}
