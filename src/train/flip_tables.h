/* The training flip tables (data/flip_tables_train.json: SPAIR_FLIP_TRN per category, AP10K_FLIP)
 * and the reference's permute_indices. */
#ifndef GC_FLIP_TABLES_H
#define GC_FLIP_TABLES_H

#include "base/base.h"

/* Path of the shipped table file (data/flip_tables_train.json, found by gc_data_path). */
const char *gc_flip_tables_default_path(void);

/* permute_indices of the table for `dataset` ("spair": per `category`; "ap10k": one table): perm[i] =
 * identity over 0..max_id, each group [a1..ak] sends a_j to a_(j+1 mod k). *perm is gc_alloc'd. */
gc_status gc_flip_table_perm(const char *path, const char *dataset, const char *category, int64_t **perm,
                             int64_t *np);

#endif
