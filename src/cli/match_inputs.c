/* The descriptors and masks of `geocorr match` (match_inputs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/match_inputs.h"
#include "pipeline/image_cache.h"

struct gc_match_inputs {
    const gc_match_sources *src;
    gc_postproc *pp;
    gc_features *features; /* without a cache: loaded at the first image */
    gc_sam *sam;           /* without a cache: loaded at the first box */
    gc_image_cache *cache;
    gc_match_counts counts;
    char first_recipe[64]; /* the first descriptor made (every other must fit it) and where it came from */
    int64_t first_channels;
    char *first_label;
};

gc_status gc_match_inputs_open(const gc_match_sources *src, gc_match_inputs **out) {
    *out = NULL;
    gc_match_inputs *m = gc_calloc(1, sizeof *m);
    if (!m) return GC_ERR_NOMEM;
    m->src = src;
    gc_status s = src->postproc ? gc_postproc_load(src->postproc, src->groups, &m->pp) : GC_OK;
    if (s == GC_OK && src->cache_dir) s = gc_image_cache_open(src->cache_dir, src->models, src->box_src ? src->sam : NULL, &m->cache);
    if (s != GC_OK) return gc_match_inputs_free(m), s;
    *out = m;
    return GC_OK;
}

void gc_match_inputs_free(gc_match_inputs *m) {
    if (!m) return;
    gc_postproc_free(m->pp);
    gc_features_free(m->features);
    gc_sam_free(m->sam);
    gc_image_cache_free(m->cache);
    free(m->first_label);
    gc_free(m);
}

const gc_match_counts *gc_match_inputs_counts(const gc_match_inputs *m) { return &m->counts; }

/* A feature file's descriptor: the post-processor's, one named map, or the recipe's. */
static gc_status load_file(const gc_match_inputs *m, const char *file, const char *map, gc_descriptors **out) {
    return m->pp ? gc_descriptors_load_postproc(file, m->pp, out) : gc_descriptors_load(file, map, out);
}

/* Run the models on the image in the pose (loaded at the first call). */
static gc_status compute(gc_match_inputs *m, const gc_image *img, int pose, gc_descriptors **out) {
    if (!m->features) GC_TRY(gc_features_load(m->src->models, &m->features));
    gc_image turned = {0};
    gc_status s = pose >= GC_POSE_ROT90 ? gc_image_pose(img, pose, &turned) : GC_OK;
    gc_feature_maps maps;
    if (s == GC_OK) s = gc_features_compute(m->features, turned.rgb ? &turned : img, pose == GC_POSE_FLIP, &maps);
    gc_image_free(&turned);
    GC_TRY(s);
    m->counts.features++;
    s = gc_descriptors_from_maps(&maps, m->pp, out);
    gc_feature_maps_free(&maps);
    return s;
}

/* Descriptors of different models cannot be matched: name both sources. */
static gc_status check_fit(gc_match_inputs *m, const gc_descriptors *d, const char *label) {
    const char *recipe = gc_descriptors_recipe(d);
    const int64_t c = gc_descriptors_channels(d);
    if (!m->first_label) {
        snprintf(m->first_recipe, sizeof m->first_recipe, "%s", recipe);
        m->first_channels = c;
        return (m->first_label = gc_strdup(label)) ? GC_OK : GC_ERR_NOMEM;
    }
    if (strcmp(recipe, m->first_recipe) == 0 && c == m->first_channels) return GC_OK;
    return gc_errorf(GC_ERR_SHAPE, "features of different models: %s gives a %s descriptor of %lld channels, %s a %s descriptor of %lld",
                     m->first_label, m->first_recipe, (long long)m->first_channels, label, recipe, (long long)c);
}

gc_status gc_match_inputs_descriptors(gc_match_inputs *m, int which, const char *path, const gc_image *img, int pose,
                                      gc_descriptors **out) {
    *out = NULL;
    const gc_match_sources *src = m->src;
    char label[1200];
    gc_status s;
    if (!src->models) {
        const char *file = which >= 0                 ? src->features_trg[which]
                           : pose == GC_POSE_ORIGINAL ? src->features_src
                           : pose == GC_POSE_FLIP     ? src->features_src_flip
                                                      : src->features_src_rot[pose - GC_POSE_ROT90];
        if (!file) return GC_OK;
        snprintf(label, sizeof label, "%s", file);
        s = load_file(m, file, src->feature_map, out);
    } else if (m->cache) {
        char key[GC_IMAGE_KEY_LEN + 1], *file = NULL;
        bool computed;
        s = gc_image_key(path, key);
        if (s == GC_OK) s = gc_image_cache_features(m->cache, key, path, img, pose, &file, &computed);
        if (s == GC_OK) {
            *(computed ? &m->counts.features : &m->counts.cached_features) += 1;
            snprintf(label, sizeof label, "%s", file);
            s = load_file(m, file, NULL, out);
        }
        free(file);
    } else {
        snprintf(label, sizeof label, "%s%s%s%s", path, pose ? " (" : "", pose ? gc_pose_name(pose) : "", pose ? ")" : "");
        s = compute(m, img, pose, out);
        if (s != GC_OK) s = gc_error_context(s, "%s", label);
    }
    if (s == GC_OK) s = check_fit(m, *out, label);
    if (s != GC_OK) gc_descriptors_free(*out), *out = NULL;
    return s;
}

/* A mask of the image's size or the 960 canvas (the library maps either; the message names the file). */
static gc_status load_mask(const char *path, const gc_image *img, gc_image *mask) {
    GC_TRY(gc_image_load(path, mask));
    const int32_t w = mask->w, h = mask->h;
    if ((w == img->w && h == img->h) || (w == GC_CANVAS_SD && h == GC_CANVAS_SD)) return GC_OK;
    gc_image_free(mask);
    return gc_errorf(GC_ERR_SHAPE, "%s: mask is %dx%d; expected the image size %dx%d or the %dx%d canvas", path, w, h,
                     img->w, img->h, GC_CANVAS_SD, GC_CANVAS_SD);
}

/* SAM on the box (loaded at the first call): a 0/255 mask of the image's size. */
static gc_status sam_mask(gc_match_inputs *m, const gc_image *img, const float box[4], gc_image *mask) {
    if (!m->sam) GC_TRY(gc_sam_load(m->src->sam, NULL, &m->sam));
    uint8_t *gray = gc_alloc((size_t)img->w * (size_t)img->h);
    gc_status s = gray ? gc_sam_box_mask(m->sam, img, box, gray) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_image_alloc(mask, img->w, img->h);
    for (size_t i = 0; s == GC_OK && i < (size_t)img->w * (size_t)img->h; i++) memset(mask->rgb + 3 * i, gray[i], 3);
    gc_free(gray);
    if (s == GC_OK) m->counts.masks++;
    return s;
}

gc_status gc_match_inputs_mask(gc_match_inputs *m, int which, const char *path, const gc_image *img, gc_image *mask) {
    memset(mask, 0, sizeof *mask);
    const gc_match_sources *src = m->src;
    if (src->mask_src) return load_mask(which < 0 ? src->mask_src : src->mask_trg[which], img, mask);
    if (!src->box_src) return GC_OK;
    const float *box = which < 0 ? src->box_src : src->box_trg + 4 * which;
    gc_status s;
    if (m->cache) {
        char key[GC_IMAGE_KEY_LEN + 1], *file = NULL;
        bool computed;
        s = gc_image_key(path, key);
        if (s == GC_OK) s = gc_image_cache_mask(m->cache, key, img, box, &file, &computed);
        if (s == GC_OK) *(computed ? &m->counts.masks : &m->counts.cached_masks) += 1;
        if (s == GC_OK) s = load_mask(file, img, mask);
        free(file);
    } else {
        s = sam_mask(m, img, box, mask);
    }
    return s == GC_OK ? s : gc_error_context(s, "instance mask of %s", path);
}
