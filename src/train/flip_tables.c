#include "train/flip_tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

const char *gc_flip_tables_default_path(void) {
    static char buf[1024];
    char *p = gc_data_path("flip_tables_train.json");
    /* not found: the source tree's path, so that opening it reports the missing file */
    snprintf(buf, sizeof buf, "%s", p ? p : GEOCORR_DATA_DIR "/flip_tables_train.json");
    free(p);
    return buf;
}

/* Largest id of a table entry list; -1 on a malformed entry. */
static int64_t max_id(const cJSON *table) {
    int64_t mx = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, table) {
        if (cJSON_IsNumber(e)) {
            if (e->valuedouble < 0 || e->valuedouble > 1e6) return -1;
            mx = GC_MAX(mx, (int64_t)e->valuedouble);
        } else if (cJSON_IsArray(e)) {
            const cJSON *a;
            cJSON_ArrayForEach(a, e) {
                if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble > 1e6) return -1;
                mx = GC_MAX(mx, (int64_t)a->valuedouble);
            }
        } else {
            return -1;
        }
    }
    return mx;
}

gc_status gc_flip_table_perm(const char *path, const char *dataset, const char *category, int64_t **perm,
                             int64_t *np) {
    *perm = NULL;
    *np = 0;
    cJSON *root;
    GC_TRY(gc_json_load(path, &root));
    const cJSON *table = cJSON_GetObjectItem(root, dataset);
    if (table && cJSON_IsObject(table)) table = category ? cJSON_GetObjectItem(table, category) : NULL;
    gc_status s = GC_OK;
    const int64_t mx = table && cJSON_IsArray(table) ? max_id(table) : -2;
    if (mx == -2)
        s = gc_errorf(GC_ERR_MISSING, "%s: no flip table for %s%s%s", path, dataset, category ? " / " : "",
                      category ? category : "");
    else if (mx < 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: flip table %s%s%s has a malformed entry", path, dataset,
                      category ? " / " : "", category ? category : "");
    if (s == GC_OK) {
        *np = mx + 1;
        *perm = gc_alloc_array((size_t)*np, sizeof(int64_t));
        if (!*perm) s = gc_error_context(GC_ERR_NOMEM, "flip permutation");
    }
    if (s == GC_OK) {
        for (int64_t i = 0; i < *np; i++) (*perm)[i] = i;
        const cJSON *e;
        cJSON_ArrayForEach(e, table) {
            if (!cJSON_IsArray(e)) continue;
            const int k = cJSON_GetArraySize(e);
            for (int j = 0; j < k; j++)
                (*perm)[(int64_t)cJSON_GetArrayItem(e, j)->valuedouble] =
                    (int64_t)cJSON_GetArrayItem(e, (j + 1) % k)->valuedouble;
        }
    }
    cJSON_Delete(root);
    if (s != GC_OK) *np = 0;
    return s;
}
