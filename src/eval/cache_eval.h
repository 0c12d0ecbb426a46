/* Predictions from the feature cache: descriptors of each scored pair's images read from the cache
 * (geocorr extract), matched with the matching engine (src/match: hard argmax or window soft-argmax,
 * optional adaptive flip alignment), returned per raw keypoint id for gc_pck_score. */
#ifndef GC_EVAL_CACHE_EVAL_H
#define GC_EVAL_CACHE_EVAL_H

#include "eval/pck.h"
#include "match/align.h"

typedef enum { GC_ALIGN_OFF, GC_ALIGN_FLIP, GC_ALIGN_MNN } gc_align_mode;

typedef struct {
    const char *cache_dir;  /* folder written by geocorr extract */
    const char *map_name;   /* NULL: dino alone or the zero-shot recipe (s3, s4, s5, dino) */
    gc_match_params match;    /* hard argmax / window soft-argmax */
    gc_align_mode align;    /* flip: IMD with masks <stem>_mask[_flip].png in the cache; mnn: mask-free */
    int64_t mem_mb;         /* descriptors kept in memory (LRU), in MiB; 0: 2048 */
} gc_cache_eval_opts;

/* preds[i] for the pairs sel[0..n) of the set (indices into set->pairs, e.g. from gc_eval_set_sample).
 * Every cache file must come from one model (metadata 'model') and the 60x60 grid. */
gc_status gc_cache_predict(const gc_eval_set *set, const int *sel, int n, const gc_cache_eval_opts *o,
                           gc_pck_pred *preds);

/* Write predictions as a P.json ("frame": "anno840") that --from-predictions reads back. */
gc_status gc_pck_preds_save(const char *path, const gc_eval_set *set, const gc_pck_pred *preds, int n);

#endif
