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
 * types of geocorr.h. Poses (gc_pose) name the orientations: 0 original, 1 flipped, 2.. rotations. */

/* <cache_dir>/<rel_image without extension><suffix>.safetensors, suffix "", "_flip", "_rot90", ... */
char *gc_cache_path(const char *cache_dir, const char *rel_image, int pose);
/* <cache_dir>/<rel_image without extension>_mask<suffix>.png: the reference's instance masks (960 x 960) */
char *gc_cache_mask_path(const char *cache_dir, const char *rel_image, int pose);

/* Open a cache file and check it against the backbone (model id, map names, shapes) and the pose
 * (metadata 'flip', and 'pose' for a rotation); GC_OK with the open set in *out (may be NULL to only
 * check), else a message naming the file and the mismatch. */
gc_status gc_cache_open(const char *path, const gc_feature_fn *fn, int pose, gc_weights **out);

/* A valid cache file (gc_cache_open) read into maps[k] (fn's C*H*W floats each; F16 files converted). */
gc_status gc_cache_load(const char *path, const gc_feature_fn *fn, int pose, float *const *maps);

/* One kind of file the cache holds per image and pose: the features of a backbone or the instance
 * masks. The extraction (claims, skipping valid files, waiting for concurrent runs) and the status
 * are the same for every kind. */
typedef struct {
    char *(*path)(const char *cache_dir, const char *rel, int pose);
    /* The file is present and complete for the pose as far as can be told without a model; *model
     * (features) receives the model id it names, "" otherwise. */
    bool (*probe)(const char *path, int pose, char model[128]);
    /* The file is valid for this maker (its model). */
    bool (*valid)(void *ctx, const char *path, int pose);
    /* Compute the file of image i (rel, decoded as img) in the pose and write it atomically to path. */
    gc_status (*make)(void *ctx, int i, const char *rel, const gc_image *img, int pose, const char *path);
    void *ctx;
} gc_cache_product;

/* The features of fn as a product (map buffers allocated; float16 files with f16). fn NULL: a product for
 * gc_cache_status_run only (no model). */
gc_status gc_cache_features_init(const gc_feature_fn *fn, bool f16, gc_cache_product *p);
void gc_cache_features_free(gc_cache_product *p);

/* Make every file of products[0..np) for the images rel_images[0..n) (paths relative to image_root) in
 * their poses (poses[i]: bits 1 << gc_pose, the original implied; NULL: the original and, with o->flip,
 * the flipped) into o->cache_dir, as o's f16 (features), shard / n_shards and progress say (its dataset
 * fields are not read). Per image, the products and poses in order (the image decoded once). Returns
 * when every file of the shard is valid: files that concurrent runs are computing are waited for. */
gc_status gc_cache_run(const gc_cache_product *products, int np, const char *image_root, char *const *rel_images,
                       const unsigned *poses, int n, const gc_extract_config *o, gc_extract_stats *st);
/* gc_cache_run of the features of fn alone. */
gc_status gc_cache_extract(const gc_feature_fn *fn, const char *image_root, char *const *rel_images, int n,
                           const gc_extract_config *o, gc_extract_stats *st);

/* The keyed lookup of a cache of images known by content (geocorr match --cache, geocorr serve --cache):
 * make <cache_dir>/<key><pose suffix>.safetensors valid for fn (compute set), computing it from the image
 * in memory (turned or mirrored for the pose; `name` in its metadata and messages) unless it is valid
 * already or a concurrent run finishes it (waited for): the claims of gc_cache_run. *computed: this call
 * wrote the file. Read it with gc_cache_load or the descriptor loaders. */
gc_status gc_cache_ensure(const gc_feature_fn *fn, const char *cache_dir, const char *key, const char *name, const gc_image *img,
                          int pose, bool *computed);

/* Status of every shard k < n_shards of products[0..np) for rel_images[0..n) in poses (as gc_cache_run):
 * shards[p * n_shards + k] for product p; models counts the model ids of the done files. No model is
 * loaded. */
gc_status gc_cache_status_run(const gc_cache_product *products, int np, const char *cache_dir, char *const *rel_images,
                              const unsigned *poses, int n, int n_shards, gc_extract_shard_status *shards,
                              gc_extract_models *models);
/* The features' status (original and, with flip, flipped files) (gc_extract_status). */
gc_status gc_cache_status(const char *cache_dir, char *const *rel_images, int n, bool flip, int n_shards,
                          gc_extract_shard_status *shards, gc_extract_models *models);

/* The GeoAware feature pipeline (gc_features_load: models loaded once): maps s5 [c5,15,15], s4 [c4,30,30],
 * s3 [c3,60,60], dino [Cd,60,60] as `geocorr features` writes them, or dino alone with cfg->dino_only.
 * The model id hashes every weights file, the text embedding and the map shapes.
 * gc_feature_fn_pipeline_free releases the models. */
gc_status gc_feature_fn_pipeline(const gc_features_config *cfg, gc_feature_fn *fn);
void gc_feature_fn_pipeline_free(gc_feature_fn *fn);

#endif
