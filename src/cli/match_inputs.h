/* Where `geocorr match` gets its descriptors and instance masks: feature files (`geocorr features`
 * outputs), or the feature models run here on the images (optionally through the content-keyed cache of
 * pipeline/image_cache.h, so a second run on the same images runs no model); mask PNGs, or SAM on boxes.
 * Models are loaded at the first image that needs them and kept for the rest of the run, which counts
 * what it computed. */
#ifndef GC_CLI_MATCH_INPUTS_H
#define GC_CLI_MATCH_INPUTS_H

#include "base/base.h"

typedef struct {
    /* feature files (models NULL): the source, its mirror (may be NULL), its rotations ([pose - GC_POSE_ROT90],
     * may be NULL), one per target */
    const char *features_src, *features_src_flip, *features_src_rot[3];
    const char *const *features_trg;
    const char *feature_map;          /* one named map of the files instead of the recipe (may be NULL) */
    const gc_features_config *models; /* or: the models that compute the features */
    const char *cache_dir;            /* with models: the content-keyed cache (may be NULL) */
    const char *postproc;             /* the supervised descriptor (may be NULL) */
    int groups;                       /* its GroupNorm groups (0: config.json beside it, else 32) */
    /* masks: PNG files (source, one per target), or SAM (weights path) on boxes (source [4], targets [n][4]) */
    const char *mask_src;
    const char *const *mask_trg;
    const char *sam;
    const float *box_src, *box_trg;
} gc_match_sources;

/* What a run computed and what it found in the cache. */
typedef struct {
    int64_t features, masks;               /* feature sets and masks computed by the models */
    int64_t cached_features, cached_masks; /* taken from --cache */
} gc_match_counts;

typedef struct gc_match_inputs gc_match_inputs;

/* src is borrowed for the object's life. */
gc_status gc_match_inputs_open(const gc_match_sources *src, gc_match_inputs **out);
void gc_match_inputs_free(gc_match_inputs *m);
/* The descriptors of image `which` (-1 the source, i >= 0 target i) at `path` with pixels img in a gc_pose
 * (mirrored or turned: the source only). From files: NULL in *out when the mirrored source has no file.
 * Descriptors of every image must share the source's recipe and channel count (checked, naming both). */
gc_status gc_match_inputs_descriptors(gc_match_inputs *m, int which, const char *path, const gc_image *img, int pose,
                                      gc_descriptors **out);
/* The instance mask of image `which` (the image's size or the 960 canvas, object where R > 127);
 * mask->rgb NULL when the run has no masks. */
gc_status gc_match_inputs_mask(gc_match_inputs *m, int which, const char *path, const gc_image *img, gc_image *mask);
const gc_match_counts *gc_match_inputs_counts(const gc_match_inputs *m);

#endif
