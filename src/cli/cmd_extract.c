/* `geocorr extract --dataset spair|pfpascal|ap10k --root DIR [--split test] [--subset S] [--flip]
 *  [--poses auto|flip,rot90,...] --cache DIR [--dtype f32|f16] [--shard i/N] [--no-progress] [--status]
 *  (--models DIR | <model flags>) [--masks --sam W [--sam-config C]]`:
 * the feature cache of every image the split needs (resumable, shardable, safe for concurrent runs on one
 * folder), computed by the feature pipeline of `geocorr features` with the same model flags (--models,
 * --dinov2, --sd, --sd-config, --clip-vision, --text-encoder, --captioner, --dino-only; --dinov2 alone =
 * DINOv2 only); models are loaded once. --masks adds the reference's SAM instance masks of every
 * orientation (without model flags: the masks alone). `--status` prints done / total per shard of the N
 * of --shard i/N without loading any model. Arguments, the progress bar and the status table here; the work is
 * gc_extract / gc_extract_status of geocorr.h. GEOCORR_EXTRACT_CRASH_AFTER=n kills the process after n
 * written files, holding the claim of the next (used by the tests to show that a rerun completes the
 * cache). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* --status: what the cache holds for each of the shards (stdout), no model loaded. */
static gc_status print_status(const gc_extract_config *c) {
    gc_extract_shard_status *sh = gc_alloc_array((size_t)c->n_shards, sizeof *sh);
    gc_extract_models m;
    int n;
    if (!sh) return GC_ERR_NOMEM;
    gc_status s = gc_extract_status(c, sh, &m, &n);
    if (s != GC_OK) return gc_free(sh), s;
    gc_extract_shard_status all = {0};
    printf("cache %s: %s %s, %d images%s%s%s, %d shard%s\n", c->cache_dir, c->dataset, c->split, n,
           c->flip ? " x 2 orientations" : "", c->poses ? " (+ the poses asked for)" : "", c->masks ? ", with masks" : "",
           c->n_shards, c->n_shards > 1 ? "s" : "");
    for (int k = 0; k <= c->n_shards; k++) {
        const gc_extract_shard_status *e = k < c->n_shards ? &sh[k] : &all;
        if (k < c->n_shards) {
            all.total += e->total, all.done += e->done, all.invalid += e->invalid;
            all.running += e->running, all.stale += e->stale;
            all.masks += e->masks, all.masks_done += e->masks_done;
            printf("shard %d/%d: ", k, c->n_shards);
        } else {
            printf("all: ");
        }
        printf("%lld/%lld done", (long long)e->done, (long long)e->total);
        if (c->masks) printf(" (masks %lld/%lld)", (long long)e->masks_done, (long long)e->masks);
        if (e->running) printf(", %lld being computed", (long long)e->running);
        if (e->invalid) printf(", %lld invalid (redone by the next run)", (long long)e->invalid);
        if (e->stale) printf(", %lld stale claim%s (taken over by the next run)", (long long)e->stale, e->stale > 1 ? "s" : "");
        printf("%s\n", e->total && e->done == e->total ? " (complete)" : "");
    }
    for (int k = 0; k < m.n; k++) printf("model %s: %lld files\n", m.id[k], (long long)m.count[k]);
    if (m.other) printf("model (further ids): %lld files\n", (long long)m.other);
    if (m.n + (m.other > 0) > 1) printf("warning: the cache mixes models; eval refuses it until one model's files remain\n");
    gc_free(sh);
    return GC_OK;
}

/* The progress display (a line per tenth when stderr is not a terminal) and the test hook. */
typedef struct {
    gc_progress bar;
    int64_t crash_after; /* GEOCORR_EXTRACT_CRASH_AFTER (< 0: off) */
} extract_progress;

static int64_t settled(const gc_extract_stats *st) { return st->computed + st->redone + st->skipped + st->by_others; }

static void on_event(void *ctx, gc_extract_event ev, const gc_extract_stats *st, double seconds) {
    extract_progress *p = ctx;
    /* the test hook dies holding the claim of the file after the last one it may write */
    if (ev == GC_EXTRACT_FILE_STARTED && p->crash_after >= 0 && st->computed + st->redone >= p->crash_after) raise(SIGKILL);
    if (ev == GC_EXTRACT_WAITING) {
        char msg[128];
        snprintf(msg, sizeof msg, "extract: waiting for %lld file(s) being computed by concurrent runs",
                 (long long)(st->total - settled(st)));
        gc_progress_note(&p->bar, msg);
    } else if (ev == GC_EXTRACT_FILE_DONE) {
        gc_progress_update(&p->bar, settled(st), st->total, seconds, NULL);
    }
}

static gc_status run(gc_args *a) {
    gc_extract_config c = {0};
    gc_features_config models;
    GC_TRY(gc_arg_req(a, "--dataset", &c.dataset));
    GC_TRY(gc_arg_req(a, "--root", &c.root));
    GC_TRY(gc_arg_req(a, "--cache", &c.cache_dir));
    GC_TRY(gc_cli_features_config(a, &models));
    c.split = gc_arg_str(a, "--split", "test");
    c.subset = gc_arg_str(a, "--subset", NULL);
    const char *dtype = gc_arg_str(a, "--dtype", "f32"), *shard = gc_arg_str(a, "--shard", "0/1");
    c.flip = gc_arg_flag(a, "--flip");
    const char *poses = gc_arg_str(a, "--poses", NULL);
    c.masks = gc_arg_flag(a, "--masks");
    c.sam = gc_arg_str(a, "--sam", NULL);
    c.sam_config = gc_arg_str(a, "--sam-config", NULL);
    extract_progress p = {.crash_after = -1};
    gc_progress_init(&p.bar, "extract", "file", !gc_arg_flag(a, "--no-progress"));
    const bool status = gc_arg_flag(a, "--status");
    GC_TRY(gc_args_finish(a));
    if (!status && !models.dinov2 && !models.models_dir && !c.masks)
        return gc_errorf(GC_ERR_ARG, "--models DIR or --dinov2 PATH is required (the model flags of geocorr features; "
                                     "docs/models.md), or --masks --sam W for the instance masks alone");
    if (!status && c.masks != (c.sam != NULL))
        return gc_errorf(GC_ERR_ARG, "--masks and --sam W go together (the SAM model that makes the instance masks)");
    if (c.sam_config && !c.sam) return gc_errorf(GC_ERR_ARG, "--sam-config needs --sam W");
    if (poses) GC_TRY(gc_poses_parse(poses, &c.poses));
    if (!c.split || !dtype || !shard) return gc_errorf(GC_ERR_ARG, "an option lacks its value");
    if (strcmp(dtype, "f16") != 0 && strcmp(dtype, "f32") != 0)
        return gc_errorf(GC_ERR_ARG, "--dtype must be f32 or f16 (got '%s')", dtype);
    c.f16 = strcmp(dtype, "f16") == 0;
    char tail;
    if (sscanf(shard, "%d/%d%c", &c.shard, &c.n_shards, &tail) != 2 || c.n_shards < 1 || c.shard < 0 || c.shard >= c.n_shards)
        return gc_errorf(GC_ERR_ARG, "--shard must be i/N with 0 <= i < N (got '%s')", shard);
    if (status) return print_status(&c);
    const char *crash = getenv("GEOCORR_EXTRACT_CRASH_AFTER");
    if (crash && *crash) p.crash_after = atoll(crash);
    c.progress = on_event, c.progress_ctx = &p;
    gc_extract_stats st;
    gc_status s = gc_extract(&models, &c, &st);
    gc_progress_end(&p.bar);
    if (s == GC_OK)
        fprintf(stderr, "extract: shard %d/%d: %lld files: %lld computed, %lld redone (invalid), %lld skipped (valid), "
                        "%lld computed by concurrent runs\n",
                c.shard, c.n_shards, (long long)st.total, (long long)st.computed, (long long)st.redone,
                (long long)st.skipped, (long long)st.by_others);
    return s;
}

const gc_command gc_cmd_extract = {"extract", "feature cache of a benchmark split (resumable, shardable)", run};
