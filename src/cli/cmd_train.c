/* `geocorr train`: train the post-processor on cached features (arguments and the progress line; the
 * work is gc_train of geocorr.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char k_usage[] =
    "usage: geocorr train --dataset spair|ap10k|pfpascal --root DIR --cache DIR --out DIR\n"
    "         [--init CKPT | [--feature-dims C3,C4,C5,CD|CD] [--proj-dim 768]] [--norm-groups G]\n"
    "         [--epochs N] [--lr X] [--wd X] [--schedule one-cycle|constant] [--steps-per-epoch reference|dataset]\n"
    "         [--pair-augment] [--dropout P] [--jitter G] [--seed S] [--val-every N] [--val-pairs N]\n"
    "         [--train-split trn] [--val-split val] [--max-steps N] [--resume] [--flip-tables F.json] [--threads N]\n"
    "         [--no-progress]\n\n"
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
    for (*n = 0; *n < 4; (*n)++) {
        char *end;
        const long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || v > (1 << 20)) break;
        fd[*n] = v;
        if (*end == 0 && (*n + 1 == 1 || *n + 1 == 4)) {
            (*n)++;
            return GC_OK;
        }
        if (*end != ',') break;
        p = end + 1;
    }
    return gc_errorf(GC_ERR_ARG, "--feature-dims '%s': expected 4 positive widths C3,C4,C5,CD or 1 (dino only)", text);
}

/* Steps and the loss through the progress display; rates count from this run's first step (--resume). */
static void show_progress(void *ctx, int64_t step, int64_t total, double loss, double seconds) {
    gc_progress *p = ctx;
    if (!p->started) p->base = step - 1;
    char extra[64];
    snprintf(extra, sizeof extra, "loss %.4f", loss);
    gc_progress_update(p, step, total, seconds, extra);
}

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    gc_train_config c;
    gc_train_config_default(&c);
    GC_TRY(gc_arg_req(a, "--dataset", &c.dataset));
    GC_TRY(gc_arg_req(a, "--root", &c.root));
    GC_TRY(gc_arg_req(a, "--cache", &c.cache_dir));
    GC_TRY(gc_arg_req(a, "--out", &c.out_dir));
    c.init = gc_arg_str(a, "--init", NULL);
    const char *feature_dims = gc_arg_str(a, "--feature-dims", NULL);
    int64_t seed;
    GC_TRY(gc_arg_int(a, "--proj-dim", 0, &c.proj_dim));
    GC_TRY(gc_arg_int(a, "--norm-groups", 0, &c.norm_groups));
    GC_TRY(gc_arg_int(a, "--epochs", c.epochs, &c.epochs));
    GC_TRY(gc_arg_double(a, "--lr", c.lr, &c.lr));
    GC_TRY(gc_arg_double(a, "--wd", c.weight_decay, &c.weight_decay));
    GC_TRY(gc_arg_double(a, "--dropout", c.dropout, &c.dropout));
    GC_TRY(gc_arg_double(a, "--jitter", c.jitter, &c.jitter));
    GC_TRY(gc_arg_int(a, "--seed", (int64_t)c.seed, &seed));
    c.seed = (uint64_t)seed;
    GC_TRY(gc_arg_int(a, "--val-every", 0, &c.val_every));
    GC_TRY(gc_arg_int(a, "--val-pairs", 0, &c.val_pairs));
    GC_TRY(gc_arg_int(a, "--max-steps", 0, &c.max_steps));
    const char *schedule = gc_arg_str(a, "--schedule", NULL), *spe = gc_arg_str(a, "--steps-per-epoch", "reference");
    c.train_split = gc_arg_str(a, "--train-split", "trn");
    c.val_split = gc_arg_str(a, "--val-split", "val");
    c.flip_tables = gc_arg_str(a, "--flip-tables", NULL);
    c.pair_augment = gc_arg_flag(a, "--pair-augment");
    c.resume = gc_arg_flag(a, "--resume");
    gc_progress bar;
    gc_progress_init(&bar, "train", "step", !gc_arg_flag(a, "--no-progress"));
    GC_TRY(gc_args_finish(a));
    if (!spe || !c.train_split || !c.val_split) return gc_errorf(GC_ERR_ARG, "train: an option lacks its value");
    if (schedule && strcmp(schedule, "one-cycle") && strcmp(schedule, "constant"))
        return gc_errorf(GC_ERR_ARG, "--schedule '%s': expected one-cycle or constant", schedule);
    c.schedule = !schedule ? GC_SCHEDULE_DEFAULT : !strcmp(schedule, "one-cycle") ? GC_SCHEDULE_ONE_CYCLE : GC_SCHEDULE_CONSTANT;
    if (strcmp(spe, "reference") && strcmp(spe, "dataset"))
        return gc_errorf(GC_ERR_ARG, "--steps-per-epoch '%s': expected reference or dataset", spe);
    c.steps_per_epoch_dataset = strcmp(spe, "dataset") == 0;
    if (feature_dims) GC_TRY(parse_dims(feature_dims, &c.n_feature_dims, c.feature_dims));
    c.progress = show_progress, c.progress_ctx = &bar;
    gc_train_result r;
    gc_status s = gc_train(&c, &r);
    gc_progress_end(&bar);
    if (s == GC_OK)
        printf("trained %lld steps; best PCK@%g %.4f; checkpoints in %s\n", (long long)r.steps, r.alpha, r.best, c.out_dir);
    return s;
}

const gc_command gc_cmd_train = {"train", "train the post-processor on cached features", run};
