/* The content-keyed cache of users' images (image_cache.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/sha256.h"
#include "io/atomic_file.h"
#include "io/fs_tree.h"
#include "io/image.h"
#include "pipeline/image_cache.h"

#define WALK_MAX_ENTRIES 100000 /* a models folder is a few dozen files; a runaway tree is cut short */
#define WALK_MAX_DEPTH 8

struct gc_image_cache {
    char *dir;
    char real_dir[PATH_MAX]; /* its real path (left out of the model fingerprints) */
    const gc_features_config *models;
    gc_feature_fn spec;  /* the feature models' identity (from the memo, or the loaded pipeline's) */
    bool have_spec;
    bool loaded;         /* spec is gc_feature_fn_pipeline's: the models are in memory */
    bool borrowed;       /* ... and belong to the caller (gc_image_cache_use_features) */
    char *feat_dir;      /* <dir>/features/<model id> */
    const char *sam_path;
    gc_sam *sam;         /* loaded at the first mask to compute */
    char *mask_dir;      /* <dir>/masks/<SAM id>; NULL until the id is known */
};

static void hex(const uint8_t *d, int n, char *out) {
    for (int i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

gc_status gc_image_key(const char *path, char key[GC_IMAGE_KEY_LEN + 1]) {
    void *p;
    size_t n;
    GC_TRY(gc_map_file(path, &p, &n));
    uint8_t d[32];
    gc_sha256(p, n, d);
    gc_unmap_file(p, n);
    hex(d, 32, key);
    return GC_OK;
}

/* ---- walking the model files ---------------------------------------------------------------------- */

typedef gc_status (*walk_fn)(void *ctx, const char *path, const char *rel, const struct stat *st);

/* Every regular file under path (path itself when it is a file), folders in name order, links followed;
 * the folder `skip` is left out (the cache itself, when it lies in the models folder). */
static gc_status walk(const char *path, const char *rel, int depth, int *budget, const char *skip, walk_fn fn, void *ctx) {
    struct stat st;
    if (skip && strcmp(path, skip) == 0) return GC_OK;
    if (stat(path, &st) != 0) return gc_errorf(GC_ERR_MISSING, "%s: no such file or folder", path);
    if (--*budget < 0) return GC_OK;
    if (S_ISREG(st.st_mode)) return fn(ctx, path, rel, &st);
    if (!S_ISDIR(st.st_mode) || depth >= WALK_MAX_DEPTH) return GC_OK;
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    if (n < 0) return gc_errorf(GC_ERR_IO, "%s: cannot list folder", path);
    gc_status s = GC_OK;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (s == GC_OK && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char *p = gc_strfmt("%s/%s", path, name), *r = gc_strfmt("%s/%s", rel, name);
            s = p && r ? walk(p, r, depth + 1, budget, skip, fn, ctx) : GC_ERR_NOMEM;
            free(p), free(r);
        }
        free(list[i]);
    }
    free(list);
    return s;
}

static gc_status stat_line(void *ctx, const char *path, const char *rel, const struct stat *st) {
    (void)path;
    fprintf(ctx, "%s %lld %lld.%09ld %llu\n", rel, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
            (long)st->st_mtim.tv_nsec, (unsigned long long)st->st_ino);
    return GC_OK;
}

/* Adds "label path" and the stat line of every file under path but skip to the fingerprint text (NULL:
 * "label -"). */
static gc_status fingerprint_path(FILE *f, const char *label, const char *path, const char *skip) {
    if (!path) return fprintf(f, "%s -\n", label), GC_OK;
    char real[PATH_MAX];
    if (!realpath(path, real)) return gc_errorf(GC_ERR_MISSING, "%s: no such file or folder (%s)", path, label);
    fprintf(f, "%s %s\n", label, real);
    int budget = WALK_MAX_ENTRIES;
    return walk(real, ".", 0, &budget, skip, stat_line, f);
}

typedef struct {
    const char *label;
    const char *path;
} fp_item;

/* Hex SHA-256 of "kind", the flags and every item's files (fingerprint_path) but the cache's. */
static gc_status fingerprint(const gc_image_cache *c, const char *kind, const fp_item *items, int n, int flags, char out[65]) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return gc_errorf(GC_ERR_NOMEM, "out of memory (model fingerprint)");
    fprintf(f, "%s flags %d\n", kind, flags);
    gc_status s = GC_OK;
    for (int i = 0; s == GC_OK && i < n; i++) s = fingerprint_path(f, items[i].label, items[i].path, c->real_dir);
    if (fclose(f) != 0 || !text) {
        free(text);
        return s != GC_OK ? s : gc_errorf(GC_ERR_NOMEM, "out of memory (model fingerprint)");
    }
    if (s == GC_OK) {
        uint8_t d[32];
        gc_sha256(text, len, d);
        hex(d, 32, out);
    }
    free(text);
    return s;
}

/* ---- the memo: models/<fingerprint>.json ------------------------------------------------------------ */

gc_status gc_image_cache_parse_spec(const char *text, size_t len, gc_feature_fn *spec) {
    memset(spec, 0, sizeof *spec);
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model"), *maps = cJSON_GetObjectItemCaseSensitive(j, "maps");
    bool ok = cJSON_IsString(model) && model->valuestring[0] && strlen(model->valuestring) < sizeof spec->model_id &&
              (!maps || (cJSON_IsArray(maps) && cJSON_GetArraySize(maps) <= GC_FC_MAX_MAPS));
    if (ok) snprintf(spec->model_id, sizeof spec->model_id, "%s", model->valuestring);
    const cJSON *m, *each = ok ? maps : NULL;
    cJSON_ArrayForEach(m, each) {
        const cJSON *name = cJSON_GetArrayItem(m, 0);
        ok = cJSON_IsArray(m) && cJSON_GetArraySize(m) == 4 && cJSON_IsString(name) && name->valuestring[0] &&
             strlen(name->valuestring) < sizeof spec->names[0];
        for (int k = 0; ok && k < 3; k++) {
            const cJSON *v = cJSON_GetArrayItem(m, k + 1);
            ok = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1 << 20 && v->valuedouble == (int64_t)v->valuedouble;
            if (ok) spec->shape[spec->n_maps][k] = (int64_t)v->valuedouble;
        }
        if (!ok) break;
        snprintf(spec->names[spec->n_maps++], sizeof spec->names[0], "%s", name->valuestring);
    }
    cJSON_Delete(j);
    if (ok) return GC_OK;
    memset(spec, 0, sizeof *spec);
    return gc_errorf(GC_ERR_FORMAT, "not a model identity record ({\"model\": id, \"maps\": [[name, C, H, W], ...]})");
}

static char *memo_path(const gc_image_cache *c, const char *fp) { return gc_strfmt("%s/models/%s.json", c->dir, fp); }

/* The remembered identity of fingerprint fp (false: none, or unreadable: it is computed again). */
static bool memo_read(const gc_image_cache *c, const char *fp, gc_feature_fn *spec) {
    char *path = memo_path(c, fp), *text = NULL;
    size_t len;
    bool ok = path && gc_file_exists(path) && gc_read_file(path, &text, &len, 1 << 16) == GC_OK &&
              gc_image_cache_parse_spec(text, len, spec) == GC_OK;
    gc_error_clear();
    free(path), free(text);
    return ok;
}

static gc_status memo_write(const gc_image_cache *c, const char *fp, const gc_feature_fn *spec) {
    cJSON *j = cJSON_CreateObject(), *maps = cJSON_AddArrayToObject(j, "maps");
    cJSON_AddStringToObject(j, "model", spec->model_id);
    for (int k = 0; k < spec->n_maps; k++) {
        cJSON *m = cJSON_CreateArray();
        cJSON_AddItemToArray(m, cJSON_CreateString(spec->names[k]));
        for (int d = 0; d < 3; d++) cJSON_AddItemToArray(m, cJSON_CreateNumber((double)spec->shape[k][d]));
        cJSON_AddItemToArray(maps, m);
    }
    char *text = cJSON_Print(j), *dir = gc_strfmt("%s/models", c->dir), *path = memo_path(c, fp);
    cJSON_Delete(j);
    gc_status s = text && dir && path ? gc_mkdir_p(dir) : gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (s == GC_OK) s = gc_write_file_atomic(path, text, strlen(text));
    free(text), free(dir), free(path);
    return s;
}

/* <dir>/<sub>/<id with every character outside [A-Za-z0-9._-] as '_'> */
static char *id_dir(const gc_image_cache *c, const char *sub, const char *id) {
    char *p = gc_strfmt("%s/%s/%s", c->dir, sub, id);
    for (char *q = p ? p + strlen(c->dir) + strlen(sub) + 2 : NULL; q && *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' || *q == '-'))
            *q = '_';
    return p;
}

/* ---- features ----------------------------------------------------------------------------------- */

static gc_status features_fingerprint(const gc_image_cache *c, char fp[65]) {
    const gc_features_config *m = c->models;
    const fp_item items[] = {{"models", m->models_dir}, {"dinov2", m->dinov2},         {"sd", m->sd},
                             {"sd_config", m->sd_config}, {"clip_vision", m->clip_vision}, {"text_encoder", m->text_encoder},
                             {"captioner", m->captioner}};
    return fingerprint(c, "geoaware features", items, (int)GC_COUNTOF(items), m->dino_only, fp);
}

static gc_status set_spec(gc_image_cache *c, const gc_feature_fn *spec) {
    free(c->feat_dir);
    c->spec = *spec;
    c->have_spec = true;
    c->feat_dir = id_dir(c, "features", spec->model_id);
    return c->feat_dir ? GC_OK : GC_ERR_NOMEM;
}

/* Load the pipeline: its identity replaces a remembered one (the same, unless a file changed unnoticed). */
static gc_status load_features(gc_image_cache *c, const char *fp) {
    gc_feature_fn fn;
    GC_TRY(gc_feature_fn_pipeline(c->models, &fn));
    c->loaded = true;
    GC_TRY(set_spec(c, &fn));
    return memo_write(c, fp, &fn);
}

gc_status gc_image_cache_use_features(gc_image_cache *c, const gc_feature_fn *fn) {
    if (!c->models) return gc_errorf(GC_ERR_ARG, "image cache %s: opened without feature models", c->dir);
    if (c->loaded && !c->borrowed) gc_feature_fn_pipeline_free(&c->spec);
    c->loaded = c->borrowed = true;
    GC_TRY(set_spec(c, fn));
    char fp[65];
    GC_TRY(features_fingerprint(c, fp));
    return memo_write(c, fp, fn);
}

gc_status gc_image_cache_features(gc_image_cache *c, const char *key, const char *name, const gc_image *img, int pose,
                                  char **path, bool *computed) {
    *path = NULL;
    *computed = false;
    if (!c->models) return gc_errorf(GC_ERR_ARG, "image cache %s: opened without feature models", c->dir);
    char fp[65] = "";
    if (!c->have_spec) {
        GC_TRY(features_fingerprint(c, fp));
        gc_feature_fn spec;
        if (memo_read(c, fp, &spec) && spec.n_maps > 0) GC_TRY(set_spec(c, &spec));
        else GC_TRY(load_features(c, fp));
    }
    char *p = gc_cache_path(c->feat_dir, key, pose);
    if (!p) return GC_ERR_NOMEM;
    if (gc_file_exists(p) && gc_cache_open(p, &c->spec, pose, NULL) == GC_OK) return *path = p, GC_OK;
    gc_error_clear();
    free(p);
    if (!c->loaded) {
        if (!fp[0]) GC_TRY(features_fingerprint(c, fp));
        GC_TRY(load_features(c, fp));
    }
    GC_TRY(gc_cache_ensure(&c->spec, c->feat_dir, key, name, img, pose, computed));
    return (*path = gc_cache_path(c->feat_dir, key, pose)) ? GC_OK : GC_ERR_NOMEM;
}

/* ---- SAM masks ---------------------------------------------------------------------------------- */

typedef struct {
    uint8_t (*d)[32];
    int n, cap;
} digests;

static gc_status digest_one(void *ctx, const char *path, const char *rel, const struct stat *st) {
    (void)rel, (void)st;
    digests *ds = ctx;
    if (ds->n == ds->cap) {
        void *v = gc_realloc_array(ds->d, (size_t)(ds->cap = ds->cap ? 2 * ds->cap : 8), sizeof *ds->d);
        if (!v) return GC_ERR_NOMEM;
        ds->d = v;
    }
    void *p;
    size_t n;
    GC_TRY(gc_map_file(path, &p, &n));
    gc_sha256(p, n, ds->d[ds->n++]);
    gc_unmap_file(p, n);
    return GC_OK;
}

/* "sam:<hex>": the digest of every file SAM is read from (the weights file, or a folder's config.json and
 * weights), remembered under their fingerprint. */
static gc_status sam_identity(gc_image_cache *c) {
    char fp[65];
    const fp_item item = {"sam", c->sam_path};
    GC_TRY(fingerprint(c, "sam", &item, 1, 0, fp));
    gc_feature_fn spec;
    if (!memo_read(c, fp, &spec) || strncmp(spec.model_id, "sam:", 4) != 0) {
        digests ds = {0};
        int budget = WALK_MAX_ENTRIES;
        gc_status s = walk(c->sam_path, ".", 0, &budget, NULL, digest_one, &ds);
        uint8_t d[32];
        if (s == GC_OK) gc_sha256(ds.d, (size_t)ds.n * 32, d);
        free(ds.d);
        GC_TRY(s);
        memset(&spec, 0, sizeof spec);
        memcpy(spec.model_id, "sam:", 4);
        hex(d, 16, spec.model_id + 4);
        GC_TRY(memo_write(c, fp, &spec));
    }
    return (c->mask_dir = id_dir(c, "masks", spec.model_id)) ? GC_OK : GC_ERR_NOMEM;
}

/* A stored mask is used when it decodes to a 0/255 gray image of the image's size. */
static bool mask_valid(const char *path, const gc_image *img) {
    gc_image m = {0};
    bool ok = gc_file_exists(path) && gc_image_load(path, &m) == GC_OK && m.w == img->w && m.h == img->h;
    for (size_t i = 0; ok && i < (size_t)m.w * m.h * 3; i += 3)
        ok = (m.rgb[i] == 0 || m.rgb[i] == 255) && m.rgb[i + 1] == m.rgb[i] && m.rgb[i + 2] == m.rgb[i];
    gc_image_free(&m);
    gc_error_clear();
    return ok;
}

gc_status gc_image_cache_mask(gc_image_cache *c, const char *key, const gc_image *img, const float box[4], char **path,
                              bool *computed) {
    *path = NULL;
    *computed = false;
    if (!c->sam_path) return gc_errorf(GC_ERR_ARG, "image cache %s: opened without SAM weights", c->dir);
    if (!c->mask_dir) GC_TRY(sam_identity(c));
    char bt[128], bk[17];
    uint8_t d[32];
    snprintf(bt, sizeof bt, "%.9g,%.9g,%.9g,%.9g", box[0], box[1], box[2], box[3]);
    gc_sha256(bt, strlen(bt), d);
    hex(d, 8, bk);
    char *p = gc_strfmt("%s/%s_%s.png", c->mask_dir, key, bk);
    if (!p) return GC_ERR_NOMEM;
    if (mask_valid(p, img)) return *path = p, GC_OK;
    uint8_t *mask = gc_alloc((size_t)img->w * (size_t)img->h);
    gc_status s = mask ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && !c->sam) s = gc_sam_load(c->sam_path, NULL, &c->sam);
    if (s == GC_OK) s = gc_sam_box_mask(c->sam, img, box, mask);
    if (s == GC_OK) s = gc_mkdir_p(c->mask_dir);
    if (s == GC_OK) s = gc_png_save_gray(p, mask, img->w, img->h);
    gc_free(mask);
    if (s != GC_OK) return free(p), s;
    *computed = true;
    *path = p;
    return GC_OK;
}

/* ---- open / free ---------------------------------------------------------------------------------- */

gc_status gc_image_cache_open(const char *dir, const gc_features_config *models, const char *sam, gc_image_cache **out) {
    *out = NULL;
    if (!dir || !*dir) return gc_errorf(GC_ERR_ARG, "image cache: no folder given");
    GC_TRY(gc_mkdir_p(dir));
    gc_image_cache *c = gc_calloc(1, sizeof *c);
    if (!c || !(c->dir = gc_strdup(dir))) return gc_free(c), GC_ERR_NOMEM;
    if (!realpath(dir, c->real_dir)) c->real_dir[0] = 0;
    c->models = models, c->sam_path = sam;
    *out = c;
    return GC_OK;
}

void gc_image_cache_free(gc_image_cache *c) {
    if (!c) return;
    if (c->loaded && !c->borrowed) gc_feature_fn_pipeline_free(&c->spec);
    gc_sam_free(c->sam);
    free(c->dir), free(c->feat_dir), free(c->mask_dir);
    gc_free(c);
}
