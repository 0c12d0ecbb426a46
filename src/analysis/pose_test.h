/* GeoAware-SC's pose-awareness test (pose_awareness_test.py; paper sec. 3.4 / Tab. 1; REFERENCE.md sec. 9;
 * TRACE.md sec. 11) after the feature extraction: for every (template, target) pair a joint co-PCA of the
 * SD maps, the descriptor [s3, up(s4, up(s5))] fused with DINO, the instance matching distance (IMD) at
 * 128x128 from the target's masked pixels to every template pixel; then the votes over the three
 * template sets and the accuracies. The step-by-step rules are those of the fixture README
 * pose_test/README.md. */
#ifndef GC_POSE_TEST_H
#define GC_POSE_TEST_H

#include "base/base.h"

#define GC_POSE_TEMPLATES 12 /* k = 4 * set + pose: sets (black, orange, white), poses (back, front, left, right) */
#define GC_POSE_SETS 3
#define GC_POSE_RES 128      /* the IMD's feature and mask resolution */
#define GC_POSE_MIN_MASK 6   /* a mask with fewer ones is replaced by all ones (the reference's get_mask) */
#define GC_POSE_PCA_Q 256    /* the reference's PCA_DIMS */

/* The script's modes: fused (default: SD and DINO tokens L2-normalised separately and concatenated),
 * dino (--ONLY_DINO 1: raw DINO tokens), sd (--FUSE_DINO 0: raw SD co-PCA tokens). */
typedef enum { GC_POSE_FUSED, GC_POSE_DINO, GC_POSE_SD } gc_pose_features;
gc_status gc_pose_features_parse(const char *name, gc_pose_features *out);
const char *gc_pose_features_name(gc_pose_features f);

/* One image's raw maps, in the order s5, s4, s3, dino: x[L] is [c[L], h[L], w[L]] (channel-first).
 * s3 and dino are on the 60x60 token grid; the SD maps may be absent (NULL) in dino mode, dino in sd
 * mode. */
typedef struct {
    int64_t c[4], h[4], w[4];
    const float *x[4];
} gc_pose_maps;

typedef struct {
    gc_pose_features features;
    int64_t pca_q[3]; /* requested PCA dims of s5, s4, s3; each used as min(q, 2hw, channels) */
} gc_pose_opts;

/* Basis-independent checksums of a pair's 60x60 descriptors as [3600, D] matrices T (template) and S
 * (target): sums of |.|, (row sum of T) . (row sum of S), their squared norms, ||T S^T||_F. */
typedef struct {
    double template_sumabs, target_sumabs, colsum_dot, template_colsum_sq, target_colsum_sq, cross_fro;
} gc_pose_desc_sums;

/* Diagnostics of one pair (TRACE.md sec. 11 `pairs`), filled on request. */
typedef struct {
    int64_t q[3];     /* PCA dims used for s5, s4, s3 (0 in dino mode) */
    double *sv[3];    /* [q[L]] singular values of the centred joint token matrix, decreasing */
    bool has_desc;                 /* fused mode only */
    gc_pose_desc_sums sd, fused;   /* the L2-normalised SD part of the fused descriptor; the fused descriptor */
} gc_pose_pair;
void gc_pose_pair_free(gc_pose_pair *p);

typedef struct {
    float distances[GC_POSE_TEMPLATES]; /* IMD per template (NaN when no pixel of the mask is left at 128x128) */
    int64_t n_masked;                   /* masked pixels at 128x128 after the fallback */
    int set_argmin[GC_POSE_SETS];       /* per set the pose (0 back, 1 front, 2 left, 3 right) of smallest distance */
    char bf, lr, pose4;                 /* 'b'/'f', 'l'/'r', one of "bflr" */
} gc_pose_result;

/* Does a target fit the templates (channels, grids, present maps for the mode)? Errors name `what`. */
gc_status gc_pose_check_maps(const gc_pose_maps *tmpl, const gc_pose_maps *target, gc_pose_features f, const char *what);

/* The whole test for one target: templates[12], the target's maps and its mask [H, W] (nonzero =
 * object; NULL = no mask, i.e. all ones). pairs (may be NULL) receives [12] diagnostics. */
gc_status gc_pose_target(const gc_pose_maps *templates, const gc_pose_maps *target, const uint8_t *mask, int64_t H,
                         int64_t W, const gc_pose_opts *o, gc_pose_result *r, gc_pose_pair *pairs);

/* Step 6: the votes of distances[12] (r->distances) into set_argmin, bf, lr, pose4. NaN compares
 * false and wins an argmin, as in torch. */
void gc_pose_vote(gc_pose_result *r);

/* Step 7: group sizes and numbers correct over the targets. */
typedef struct {
    int64_t total, lr, bf;                        /* targets; labelled l or r; labelled b or f */
    int64_t c2, c4, c2_lr, c2_fb, c4_lr, c4_fb;   /* correct: 2-way, 4-way, and per label group */
} gc_pose_counts;
/* correct_2: the label is the bf or the lr pick; correct_4: it is pose4. */
bool gc_pose_correct_2(char label, const gc_pose_result *r);
bool gc_pose_correct_4(char label, const gc_pose_result *r);
void gc_pose_count(gc_pose_counts *c, char label, const gc_pose_result *r);
/* metrics[6] = correct_2, correct_4, correct_2_lr, correct_2_fb, correct_4_lr, correct_4_fb as
 * fractions (NaN for an empty group). */
void gc_pose_metrics(const gc_pose_counts *c, double metrics[6]);

#endif
