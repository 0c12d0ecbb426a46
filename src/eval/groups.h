/* Geometry-aware keypoint subgroups (data/geo_aware_groups.json) and the two ways the reference
 * maps them into a category's compacted keypoint space (REFERENCE.md §7.3):
 *   - value mapping (correct): raw id -> its position in the category's used-point list;
 *   - running-counter renumbering (`renumber_indices`, the reference's per-keypoint Geo metric and
 *     flip fallback): filtered members are replaced by 0,1,2,... in flattened list order, which
 *     differs from the value mapping whenever the flattened table is not ascending (bus, car,
 *     pottedplant, tvmonitor). */
#ifndef GC_EVAL_GROUPS_H
#define GC_EVAL_GROUPS_H

#include <stdbool.h>

#include "base/base.h"

#define GC_GEO_MAX_IDS 32

/* One table: entries in list order; a singleton is an entry of one member. */
typedef struct {
    int n_entries;                   /* entries in list order */
    int start[GC_GEO_MAX_IDS + 1];   /* [n_entries+1] entry e = ids[start[e] .. start[e+1]) */
    int ids[GC_GEO_MAX_IDS];         /* [start[n_entries]] member ids, flattened in list order */
} gc_geo_table;

typedef struct {
    int n_spair;          /* SPair categories in the file */
    char **spair_names;   /* [n_spair] */
    gc_geo_table *spair;  /* [n_spair] */
    gc_geo_table ap10k;   /* the AP-10K table (one for all species) */
} gc_geo_groups;

/* Load a groups file; path NULL = the shipped data/geo_aware_groups.json (gc_data_path). */
gc_status gc_geo_groups_load(gc_geo_groups *g, const char *path);
void gc_geo_groups_free(gc_geo_groups *g);
/* The table of a SPair category (NULL when the file has none). */
const gc_geo_table *gc_geo_groups_spair(const gc_geo_groups *g, const char *category);

/* Filter every entry to members in used[0..n_used) and drop emptied entries; then either map each
 * member to its compact index (renumber false) or replace members by a running counter in list
 * order (renumber true: the reference's renumber_indices). */
void gc_geo_table_compact(const gc_geo_table *t, const int *used, int n_used, bool renumber, gc_geo_table *out);

/* Geo-aware flags in the table's index space (REFERENCE.md §7.3): for each entry, A = members with
 * mutual visibility, B = members visible in the target; if |B| >= 2 and |A| >= 1 every member of A is
 * geo-aware. mutual/trg_vis/flags are indexed by keypoint index [0, n). Returns the flagged count. */
int gc_geo_aware_flags(const gc_geo_table *t, const bool *mutual, const bool *trg_vis, int n, bool *flags);

#endif
