/* Points of `geocorr match`: "x1,y1;x2,y2" on the command line, a JSON points file, the cells of the
 * dense mode; and instance boxes "x1,y1,x2,y2" (match, mask). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "cli/match_output.h"

#define GC_MAX_POINTS 100000

gc_status gc_points_parse(const char *text, float **xy, int64_t *K) {
    *xy = NULL;
    *K = 0;
    int64_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ';';
    if (cap > GC_MAX_POINTS) return gc_errorf(GC_ERR_ARG, "--points: more than %d points", GC_MAX_POINTS);
    float *v = malloc((size_t)cap * 2 * sizeof(float));
    if (!v) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    const char *p = text;
    int64_t k = 0;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || *end != ',') goto bad;
        p = end + 1;
        double y = strtod(p, &end);
        if (end == p || (*end && *end != ';') || !isfinite(x) || !isfinite(y)) goto bad;
        v[2 * k] = (float)x;
        v[2 * k + 1] = (float)y;
        k++;
        p = *end ? end + 1 : end;
    }
    if (k == 0) goto bad;
    *xy = v;
    *K = k;
    return GC_OK;
bad:
    free(v);
    return gc_errorf(GC_ERR_ARG, "--points '%s': expected \"x1,y1;x2,y2;...\" in source image pixels", text);
}

gc_status gc_points_load(const char *path, float **xy, int64_t **ids, int64_t *K) {
    *xy = NULL;
    *ids = NULL;
    *K = 0;
    char *text;
    size_t len;
    GC_TRY(gc_read_file(path, &text, &len, 64u << 20));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *arr = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "points") : root;
    gc_status st = GC_OK;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > GC_MAX_POINTS) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: expected a non-empty list of points ([x, y] or {\"x\", \"y\"[, \"id\"]})", path);
        goto done;
    }
    float *v = malloc((size_t)n * 2 * sizeof(float));
    int64_t *id = malloc((size_t)n * sizeof(int64_t));
    if (!v || !id) {
        free(v);
        free(id);
        st = gc_errorf(GC_ERR_NOMEM, "out of memory");
        goto done;
    }
    bool have_ids = false;
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *x, *y, *i = NULL;
        if (cJSON_IsArray(it) && cJSON_GetArraySize(it) >= 2) {
            x = cJSON_GetArrayItem(it, 0);
            y = cJSON_GetArrayItem(it, 1);
        } else {
            x = cJSON_GetObjectItemCaseSensitive(it, "x");
            y = cJSON_GetObjectItemCaseSensitive(it, "y");
            i = cJSON_GetObjectItemCaseSensitive(it, "id");
        }
        /* ids are keypoint indices: non-negative integers (bounded before the conversion to int64) */
        if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y) || (i && (!cJSON_IsNumber(i) || i->valuedouble < 0 || i->valuedouble > 1e9 ||
                                                               i->valuedouble != floor(i->valuedouble)))) {
            free(v);
            free(id);
            st = gc_errorf(GC_ERR_FORMAT, "%s: point %d is not [x, y] / {\"x\", \"y\"[, \"id\"]} with numbers", path, k);
            goto done;
        }
        if (i) have_ids = true;
        v[2 * k] = (float)x->valuedouble;
        v[2 * k + 1] = (float)y->valuedouble;
        id[k] = i ? (int64_t)i->valuedouble : -1;
        k++;
    }
    if (have_ids)
        for (int j = 0; j < n; j++)
            if (id[j] < 0) {
                free(v);
                free(id);
                st = gc_errorf(GC_ERR_FORMAT, "%s: give an \"id\" for every point or for none", path);
                goto done;
            }
    if (!have_ids) {
        free(id);
        id = NULL;
    }
    *xy = v;
    *ids = id;
    *K = n;
done:
    cJSON_Delete(root);
    return st;
}

gc_status gc_dense_points(int32_t w, int32_t h, float **xy, int64_t **cells, int64_t *K) {
    *xy = NULL, *cells = NULL, *K = 0;
    float *v = malloc(GC_DENSE_CELLS * 3 * sizeof(float));
    int64_t *c = malloc(GC_DENSE_CELLS * sizeof(int64_t));
    if (!v || !c) return free(v), free(c), gc_errorf(GC_ERR_NOMEM, "out of memory");
    const float step = (float)GC_CANVAS_DINO / GC_DENSE_GRID;
    for (int i = 0; i < GC_DENSE_CELLS; i++) {
        v[3 * i] = step * (float)(i % GC_DENSE_GRID) + step / 2, v[3 * i + 1] = step * (float)(i / GC_DENSE_GRID) + step / 2;
        v[3 * i + 2] = 1;
    }
    gc_status s = gc_kps_from_canvas(v, GC_DENSE_CELLS, w, h, GC_CANVAS_DINO, v);
    int64_t k = 0;
    for (int i = 0; s == GC_OK && i < GC_DENSE_CELLS; i++) {
        const float x = v[3 * i], y = v[3 * i + 1];
        /* the cell centres in the image band (the others lie in the canvas padding) */
        if (!(x >= 0 && y >= 0 && x < w && y < h)) continue;
        v[2 * k] = x, v[2 * k + 1] = y, c[k++] = i;
    }
    if (s != GC_OK || k == 0) {
        free(v), free(c);
        return s != GC_OK ? s : gc_errorf(GC_ERR_ARG, "dense mode: no cell centre of the 60x60 grid falls inside the %dx%d source", w, h);
    }
    *xy = v, *cells = c, *K = k;
    return GC_OK;
}

gc_status gc_box_parse(const char *text, const char *option, float box[4]) {
    const char *p = text;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        box[i] = strtof(p, &end);
        if (end == p || errno == ERANGE || *end != (i < 3 ? ',' : '\0'))
            return gc_errorf(GC_ERR_ARG, "%s '%s': expected four numbers x1,y1,x2,y2 in image pixels", option, text);
        p = end + 1;
    }
    return GC_OK;
}
