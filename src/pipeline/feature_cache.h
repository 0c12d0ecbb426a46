/* The feature cache (DESIGN.md §5): one safetensors file per image and orientation holding the named
 * feature maps of a backbone, with metadata naming the model, the grid and the preprocessing.
 * Extraction is resumable (valid files are skipped, invalid or half-written ones redone; writes are
 * atomic), shardable (image k of the sorted list belongs to shard k mod N) and reports progress.
 * Several runs may write one folder at once (the same shard or overlapping ones, on one machine or
 * over NFS): each file is claimed before it is computed (io/file_claim.h: `<file>.lock`), so it is
 * computed once; a claim left by a killed run is taken over. The backbone plugs in through
 * gc_feature_fn. */
#ifndef GC_PIPELINE_FEATURE_CACHE_H
#define GC_PIPELINE_FEATURE_CACHE_H

#include <stdbool.h>

#include "base/base.h"
#include "io/weights.h"

#define GC_FC_MAX_MAPS 4

/* A backbone as the cache sees it. */
typedef struct {
    char model_id[128];                 /* weights + preprocessing identity, stored in every file */
    const char *preprocess;             /* how images become model inputs (metadata; may be NULL) */
    int n_maps;
    char names[GC_FC_MAX_MAPS][16];     /* map names, e.g. "dino" */
    int64_t shape[GC_FC_MAX_MAPS][3];   /* [n_maps] C, H, W of each map */
    /* Compute the maps of the original RGB image `img` (flipped left-right first when flip) into
     * maps[k] (C*H*W floats each). */
    gc_status (*compute)(void *ctx, const gc_image *img, int flip, float *const *maps);
    void *ctx;
} gc_feature_fn;

/* The options and counts of an extraction, and the status of a cache folder, are the gc_extract_*
 * types of geocorr.h. */

/* <cache_dir>/<rel_image without extension>[_flip].safetensors */
char *gc_cache_path(const char *cache_dir, const char *rel_image, int flip);

/* Open a cache file and check it against the backbone (model id, map names, shapes); GC_OK with the
 * open set in *out (may be NULL to only check), else a message naming the file and the mismatch. */
gc_status gc_cache_open(const char *path, const gc_feature_fn *fn, int flip, gc_weights **out);

/* Extract the features of rel_images[0..n) (paths relative to image_root) into o->cache_dir, as o's
 * flip, f16, shard / n_shards and progress say (its dataset fields are not read). Returns when every
 * file of the shard is valid: files that concurrent runs are computing are waited for. */
gc_status gc_cache_extract(const gc_feature_fn *fn, const char *image_root, char *const *rel_images, int n,
                           const gc_extract_config *o, gc_extract_stats *st);

/* Status of every shard k < n_shards (shards[k]) of the cache of rel_images[0..n), read without any
 * model (gc_extract_status). */
gc_status gc_cache_status(const char *cache_dir, char *const *rel_images, int n, bool flip, int n_shards,
                          gc_extract_shard_status *shards, gc_extract_models *models);

/* The GeoAware feature pipeline (gc_features_load: models loaded once): maps s5 [c5,15,15], s4 [c4,30,30],
 * s3 [c3,60,60], dino [Cd,60,60] as `geocorr features` writes them, or dino alone with cfg->dino_only.
 * The model id hashes every weights file, the text embedding and the map shapes.
 * gc_feature_fn_pipeline_free releases the models. */
gc_status gc_feature_fn_pipeline(const gc_features_config *cfg, gc_feature_fn *fn);
void gc_feature_fn_pipeline_free(gc_feature_fn *fn);

#endif
