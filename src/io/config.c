#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

gc_status gc_json_load(const char *path, cJSON **out) {
    *out = NULL;
    char *text;
    size_t len;
    GC_TRY(gc_read_file(path, &text, &len, 256u << 20));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        const char *ep = cJSON_GetErrorPtr();
        if (ep && ep >= text && ep <= text + len) off = (size_t)(ep - text);
        free(text);
        return gc_errorf(GC_ERR_FORMAT, "%s: malformed JSON near byte %zu", path, off);
    }
    free(text);
    *out = j;
    return GC_OK;
}

const cJSON *gc_json_get(const cJSON *root, const char *path) {
    char key[256];
    const cJSON *cur = root;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = 0;
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

gc_status gc_json_int(const cJSON *root, const char *file, const char *path, int64_t def, int64_t *out) {
    const cJSON *j = gc_json_get(root, path);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return GC_OK;
    }
    /* range first: converting a double outside int64 is undefined */
    if (!cJSON_IsNumber(j) || !(fabs(j->valuedouble) < 9.2e18) || j->valuedouble != floor(j->valuedouble))
        return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be an integer", file, path);
    *out = (int64_t)j->valuedouble;
    return GC_OK;
}

gc_status gc_json_double(const cJSON *root, const char *file, const char *path, double def, double *out) {
    const cJSON *j = gc_json_get(root, path);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return GC_OK;
    }
    if (!cJSON_IsNumber(j)) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a number", file, path);
    *out = j->valuedouble;
    return GC_OK;
}

gc_status gc_json_bool(const cJSON *root, const char *file, const char *path, bool def, bool *out) {
    const cJSON *j = gc_json_get(root, path);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return GC_OK;
    }
    if (!cJSON_IsBool(j)) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be true or false", file, path);
    *out = cJSON_IsTrue(j);
    return GC_OK;
}

static bool has_weight_ext(const char *n) {
    static const char *ext[] = {".safetensors", ".pth", ".pt", ".ckpt", ".PTH"};
    size_t ln = strlen(n);
    for (size_t i = 0; i < GC_COUNTOF(ext); i++) {
        size_t le = strlen(ext[i]);
        if (ln > le && strcmp(n + ln - le, ext[i]) == 0) return true;
    }
    return false;
}

gc_status gc_resolve_model_path(const char *path, const char *what, const char *const *preferred,
                                const char *hint, char **config_out, char **weights_out) {
    *config_out = *weights_out = NULL;
    if (!path || !*path) return gc_errorf(GC_ERR_ARG, "no %s weights given (%s)", what, hint);
    if (gc_file_exists(path)) {
        *weights_out = gc_strdup(path);
        return *weights_out ? GC_OK : GC_ERR_NOMEM;
    }
    if (!gc_dir_exists(path))
        return gc_errorf(GC_ERR_MISSING, "%s: no such file or folder for the %s weights (%s)", path, what, hint);
    char *cfg = gc_strfmt("%s/config.json", path);
    if (!cfg) return GC_ERR_NOMEM;
    if (!gc_file_exists(cfg)) {
        free(cfg);
        cfg = NULL;
    }
    for (int i = 0; preferred && preferred[i]; i++) {
        char *p = gc_strfmt("%s/%s", path, preferred[i]);
        if (p && gc_file_exists(p)) {
            *config_out = cfg;
            *weights_out = p;
            return GC_OK;
        }
        free(p);
    }
    DIR *d = opendir(path);
    if (!d) {
        free(cfg);
        return gc_errorf(GC_ERR_IO, "%s: cannot list folder", path);
    }
    char *found = NULL;
    int nfound = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_weight_ext(e->d_name)) continue;
        nfound++;
        if (!found) found = gc_strfmt("%s/%s", path, e->d_name);
    }
    closedir(d);
    if (nfound != 1) {
        bool had_cfg = cfg != NULL;
        free(found);
        free(cfg);
        if (nfound == 0)
            return gc_errorf(GC_ERR_MISSING, "%s: no %s weights file in this folder (expected %s%s; %s)", path,
                             what, preferred && preferred[0] ? preferred[0] : "a .safetensors/.pth file",
                             had_cfg ? "" : " and config.json", hint);
        return gc_errorf(GC_ERR_ARG, "%s: %d weights files in this folder; keep exactly one or pass the "
                         "file itself", path, nfound);
    }
    *config_out = cfg;
    *weights_out = found;
    return GC_OK;
}

gc_status gc_model_open(const char *path, const char *what, const char *const *preferred, const char *hint,
                        const char *config, gc_weights **w, cJSON **cfg, char **cfg_path) {
    char *wpath = NULL;
    *w = NULL, *cfg = NULL, *cfg_path = NULL;
    GC_TRY(gc_resolve_model_path(path, what, preferred, hint, cfg_path, &wpath));
    if (config) {
        free(*cfg_path);
        *cfg_path = gc_strdup(config);
    }
    gc_status s = config && !*cfg_path ? GC_ERR_NOMEM : GC_OK;
    if (s == GC_OK && *cfg_path) s = gc_json_load(*cfg_path, cfg);
    if (s == GC_OK) s = gc_weights_open(wpath, w);
    free(wpath);
    if (s != GC_OK) {
        cJSON_Delete(*cfg);
        free(*cfg_path);
        *cfg = NULL, *cfg_path = NULL;
    }
    return s;
}
