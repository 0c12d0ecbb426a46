/* `geocorr train`'s data (REFERENCE.md §5.1): the training pairs of a benchmark split read by the eval
 * readers, keypoints compacted per category to the ids visible in >= 1 image of that category's
 * split and zero-padded to 30 rows, source and target thresholds, the training flip permutation, and
 * the per-image feature cache (maps s3, s4, s5, dino; flipped images `_flip`) fused on the fly into
 * the post-processor input. Validation: window soft-argmax on the post-processed descriptors of the
 * validation split, PCK per image at one alpha (gc_pck_score). */
#ifndef GC_TRAIN_DATA_H
#define GC_TRAIN_DATA_H

#include <stdbool.h>

#include "data/dataset.h"
#include "train/train_loop.h"

typedef struct {
    gc_eval_set set;     /* the training split */
    const char *cache;   /* feature cache folder */
    bool flips;          /* the flip slots are loaded (pair augmentation on) */
    float (*kps)[2][GC_EVAL_MAX_KPS][3]; /* [n_pairs] compacted src / trg keypoints, zero-padded */
    int64_t **perm;      /* [n_pairs] flip permutation (shared per category; NULL without flips) */
    int64_t *np;         /* [n_pairs] its length */
    const gc_postproc *m;
    float *x[4];         /* [cin, 3600] fused maps of the current pair, per slot */
} gc_train_data;

/* Load the split, compact, look up the flip tables (flip_tables: file, NULL = the shipped one).
 * m may be NULL here and set (d->m) before the source is used. */
gc_status gc_train_data_init(gc_train_data *d, gc_dataset_kind kind, const char *root, const char *split,
                             const char *cache, bool flips, const char *flip_tables, const gc_postproc *m);
void gc_train_data_free(gc_train_data *d);
/* The block widths of the cache: the map channel counts of the first pair's source image
 * (gc_postproc_input_dims). */
gc_status gc_train_data_cache_dims(const gc_train_data *d, int *n_groups, int64_t *fd);
/* The loop's pair source over d. */
gc_pair_source gc_train_data_source(gc_train_data *d);

typedef struct {
    gc_eval_set set;     /* the validation split */
    int *pairs;          /* [n] pair indices scored (all, or a seeded sample) */
    int n;
    const char *cache;
    double alpha;        /* 0.1 (PF-Pascal 0.05) */
    int window;          /* soft-argmax half-width (7, the supervised recipe) */
} gc_train_val;

/* max_pairs > 0 scores the first max_pairs pairs of the split's order only. */
gc_status gc_train_val_init(gc_train_val *v, gc_dataset_kind kind, const char *root, const char *split,
                            const char *cache, double alpha, int max_pairs);
void gc_train_val_free(gc_train_val *v);
/* gc_val_fn: PCK@alpha per image (fraction) of model m on v. */
gc_status gc_train_val_score(void *v, const gc_postproc *m, double *score);

#endif
