#include <stdlib.h>
#include <string.h>

#include "eval/groups.h"
#include "io/config.h"

static gc_status parse_table(const cJSON *arr, const char *file, const char *what, gc_geo_table *t) {
    memset(t, 0, sizeof *t);
    if (!cJSON_IsArray(arr)) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a list", file, what);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (t->n_entries >= GC_GEO_MAX_IDS) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' has too many entries", file, what);
        t->start[t->n_entries] = n;
        const cJSON *m = e;
        bool list = cJSON_IsArray(e);
        if (list) m = e->child;
        if (list && !m) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' has an empty group", file, what);
        for (; m; m = list ? m->next : NULL) {
            if (!cJSON_IsNumber(m) || m->valuedouble != (int)m->valuedouble || m->valuedouble < 0 ||
                m->valuedouble >= GC_GEO_MAX_IDS)
                return gc_errorf(GC_ERR_FORMAT, "%s: '%s' members must be keypoint ids in [0, %d)", file, what,
                                 GC_GEO_MAX_IDS);
            if (n >= GC_GEO_MAX_IDS) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' has too many ids", file, what);
            t->ids[n++] = (int)m->valuedouble;
        }
        t->n_entries++;
    }
    t->start[t->n_entries] = n;
    return GC_OK;
}

gc_status gc_geo_groups_load(gc_geo_groups *g, const char *path) {
    memset(g, 0, sizeof *g);
    char *own = NULL;
    if (!path) {
        if (!(own = gc_data_path("geo_aware_groups.json"))) return GC_ERR_MISSING;
        path = own;
    }
    cJSON *j;
    gc_status s = gc_json_load(path, &j);
    if (s != GC_OK) {
        free(own);
        return s;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "spair");
    s = parse_table(cJSON_GetObjectItemCaseSensitive(j, "ap10k"), path, "ap10k", &g->ap10k);
    if (s == GC_OK && !cJSON_IsObject(sp)) s = gc_errorf(GC_ERR_FORMAT, "%s: 'spair' must be an object", path);
    if (s == GC_OK) {
        int n = cJSON_GetArraySize(sp);
        g->spair_names = gc_calloc((size_t)n + 1, sizeof(char *));
        g->spair = gc_calloc((size_t)n + 1, sizeof(gc_geo_table));
        if (!g->spair_names || !g->spair) s = GC_ERR_NOMEM;
        const cJSON *c;
        cJSON_ArrayForEach(c, sp) {
            if (s != GC_OK) break;
            s = parse_table(c, path, c->string, &g->spair[g->n_spair]);
            if (s == GC_OK && !(g->spair_names[g->n_spair] = gc_strdup(c->string))) s = GC_ERR_NOMEM;
            if (s == GC_OK) g->n_spair++;
        }
    }
    cJSON_Delete(j);
    free(own);
    if (s != GC_OK) gc_geo_groups_free(g);
    return s;
}

void gc_geo_groups_free(gc_geo_groups *g) {
    for (int i = 0; i < g->n_spair; i++) free(g->spair_names[i]);
    gc_free(g->spair_names);
    gc_free(g->spair);
    memset(g, 0, sizeof *g);
}

const gc_geo_table *gc_geo_groups_spair(const gc_geo_groups *g, const char *category) {
    for (int i = 0; i < g->n_spair; i++)
        if (strcmp(g->spair_names[i], category) == 0) return &g->spair[i];
    return NULL;
}

void gc_geo_table_compact(const gc_geo_table *t, const int *used, int n_used, bool renumber, gc_geo_table *out) {
    memset(out, 0, sizeof *out);
    int n = 0;
    for (int e = 0; e < t->n_entries; e++) {
        int first = n;
        for (int k = t->start[e]; k < t->start[e + 1]; k++) {
            int pos = -1;
            for (int u = 0; u < n_used; u++)
                if (used[u] == t->ids[k]) pos = u;
            if (pos < 0) continue;
            out->ids[n] = renumber ? n : pos;
            n++;
        }
        if (n == first) continue;
        out->start[out->n_entries++] = first;
    }
    out->start[out->n_entries] = n;
}

int gc_geo_aware_flags(const gc_geo_table *t, const bool *mutual, const bool *trg_vis, int n, bool *flags) {
    memset(flags, 0, (size_t)n * sizeof(bool));
    int count = 0;
    for (int e = 0; e < t->n_entries; e++) {
        int a = 0, b = 0;
        for (int k = t->start[e]; k < t->start[e + 1]; k++) {
            int id = t->ids[k];
            if (id >= n) continue;
            a += mutual[id];
            b += trg_vis[id];
        }
        if (b < 2 || a < 1) continue;
        for (int k = t->start[e]; k < t->start[e + 1]; k++) {
            int id = t->ids[k];
            if (id < n && mutual[id] && !flags[id]) {
                flags[id] = true;
                count++;
            }
        }
    }
    return count;
}
