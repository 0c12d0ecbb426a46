/* `geocorr extract --dataset spair|pfpascal|ap10k --root DIR [--split test] [--subset S] [--flip]
 *  --cache DIR [--dtype f32|f16] [--shard i/N] [--no-progress] (--models DIR | <model flags>)`: the feature
 * cache of every image the split needs (resumable, shardable), computed by the feature pipeline of
 * `geocorr features` with the same model flags (--models, --dinov2, --sd, --sd-config, --clip-vision,
 * --text-encoder, --captioner, --dino-only; --dinov2 alone = DINOv2 only); models are loaded once.
 * Arguments and the progress bar here; the work is gc_extract of geocorr.h.
 * GEOCORR_EXTRACT_CRASH_AFTER=n kills the process after
 * n written files (used by the tests to show that a rerun completes the cache). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* The progress bar on stderr (a line per tenth when stderr is not a terminal) and the test hook. */
typedef struct {
    bool show;
    int64_t last_decile;
    int64_t crash_after; /* GEOCORR_EXTRACT_CRASH_AFTER: SIGKILL self after this many written files (< 0: off) */
} extract_progress;

static void print_bar(const gc_extract_stats *st, double seconds, bool final) {
    const int64_t done = st->computed + st->redone + st->skipped, total = st->total;
    const bool tty = isatty(2);
    double rate = seconds > 0 ? done / seconds : 0, eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)(width * done / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%sextract [%s] %lld/%lld  %.2f files/s  ETA %dm%02ds%s", tty ? "\r" : "", bar, (long long)done,
            (long long)total, rate, (int)eta / 60, (int)eta % 60, tty && !final ? "" : "\n");
    fflush(stderr);
}

static void on_file(void *ctx, const gc_extract_stats *st, double seconds) {
    extract_progress *p = ctx;
    if (p->crash_after >= 0 && st->computed + st->redone >= p->crash_after) raise(SIGKILL);
    if (!p->show) return;
    const int64_t done = st->computed + st->redone + st->skipped;
    const int64_t decile = st->total ? done * 10 / st->total : 10;
    if (!isatty(2) && decile == p->last_decile) return;
    p->last_decile = decile;
    print_bar(st, seconds, false);
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
    extract_progress p = {.show = !gc_arg_flag(a, "--no-progress"), .last_decile = -1, .crash_after = -1};
    GC_TRY(gc_cli_threads(a));
    GC_TRY(gc_args_finish(a));
    if (!models.dinov2 && !models.models_dir)
        return gc_errorf(GC_ERR_ARG, "--models DIR or --dinov2 PATH is required (the model flags of geocorr features; "
                                     "docs/models.md)");
    if (!c.split || !dtype || !shard) return gc_errorf(GC_ERR_ARG, "an option lacks its value");
    if (strcmp(dtype, "f16") != 0 && strcmp(dtype, "f32") != 0)
        return gc_errorf(GC_ERR_ARG, "--dtype must be f32 or f16 (got '%s')", dtype);
    c.f16 = strcmp(dtype, "f16") == 0;
    char tail;
    if (sscanf(shard, "%d/%d%c", &c.shard, &c.n_shards, &tail) != 2 || c.n_shards < 1 || c.shard < 0 || c.shard >= c.n_shards)
        return gc_errorf(GC_ERR_ARG, "--shard must be i/N with 0 <= i < N (got '%s')", shard);
    const char *crash = getenv("GEOCORR_EXTRACT_CRASH_AFTER");
    if (crash && *crash) p.crash_after = atoll(crash);
    c.progress = on_file, c.progress_ctx = &p;
    gc_extract_stats st;
    double t0 = gc_now();
    gc_status s = gc_extract(&models, &c, &st);
    if (p.show && st.total) print_bar(&st, gc_now() - t0, true);
    if (s == GC_OK)
        fprintf(stderr, "extract: shard %d/%d: %lld files: %lld computed, %lld redone (invalid), %lld skipped (valid)\n",
                c.shard, c.n_shards, (long long)st.total, (long long)st.computed, (long long)st.redone, (long long)st.skipped);
    return s;
}

const gc_command gc_cmd_extract = {"extract", "feature cache of a benchmark split (resumable, shardable)", run};
