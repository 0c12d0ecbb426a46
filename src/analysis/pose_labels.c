#include "analysis/pose_labels.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void gc_pose_labels_free(gc_pose_labels *l) {
    for (int64_t i = 0; l->names && i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->poses);
    memset(l, 0, sizeof *l);
}

gc_status gc_pose_labels_parse(const char *json, const char *label, gc_pose_labels *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(json);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", label);
    const cJSON *arr = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "targets") : NULL;
    gc_status st = GC_OK;
    if (!cJSON_IsArray(arr)) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: expected {\"targets\": [{\"name\": ..., \"pose\": \"l\"|\"r\"|\"f\"|\"b\"}, ...]}", label);
        goto done;
    }
    int64_t n = cJSON_GetArraySize(arr);
    out->names = calloc((size_t)n + 1, sizeof(char *));
    out->poses = calloc((size_t)n + 1, 1);
    if (!out->names || !out->poses) {
        st = gc_errorf(GC_ERR_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        int64_t i = out->n;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name"), *pose = cJSON_GetObjectItemCaseSensitive(it, "pose");
        if (!cJSON_IsObject(it) || !cJSON_IsString(name) || !name->valuestring[0]) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: targets[%lld] needs a non-empty string \"name\"", label, (long long)i);
            goto done;
        }
        const char *p = cJSON_IsString(pose) ? pose->valuestring : NULL;
        if (!p || strlen(p) != 1 || !strchr("lrfb", p[0])) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: targets[%lld] (\"%.64s\"): \"pose\" must be \"l\", \"r\", \"f\" or \"b\"", label,
                           (long long)i, name->valuestring);
            goto done;
        }
        if (!(out->names[i] = gc_strdup(name->valuestring))) {
            st = GC_ERR_NOMEM;
            goto done;
        }
        out->poses[i] = p[0];
        out->n++;
    }
    if (out->n == 0) st = gc_errorf(GC_ERR_FORMAT, "%s: \"targets\" is empty", label);
done:
    cJSON_Delete(root);
    if (st != GC_OK) gc_pose_labels_free(out);
    return st;
}

gc_status gc_pose_labels_load(const char *path, gc_pose_labels *out) {
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    GC_TRY(gc_read_file(path, &text, &len, 64u << 20));
    gc_status st = gc_pose_labels_parse(text, path, out);
    free(text);
    return st;
}
