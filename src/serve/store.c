/* The models, loaded once, and what they computed, kept per image content. Entries are keyed by the
 * SHA-256 of the image file, its orientation and what they hold: the feature maps (what --cache stores:
 * the cache folder of `geocorr match --cache`, pipeline/image_cache.h), the zero-shot descriptor or the
 * post-processed one. They are reference counted: a request holds the descriptors it matches, so eviction
 * (least recently used, beyond the memory budget) only unlinks an entry in use and the last holder frees it.
 * One computation runs at a time (`compute` lock): the feature pipeline is one call at a time per handle,
 * and a second request for the same image then finds the first one's result instead of computing it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/descriptor.h"
#include "models/postproc.h"
#include "pipeline/feature_cache.h"
#include "pipeline/image_cache.h"
#include "serve/serve.h"

typedef enum { KIND_MAPS, KIND_DESC, KIND_DESC_PP } entry_kind;

struct serve_entry {
    uint8_t key[32];
    int flip;
    entry_kind kind;
    float *maps[GC_FC_MAX_MAPS]; /* KIND_MAPS: in the feature function's order */
    gc_descriptors *desc;        /* KIND_DESC*: */
    int64_t bytes;
    int refs;                    /* holders (requests) */
    bool linked;                 /* in the LRU list (false once evicted) */
    serve_entry *prev, *next;    /* most recent first */
};

struct serve_store {
    gc_feature_fn fn;            /* the feature pipeline (model id, map names and shapes for the cache) */
    gc_postproc *pp;             /* or NULL */
    gc_image_cache *cache;       /* --cache, or NULL */
    pthread_mutex_t lock;        /* the list and the counts */
    pthread_mutex_t compute;     /* one computation at a time */
    serve_entry *head, *tail;
    int64_t bytes, budget;
};

static void entry_free(serve_entry *e) {
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(e->maps[k]);
    gc_descriptors_free(e->desc);
    free(e);
}

static void unlink_entry(serve_store *st, serve_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else st->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else st->tail = e->prev;
    e->prev = e->next = NULL;
    e->linked = false;
    st->bytes -= e->bytes;
}

static void push_front(serve_store *st, serve_entry *e) {
    e->prev = NULL;
    e->next = st->head;
    if (st->head) st->head->prev = e;
    st->head = e;
    if (!st->tail) st->tail = e;
    e->linked = true;
    st->bytes += e->bytes;
}

/* (lock held) the entry, held once more and made the most recent, or NULL */
static serve_entry *find_hold(serve_store *st, const uint8_t key[32], int flip, entry_kind kind) {
    for (serve_entry *e = st->head; e; e = e->next)
        if (e->flip == flip && e->kind == kind && !memcmp(e->key, key, 32)) {
            unlink_entry(st, e);
            push_front(st, e);
            e->refs++;
            return e;
        }
    return NULL;
}

/* (lock held) add e (held by the caller) and evict the least recently used beyond the budget; an
 * evicted entry still held is freed by its last release. */
static void insert(serve_store *st, serve_entry *e) {
    push_front(st, e);
    while (st->bytes > st->budget && st->tail) {
        serve_entry *v = st->tail;
        unlink_entry(st, v);
        if (v->refs == 0) entry_free(v);
    }
}

void serve_store_release(serve_store *st, serve_entry *e) {
    if (!e) return;
    pthread_mutex_lock(&st->lock);
    bool last = --e->refs == 0 && !e->linked;
    pthread_mutex_unlock(&st->lock);
    if (last) entry_free(e);
}

const gc_descriptors *serve_entry_desc(const serve_entry *e) { return e->desc; }
bool serve_store_has_postproc(const serve_store *st) { return st->pp != NULL; }
const char *serve_store_recipe(const serve_store *st) { return st->fn.n_maps == 1 ? "dino" : "zeroshot"; }

/* The post-processor must take the channels the features give (s3, s4, s5, dino; or dino alone). */
static gc_status check_postproc(const serve_store *st, const char *path) {
    int64_t want[4] = {0}, n = 0;
    static const char *const order[4] = {"s3", "s4", "s5", "dino"};
    for (int o = 0; o < 4; o++)
        for (int k = 0; k < st->fn.n_maps; k++)
            if (!strcmp(st->fn.names[k], order[o])) want[n++] = st->fn.shape[k][0];
    bool ok = st->pp->n_groups == n;
    for (int i = 0; ok && i < n; i++) ok = st->pp->fd[i] == want[i];
    if (ok) return GC_OK;
    return gc_errorf(GC_ERR_SHAPE, "--postproc %s takes %d feature groups of %lld, %lld, ... channels; the models give %lld map(s) "
                     "of %lld, %lld, ... channels (s3, s4, s5, dino)", path, st->pp->n_groups, (long long)st->pp->fd[0],
                     (long long)(st->pp->n_groups > 1 ? st->pp->fd[1] : 0), (long long)n, (long long)want[0],
                     (long long)(n > 1 ? want[1] : 0));
}

gc_status serve_store_init(const gc_serve_config *cfg, serve_store **out) {
    *out = NULL;
    serve_store *st = calloc(1, sizeof *st);
    if (!st) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->compute, NULL);
    st->budget = cfg->memory_mb << 20;
    gc_status s = gc_feature_fn_pipeline(&cfg->models, &st->fn);
    if (s == GC_OK && cfg->postproc && (s = gc_postproc_load(cfg->postproc, 0, &st->pp)) == GC_OK)
        s = check_postproc(st, cfg->postproc);
    if (s == GC_OK && cfg->cache_dir && (s = gc_image_cache_open(cfg->cache_dir, &cfg->models, NULL, &st->cache)) == GC_OK)
        s = gc_image_cache_use_features(st->cache, &st->fn);
    if (s != GC_OK) return serve_store_free(st), s;
    *out = st;
    return GC_OK;
}

void serve_store_free(serve_store *st) {
    if (!st) return;
    while (st->head) {
        serve_entry *e = st->head;
        unlink_entry(st, e);
        entry_free(e);
    }
    gc_image_cache_free(st->cache); /* (borrows fn) */
    if (st->fn.ctx) gc_feature_fn_pipeline_free(&st->fn);
    gc_postproc_free(st->pp);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->compute);
    free(st);
}

/* (compute held) the feature maps: from memory, the disk cache or the pipeline. */
static gc_status get_maps(serve_store *st, const uint8_t key[32], const char *name, const gc_image *img, int flip,
                          serve_entry **out) {
    pthread_mutex_lock(&st->lock);
    *out = find_hold(st, key, flip, KIND_MAPS);
    pthread_mutex_unlock(&st->lock);
    if (*out) return GC_OK;
    serve_entry *e = calloc(1, sizeof *e);
    if (!e) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    memcpy(e->key, key, 32);
    e->flip = flip;
    e->kind = KIND_MAPS;
    e->refs = 1;
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < st->fn.n_maps; k++) {
        const int64_t n = st->fn.shape[k][0] * st->fn.shape[k][1] * st->fn.shape[k][2];
        if (!(e->maps[k] = gc_alloc_array((size_t)n, sizeof(float)))) s = GC_ERR_NOMEM;
        e->bytes += n * (int64_t)sizeof(float);
    }
    /* the cache file of a content, as `geocorr match --cache` finds and makes it: <cache>/features/<model
     * id>/<sha256 hex>[_flip].safetensors (claimed against concurrent writers while computed), then read */
    char hex[65], *path = NULL;
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", key[i]);
    bool computed = true;
    double t0 = gc_now();
    if (s == GC_OK && st->cache) {
        s = gc_image_cache_features(st->cache, hex, name, img, flip ? GC_POSE_FLIP : GC_POSE_ORIGINAL, &path, &computed);
        if (s == GC_OK) s = gc_cache_load(path, &st->fn, flip, e->maps);
    } else if (s == GC_OK) {
        s = st->fn.compute(st->fn.ctx, img, flip, e->maps);
    }
    const char *how = computed ? "computed" : "read from the cache";
    free(path);
    if (s != GC_OK) return entry_free(e), s;
    fprintf(stderr, "geocorr serve: features of %s%s: %s in %.2f s\n", name, flip ? " (mirrored)" : "", how, gc_now() - t0);
    pthread_mutex_lock(&st->lock);
    insert(st, e);
    pthread_mutex_unlock(&st->lock);
    *out = e;
    return GC_OK;
}

/* The maps of e as gc_feature_maps (borrowed arrays). */
static gc_feature_maps maps_view(const serve_store *st, const serve_entry *e) {
    gc_feature_maps m = {0};
    for (int k = 0; k < st->fn.n_maps; k++) {
        const char *n = st->fn.names[k];
        const int64_t c = st->fn.shape[k][0], g = st->fn.shape[k][1];
        if (!strcmp(n, "s5")) m.s5 = e->maps[k], m.c5 = c, m.g5 = g;
        else if (!strcmp(n, "s4")) m.s4 = e->maps[k], m.c4 = c, m.g4 = g;
        else if (!strcmp(n, "s3")) m.s3 = e->maps[k], m.c3 = c, m.g3 = g;
        else if (!strcmp(n, "dino")) m.dino = e->maps[k], m.cd = c, m.gd = g;
    }
    return m;
}

gc_status serve_store_get(serve_store *st, const uint8_t key[32], const char *name, const gc_image *img, int flip,
                          bool postproc, serve_entry **held) {
    const entry_kind kind = postproc ? KIND_DESC_PP : KIND_DESC;
    if (postproc && !st->pp) return gc_errorf(GC_ERR_ARG, "no post-processor loaded (start geocorr serve with --postproc P)");
    pthread_mutex_lock(&st->lock);
    *held = find_hold(st, key, flip, kind);
    pthread_mutex_unlock(&st->lock);
    if (*held) return GC_OK;
    pthread_mutex_lock(&st->compute);
    pthread_mutex_lock(&st->lock); /* computed while this request waited? */
    *held = find_hold(st, key, flip, kind);
    pthread_mutex_unlock(&st->lock);
    gc_status s = GC_OK;
    if (!*held) {
        serve_entry *maps = NULL, *e = calloc(1, sizeof *e);
        s = e ? get_maps(st, key, name, img, flip, &maps) : gc_errorf(GC_ERR_NOMEM, "out of memory");
        if (s == GC_OK) {
            const gc_feature_maps m = maps_view(st, maps);
            s = gc_descriptors_from_maps(&m, postproc ? st->pp : NULL, &e->desc);
        }
        serve_store_release(st, maps);
        if (s == GC_OK) {
            memcpy(e->key, key, 32);
            e->flip = flip;
            e->kind = kind;
            e->refs = 1;
            e->bytes = (int64_t)GC_CELLS * gc_descriptors_channels(e->desc) * (int64_t)sizeof(float);
            pthread_mutex_lock(&st->lock);
            insert(st, e);
            pthread_mutex_unlock(&st->lock);
            *held = e;
        } else if (e) {
            entry_free(e);
        }
    }
    pthread_mutex_unlock(&st->compute);
    return s;
}
