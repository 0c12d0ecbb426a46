/* Predictions from the feature cache: descriptors of each scored pair's images read from the cache
 * (geocorr extract), matched with the matching engine (src/match: hard argmax or window soft-argmax,
 * optional adaptive flip alignment), returned per raw keypoint id for gc_pck_score. */
#ifndef GC_EVAL_CACHE_EVAL_H
#define GC_EVAL_CACHE_EVAL_H

#include "eval/pck.h"
#include "match/align.h"

/* The options are gc_eval_cache_config of geocorr.h (sample and predictions_out are the caller's). */

/* preds[i] for the pairs sel[0..n) of the set (indices into set->pairs, e.g. from gc_eval_set_sample).
 * Every cache file must come from one model (metadata 'model') and the 60x60 grid. */
gc_status gc_cache_predict(const gc_eval_set *set, const int *sel, int n, const gc_eval_cache_config *o,
                           gc_pck_pred *preds);

/* Write predictions as a P.json ("frame": "anno840") that --from-predictions reads back. */
gc_status gc_pck_preds_save(const char *path, const gc_eval_set *set, const gc_pck_pred *preds, int n);

#endif
