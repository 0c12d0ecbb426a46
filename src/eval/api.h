/* The evaluation steps of the public API (gc_eval_run, gc_eval_predictions). */
#ifndef GC_EVAL_API_H
#define GC_EVAL_API_H

#include "eval/cache_eval.h"
#include "eval/pck.h"

/* Scoring context of a configuration: the split, the group tables, the PCK options. */
typedef struct {
    gc_eval_set set;
    gc_geo_groups groups;
    gc_pck_opts opts;
} gc_eval_ctx;

/* Validate cfg, load the split (and the group tables with geo). On failure nothing is left to free. */
gc_status gc_eval_ctx_init(gc_eval_ctx *x, const gc_eval_config *cfg);
void gc_eval_ctx_free(gc_eval_ctx *x);
/* Score a predictions file in the context. */
gc_status gc_eval_ctx_score_file(gc_eval_ctx *x, const char *predictions_path, gc_pck_report *rep);

/* Match the split's pairs (all, or co->sample per category as the reference samples) on cached
 * descriptors and score them; co->predictions_out (may be NULL) receives them as a predictions file. */
gc_status gc_eval_ctx_score_cache(gc_eval_ctx *x, const gc_eval_cache_config *co, gc_pck_report *rep);

#endif
