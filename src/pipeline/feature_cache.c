#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"
#include "pipeline/feature_cache.h"

char *gc_cache_path(const char *cache_dir, const char *rel_image, int flip) {
    const char *dot = strrchr(rel_image, '.'), *slash = strrchr(rel_image, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - rel_image) : strlen(rel_image);
    return gc_strfmt("%s/%.*s%s.safetensors", cache_dir, (int)stem, rel_image, flip ? "_flip" : "");
}

gc_status gc_cache_open(const char *path, const gc_feature_fn *fn, int flip, gc_weights **out) {
    if (out) *out = NULL;
    gc_weights *w;
    GC_TRY(gc_safetensors_open(path, &w));
    gc_status s = GC_OK;
    const char *model = gc_weights_meta(w, "model"), *fl = gc_weights_meta(w, "flip");
    if (!model || strcmp(model, fn->model_id) != 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: features of model '%s', expected '%s'", path, model ? model : "(none)",
                      fn->model_id);
    else if (!fl || strcmp(fl, flip ? "1" : "0") != 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: metadata 'flip' is '%s', expected '%d'", path, fl ? fl : "(none)", flip);
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++) {
        const gc_tensor_ref *t = gc_weights_find(w, fn->names[k]);
        if (!t) s = gc_errorf(GC_ERR_MISSING, "%s: no feature map '%s'", path, fn->names[k]);
        else if (t->ndim != 3 || t->shape[0] != fn->shape[k][0] || t->shape[1] != fn->shape[k][1] ||
                 t->shape[2] != fn->shape[k][2] || (t->dtype != GC_DT_F32 && t->dtype != GC_DT_F16))
            s = gc_errorf(GC_ERR_SHAPE, "%s: '%s' is %s [%lld, %lld, %lld], expected F32/F16 [%lld, %lld, %lld] (another grid?)",
                          path, fn->names[k], gc_dtype_name(t->dtype), (long long)(t->ndim > 0 ? t->shape[0] : 0),
                          (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)(t->ndim > 2 ? t->shape[2] : 0),
                          (long long)fn->shape[k][0], (long long)fn->shape[k][1], (long long)fn->shape[k][2]);
    }
    if (s != GC_OK || !out) gc_weights_free(w);
    else *out = w;
    return s;
}

static gc_status mkdirs_for(const char *file) {
    char *p = gc_strdup(file);
    if (!p) return GC_ERR_NOMEM;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            gc_status s = gc_errorf(GC_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return s;
        }
        *q = '/';
    }
    free(p);
    return GC_OK;
}

/* Remove temporary files a killed writer left beside `path` ("<name>.tmp.*"). */
static void remove_stale_temps(const char *path) {
    char *dir = gc_strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *base = gc_basename(path);
    if (slash) *slash = 0;
    DIR *d = opendir(slash ? dir : ".");
    size_t lb = strlen(base);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, base, lb) == 0 && strncmp(e->d_name + lb, ".tmp.", 5) == 0) {
            char *t = gc_strfmt("%s/%s", slash ? dir : ".", e->d_name);
            if (t) unlink(t);
            free(t);
        }
    if (d) closedir(d);
    free(dir);
}

static gc_status write_one(const gc_feature_fn *fn, const gc_image *img, int flip, const char *rel, const char *path,
                           bool f16, float *const *maps) {
    GC_TRY(fn->compute(fn->ctx, img, flip, maps));
    GC_TRY(mkdirs_for(path));
    gc_st_writer *wr = gc_st_writer_new();
    if (!wr) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    gc_status s = GC_OK;
    uint16_t *half[GC_FC_MAX_MAPS] = {0};
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++) {
        int64_t n = fn->shape[k][0] * fn->shape[k][1] * fn->shape[k][2];
        if (f16) {
            if (!(half[k] = gc_alloc_array((size_t)n, sizeof(uint16_t)))) s = GC_ERR_NOMEM;
            for (int64_t i = 0; s == GC_OK && i < n; i++) half[k][i] = gc_f32_to_f16(maps[k][i]);
        }
        if (s == GC_OK)
            s = gc_st_writer_add_ref(wr, fn->names[k], f16 ? GC_DT_F16 : GC_DT_F32, 3, fn->shape[k],
                                     f16 ? (const void *)half[k] : (const void *)maps[k]);
    }
    char grid[64];
    snprintf(grid, sizeof grid, "%lldx%lld", (long long)fn->shape[0][1], (long long)fn->shape[0][2]);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "model", fn->model_id);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "flip", flip ? "1" : "0");
    if (s == GC_OK) s = gc_st_writer_meta(wr, "grid", grid);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "image", rel);
    if (s == GC_OK && fn->preprocess) s = gc_st_writer_meta(wr, "preprocess", fn->preprocess);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(half[k]);
    return s;
}

gc_status gc_cache_extract(const gc_feature_fn *fn, const char *image_root, char *const *rel_images, int n,
                           const gc_extract_config *o, gc_extract_stats *st) {
    memset(st, 0, sizeof *st);
    if (o->n_shards < 1 || o->shard < 0 || o->shard >= o->n_shards)
        return gc_errorf(GC_ERR_ARG, "shard %d of %d: need 0 <= shard < shard count", o->shard, o->n_shards);
    if (fn->n_maps < 1 || fn->n_maps > GC_FC_MAX_MAPS) return gc_errorf(GC_ERR_ARG, "feature function has no maps");
    float *maps[GC_FC_MAX_MAPS] = {0};
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++)
        if (!(maps[k] = gc_alloc_array((size_t)(fn->shape[k][0] * fn->shape[k][1]), (size_t)fn->shape[k][2] * sizeof(float))))
            s = GC_ERR_NOMEM;
    int nori = o->flip ? 2 : 1;
    for (int i = 0; i < n; i++) st->total += (i % o->n_shards == o->shard) * nori;
    double t0 = gc_now();
    for (int i = 0; s == GC_OK && i < n; i++) {
        if (i % o->n_shards != o->shard) continue;
        gc_image img = {0};
        bool loaded = false;
        for (int flip = 0; s == GC_OK && flip < nori; flip++) {
            char *path = gc_cache_path(o->cache_dir, rel_images[i], flip);
            if (!path) {
                s = GC_ERR_NOMEM;
                break;
            }
            bool exists = gc_file_exists(path);
            if (exists && gc_cache_open(path, fn, flip, NULL) == GC_OK) {
                st->skipped++;
                free(path);
                if (o->progress) o->progress(o->progress_ctx, st, gc_now() - t0);
                continue;
            }
            gc_error_clear();
            remove_stale_temps(path);
            if (!loaded) {
                char *ip = gc_strfmt("%s/%s", image_root, rel_images[i]);
                s = ip ? gc_image_load(ip, &img) : GC_ERR_NOMEM;
                free(ip);
                loaded = s == GC_OK;
            }
            if (s == GC_OK) s = write_one(fn, &img, flip, rel_images[i], path, o->f16, maps);
            if (s == GC_OK) {
                if (exists) st->redone++;
                else st->computed++;
            }
            free(path);
            if (s == GC_OK && o->progress) o->progress(o->progress_ctx, st, gc_now() - t0);
        }
        gc_image_free(&img);
    }
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(maps[k]);
    return s;
}

/* ---- The GeoAware pipeline (gc_features_*) ------------------------------------------------------ */

static const char *const k_maps[4] = {"s5", "s4", "s3", "dino"};

static gc_status pipeline_compute(void *ctx, const gc_image *img, int flip, float *const *maps) {
    gc_features *f = ctx;
    gc_feature_maps m = {0};
    GC_TRY(gc_features_compute(f, img, flip, &m));
    const float *src[4] = {m.s5, m.s4, m.s3, m.dino};
    const int64_t n[4] = {m.c5 * m.g5 * m.g5, m.c4 * m.g4 * m.g4, m.c3 * m.g3 * m.g3, m.cd * m.gd * m.gd};
    for (int k = f->dino_only ? 3 : 0, j = 0; k < 4; k++, j++) memcpy(maps[j], src[k], (size_t)n[k] * sizeof(float));
    gc_feature_maps_free(&m);
    return GC_OK;
}

/* SHA-256 of a file (memory-mapped) into d; a label that is not a file (a member of an archive)
 * identifies by its text. */
static gc_status digest_file(const char *path, uint8_t d[32]) {
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        gc_sha256(path, strlen(path), d);
        return GC_OK;
    }
    void *p = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (sb.st_size && p == MAP_FAILED) return gc_errorf(GC_ERR_IO, "%s: cannot map", path);
    gc_sha256(p, (size_t)sb.st_size, d);
    if (p) munmap(p, (size_t)sb.st_size);
    return GC_OK;
}

/* Model identity: the SHA-256 of the digests of every weights file, of the text embedding U (the text
 * encoder's output) and of the map shapes (the grid) -> "dinov2-d<Cd>:<hex>" or
 * "geoaware-d<Cd>-sd<c5>.<c4>.<c3>:<hex>". */
static gc_status pipeline_model_id(const gc_features *f, const gc_feature_fn *fn, char *id, size_t cap) {
    uint8_t d[7][32], *p = d[0];
    GC_TRY(digest_file(gc_weights_label(f->dino->weights), p));
    p += 32;
    if (!f->dino_only) {
        const gc_weights *w[4] = {f->sd->wu, f->sd->wv, f->clip.w, f->cap.w};
        for (int i = 0; i < 4; i++)
            if (w[i] && (i != 1 || w[1] != w[0])) {
                GC_TRY(digest_file(gc_weights_label(w[i]), p));
                p += 32;
            }
        gc_sha256(f->U, (size_t)(f->n_ctx * f->ctx_dim) * sizeof(float), p), p += 32;
    }
    gc_sha256(fn->shape, sizeof fn->shape, p), p += 32;
    uint8_t all[32];
    gc_sha256(d, (size_t)(p - d[0]), all);
    char hex[33];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", all[i]);
    if (f->dino_only) snprintf(id, cap, "dinov2-d%lld:%s", (long long)f->dino_dim, hex);
    else
        snprintf(id, cap, "geoaware-d%lld-sd%lld.%lld.%lld:%s", (long long)f->dino_dim, (long long)f->feat_c[0],
                 (long long)f->feat_c[1], (long long)f->feat_c[2], hex);
    return GC_OK;
}

gc_status gc_feature_fn_pipeline(const gc_features_config *cfg, gc_feature_fn *fn) {
    memset(fn, 0, sizeof *fn);
    gc_features *f;
    GC_TRY(gc_features_load(cfg, &f));
    gc_dinov2_info di;
    gc_dinov2_info_get(f->dino, &di);
    const int64_t gd = GC_CANVAS_DINO / di.patch;
    /* stitched SD grids: the crop grid scaled from the 512 crop to the 960 canvas (8, 16, 32 -> 15, 30, 60) */
    const int64_t c[4] = {f->feat_c[0], f->feat_c[1], f->feat_c[2], f->dino_dim};
    for (int k = f->dino_only ? 3 : 0; k < 4; k++, fn->n_maps++) {
        int64_t g = k == 3 ? gd : GC_CANVAS_SD / (GC_SD_CROP / f->feat_g[k]);
        snprintf(fn->names[fn->n_maps], sizeof fn->names[0], "%s", k_maps[k]);
        fn->shape[fn->n_maps][0] = c[k], fn->shape[fn->n_maps][1] = fn->shape[fn->n_maps][2] = g;
    }
    fn->preprocess = f->dino_only ? "DINO: resize long side 840 (Pillow LANCZOS), zero pad centred"
                                  : "DINO: resize long side 840, SD: 960 (Pillow LANCZOS), zero pad centred; "
                                    "SD: ODISE slide 2x2 512 crops, t=50, FreeU, decoder taps 2/5/8";
    gc_status s = pipeline_model_id(f, fn, fn->model_id, sizeof fn->model_id);
    if (s != GC_OK) return gc_features_free(f), s;
    fn->compute = pipeline_compute;
    fn->ctx = f;
    return GC_OK;
}

void gc_feature_fn_pipeline_free(gc_feature_fn *fn) {
    gc_features_free(fn->ctx);
    memset(fn, 0, sizeof *fn);
}
