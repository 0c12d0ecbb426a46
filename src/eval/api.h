/* The evaluation entry shared by the public API (gc_eval_predictions) and `geocorr eval`. */
#ifndef GC_EVAL_API_H
#define GC_EVAL_API_H

#include "eval/pck.h"

/* Load the split named by cfg, read the predictions file, score. On success the caller frees
 * *set (gc_eval_set_free), *rep (gc_pck_report_free) and *groups (gc_geo_groups_free); on failure
 * nothing is left to free. */
gc_status gc_eval_run(const gc_eval_config *cfg, const char *predictions_path, gc_eval_set *set, gc_geo_groups *groups,
                      gc_pck_report *rep);

#endif
