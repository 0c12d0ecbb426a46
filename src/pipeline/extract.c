/* gc_extract (geocorr.h): the feature cache of a benchmark split, i.e. the distinct images of the split
 * (through the dataset module), sorted so that the shard partition depends on the list alone, fed to
 * the feature cache with the GeoAware pipeline loaded once. */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "pipeline/feature_cache.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The distinct images of the split, sorted (pointers into the set). */
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

/* The split of cfg and its distinct images. */
static gc_status load_split(const gc_extract_config *cfg, gc_eval_set *set, char ***images, int *n) {
    *images = NULL;
    *n = 0;
    if (!cfg->dataset || !cfg->root || !cfg->cache_dir)
        return gc_errorf(GC_ERR_ARG, "extract: the dataset, its folder and the cache folder are required");
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(cfg->dataset, &kind));
    GC_TRY(gc_ap10k_subset_parse(cfg->subset, &subset));
    GC_TRY(gc_eval_set_load(set, kind, cfg->root, cfg->split ? cfg->split : "test", subset));
    gc_status s = split_images(set, images, n);
    if (s != GC_OK) gc_eval_set_free(set);
    return s;
}

gc_status gc_extract_status(const gc_extract_config *cfg, gc_extract_shard_status *shards, gc_extract_models *models,
                            int *n_images) {
    gc_eval_set set;
    char **images;
    int n;
    GC_TRY(load_split(cfg, &set, &images, &n));
    gc_status s = gc_cache_status(cfg->cache_dir, images, n, cfg->flip != 0, cfg->n_shards ? cfg->n_shards : 1, shards, models);
    if (n_images) *n_images = n;
    gc_free(images);
    gc_eval_set_free(&set);
    return s;
}

gc_status gc_extract(const gc_features_config *models, const gc_extract_config *cfg, gc_extract_stats *st) {
    memset(st, 0, sizeof *st);
    if (!models->dinov2 && !models->models_dir)
        return gc_errorf(GC_ERR_ARG, "extract: no models given (a models folder or at least the DINOv2 path; docs/models.md)");
    gc_extract_config o = *cfg;
    if (o.n_shards == 0) o.n_shards = 1;
    gc_eval_set set;
    char **images, *img_root = NULL;
    int n;
    GC_TRY(load_split(cfg, &set, &images, &n));
    gc_feature_fn fn;
    gc_status s = (img_root = gc_strfmt("%s/JPEGImages", cfg->root)) ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && (s = gc_feature_fn_pipeline(models, &fn)) == GC_OK) {
        s = gc_cache_extract(&fn, img_root, images, n, &o, st);
        gc_feature_fn_pipeline_free(&fn);
    }
    free(img_root);
    gc_free(images);
    gc_eval_set_free(&set);
    return s;
}
