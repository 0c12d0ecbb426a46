#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/sha256.h"
#include "io/file_claim.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"
#include "pipeline/feature_cache.h"
#include "match/poses.h"

/* <cache_dir>/<rel_image without extension><tail> */
static char *stem_path(const char *cache_dir, const char *rel_image, const char *tail) {
    const char *dot = strrchr(rel_image, '.'), *slash = strrchr(rel_image, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - rel_image) : strlen(rel_image);
    return gc_strfmt("%s/%.*s%s", cache_dir, (int)stem, rel_image, tail);
}

char *gc_cache_path(const char *cache_dir, const char *rel_image, int pose) {
    char tail[32];
    snprintf(tail, sizeof tail, "%s.safetensors", gc_pose_suffix(pose));
    return stem_path(cache_dir, rel_image, tail);
}

char *gc_cache_mask_path(const char *cache_dir, const char *rel_image, int pose) {
    char tail[32];
    snprintf(tail, sizeof tail, "_mask%s.png", gc_pose_suffix(pose));
    return stem_path(cache_dir, rel_image, tail);
}

/* The pose metadata of a features file: 'flip' "1" for the flipped image, else "0"; 'pose' names a
 * rotation (absent otherwise, as in files of the original and flipped images written before rotations). */
static const char *pose_meta_problem(const gc_weights *w, int pose) {
    const char *fl = gc_weights_meta(w, "flip"), *po = gc_weights_meta(w, "pose");
    if (!fl || strcmp(fl, pose == GC_POSE_FLIP ? "1" : "0") != 0) return "flip";
    if (gc_pose_is_rotation(pose) ? !po || strcmp(po, gc_pose_name(pose)) != 0 : po != NULL) return "pose";
    return NULL;
}

gc_status gc_cache_open(const char *path, const gc_feature_fn *fn, int pose, gc_weights **out) {
    if (out) *out = NULL;
    gc_weights *w;
    GC_TRY(gc_safetensors_open(path, &w));
    gc_status s = GC_OK;
    const char *model = gc_weights_meta(w, "model"), *bad = pose_meta_problem(w, pose);
    if (!model || strcmp(model, fn->model_id) != 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: features of model '%s', expected '%s'", path, model ? model : "(none)",
                      fn->model_id);
    else if (bad)
        s = gc_errorf(GC_ERR_FORMAT, "%s: metadata '%s' is '%s', expected the %s image's", path, bad,
                      gc_weights_meta(w, bad) ? gc_weights_meta(w, bad) : "(none)", gc_pose_name(pose));
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

/* ---- the features product -------------------------------------------------------------------- */

typedef struct {
    const gc_feature_fn *fn;
    bool f16;
    const char *name; /* the image's name in the files' metadata (NULL: the path relative to the root) */
    float *maps[GC_FC_MAX_MAPS];
} features_maker;

static bool features_probe(const char *path, int pose, char model[128]) {
    gc_weights *w = NULL;
    bool ok = false;
    model[0] = 0;
    if (gc_safetensors_open(path, &w) == GC_OK) {
        const char *m = gc_weights_meta(w, "model");
        ok = m && !pose_meta_problem(w, pose);
        if (ok) snprintf(model, 128, "%s", m);
    }
    gc_weights_free(w);
    gc_error_clear();
    return ok;
}

static bool features_valid(void *ctx, const char *path, int pose) {
    const features_maker *f = ctx;
    bool ok = gc_cache_open(path, f->fn, pose, NULL) == GC_OK;
    gc_error_clear();
    return ok;
}

gc_status gc_cache_load(const char *path, const gc_feature_fn *fn, int pose, float *const *maps) {
    gc_weights *w;
    GC_TRY(gc_cache_open(path, fn, pose, &w));
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++) {
        const float *p;
        s = gc_weights_f32(w, fn->names[k], 3, fn->shape[k], &p);
        if (s == GC_OK) memcpy(maps[k], p, (size_t)(fn->shape[k][0] * fn->shape[k][1] * fn->shape[k][2]) * sizeof(float));
    }
    gc_weights_free(w);
    return s;
}

/* Write maps[k] (fn's names and shapes) as the cache file `path` of image `rel` (metadata) in the pose,
 * atomically (its folder must exist); f16: stored as float16. */
static gc_status cache_write(const gc_feature_fn *fn, int pose, const char *rel, const char *path, bool f16, float *const *maps) {
    gc_st_writer *wr = gc_st_writer_new();
    if (!wr) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    gc_status s = GC_OK;
    uint16_t *half[GC_FC_MAX_MAPS] = {0};
    for (int k = 0; s == GC_OK && k < fn->n_maps; k++) {
        int64_t n = fn->shape[k][0] * fn->shape[k][1] * fn->shape[k][2];
        if (f16) {
            if (!(half[k] = gc_alloc_array((size_t)n, sizeof(uint16_t)))) s = GC_ERR_NOMEM;
            for (int64_t e = 0; s == GC_OK && e < n; e++) half[k][e] = gc_f32_to_f16(maps[k][e]);
        }
        if (s == GC_OK)
            s = gc_st_writer_add_ref(wr, fn->names[k], f16 ? GC_DT_F16 : GC_DT_F32, 3, fn->shape[k],
                                     f16 ? (const void *)half[k] : (const void *)maps[k]);
    }
    char grid[64];
    snprintf(grid, sizeof grid, "%lldx%lld", (long long)fn->shape[0][1], (long long)fn->shape[0][2]);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "model", fn->model_id);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "flip", pose == GC_POSE_FLIP ? "1" : "0");
    if (s == GC_OK && gc_pose_is_rotation(pose)) s = gc_st_writer_meta(wr, "pose", gc_pose_name(pose));
    if (s == GC_OK) s = gc_st_writer_meta(wr, "grid", grid);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "image", rel);
    if (s == GC_OK && fn->preprocess) s = gc_st_writer_meta(wr, "preprocess", fn->preprocess);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    for (int k = 0; k < GC_FC_MAX_MAPS; k++) gc_free(half[k]);
    return s;
}

static gc_status features_make(void *ctx, int i, const char *rel, const gc_image *img, int pose, const char *path) {
    (void)i;
    const features_maker *f = ctx;
    gc_image turned = {0};
    gc_status s = GC_OK;
    if (gc_pose_is_rotation(pose) && (s = gc_image_pose(img, pose, &turned)) == GC_OK) img = &turned;
    if (s == GC_OK) s = f->fn->compute(f->fn->ctx, img, pose == GC_POSE_FLIP, f->maps);
    gc_image_free(&turned);
    GC_TRY(s);
    return cache_write(f->fn, pose, f->name ? f->name : rel, path, f->f16, f->maps);
}

gc_status gc_cache_features_init(const gc_feature_fn *fn, bool f16, gc_cache_product *p) {
    *p = (gc_cache_product){.path = gc_cache_path, .probe = features_probe, .valid = features_valid, .make = features_make};
    if (!fn) return GC_OK;
    if (fn->n_maps < 1 || fn->n_maps > GC_FC_MAX_MAPS) return gc_errorf(GC_ERR_ARG, "feature function has no maps");
    features_maker *f = gc_calloc(1, sizeof *f);
    if (!f) return GC_ERR_NOMEM;
    f->fn = fn, f->f16 = f16;
    p->ctx = f;
    for (int k = 0; k < fn->n_maps; k++)
        if (!(f->maps[k] = gc_alloc_array((size_t)(fn->shape[k][0] * fn->shape[k][1]), (size_t)fn->shape[k][2] * sizeof(float)))) {
            gc_cache_features_free(p);
            return GC_ERR_NOMEM;
        }
    return GC_OK;
}

void gc_cache_features_free(gc_cache_product *p) {
    features_maker *f = p->ctx;
    for (int k = 0; f && k < GC_FC_MAX_MAPS; k++) gc_free(f->maps[k]);
    gc_free(f);
    p->ctx = NULL;
}

/* ---- the extraction loop ----------------------------------------------------------------------- */

/* What became of one (image, product, pose) of the shard. */
typedef enum { FILE_VALID, FILE_BY_OTHER, FILE_COMPUTED, FILE_REDONE, FILE_BUSY } file_outcome;

typedef struct {
    const char *image_root;
    const gc_extract_config *o;
    gc_extract_stats *st; /* the counts so far (for the progress callback) */
    double t0;
} extract_run;

static void report(const extract_run *x, gc_extract_event ev) {
    if (x->o->progress) x->o->progress(x->o->progress_ctx, ev, x->st, gc_now() - x->t0);
}

/* Make file (rel, product pr, pose) valid, unless a concurrent run holds its claim (FILE_BUSY: try again
 * later). The image is decoded on first need into img and kept for the other files of the image. first:
 * the first look at the file (later, a valid file is one a concurrent run finished). */
static gc_status extract_file(extract_run *x, int i, const char *rel, const gc_cache_product *pr, int pose, bool first,
                              gc_image *img, bool *loaded, file_outcome *out) {
    char *path = pr->path(x->o->cache_dir, rel, pose);
    if (!path) return GC_ERR_NOMEM;
    bool exists = gc_file_exists(path), taken = false;
    if (exists && pr->valid(pr->ctx, path, pose)) {
        *out = first ? FILE_VALID : FILE_BY_OTHER;
        free(path);
        return GC_OK;
    }
    gc_claim cl;
    gc_status s = mkdirs_for(path);
    if (s == GC_OK) s = gc_claim_try(&cl, path, &taken);
    if (s != GC_OK || !taken) {
        *out = FILE_BUSY;
        free(path);
        return s;
    }
    report(x, GC_EXTRACT_FILE_STARTED); /* (the claim is held: a callback that kills the run leaves it stale) */
    exists = gc_file_exists(path);
    if (exists && pr->valid(pr->ctx, path, pose)) {
        *out = FILE_BY_OTHER; /* finished by a concurrent run between the look and the claim */
    } else {
        remove_stale_temps(path); /* the file is ours now: only a dead writer can have left temporaries */
        if (!*loaded) {
            char *ip = gc_strfmt("%s/%s", x->image_root, rel);
            s = ip ? gc_image_load(ip, img) : GC_ERR_NOMEM;
            free(ip);
            *loaded = s == GC_OK;
        }
        if (s == GC_OK) s = pr->make(pr->ctx, i, rel, img, pose, path);
        if (s == GC_OK) *out = exists ? FILE_REDONE : FILE_COMPUTED;
    }
    gc_claim_release(&cl);
    free(path);
    return s;
}

/* Count a settled file and report it. */
static void tally(const extract_run *x, file_outcome r) {
    gc_extract_stats *st = x->st;
    if (r == FILE_VALID) st->skipped++;
    else if (r == FILE_BY_OTHER) st->by_others++;
    else if (r == FILE_COMPUTED) st->computed++;
    else if (r == FILE_REDONE) st->redone++;
    report(x, GC_EXTRACT_FILE_DONE);
}

/* The pose set of image i (the original always). */
static unsigned image_poses(const unsigned *poses, int i, const gc_extract_config *o) {
    return 1u | (poses ? poses[i] : o->flip ? 1u << GC_POSE_FLIP : 0u);
}

static int popcount(unsigned v) {
    int c = 0;
    for (; v; v &= v - 1) c++;
    return c;
}

gc_status gc_cache_run(const gc_cache_product *products, int np, const char *image_root, char *const *rel_images,
                       const unsigned *poses, int n, const gc_extract_config *o, gc_extract_stats *st) {
    memset(st, 0, sizeof *st);
    if (o->n_shards < 1 || o->shard < 0 || o->shard >= o->n_shards)
        return gc_errorf(GC_ERR_ARG, "shard %d of %d: need 0 <= shard < shard count", o->shard, o->n_shards);
    if (np < 1) return gc_errorf(GC_ERR_ARG, "extract: nothing to make (no features, no masks)");
    extract_run x = {.image_root = image_root, .o = o, .st = st, .t0 = gc_now()};
    for (int i = 0; i < n; i++)
        if (i % o->n_shards == o->shard) st->total += (int64_t)np * popcount(image_poses(poses, i, o));
    /* files claimed by concurrent runs, as (i * np + product) * GC_N_POSES + pose: revisited until valid */
    int64_t *busy = gc_alloc_array((size_t)GC_MAX(st->total, 1), sizeof(int64_t));
    if (!busy) return GC_ERR_NOMEM;
    int64_t nbusy = 0;
    gc_status s = GC_OK;
    for (int i = 0; s == GC_OK && i < n; i++) {
        if (i % o->n_shards != o->shard) continue;
        gc_image img = {0};
        bool loaded = false;
        const unsigned set = image_poses(poses, i, o);
        for (int p = 0; s == GC_OK && p < np; p++)
            for (int pose = 0; s == GC_OK && pose < GC_N_POSES; pose++) {
                if (!(set >> pose & 1)) continue;
                file_outcome r;
                s = extract_file(&x, i, rel_images[i], &products[p], pose, true, &img, &loaded, &r);
                if (s != GC_OK) break;
                if (r == FILE_BUSY) busy[nbusy++] = ((int64_t)i * np + p) * GC_N_POSES + pose;
                else tally(&x, r);
            }
        gc_image_free(&img);
    }
    /* The shard is complete only when the files other runs are computing are valid too: wait for them,
     * and take over those whose run died (its claim turns stale). */
    if (s == GC_OK && nbusy) report(&x, GC_EXTRACT_WAITING);
    while (s == GC_OK && nbusy) {
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
        int64_t keep = 0;
        for (int64_t k = 0; s == GC_OK && k < nbusy; k++) {
            const int pose = (int)(busy[k] % GC_N_POSES), p = (int)(busy[k] / GC_N_POSES % np);
            const int i = (int)(busy[k] / GC_N_POSES / np);
            gc_image img = {0};
            bool loaded = false;
            file_outcome r;
            s = extract_file(&x, i, rel_images[i], &products[p], pose, false, &img, &loaded, &r);
            gc_image_free(&img);
            if (s == GC_OK && r == FILE_BUSY) busy[keep++] = busy[k];
            else if (s == GC_OK) tally(&x, r);
        }
        nbusy = keep;
    }
    gc_free(busy);
    return s;
}

gc_status gc_cache_extract(const gc_feature_fn *fn, const char *image_root, char *const *rel_images, int n,
                           const gc_extract_config *o, gc_extract_stats *st) {
    memset(st, 0, sizeof *st);
    gc_cache_product p;
    GC_TRY(gc_cache_features_init(fn, o->f16 != 0, &p));
    gc_status s = gc_cache_run(&p, 1, image_root, rel_images, NULL, n, o, st);
    gc_cache_features_free(&p);
    return s;
}

gc_status gc_cache_ensure(const gc_feature_fn *fn, const char *cache_dir, const char *key, const char *name, const gc_image *img,
                          int pose, bool *computed) {
    *computed = false;
    if (!fn->compute) return gc_errorf(GC_ERR_ARG, "feature cache: no feature function to compute %s with", name);
    gc_cache_product p;
    GC_TRY(gc_cache_features_init(fn, false, &p));
    ((features_maker *)p.ctx)->name = name;
    const gc_extract_config o = {.cache_dir = cache_dir, .n_shards = 1};
    gc_extract_stats st = {0};
    extract_run x = {.o = &o, .st = &st, .t0 = gc_now()};
    /* the image is in memory already (extract_file reads it only when not loaded; it is not modified) */
    gc_image im = *img;
    bool loaded = true;
    file_outcome r = FILE_BUSY;
    gc_status s = GC_OK;
    for (bool first = true; s == GC_OK; first = false) {
        s = extract_file(&x, 0, key, &p, pose, first, &im, &loaded, &r);
        if (s != GC_OK || r != FILE_BUSY) break;
        struct timespec pause = {0, 200 * 1000 * 1000}; /* another run holds the claim: wait for its file */
        nanosleep(&pause, NULL);
    }
    *computed = s == GC_OK && (r == FILE_COMPUTED || r == FILE_REDONE);
    gc_cache_features_free(&p);
    return s;
}

static void count_model(gc_extract_models *m, const char *id) {
    for (int k = 0; k < m->n; k++)
        if (strcmp(m->id[k], id) == 0) {
            m->count[k]++;
            return;
        }
    if (m->n == GC_EXTRACT_MAX_MODELS) {
        m->other++;
        return;
    }
    snprintf(m->id[m->n], sizeof m->id[0], "%s", id);
    m->count[m->n++] = 1;
}

gc_status gc_cache_status_run(const gc_cache_product *products, int np, const char *cache_dir, char *const *rel_images,
                              const unsigned *poses, int n, int n_shards, gc_extract_shard_status *shards,
                              gc_extract_models *models) {
    if (n_shards < 1) return gc_errorf(GC_ERR_ARG, "need at least one shard (got %d)", n_shards);
    memset(shards, 0, (size_t)np * (size_t)n_shards * sizeof *shards);
    memset(models, 0, sizeof *models);
    const gc_extract_config flipless = {0};
    for (int i = 0; i < n; i++)
        for (int p = 0; p < np; p++)
            for (int pose = 0; pose < GC_N_POSES; pose++) {
                if (!(image_poses(poses, i, &flipless) >> pose & 1)) continue;
                gc_extract_shard_status *sh = &shards[p * n_shards + i % n_shards];
                char *path = products[p].path(cache_dir, rel_images[i], pose), model[128];
                if (!path) return GC_ERR_NOMEM;
                sh->total++;
                if (gc_file_exists(path)) {
                    if (products[p].probe(path, pose, model)) {
                        sh->done++;
                        if (model[0]) count_model(models, model);
                    } else {
                        sh->invalid++;
                    }
                }
                gc_claim_state c = gc_claim_probe(path);
                sh->running += c == GC_CLAIM_LIVE;
                sh->stale += c == GC_CLAIM_STALE;
                free(path);
            }
    return GC_OK;
}

gc_status gc_cache_status(const char *cache_dir, char *const *rel_images, int n, bool flip, int n_shards,
                          gc_extract_shard_status *shards, gc_extract_models *models) {
    gc_cache_product p;
    GC_TRY(gc_cache_features_init(NULL, false, &p));
    unsigned *poses = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(unsigned));
    if (!poses) return GC_ERR_NOMEM;
    for (int i = 0; i < n; i++) poses[i] = flip ? 1u << GC_POSE_FLIP : 0;
    gc_status s = gc_cache_status_run(&p, 1, cache_dir, rel_images, poses, n, n_shards, shards, models);
    gc_free(poses);
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
