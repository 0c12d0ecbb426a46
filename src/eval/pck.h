/* PCK scoring of predicted keypoints against a benchmark split, in every convention the reference
 * reports (REFERENCE.md §7): per image and per keypoint, per category and overall; the geometry-aware
 * subset by the reference per-image path (utils/eval_spair.py, raw ids), the reference per-keypoint path
 * (compute_pck with its running-counter renumbering) and the corrected grouping (value-mapped groups);
 * occurrence ratios; SPair azimuth-variation subsets. Arithmetic follows the reference's dtypes
 * (float32 errors; float64 bbox thresholds in compute_pck; float32 thresholds in eval_spair.py). */
#ifndef GC_EVAL_PCK_H
#define GC_EVAL_PCK_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "data/dataset.h"
#include "eval/groups.h"

#define GC_PCK_MAX_ALPHA 8

typedef struct {
    int n_alpha;
    double alpha[GC_PCK_MAX_ALPHA]; /* in the order given (reference: 0.10, 0.05, 0.01; PF-Pascal 0.10, 0.05, 0.15) */
    bool img_threshold;             /* T = 840 (image max side) instead of the target bbox max side */
    bool geo;                       /* compute the geometry-aware subset (needs groups) */
    bool errors;                    /* the Tab. 9 error breakdown (eval/errors.h) */
    const gc_geo_groups *groups;
} gc_pck_opts;

/* One PCK value per alpha; NaN when undefined (0/0). n = pairs (per image) or keypoints (per keypoint). */
typedef struct {
    double pck[GC_PCK_MAX_ALPHA];
    int64_t n;
} gc_pck_cell;

typedef struct {
    char *name;
    gc_pck_cell img, kpt;           /* all mutually visible keypoints */
    gc_pck_cell geo_kpt_ref;        /* compute_pck geo path (renumbered groups) */
    gc_pck_cell geo_kpt;            /* corrected groups, pooled */
    int64_t geo_cnt[GC_PCK_MAX_ALPHA]; /* correct geo keypoints (corrected groups), for pooling */
    double image_ratio, point_ratio; /* geo occurrence (renumbered groups, as the reference logs) */
    bool has_geo;                   /* a group table exists for the category */
    int n_used;
    int used[GC_EVAL_MAX_KPS];      /* [n_used] raw ids visible in >= 1 image of the scored pairs */
} gc_pck_category;

typedef struct {
    char *name;
    gc_pck_cell cell;
} gc_pck_named;

typedef struct {
    gc_pck_opts opts;
    int n_cats;
    gc_pck_category *cats;          /* [n_cats] every category of the set, in its order (n = 0 and NaN
                                     * values for one without scored pairs) */
    gc_pck_cell img, kpt, geo_kpt_ref, geo_kpt;
    int n_geo_img;
    gc_pck_named *geo_img_cats;     /* [n_geo_img] eval_spair.py per-image geo, grouped by source folder */
    gc_pck_cell geo_img;            /* its overall: mean over pairs with >= 1 geo keypoint */
    double image_ratio, point_ratio;
    bool has_az;                    /* SPair azimuth subsets (eval_spair.py get_img_result(az=k)) */
    gc_pck_cell az[5];
    double az_d[GC_PCK_MAX_ALPHA];  /* (max_k A_k - min_k A_k) / max_k A_k over non-empty bins */
    struct gc_errors_report *errors; /* with opts.errors, else NULL */
} gc_pck_report;

/* A prediction for one pair: (x, y) per raw keypoint id in the 840 frame, NaN = none. */
typedef struct {
    int pair; /* index into the set's pairs */
    float pred[GC_EVAL_MAX_KPS][2];
} gc_pck_pred;

gc_status gc_pck_score(const gc_eval_set *set, const gc_pck_pred *preds, int n_preds, const gc_pck_opts *o,
                       gc_pck_report *r);
void gc_pck_report_free(gc_pck_report *r);

/* JSON helpers of the report writers: an alpha's key ("%.10g"); a number written at %.17g (null when
 * not finite). */
void gc_report_alpha_key(double a, char *buf, size_t n);
void gc_report_add_num(cJSON *o, const char *k, double v);

/* The issue-F JSON structure (TRACE.md §4). protocol "reference" | "corrected" is recorded. */
cJSON *gc_pck_report_json(const gc_pck_report *r, const gc_eval_set *set, const char *protocol);
/* Readable table; per_keypoint picks the headline convention, corrected the headline geo grouping. */
void gc_pck_report_print(const gc_pck_report *r, FILE *f, bool per_keypoint, bool corrected);

/* P.json: {"frame": "pixels"|"anno840", "pairs": [{"src", "trg", "pred": [[x,y]|null, ...]}]}; one pred
 * entry per raw keypoint id. Every listed pair must be in the set. */
gc_status gc_pck_preds_load(const char *path, const gc_eval_set *set, gc_pck_pred **preds, int *n);

#endif
