#include "match/flip_table.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void gc_flip_table_free(gc_flip_table *t) {
    free(t->start);
    free(t->idx);
    memset(t, 0, sizeof *t);
}

static gc_status table_alloc(gc_flip_table *t, int n_items, int n_entries) {
    t->n_items = n_items;
    t->n_entries = n_entries;
    t->start = calloc((size_t)n_items + 1, sizeof(int));
    t->idx = calloc((size_t)n_entries + 1, sizeof(int));
    if (!t->start || !t->idx) {
        gc_flip_table_free(t);
        return gc_errorf(GC_ERR_NOMEM, "out of memory");
    }
    return GC_OK;
}

static gc_status table_from_json(const cJSON *arr, const char *label, gc_flip_table *t) {
    memset(t, 0, sizeof *t);
    if (!cJSON_IsArray(arr))
        return gc_errorf(GC_ERR_FORMAT, "%s: a flip table is a JSON list of indices and [a, b] pairs", label);
    int n_items = cJSON_GetArraySize(arr), n_entries = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (cJSON_IsNumber(it)) {
            n_entries++;
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0) {
            const cJSON *m;
            cJSON_ArrayForEach(m, it) {
                if (!cJSON_IsNumber(m))
                    return gc_errorf(GC_ERR_FORMAT, "%s: flip table group members must be integers", label);
                n_entries++;
            }
        } else {
            return gc_errorf(GC_ERR_FORMAT, "%s: flip table entries must be integers or non-empty lists of integers", label);
        }
    }
    GC_TRY(table_alloc(t, n_items, n_entries));
    int i = 0, e = 0;
    cJSON_ArrayForEach(it, arr) {
        t->start[i++] = e;
        bool single = cJSON_IsNumber(it);
        const cJSON *m = single ? it : it->child;
        for (; m; m = single ? NULL : m->next) {
            double v = m->valuedouble;
            if (v != floor(v) || v < 0 || v > 100000) {
                gc_flip_table_free(t);
                return gc_errorf(GC_ERR_FORMAT, "%s: flip table index %g is not a keypoint index", label, v);
            }
            t->idx[e++] = (int)v;
        }
    }
    t->start[i] = e;
    return GC_OK;
}

gc_status gc_flip_table_parse(const char *json, const char *label, const char *category, gc_flip_table *t) {
    memset(t, 0, sizeof *t);
    cJSON *root = cJSON_Parse(json);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", label);
    const cJSON *arr = root;
    if (cJSON_IsObject(root)) {
        if (!category) {
            cJSON_Delete(root);
            return gc_errorf(GC_ERR_ARG, "%s: holds several tables; name one by its category", label);
        }
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "spair");
        arr = cJSON_GetObjectItemCaseSensitive(root, category);
        if (!arr && cJSON_IsObject(sp)) arr = cJSON_GetObjectItemCaseSensitive(sp, category);
        if (!arr) {
            cJSON_Delete(root);
            return gc_errorf(GC_ERR_MISSING, "%s: no flip table for category '%s' (SPair-71k category names, or ap10k)",
                             label, category);
        }
    }
    gc_status s = table_from_json(arr, label, t);
    cJSON_Delete(root);
    return s;
}

gc_status gc_flip_table_load(const char *path, const char *category, gc_flip_table *t) {
    char *text;
    size_t len;
    GC_TRY(gc_read_file(path, &text, &len, 16u << 20));
    gc_status s = gc_flip_table_parse(text, path, category, t);
    free(text);
    return s;
}

gc_status gc_flip_table_builtin(const char *category, gc_flip_table *t) {
    memset(t, 0, sizeof *t);
    char *path = gc_data_path("flip_tables.json");
    if (!path) return GC_ERR_MISSING;
    gc_status s = gc_flip_table_load(path, category, t);
    free(path);
    return s;
}

gc_status gc_flip_table_for_points(const gc_flip_table *t, const int64_t *used, int64_t K, gc_flip_table *out) {
    memset(out, 0, sizeof *out);
    bool keep_all = t->n_entries == K;
    int n_items = 0, n_entries = 0;
    for (int pass = 0; pass < 2; pass++) {
        int items = 0, e = 0;
        for (int i = 0; i < t->n_items; i++) {
            int e0 = e;
            for (int k = t->start[i]; k < t->start[i + 1]; k++) {
                bool in = keep_all;
                for (int64_t u = 0; u < K && !in; u++) in = used[u] == t->idx[k];
                if (!in) continue;
                if (pass) out->idx[e] = keep_all ? t->idx[k] : e; /* running counter */
                e++;
            }
            if (e == e0) continue;
            if (pass) out->start[items] = e0;
            items++;
        }
        if (!pass) {
            n_items = items;
            n_entries = e;
            GC_TRY(table_alloc(out, n_items, n_entries));
        } else {
            out->start[items] = e;
        }
    }
    return GC_OK;
}

gc_status gc_flip_perm(const gc_flip_table *t, int64_t K, const bool *vis, int64_t *perm) {
    for (int k = 0; k < t->n_entries; k++)
        if (t->idx[k] >= K)
            return gc_errorf(GC_ERR_ARG, "flip table index %d is out of range for %lld points", t->idx[k], (long long)K);
    for (int64_t i = 0; i < K; i++) perm[i] = i;
    for (int i = 0; i < t->n_items; i++) {
        int a = t->start[i], n = t->start[i + 1] - a;
        if (n < 2) continue;
        bool all = true;
        for (int k = 0; k < n && vis; k++) all = all && vis[t->idx[a + k]];
        if (!all) continue;
        for (int k = 0; k < n; k++) perm[t->idx[a + k]] = t->idx[a + (k + 1) % n];
    }
    return GC_OK;
}

void gc_flip_kps(const float *kps, int64_t K, const int64_t *perm, float *flipped) {
    for (int64_t i = 0; i < K; i++) {
        const float *p = kps + 3 * perm[i];
        flipped[3 * i + 0] = (float)GC_CANVAS_DINO - p[0];
        flipped[3 * i + 1] = p[1];
        flipped[3 * i + 2] = p[2];
    }
}

gc_status gc_flip_table_perm(const char *path, const char *dataset, const char *category, int64_t **perm, int64_t *np) {
    *perm = NULL;
    *np = 0;
    const bool spair = strcmp(dataset, "spair") == 0;
    if (!spair && strcmp(dataset, "ap10k") != 0)
        return gc_errorf(GC_ERR_ARG, "no training flip table for dataset '%s' (spair or ap10k)", dataset);
    if (spair && !category) return gc_errorf(GC_ERR_ARG, "the SPair-71k training flip table needs a category");
    char *own = NULL;
    if (!path) {
        if (!(own = gc_data_path("flip_tables_train.json"))) return GC_ERR_MISSING;
        path = own;
    }
    gc_flip_table t;
    gc_status s = gc_flip_table_load(path, spair ? category : "ap10k", &t);
    free(own);
    GC_TRY(s);
    int64_t n = 0;
    for (int k = 0; k < t.n_entries; k++) n = GC_MAX(n, (int64_t)t.idx[k] + 1);
    *perm = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(int64_t));
    s = *perm ? gc_flip_perm(&t, n, NULL, *perm) : gc_error_context(GC_ERR_NOMEM, "flip permutation");
    gc_flip_table_free(&t);
    if (s != GC_OK) {
        gc_free(*perm);
        *perm = NULL;
        return s;
    }
    *np = n;
    return GC_OK;
}
