/* `geocorr match`: match the points of one image in another, from feature files (or features computed
 * on the fly), with adaptive pose alignment, and write JSON plus optional pictures. */
#ifndef GC_MATCH_RUN_H
#define GC_MATCH_RUN_H

#include <stdbool.h>

#include "base/base.h"

typedef struct {
    const char *src_image, *trg_image;     /* the two images (sizes, pictures) */
    const float *points;                   /* [K,2] source points, original pixels */
    const int64_t *ids;                    /* [K] keypoint ids for the flip table, or NULL (= 0..K-1) */
    int64_t K;
    const char *features_src, *features_trg; /* feature files (safetensors: dino [, s3, s4, s5]) */
    const char *features_src_flip;         /* features of the horizontally flipped source, or NULL */
    const char *feature_map;               /* one named (post-processed) map instead of the zero-shot recipe */
    const char *postproc;                  /* post-processor checkpoint: supervised descriptors from s3,s4,s5,dino */
    const char *dinov2;                    /* DINOv2 weights: features computed on the fly */
    int window;                            /* soft-argmax half-width; INT_MIN = by descriptor (5 zero-shot, 7 map / postproc) */
    bool hard, exclude_outside, mnn;
    const char *align;                     /* "auto" | "off" | "flip" */
    const char *category, *flip_table;     /* left/right table: built-in category or a JSON file */
    const char *mask_src, *mask_trg;       /* instance masks (PNG) for IMD */
    const char *out_json;
    const char *picture;                   /* PNG with match lines, or NULL */
    int64_t heatmap_idx;                   /* query index for the heat map, -1 none */
    const char *heatmap_out;
} gc_match_request;

gc_status gc_match_run(const gc_match_request *r);

/* "x1,y1;x2,y2" -> xy[K,2] (malloc). */
gc_status gc_points_parse(const char *text, float **xy, int64_t *K);
/* JSON: [[x,y],...] | [{"x":..,"y":..[,"id":..]},...] | {"points": <either>}; ids NULL when none given. */
gc_status gc_points_load(const char *path, float **xy, int64_t **ids, int64_t *K);

#endif
