/* `geocorr extract --dataset spair|pfpascal|ap10k --root DIR [--split test] [--subset S] [--flip]
 *  --cache DIR [--dtype f32|f16] [--shard i/N] [--no-progress] (--models DIR | <model flags>)`: the feature
 * cache of every image the split needs (resumable, shardable, safe for concurrent runs on one folder),
 * computed by the feature pipeline of `geocorr features` with the same model flags (--models, --dinov2,
 * --sd, --sd-config, --clip-vision, --text-encoder, --captioner, --dino-only; --dinov2 alone = DINOv2
 * only); models are loaded once. `--status` prints done / total per shard of the N of --shard i/N
 * without loading any model. GEOCORR_EXTRACT_CRASH_AFTER=n kills the process after n written files,
 * holding the claim of the next (used by the tests to show that a rerun completes the cache). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/dataset.h"
#include "pipeline/feature_cache.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The distinct images of the split, sorted (the shard partition depends only on this list). */
static gc_status split_images(const gc_eval_set *set, char ***out, int *n) {
    char **v = gc_alloc_array((size_t)set->n_pairs * 2, sizeof(char *));
    if (!v) return GC_ERR_NOMEM;
    for (int i = 0; i < set->n_pairs; i++) v[2 * i] = set->pairs[i].src, v[2 * i + 1] = set->pairs[i].trg;
    qsort(v, (size_t)set->n_pairs * 2, sizeof(char *), cmp_str);
    int k = 0;
    for (int i = 0; i < set->n_pairs * 2; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0) v[k++] = v[i];
    *out = v, *n = k;
    return GC_OK;
}

/* --status: what the cache holds for each of the n_shards shards (stdout), no model loaded. */
static gc_status print_status(const char *cache, const char *ds, const char *split, char **images, int n, bool flip,
                              int n_shards) {
    gc_cache_shard_status *sh = gc_alloc_array((size_t)n_shards, sizeof *sh);
    gc_cache_models m;
    if (!sh) return GC_ERR_NOMEM;
    gc_status s = gc_cache_status(cache, images, n, flip, n_shards, sh, &m);
    if (s != GC_OK) return gc_free(sh), s;
    gc_cache_shard_status all = {0};
    printf("cache %s: %s %s, %d images x %d orientation%s, %d shard%s\n", cache, ds, split, n, flip ? 2 : 1,
           flip ? "s" : "", n_shards, n_shards > 1 ? "s" : "");
    for (int k = 0; k <= n_shards; k++) {
        const gc_cache_shard_status *c = k < n_shards ? &sh[k] : &all;
        if (k < n_shards) {
            all.total += c->total, all.done += c->done, all.invalid += c->invalid;
            all.running += c->running, all.stale += c->stale;
            printf("shard %d/%d: ", k, n_shards);
        } else {
            printf("all: ");
        }
        printf("%lld/%lld done", (long long)c->done, (long long)c->total);
        if (c->running) printf(", %lld being computed", (long long)c->running);
        if (c->invalid) printf(", %lld invalid (redone by the next run)", (long long)c->invalid);
        if (c->stale) printf(", %lld stale claim%s (taken over by the next run)", (long long)c->stale, c->stale > 1 ? "s" : "");
        printf("%s\n", c->total && c->done == c->total ? " (complete)" : "");
    }
    for (int k = 0; k < m.n; k++) printf("model %s: %lld files\n", m.id[k], (long long)m.count[k]);
    if (m.other) printf("model (further ids): %lld files\n", (long long)m.other);
    if (m.n + (m.other > 0) > 1) printf("warning: the cache mixes models; eval refuses it until one model's files remain\n");
    gc_free(sh);
    return GC_OK;
}

static gc_status run(gc_args *a) {
    const char *ds, *root, *cache;
    gc_features_config cfg;
    GC_TRY(gc_arg_req(a, "--dataset", &ds));
    GC_TRY(gc_arg_req(a, "--root", &root));
    GC_TRY(gc_arg_req(a, "--cache", &cache));
    GC_TRY(gc_cli_features_config(a, &cfg));
    const char *split = gc_arg_str(a, "--split", "test"), *subset_s = gc_arg_str(a, "--subset", NULL);
    const char *dtype = gc_arg_str(a, "--dtype", "f32"), *shard = gc_arg_str(a, "--shard", "0/1");
    gc_cache_opts o = {.cache_dir = cache, .crash_after = -1};
    o.flip = gc_arg_flag(a, "--flip");
    o.progress = !gc_arg_flag(a, "--no-progress");
    const bool status = gc_arg_flag(a, "--status");
    GC_TRY(gc_cli_threads(a));
    GC_TRY(gc_args_finish(a));
    if (!status && !cfg.dinov2 && !cfg.models_dir)
        return gc_errorf(GC_ERR_ARG, "--models DIR or --dinov2 PATH is required (the model flags of geocorr features; "
                                     "docs/models.md)");
    if (!split || !dtype || !shard) return gc_errorf(GC_ERR_ARG, "an option lacks its value");
    if (strcmp(dtype, "f16") != 0 && strcmp(dtype, "f32") != 0)
        return gc_errorf(GC_ERR_ARG, "--dtype must be f32 or f16 (got '%s')", dtype);
    o.f16 = strcmp(dtype, "f16") == 0;
    char tail;
    if (sscanf(shard, "%d/%d%c", &o.shard, &o.n_shards, &tail) != 2 || o.n_shards < 1 || o.shard < 0 || o.shard >= o.n_shards)
        return gc_errorf(GC_ERR_ARG, "--shard must be i/N with 0 <= i < N (got '%s')", shard);
    const char *crash = getenv("GEOCORR_EXTRACT_CRASH_AFTER");
    if (crash && *crash) o.crash_after = atoll(crash);
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(ds, &kind));
    GC_TRY(gc_ap10k_subset_parse(subset_s, &subset));

    gc_eval_set set;
    GC_TRY(gc_eval_set_load(&set, kind, root, split, subset));
    char **images = NULL;
    int n = 0;
    gc_feature_fn fn;
    gc_status s = split_images(&set, &images, &n);
    if (s == GC_OK && status) {
        s = print_status(cache, ds, split, images, n, o.flip, o.n_shards);
        gc_free(images);
        gc_eval_set_free(&set);
        return s;
    }
    if (s == GC_OK) s = gc_feature_fn_pipeline(&cfg, &fn);
    if (s == GC_OK) {
        char *img_root = gc_strfmt("%s/JPEGImages", root);
        gc_cache_stats st;
        s = img_root ? gc_cache_extract(&fn, img_root, images, n, &o, &st) : GC_ERR_NOMEM;
        if (s == GC_OK)
            fprintf(stderr, "extract: shard %d/%d: %lld files: %lld computed, %lld redone (invalid), %lld skipped (valid), "
                            "%lld computed by concurrent runs\n",
                    o.shard, o.n_shards, (long long)st.total, (long long)st.computed, (long long)st.redone,
                    (long long)st.skipped, (long long)st.by_others);
        free(img_root);
        gc_feature_fn_pipeline_free(&fn);
    }
    gc_free(images);
    gc_eval_set_free(&set);
    return s;
}

const gc_command gc_cmd_extract = {"extract", "feature cache of a benchmark split (resumable, shardable)", run};
