/* Poses of the adaptive pose alignment beyond the released code's flip (paper Supp. C: bottles are also
 * compared in three rotations). A pose acts on the square canvases the way the reference's flip does
 * (x' = 840 - x on the keypoints, the 960 mask mirrored as an array): rot90 turns the canvas a quarter
 * counter-clockwise, (x, y) -> (y, S - x); rot180 (S - x, S - y); rot270 (S - y, x). The rotated
 * source's features are those of the rotated original image (gc_image_pose), whose own canvas equals
 * the rotated canvas up to one pixel of centring when the padding is odd: the approximation the
 * reference's flip makes too. A rotation swaps no keypoints (left stays left). */
#ifndef GC_MATCH_POSES_H
#define GC_MATCH_POSES_H

#include "match/align.h"

/* The cache file suffix of a pose: "", "_flip", "_rot90", "_rot180", "_rot270". */
const char *gc_pose_suffix(int pose);
static inline bool gc_pose_is_rotation(int pose) { return pose >= GC_POSE_ROT90 && pose <= GC_POSE_ROT270; }

/* kps[K,3] (x, y, vis) of the S-frame in rotation `pose`: out[K,3] (may equal kps). A coordinate that
 * lands on the far border S (from a point on the near border 0, e.g. an invisible (0, 0)) is kept
 * just inside the frame, so every point still has a grid cell. */
void gc_pose_rotate_kps(int pose, const float *kps, int64_t K, float S, float *out);
/* An S x S u8 canvas (a mask) in `pose` (original: copied; flip: mirrored; rotations as the keypoints):
 * out[S*S], not in. */
void gc_pose_canvas(int pose, const uint8_t *in, int32_t S, uint8_t *out);

/* The rotations on top of an alignment r of the original and the flipped source (gc_align_points): for
 * each rotation q with src_rot[q] (token rows [3600, C]; NULL: not tried) the distance of its pose (IMD
 * with msrc_rot64[q] and mtrg64 when given, else MNN, as r compared the others); the pose with the
 * smallest distance wins (ties and NaN keep the earlier pose: original, flip, rot90, rot180, rot270).
 * A winning rotation is matched from the rotated keypoints (kps in the 840 frame) and every mutually
 * visible point takes its match (r->merged, r->pose, r->kps_rot; r->from_flip cleared). */
gc_status gc_align_rotations(const float *const src_rot[GC_N_ROT], const float *trg, int64_t C, const float *src_kps,
                             const float *trg_kps, int64_t K, const float *const msrc_rot64[GC_N_ROT],
                             const float *mtrg64, const gc_match_params *m, gc_align_result *r);

#endif
