#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
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

/* Remove temporary files a killed writer left beside `path` ("<name>.tmp.XXXXXX"). */
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
    if (s == GC_OK) s = gc_st_writer_meta(wr, "preprocess", "resize long side 840 (Pillow LANCZOS), zero pad centred");
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(half[k]);
    return s;
}

static void progress(const gc_cache_opts *o, int64_t done, int64_t total, double t0, bool final) {
    if (!o->progress) return;
    static int64_t last_decile = -1;
    bool tty = isatty(2);
    int64_t decile = total ? done * 10 / total : 10;
    if (!tty && !final && decile == last_decile) return;
    last_decile = decile;
    double dt = gc_now() - t0, rate = dt > 0 ? done / dt : 0, eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)(width * done / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%sextract [%s] %lld/%lld  %.2f files/s  ETA %dm%02ds%s", tty ? "\r" : "", bar, (long long)done,
            (long long)total, rate, (int)eta / 60, (int)eta % 60, tty && !final ? "" : "\n");
    fflush(stderr);
}

gc_status gc_cache_extract(const gc_feature_fn *fn, const char *image_root, char *const *rel_images, int n,
                           const gc_cache_opts *o, gc_cache_stats *st) {
    memset(st, 0, sizeof *st);
    if (o->n_shards < 1 || o->shard < 0 || o->shard >= o->n_shards)
        return gc_errorf(GC_ERR_ARG, "--shard %d/%d: need 0 <= i < N", o->shard, o->n_shards);
    if (fn->n_maps < 1 || fn->n_maps > GC_FC_MAX_MAPS) return gc_errorf(GC_ERR_ARG, "feature function has no maps");
    float *maps[GC_FC_MAX_MAPS] = {0};
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++)
        if (!(maps[k] = gc_alloc_array((size_t)(fn->shape[k][0] * fn->shape[k][1]), (size_t)fn->shape[k][2] * sizeof(float))))
            s = GC_ERR_NOMEM;
    int nori = o->flip ? 2 : 1;
    for (int i = 0; i < n; i++) st->total += (i % o->n_shards == o->shard) * nori;
    double t0 = gc_now();
    int64_t done = 0, written = 0;
    for (int i = 0; s == GC_OK && i < n; i++) {
        if (i % o->n_shards != o->shard) continue;
        gc_image img = {0};
        bool loaded = false;
        for (int flip = 0; s == GC_OK && flip < nori; flip++, done++) {
            char *path = gc_cache_path(o->cache_dir, rel_images[i], flip);
            if (!path) {
                s = GC_ERR_NOMEM;
                break;
            }
            bool exists = gc_file_exists(path);
            if (exists && gc_cache_open(path, fn, flip, NULL) == GC_OK) {
                st->skipped++;
                free(path);
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
                written++;
                if (o->crash_after >= 0 && written >= o->crash_after) raise(SIGKILL);
            }
            free(path);
            progress(o, done + 1, st->total, t0, false);
        }
        gc_image_free(&img);
    }
    progress(o, done, st->total, t0, true);
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(maps[k]);
    return s;
}

/* ---- DINOv2 backbone ---------------------------------------------------------------------------- */

typedef struct {
    gc_dinov2 *m;
    float *pixels; /* [3, 840, 840] */
} dino_ctx;

static gc_status dino_compute(void *vctx, const gc_image *img, int flip, float *const *maps) {
    dino_ctx *c = vctx;
    gc_image canvas = {0};
    GC_TRY(gc_image_to_canvas(img, GC_CANVAS_DINO, flip, &canvas, NULL));
    gc_dinov2_normalize_u8(c->pixels, canvas.rgb, GC_CANVAS_DINO, GC_CANVAS_DINO);
    gc_image_free(&canvas);
    return gc_dinov2_features(c->m, c->pixels, GC_CANVAS_DINO, GC_CANVAS_DINO, maps[0]);
}

/* hex of the first `bytes` bytes of the SHA-256 of a file (memory-mapped) */
static gc_status file_digest(const char *path, int bytes, char *hex) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return gc_errorf(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    uint8_t d[32];
    if (fstat(fd, &sb) != 0) return close(fd), gc_errorf(GC_ERR_IO, "%s: cannot stat", path);
    void *p = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (sb.st_size && p == MAP_FAILED) return gc_errorf(GC_ERR_IO, "%s: cannot map", path);
    gc_sha256(p, (size_t)sb.st_size, d);
    if (p) munmap(p, (size_t)sb.st_size);
    for (int i = 0; i < bytes; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return GC_OK;
}

gc_status gc_feature_fn_dinov2(const char *path, gc_feature_fn *fn) {
    memset(fn, 0, sizeof *fn);
    char *cfg = NULL, *wts = NULL;
    const char *pref[] = {"model.safetensors", NULL};
    GC_TRY(gc_resolve_model_path(path, "DINOv2", pref, "a folder with config.json + model.safetensors", &cfg, &wts));
    char hw[33] = "", hc[17] = "none";
    gc_status s = file_digest(wts, 16, hw);
    if (s == GC_OK && cfg) s = file_digest(cfg, 8, hc);
    dino_ctx *c = s == GC_OK ? gc_calloc(1, sizeof *c) : NULL;
    if (s == GC_OK && !c) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_dinov2_load(path, &c->m);
    if (s == GC_OK && !(c->pixels = gc_alloc_array((size_t)3 * GC_CANVAS_DINO, GC_CANVAS_DINO * sizeof(float))))
        s = GC_ERR_NOMEM;
    free(cfg), free(wts);
    if (s != GC_OK) {
        if (c) gc_dinov2_free(c->m), gc_free(c);
        return s;
    }
    gc_dinov2_info info;
    gc_dinov2_info_get(c->m, &info);
    snprintf(fn->model_id, sizeof fn->model_id, "dinov2-d%lld:%s:%s", (long long)info.dim, hw, hc);
    fn->n_maps = 1;
    snprintf(fn->names[0], sizeof fn->names[0], "dino");
    fn->shape[0][0] = info.dim, fn->shape[0][1] = fn->shape[0][2] = GC_CANVAS_DINO / info.patch;
    fn->compute = dino_compute;
    fn->ctx = c;
    return GC_OK;
}

void gc_feature_fn_dinov2_free(gc_feature_fn *fn) {
    dino_ctx *c = fn->ctx;
    if (c) {
        gc_dinov2_free(c->m);
        gc_free(c->pixels);
        gc_free(c);
    }
    memset(fn, 0, sizeof *fn);
}
