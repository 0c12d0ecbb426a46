/* Features and instance masks of users' images kept in a folder by image content (geocorr match --cache),
 * so that a second run on the same images loads no model:
 *   <dir>/features/<model id>/<image key>[_flip|_rot90|...].safetensors   the extract cache's files (feature_cache.h)
 *   <dir>/masks/<SAM id>/<image key>_<box key>.png               SAM box masks (0/255, the image's size)
 *   <dir>/models/<fingerprint>.json                              a model set's identity, see below
 * The image key is the SHA-256 of the image file's bytes. A model id hashes the weights (feature_cache.c,
 * and for SAM every file it is read from), which costs a full read of gigabytes and, for the feature
 * pipeline, loading the models; so the id is remembered under a fingerprint of the model files (real
 * path, size, modification time and inode of every file under each given path). A changed file gives
 * another fingerprint and the id is computed afresh; a file rewritten in place with the same size and
 * time stamp is not noticed (as make and rsync do not notice it). Models are loaded at the first file
 * that must be computed, and kept for the rest of the run. Writes are atomic; several runs may share a
 * folder (feature files are claimed as gc_cache_extract claims them; a mask written twice is the same). */
#ifndef GC_PIPELINE_IMAGE_CACHE_H
#define GC_PIPELINE_IMAGE_CACHE_H

#include "pipeline/feature_cache.h"

#define GC_IMAGE_KEY_LEN 64 /* hex SHA-256 */

typedef struct gc_image_cache gc_image_cache;

/* A cache in dir (created when absent) for the feature models of `models` (may be NULL: masks only) and
 * the SAM weights `sam` (may be NULL: features only); both are borrowed for the cache's life. */
gc_status gc_image_cache_open(const char *dir, const gc_features_config *models, const char *sam, gc_image_cache **out);
void gc_image_cache_free(gc_image_cache *c);

/* Compute with a feature pipeline already loaded (gc_feature_fn_pipeline of the same `models`; borrowed for
 * the cache's life; geocorr serve loads its models at start): its identity is the cache's, and is remembered
 * under the models' fingerprint so that a run which has not loaded them finds the same folder. */
gc_status gc_image_cache_use_features(gc_image_cache *c, const gc_feature_fn *fn);

/* The content key of an image file. */
gc_status gc_image_key(const char *path, char key[GC_IMAGE_KEY_LEN + 1]);

/* The feature file of the image with this key (img: its pixels, name: its name in a new file's metadata) in
 * a gc_pose (mirrored or turned), computed when the cache lacks it (gc_cache_ensure); *path (free()) is a
 * `geocorr features`-compatible file; *computed: the models ran. */
gc_status gc_image_cache_features(gc_image_cache *c, const char *key, const char *name, const gc_image *img, int pose,
                                  char **path, bool *computed);

/* The SAM mask PNG of the image with this key for the box (x1, y1, x2, y2 in its pixels), computed when
 * absent (gc_sam_box_mask); *path (free()); *computed: SAM ran. */
gc_status gc_image_cache_mask(gc_image_cache *c, const char *key, const gc_image *img, const float box[4], char **path,
                              bool *computed);

/* The remembered identity of a feature model set (models/<fingerprint>.json): {"model": id, "maps":
 * [[name, C, H, W], ...]} -> spec (model_id, n_maps, names, shape; no compute function). GC_ERR_FORMAT
 * for anything else (the caller recomputes the identity). Exposed for the fuzzer. */
gc_status gc_image_cache_parse_spec(const char *text, size_t len, gc_feature_fn *spec);

#endif
