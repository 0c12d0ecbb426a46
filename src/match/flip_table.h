/* Left/right flip tables (REFERENCE.md §6.4, §5): which keypoints trade places when an object is
 * mirrored. One module for the test-time tables of the pose alignment and the training tables of the
 * pair augmentation; the shipped files are found by gc_data_path (GEOCORR_DATA_DIR). */
#ifndef GC_FLIP_TABLE_H
#define GC_FLIP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* A flip table: top-level entries, each one keypoint index (maps to itself) or a group that is
 * cycled (pairs swap) by a flip. */
typedef struct {
    int n_items;     /* top-level entries */
    int n_entries;   /* keypoint indices over all entries */
    int *start;      /* [n_items + 1] offsets into idx */
    int *idx;        /* [n_entries] */
} gc_flip_table;

/* Parse a JSON table text: a list of ints / int lists, or an object {"spair": {cat: table},
 * "ap10k": table} (the data file's layout) or {name: table}, in which case `category` picks one. */
gc_status gc_flip_table_parse(const char *json, const char *label, const char *category, gc_flip_table *t);
/* Built-in test-time table for a SPair-71k category name or "ap10k" (data/flip_tables.json, SPAIR_FLIP /
 * AP10K_FLIP of utils_geoware in compact ids; found by gc_data_path). */
gc_status gc_flip_table_builtin(const char *category, gc_flip_table *t);
gc_status gc_flip_table_load(const char *path, const char *category, gc_flip_table *t);
void gc_flip_table_free(gc_flip_table *t);
/* The table as compute_pck applies it to K used keypoints with raw ids used[K]: unchanged when its
 * entry count is K, else every entry filtered to ids in used[], empty ones dropped, and all numbers
 * replaced by a running counter in list order (the reference's renumbering, §7.3). */
gc_status gc_flip_table_for_points(const gc_flip_table *t, const int64_t *used, int64_t K, gc_flip_table *out);
/* permute_indices: perm[K], identity except that every group whose members are all visible
 * (vis NULL: always) is cycled. An index >= K is an error. */
gc_status gc_flip_perm(const gc_flip_table *t, int64_t K, const bool *vis, int64_t *perm);
/* flipped[i] = (840 - x[perm[i]], y[perm[i]], v[perm[i]]). */
void gc_flip_kps(const float *kps, int64_t K, const int64_t *perm, float *flipped);

/* The training permutation (REFERENCE.md §5: permute_indices over raw ids): the table of `dataset`
 * ("spair": per category; "ap10k": one table) from `path` (NULL: the shipped data/flip_tables_train.json,
 * SPAIR_FLIP_TRN / AP10K_FLIP in raw ids) as perm[np], np = the largest id + 1, every group cycled.
 * *perm is gc_alloc'd. */
gc_status gc_flip_table_perm(const char *path, const char *dataset, const char *category, int64_t **perm, int64_t *np);

#endif
