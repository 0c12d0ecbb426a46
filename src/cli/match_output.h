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
    const gc_image *mask_src, *mask_tgt; /* instance masks IMD used (gc_match_run), outlined in the picture (or NULL) */
} gc_match_result;

struct cJSON;

/* Dense mode (points.c: gc_dense_points): the source's 60x60 cells. */
#define GC_DENSE_GRID 60
#define GC_DENSE_CELLS (GC_DENSE_GRID * GC_DENSE_GRID)
/* The gap between the rows of a contact sheet (pixels). */
#define GC_SHEET_GAP 8

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

/* The result as `geocorr match --out` writes it for one pair (pretty-printed JSON + "\n"; free()). */
gc_status gc_match_json(const gc_match_result *r, char **text);
/* The same as a JSON object (cJSON_Delete; NULL when out of memory): what a front end adds to or lists. */
struct cJSON *gc_match_json_object(const gc_match_result *r);
/* A JSON value pretty-printed + "\n" (free()). */
gc_status gc_json_text(const struct cJSON *j, char **text);
/* Dense mode: the result of the points of gc_dense_points (cells[k]: point k's cell, row-major) as the
 * 60x60 grid of the source's cells: the header of gc_match_json_object, then "dense" (grid, layout),
 * "match" / "match_840" ([60][60] of [x, y] or null outside the source image) and "score". */
struct cJSON *gc_match_dense_object(const gc_match_result *r, const int64_t *cells);
/* The same grid as safetensors: match, match_840 F32 [60,60,2] and score F32 [60,60] (NaN outside the
 * source image), inside U8 [60,60]; metadata "match" = meta (the JSON header) compact. */
gc_status gc_match_dense_save(const gc_match_result *r, const int64_t *cells, const struct cJSON *meta, const char *path);
/* Both images with a line per match (gc_picture_matches), the masks outlined when the result has them. */
gc_status gc_match_picture(const gc_match_result *r, gc_image *out);
/* Several pictures one above the other (a contact sheet: one row per target), left-aligned on white. */
gc_status gc_match_sheet(const gc_image *rows, int n, gc_image *out);
/* The similarity heat map of point q from the pose that gave its match (src_flip when it came from the
 * flipped source; may be NULL when alignment did not run; r->poses for a rotation): both images with query
 * and match marked (`match --heatmap`), or with target_only the map over the target at its own size (`serve`). */
gc_status gc_match_heatmap(const gc_match_result *r, int64_t q, const gc_descriptors *src, const gc_descriptors *src_flip,
                           const gc_descriptors *trg, bool target_only, gc_image *out);

/* "x1,y1;x2,y2" -> xy[K,2] (malloc). */
gc_status gc_points_parse(const char *text, float **xy, int64_t *K);
/* JSON: [[x,y],...] | [{"x":..,"y":..[,"id":..]},...] | {"points": <either>}; ids NULL when none given. */
gc_status gc_points_load(const char *path, float **xy, int64_t **ids, int64_t *K);
/* Dense mode: the centres (14c + 7, 14r + 7 of the 840 frame) of the 60x60 cells that fall inside a w x h
 * source image, as source pixels xy[K,2] with their cells[K] (row-major index; both malloc). */
gc_status gc_dense_points(int32_t w, int32_t h, float **xy, int64_t **cells, int64_t *K);
/* "x1,y1,x2,y2" -> box[4] (an instance's box in image pixels); `option` names the flag in messages. */
gc_status gc_box_parse(const char *text, const char *option, float box[4]);

#endif
