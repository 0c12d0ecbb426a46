/* `geocorr train`: train the post-processor on cached features (arguments only; the work is
 * gc_train_loop over gc_train_data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "train/train_data.h"
#include "train/trainer.h"

#define GC_REF_STEPS_PER_EPOCH 53339 /* the reference's OneCycleLR steps_per_epoch (SPair trn // BZ) */

static const char k_usage[] =
    "usage: geocorr train --dataset spair|ap10k|pfpascal --root DIR --cache DIR --out DIR\n"
    "         [--init CKPT | [--feature-dims C3,C4,C5,CD|CD] [--proj-dim 768]] [--norm-groups G]\n"
    "         [--epochs N] [--lr X] [--wd X] [--schedule one-cycle|constant] [--steps-per-epoch reference|dataset]\n"
    "         [--pair-augment] [--dropout P] [--jitter G] [--seed S] [--val-every N] [--val-pairs N]\n"
    "         [--train-split trn] [--val-split val] [--max-steps N] [--resume] [--flip-tables F.json] [--threads N]\n\n"
    "Trains the post-processor (REFERENCE.md §5) on the feature cache: <cache>/<image without extension>.safetensors\n"
    "(and _flip with --pair-augment) holding s3, s4, s5, dino with the channel counts of the --init checkpoint\n"
    "(safetensors, the authors' .PTH, or a folder with config.json giving num_norm_groups). Without --init the\n"
    "network starts from the reference's initialisation drawn with the seed (Kaiming normal fan_out convs,\n"
    "GroupNorm 1/0, mixing 1, logit_scale ln(1/0.07)), its widths from the cache's maps of the first training\n"
    "pair (or --feature-dims; dino alone: a DINO-only network), output --proj-dim, --norm-groups (32). Pairs are shuffled\n"
    "once with the seed; every --val-every steps and at epoch ends PCK@0.1 (PF-Pascal @0.05, per image, window\n"
    "soft-argmax 7) on the validation split; OUT gets best.safetensors, last.safetensors (reference state-dict\n"
    "names), their .state.safetensors (optimiser, grids, random state) and train.log. --resume continues from\n"
    "OUT/last. --max-steps stops early with a resumable checkpoint. Defaults: lr 1.25e-3, wd 1e-3, dropout 0.2,\n"
    "jitter 0.1, seed 42, epochs 2, one-cycle over the reference's 53,339 steps per epoch for SPair, constant lr\n"
    "elsewhere (as the reference's configs); --steps-per-epoch dataset uses the true pair count.\n";

/* --feature-dims: 4 comma-separated widths (s3, s4, s5, dino) or 1 (dino only). */
static gc_status parse_dims(const char *text, int *n, int64_t *fd) {
    const char *p = text;
    for (*n = 0; *n < GC_PP_GROUPS; (*n)++) {
        char *end;
        const long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || v > (1 << 20)) break;
        fd[*n] = v;
        if (*end == 0 && (*n + 1 == 1 || *n + 1 == GC_PP_GROUPS)) {
            (*n)++;
            return GC_OK;
        }
        if (*end != ',') break;
        p = end + 1;
    }
    return gc_errorf(GC_ERR_ARG, "--feature-dims '%s': expected 4 positive widths C3,C4,C5,CD or 1 (dino only)", text);
}

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    const char *ds_name, *root, *cache, *out;
    GC_TRY(gc_arg_req(a, "--dataset", &ds_name));
    GC_TRY(gc_arg_req(a, "--root", &root));
    GC_TRY(gc_arg_req(a, "--cache", &cache));
    GC_TRY(gc_arg_req(a, "--out", &out));
    const char *init = gc_arg_str(a, "--init", NULL), *feature_dims = gc_arg_str(a, "--feature-dims", NULL);
    int64_t epochs, seed, val_every, val_pairs, max_steps, proj_dim, norm_groups;
    GC_TRY(gc_arg_int(a, "--proj-dim", 0, &proj_dim));
    GC_TRY(gc_arg_int(a, "--norm-groups", 0, &norm_groups));
    double lr, wd, dropout, jitter;
    GC_TRY(gc_arg_int(a, "--epochs", 2, &epochs));
    GC_TRY(gc_arg_double(a, "--lr", 1.25e-3, &lr));
    GC_TRY(gc_arg_double(a, "--wd", 1e-3, &wd));
    GC_TRY(gc_arg_double(a, "--dropout", 0.2, &dropout));
    GC_TRY(gc_arg_double(a, "--jitter", 0.1, &jitter));
    GC_TRY(gc_arg_int(a, "--seed", 42, &seed));
    GC_TRY(gc_arg_int(a, "--val-every", 0, &val_every));
    GC_TRY(gc_arg_int(a, "--val-pairs", 0, &val_pairs));
    GC_TRY(gc_arg_int(a, "--max-steps", 0, &max_steps));
    const char *schedule = gc_arg_str(a, "--schedule", NULL), *spe = gc_arg_str(a, "--steps-per-epoch", "reference");
    const char *train_split = gc_arg_str(a, "--train-split", "trn"), *val_split = gc_arg_str(a, "--val-split", "val");
    const char *flip_tables = gc_arg_str(a, "--flip-tables", NULL);
    const bool augment = gc_arg_flag(a, "--pair-augment"), resume = gc_arg_flag(a, "--resume");
    GC_TRY(gc_cli_threads(a));
    GC_TRY(gc_args_finish(a));
    gc_dataset_kind kind;
    GC_TRY(gc_dataset_kind_parse(ds_name, &kind));
    if (!spe || !train_split || !val_split) return gc_errorf(GC_ERR_ARG, "train: an option lacks its value");
    if (!schedule) schedule = kind == GC_DS_SPAIR ? "one-cycle" : "constant";
    if (strcmp(schedule, "one-cycle") && strcmp(schedule, "constant"))
        return gc_errorf(GC_ERR_ARG, "--schedule '%s': expected one-cycle or constant", schedule);
    if (strcmp(spe, "reference") && strcmp(spe, "dataset"))
        return gc_errorf(GC_ERR_ARG, "--steps-per-epoch '%s': expected reference or dataset", spe);
    if (epochs < 1 || epochs > 1000000) return gc_errorf(GC_ERR_ARG, "--epochs %lld: expected 1 or more", (long long)epochs);
    if (!(lr > 0) || !(wd >= 0) || !(dropout >= 0 && dropout < 1) || !(jitter >= 0))
        return gc_errorf(GC_ERR_ARG, "train: --lr > 0, --wd >= 0, 0 <= --dropout < 1, --jitter >= 0 expected");
    if (val_every < 0 || val_pairs < 0 || max_steps < 0)
        return gc_errorf(GC_ERR_ARG, "train: --val-every, --val-pairs and --max-steps must not be negative");
    if (init && (feature_dims || proj_dim))
        return gc_errorf(GC_ERR_ARG, "train: --feature-dims and --proj-dim build a new network; --init %s gives them", init);
    if (proj_dim < 0 || norm_groups < 0)
        return gc_errorf(GC_ERR_ARG, "train: --proj-dim and --norm-groups must be positive");
    int n_groups = 0;
    int64_t fd[GC_PP_GROUPS];
    if (feature_dims) GC_TRY(parse_dims(feature_dims, &n_groups, fd));
    if (!gc_dir_exists(out) && mkdir(out, 0755) != 0)
        return gc_errorf(GC_ERR_IO, "%s: cannot create the output folder", out);

    gc_postproc m = {0};
    gc_train_data data;
    gc_train_val val;
    gc_trainer t;
    memset(&val, 0, sizeof val);
    memset(&t, 0, sizeof t);
    gc_status s = gc_train_data_init(&data, kind, root, train_split, cache, augment, flip_tables, NULL);
    if (s != GC_OK) return s;
    if (init) {
        s = gc_postproc_open(&m, init, norm_groups);
    } else {
        if (!n_groups) s = gc_train_data_cache_dims(&data, &n_groups, fd);
        if (s == GC_OK) s = gc_postproc_new(&m, n_groups, fd, proj_dim ? proj_dim : 768, norm_groups ? norm_groups : 32);
        if (s == GC_OK) gc_postproc_init_reference(&m, (uint64_t)seed);
    }
    if (s != GC_OK) {
        gc_train_data_free(&data);
        return s;
    }
    data.m = &m;
    s = gc_train_val_init(&val, kind, root, val_split, cache, kind == GC_DS_PFPASCAL ? 0.05 : 0.1, (int)val_pairs);
    gc_train_cfg cfg = {.loss = gc_loss_cfg_default(), .lr = lr, .weight_decay = wd, .dropout = dropout,
                        .seed = (uint64_t)seed};
    cfg.loss.jitter = jitter;
    if (!augment) cfg.loss.w_single = cfg.loss.w_double = cfg.loss.w_self = 0;
    cfg.loss.thr_unscaled = kind == GC_DS_PFPASCAL; /* the reference's PF-Pascal quirk (§11.9), kept for parity */
    const int64_t steps = strcmp(spe, "dataset") == 0 ? data.set.n_pairs : GC_REF_STEPS_PER_EPOCH;
    cfg.sched = strcmp(schedule, "one-cycle") == 0 ? gc_schedule_one_cycle(lr, steps, epochs) : gc_schedule_constant(lr);
    if (s == GC_OK) s = gc_trainer_init(&t, &m, &cfg);
    if (s == GC_OK) {
        gc_pair_source src = gc_train_data_source(&data);
        gc_loop_cfg lc = {.epochs = epochs, .val_every = val_every, .max_steps = max_steps, .out_dir = out,
                          .resume = resume, .progress = isatty(2) != 0};
        s = gc_train_loop(&t, &src, gc_train_val_score, &val, &lc);
        if (s == GC_OK)
            printf("trained %lld steps; best PCK@%g %.4f; checkpoints in %s\n", (long long)t.opt.step, val.alpha, t.best,
                   out);
    }
    gc_trainer_free(&t);
    gc_train_val_free(&val);
    gc_train_data_free(&data);
    gc_postproc_clear(&m);
    return s;
}

const gc_command gc_cmd_train = {"train", "train the post-processor on cached features", run};
