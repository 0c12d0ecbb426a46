/* Point matching on the 60x60 grid (REFERENCE.md §1, §6.1-6.3): similarity of the query rows, hard
 * argmax, window soft-argmax. Coordinates are in the 840 annotation frame. */
#ifndef GC_MATCH_H
#define GC_MATCH_H

#include <stdbool.h>

#include "match/descriptor.h"

/* Matching options: gc_match_params of geocorr.h (window, hard, exclude_outside). */

#define GC_SOFTMAX_BETA 0.02f

/* Cell index of keypoints kps[n,3] (x, y, vis) in the anno frame: side*trunc(f*y) + trunc(f*x) with
 * f = float32(side/anno) multiplied in float32 (the reference's path); the scaled coordinates go to
 * uv[n,2] when uv is not NULL (training needs the continuous positions). */
void gc_kps_to_grid(const float *kps, int64_t n, int64_t side, int64_t anno, int64_t *idx, float *uv);
/* The 60 x 60 grid of the 840 frame: cell idx = 60*trunc(y*s) + trunc(x*s), s = float32(60/840). */
void gc_kps_to_cells(const float *kps, int64_t K, int64_t *cells);
/* sim[K, n] = src_rows[cells[k]] . trg_rows^T (one GEMM). */
gc_status gc_match_similarity(const float *src, const float *trg, int64_t n, int64_t c, const int64_t *cells,
                              int64_t K, float *sim);
/* Predicted point of each similarity row: xy[K,2] in the 840 frame; best[K] (optional) = the
 * argmax cell, score[K] (optional) = its similarity. */
gc_status gc_match_rows(const float *sim, int64_t K, const gc_match_params *o, float *xy, int64_t *best, float *score);
/* gc_match_similarity + gc_match_rows. */
gc_status gc_match_cells(const float *src, const float *trg, int64_t c, const int64_t *cells, int64_t K,
                         const gc_match_params *o, float *xy, int64_t *best, float *score);

#endif
