/* What `geocorr match` prints: the match-result JSON, the match picture and the similarity heat map,
 * one function each, so that every front end (the match command, a server) produces the same bytes
 * from the same result. Also the points parsers of the command. */
#ifndef GC_CLI_MATCH_OUTPUT_H
#define GC_CLI_MATCH_OUTPUT_H

#include <stdbool.h>

#include "base/base.h"

/* One matching run: its inputs (borrowed) and gc_match_pixels_ex's outputs (owned, gc_match_result_init). */
typedef struct {
    const char *src_name, *tgt_name; /* how the images are named in the JSON (the paths given) */
    const gc_image *src, *tgt;       /* the images (sizes, pictures) */
    const char *recipe;              /* gc_descriptors_recipe */
    int64_t channels;
    gc_match_params match;
    const char *align_mode;          /* "auto" | "off" | "flip" | "off (no flipped source features)" */
    bool aligned;                    /* pose alignment ran */
    const char *distance;            /* "imd" | "mnn" (aligned) */
    const char *flip_table;          /* the table file or category, NULL: none */
    const gc_align_poses *poses;     /* the rotations compared (borrowed), NULL: the flip alone */
    int64_t K;
    const float *points;             /* [K,2] source pixels */
    const int64_t *ids;              /* [K] keypoint ids or NULL */
    /* results */
    float *out;                      /* [K,2] target pixels */
    float *score;                    /* [K] */
    int *from_flip;                  /* [K] */
    gc_align_info info;
    gc_match_extra extra;            /* all four arrays */
} gc_match_result;

/* How `geocorr match` matches (its options, after parsing). */
typedef struct {
    int window;                          /* INT_MIN: by descriptor (5 zero-shot, 7 map / postproc) */
    bool hard, exclude_outside;
    const char *align;                   /* "auto" | "off" | "flip" */
    const char *category, *flip_table;   /* left/right table (NULL: none) */
    const gc_image *mask_src, *mask_trg; /* instance masks for IMD (both or neither; NULL: mutual NN) */
    const gc_align_poses *poses;         /* the rotations compared too (borrowed), NULL: the flip alone */
} gc_match_options;

/* Allocate the result arrays for K points (the rest of *r is left as it is). */
gc_status gc_match_result_init(gc_match_result *r, int64_t K);
void gc_match_result_free(gc_match_result *r);

/* Match r's points (the caller sets src_name, tgt_name, src, tgt, points, ids) in the descriptors: fills
 * the rest of r and runs gc_match_pixels_ex. src_flip NULL: no pose alignment ("flip" is then an error,
 * "auto" falls back to off and says so in align_mode). */
gc_status gc_match_run(gc_match_result *r, int64_t K, const gc_descriptors *src, const gc_descriptors *src_flip,
                       const gc_descriptors *trg, const gc_match_options *o);

/* The result as `geocorr match --out` writes it (pretty-printed JSON + "\n"; free()). */
gc_status gc_match_json(const gc_match_result *r, char **text);
/* Both images with a line per match (gc_picture_matches). */
gc_status gc_match_picture(const gc_match_result *r, gc_image *out);
/* The similarity heat map of point q from the pose that gave its match (src_flip when it came from the
 * flipped source; may be NULL when alignment did not run; r->poses for a rotation): both images with query
 * and match marked (`match --heatmap`), or with target_only the map over the target at its own size (`serve`). */
gc_status gc_match_heatmap(const gc_match_result *r, int64_t q, const gc_descriptors *src, const gc_descriptors *src_flip,
                           const gc_descriptors *trg, bool target_only, gc_image *out);

/* "x1,y1;x2,y2" -> xy[K,2] (malloc). */
gc_status gc_points_parse(const char *text, float **xy, int64_t *K);
/* JSON: [[x,y],...] | [{"x":..,"y":..[,"id":..]},...] | {"points": <either>}; ids NULL when none given. */
gc_status gc_points_load(const char *path, float **xy, int64_t **ids, int64_t *K);

#endif
