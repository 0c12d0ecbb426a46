/* The error breakdown of GeoAware-SC Tab. 9 (TRACE.md §8): Jitter / Miss / Swap / Swap^LR / PCK† per
 * image, as Aygün & Mac Aodha's `correct_kps_analyze` computes them (demistfy_correspondence
 * evaluation.py; float32 torch arithmetic, argmin = first minimum), plus Swap^LR: a swap onto the
 * left/right partner (SPAIR_FLIP_TRN / AP10K_FLIP, raw keypoint ids, data/flip_tables_train.json).
 * Per pair: count / n_kp; category = mean over its pairs; overall = mean over all pairs. */
#ifndef GC_EVAL_ERRORS_H
#define GC_EVAL_ERRORS_H

#include <stdio.h>

#include "eval/pck.h"

typedef enum { GC_BD_JITTER, GC_BD_MISS, GC_BD_SWAP, GC_BD_SWAP_LR, GC_BD_PCK_DAGGER, GC_BD_COUNT } gc_bd_metric;

typedef struct {
    int64_t n;                            /* pairs */
    double v[GC_BD_COUNT][GC_PCK_MAX_ALPHA]; /* fractions; NaN = undefined (no pair, no table) */
} gc_bd_cell;

struct gc_errors_report {
    int n_alpha;
    double alpha[GC_PCK_MAX_ALPHA];
    bool has_lr;          /* the dataset has left/right partners (not PF-Pascal) */
    int n_cats;
    char **names;         /* [n_cats] every category of the set, in its order */
    gc_bd_cell *cats;     /* [n_cats] (n = 0 and NaN for a category without scored pairs) */
    gc_bd_cell overall;
};
typedef struct gc_errors_report gc_errors_report;

/* Counts of one pair at one threshold t (float32, = float32(T) * float32(alpha)): trg/pred [n][2]
 * (840 frame; a NaN prediction counts as miss only), ids[n] the raw keypoint ids in ascending order,
 * partner[raw id] the left/right partner (-1 none; NULL: no table, swap_lr stays 0). */
void gc_errors_pair_counts(const float (*trg)[2], const float (*pred)[2], const int *ids, int n, const int *partner,
                           int n_partner, float t, int64_t counts[GC_BD_COUNT]);

/* The breakdown of preds[n_preds] (every category of the set; alphas and threshold rule of o).
 * lr_tables: the partner-table file, NULL = the shipped data/flip_tables_train.json. */
gc_status gc_errors_score(const gc_eval_set *set, const gc_pck_pred *preds, int n_preds, const gc_pck_opts *o,
                          const char *lr_tables, gc_errors_report *r);
void gc_errors_report_free(gc_errors_report *r);

/* {"per_image": {"overall": B, "categories": {name: B}}}, B = {"n", "jitter": {alpha: v}, "miss", "swap",
 * "swap_lr" (null without partners), "pck_dagger"} (TRACE.md §8). */
cJSON *gc_errors_report_json(const gc_errors_report *r);
/* The per-category table at the first alpha and one Tab. 9-style line (with the per-image PCK of pck). */
void gc_errors_report_print(const gc_errors_report *r, const gc_pck_report *pck, FILE *f);

#endif
