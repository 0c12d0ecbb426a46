#include "analysis/pose_boxes.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

size_t gc_pose_name_stem(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg") || !strcmp(dot, ".png")) ? (size_t)(dot - name) : strlen(name);
}

/* SAM refuses an inverted box; anything beyond 1e6 pixels is no image's (the readers' size limit). */
static gc_status check_box(const float b[4], const char *file, const char *key) {
    for (int k = 0; k < 4; k++)
        if (!(fabsf(b[k]) <= 1e6f))
            return gc_errorf(GC_ERR_FORMAT, "%s: %s: coordinate %d (%g) is not a number within 1e6 pixels", file, key, k, b[k]);
    if (b[0] > b[2] || b[1] > b[3])
        return gc_errorf(GC_ERR_FORMAT, "%s: %s (%g, %g, %g, %g) is inverted: expected x1 <= x2 and y1 <= y2", file, key,
                         b[0], b[1], b[2], b[3]);
    return GC_OK;
}

static bool same_stem(const char *a, const char *b) {
    size_t la = gc_pose_name_stem(a);
    return la == gc_pose_name_stem(b) && strncmp(a, b, la) == 0;
}

/* A file value: exactly four numbers. */
static gc_status parse_box(const cJSON *v, const char *label, const char *key, float b[4]) {
    bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 4;
    for (int k = 0; ok && k < 4; k++) {
        const cJSON *x = cJSON_GetArrayItem(v, k);
        ok = cJSON_IsNumber(x);
        if (ok) b[k] = (float)x->valuedouble;
    }
    if (!ok) return gc_errorf(GC_ERR_FORMAT, "%s: %s must be [x1, y1, x2, y2]: four numbers in the image's pixels", label, key);
    return check_box(b, label, key);
}

gc_status gc_pose_boxes_parse(const char *json, const char *label, const gc_pose_labels *l, gc_pose_box *out) {
    memset(out, 0, (size_t)l->n * sizeof *out);
    cJSON *root = cJSON_Parse(json);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", label);
    const cJSON *boxes = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "boxes") : NULL, *it;
    gc_status st = GC_OK;
    if (!cJSON_IsObject(boxes)) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: expected {\"boxes\": {\"<target name>\": [x1, y1, x2, y2], ...}}", label);
        goto done;
    }
    cJSON_ArrayForEach(it, boxes) {
        char key[128];
        float b[4];
        snprintf(key, sizeof key, "boxes[\"%.100s\"]", it->string);
        if ((st = parse_box(it, label, key, b)) != GC_OK) goto done;
        for (int64_t i = 0; i < l->n; i++) {
            if (!same_stem(it->string, l->names[i])) continue;
            if (out[i].found) {
                st = gc_errorf(GC_ERR_FORMAT, "%s: two boxes for target \"%.100s\" (the second is %s; a key names the "
                               "targets of its name without .jpg, .jpeg or .png)", label, l->names[i], key);
                goto done;
            }
            out[i].found = true;
            memcpy(out[i].box, b, sizeof b);
        }
    }
done:
    cJSON_Delete(root);
    return st;
}

/* <dir>/<stem>.json per target, where one exists. */
static gc_status load_annotations(const char *dir, const gc_pose_labels *l, gc_pose_box *out) {
    memset(out, 0, (size_t)l->n * sizeof *out);
    for (int64_t i = 0; i < l->n; i++) {
        char *path = gc_strfmt("%s/%.*s.json", dir, (int)gc_pose_name_stem(l->names[i]), l->names[i]);
        if (!path) return GC_ERR_NOMEM;
        gc_spair_image a;
        gc_status s = GC_OK;
        if (gc_file_exists(path)) {
            s = gc_spair_image_load(path, &a);
            if (s == GC_OK) s = check_box(a.box, path, "bndbox");
            if (s == GC_OK) {
                out[i] = (gc_pose_box){.found = true, .w = (int32_t)a.w, .h = (int32_t)a.h};
                memcpy(out[i].box, a.box, sizeof a.box);
            }
        }
        free(path);
        GC_TRY(s);
    }
    return GC_OK;
}

gc_status gc_pose_boxes_load(const char *src, const gc_pose_labels *l, gc_pose_box *out) {
    if (gc_dir_exists(src)) return load_annotations(src, l, out);
    char *text;
    size_t len;
    memset(out, 0, (size_t)l->n * sizeof *out);
    GC_TRY(gc_read_file(src, &text, &len, 256u << 20));
    gc_status st = gc_pose_boxes_parse(text, src, l, out);
    free(text);
    return st;
}
