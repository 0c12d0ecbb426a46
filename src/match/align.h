/* Test-time adaptive pose alignment (REFERENCE.md §6.4): match again from the horizontally flipped
 * source with the keypoints permuted by a left/right table, keep the pose whose instance matching
 * distance (IMD, with masks) or mutual-nearest-neighbour distance (mask-free) is smaller. */
#ifndef GC_ALIGN_H
#define GC_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "match/flip_table.h"
#include "match/match.h"

#define GC_IMD_RES 64            /* IMD feature/mask resolution */
#define GC_IMD_REPLACE -100000.0f /* reference: every exact 0 of the masked features becomes this */
#define GC_N_ROT 3                /* the rotated poses rot90, rot180, rot270 (index pose - GC_POSE_ROT90) */

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
    /* the rotations (match/poses.h: gc_align_rotations; without it the pose is original or flip) */
    int pose;                   /* the chosen gc_pose */
    double dist_rot[GC_N_ROT];  /* NaN: not tried */
    float *kps_rot;             /* [K,3] the source points of the chosen rotation (NULL otherwise) */
} gc_align_result;

/* The whole of §6.4. src/src_flip/trg: token rows [3600, C]; src_kps, trg_kps [K,3] (trg_kps NULL:
 * every target point visible); table NULL: no keypoint swaps. Masks (64x64, from gc_mask_to64): the
 * three given -> IMD, else the mask-free MNN distance. force_flip: take the flipped pose without
 * comparing distances. */
gc_status gc_align_points(const float *src, const float *src_flip, const float *trg, int64_t C,
                          const float *src_kps, const float *trg_kps, int64_t K, const gc_flip_table *table,
                          const float *msrc64, const float *msrc_flip64, const float *mtrg64,
                          const gc_match_params *m, bool force_flip, gc_align_result *r);
void gc_align_result_free(gc_align_result *r);

/* gc_align_points for user points: kps840[K,3] all visible, ids[K] (NULL: 0..K-1) the keypoint ids
 * the table is resolved against (gc_flip_table_for_points), masks as 960x960 canvases (the three
 * given: IMD, else MNN). */
gc_status gc_align_user_points(const float *src, const float *src_flip, const float *trg, int64_t C, const float *kps840,
                               const int64_t *ids, int64_t K, const gc_flip_table *table, const uint8_t *mask_src,
                               const uint8_t *mask_src_flip, const uint8_t *mask_trg, const gc_match_params *m,
                               bool force_flip, gc_align_result *r);

#endif
