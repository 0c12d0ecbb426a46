/* Test-time adaptive pose alignment (REFERENCE.md §6.4): match again from the horizontally flipped
 * source with the keypoints permuted by a left/right table, keep the pose whose instance matching
 * distance (IMD, with masks) or mutual-nearest-neighbour distance (mask-free) is smaller. */
#ifndef GC_ALIGN_H
#define GC_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "match/match.h"

#define GC_IMD_RES 64            /* IMD feature/mask resolution */
#define GC_IMD_REPLACE -100000.0f /* reference: every exact 0 of the masked features becomes this */

/* A flip table: top-level entries, each one keypoint index (maps to itself) or a group that is
 * cycled (pairs swap) by a flip. */
typedef struct {
    int n_items;     /* top-level entries */
    int n_entries;   /* keypoint indices over all entries */
    int *start;      /* [n_items + 1] offsets into idx */
    int *idx;        /* [n_entries] */
} gc_flip_table;

/* Parse a JSON table text: a list of ints / int lists, or an object {"spair": {cat: table},
 * "ap10k": table} (the data file's layout) or {name: table}, in which case `category` picks one. */
gc_status gc_flip_table_parse(const char *json, const char *label, const char *category, gc_flip_table *t);
/* Built-in table for a SPair-71k category name or "ap10k" (data/flip_tables.json under
 * $GEOCORR_DATA_DIR, the source tree or the install prefix). */
gc_status gc_flip_table_builtin(const char *category, gc_flip_table *t);
gc_status gc_flip_table_load(const char *path, const char *category, gc_flip_table *t);
void gc_flip_table_free(gc_flip_table *t);
/* The table as compute_pck applies it to K used keypoints with raw ids used[K]: unchanged when its
 * entry count is K, else every entry filtered to ids in used[], empty ones dropped, and all numbers
 * replaced by a running counter in list order (the reference's renumbering, §7.3). */
gc_status gc_flip_table_for_points(const gc_flip_table *t, const int64_t *used, int64_t K, gc_flip_table *out);
/* permute_indices: perm[K], identity except that every group whose members are all visible
 * (vis NULL: always) is cycled. An index >= K is an error. */
gc_status gc_flip_perm(const gc_flip_table *t, int64_t K, const bool *vis, int64_t *perm);
/* flipped[i] = (840 - x[perm[i]], y[perm[i]], v[perm[i]]). */
void gc_flip_kps(const float *kps, int64_t K, const int64_t *perm, float *flipped);

/* mask [H,W] u8 (> thresh = object) -> m[res, res] of 0/1 by PyTorch 'nearest' (source row
 * min(floor(i * (float)H/res), H - 1), products in float32). */
void gc_mask_nearest(const uint8_t *mask, int64_t H, int64_t W, uint8_t thresh, int64_t res, float *m);
/* The matcher's masks: > 127 = object, 64x64. */
void gc_mask_to64(const uint8_t *mask, int64_t H, int64_t W, float *m64);
/* IMD (get_distance) of token rows src, trg [3600, C] with 64x64 masks. min_dists (optional,
 * [4096]) receives the per-masked-source-pixel minima, *n_min their count. NaN when the source
 * mask is empty. Nearest neighbours by GEMM, exact for the -1e5 substitution. */
gc_status gc_imd(const float *src, const float *trg, int64_t C, const float *msrc64, const float *mtrg64,
                 double *dist, float *min_dists, int64_t *n_min);
/* The same at res x res (the pose-awareness test: 128); mtrg NULL: the target is not masked (every
 * pixel a candidate, its values kept as they are: the reference multiplies only the source). */
gc_status gc_imd_at(const float *src, const float *trg, int64_t C, int64_t res, const float *msrc, const float *mtrg,
                    double *dist, float *min_dists, int64_t *n_min);
/* Mask-free variant (get_distance_mutual_nn): mean distance of mutual nearest neighbours. */
gc_status gc_mnn_distance(const float *src, const float *trg, int64_t n, int64_t C, double *dist);

typedef struct {
    gc_match_opts match;
    bool mnn;        /* mask-free distance (also used when no masks are given) */
    bool force_flip; /* take the flipped pose without comparing distances */
} gc_align_opts;

typedef struct {
    int64_t K;
    float *pred;        /* [K,2] from the original source */
    float *pred_flip;   /* [K,2] from the flipped source (row i = point i's flipped counterpart) */
    float *merged;      /* [K,2] final points */
    float *score;       /* [K] similarity of the chosen match */
    float *score_flip;  /* [K] */
    bool *from_flip;    /* [K] merged[i] taken from pred_flip */
    int64_t *perm_vis;  /* [K] permutation used for the flipped source points */
    int64_t *perm_full; /* [K] unconditional permutation (merge rule) */
    float *kps_flip;    /* [K,3] flipped source points (840 frame) */
    double dist_orig, dist_flip;
    bool flip_chosen;
    float *imd_min_orig, *imd_min_flip; /* [n_min_*] with IMD */
    int64_t n_min_orig, n_min_flip;
} gc_align_result;

/* The whole of §6.4. src/src_flip/trg: token rows [3600, C]; src_kps, trg_kps [K,3] (trg_kps NULL:
 * every target point visible); table NULL: no keypoint swaps. Masks (64x64, from gc_mask_to64)
 * NULL -> MNN. */
gc_status gc_align_points(const float *src, const float *src_flip, const float *trg, int64_t C,
                          const float *src_kps, const float *trg_kps, int64_t K, const gc_flip_table *table,
                          const float *msrc64, const float *msrc_flip64, const float *mtrg64,
                          const gc_align_opts *o, gc_align_result *r);
void gc_align_result_free(gc_align_result *r);

/* gc_align_points for user points: kps840[K,3] all visible, ids[K] (NULL: 0..K-1) the keypoint ids
 * the table is resolved against (gc_flip_table_for_points), masks as 960x960 canvases (NULL: MNN). */
gc_status gc_align_user_points(const float *src, const float *src_flip, const float *trg, int64_t C, const float *kps840,
                               const int64_t *ids, int64_t K, const gc_flip_table *table, const uint8_t *mask_src,
                               const uint8_t *mask_src_flip, const uint8_t *mask_trg, const gc_align_opts *o,
                               gc_align_result *r);

#endif
