#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eval/cache_eval.h"
#include "match/poses.h"
#include "io/atomic_file.h"
#include "pipeline/feature_cache.h"
#include "tensor/linear.h"

/* Descriptors in memory, least recently used evicted beyond the budget: loading one (F16 -> F32,
 * token transpose, normalisation) costs as much as matching ~10 pairs, and an image is in ~14 SPair
 * test pairs of its category, so every image of the current category stays resident (SPair: ~100
 * images x 11 MB for DINOv2-B). Entries of the pair being matched are never evicted (used > pinned). */
typedef struct {
    char *key;               /* "<rel>|<pose>" */
    gc_descriptors desc;
    int64_t used;            /* last use tick */
} desc_entry;
typedef struct {
    desc_entry **e;          /* [n] (separately allocated: pointers handed out stay valid) */
    int n, cap;
    int64_t bytes, budget;   /* resident descriptor bytes, limit */
    int64_t tick, pinned;    /* use clock; entries used after `pinned` belong to the current pair */
    char model[128];         /* the first file's model id: every other must carry it */
} desc_cache;

static void desc_cache_free(desc_cache *c) {
    for (int i = 0; i < c->n; i++) free(c->e[i]->key), gc_desc_clear(&c->e[i]->desc), free(c->e[i]);
    free(c->e);
}

static int64_t desc_bytes(const gc_descriptors *d) { return d->n * d->c * (int64_t)sizeof(float); }

/* Descriptor of one cache file. */
static gc_status load_desc_file(const gc_eval_cache_config *o, const char *rel, int pose, char *model, gc_descriptors *d) {
    char *path = gc_cache_path(o->cache_dir, rel, pose);
    if (!path) return GC_ERR_NOMEM;
    gc_weights *w = NULL;
    gc_status s = gc_file_exists(path) ? gc_weights_open(path, &w)
                                        : gc_errorf(GC_ERR_MISSING, "%s: not in the feature cache (run geocorr extract%s%s)", path,
                                                    pose == GC_POSE_FLIP ? " --flip" : pose ? " --poses flip," : "",
                                                    pose > GC_POSE_FLIP ? gc_pose_name(pose) : "");
    if (s == GC_OK) {
        const char *m = gc_weights_meta(w, "model");
        if (!m) s = gc_errorf(GC_ERR_FORMAT, "%s: no 'model' metadata (not written by geocorr extract)", path);
        else if (!model[0]) snprintf(model, 128, "%s", m);
        else if (strcmp(model, m) != 0)
            s = gc_errorf(GC_ERR_FORMAT, "%s: features of model '%s', but other files of the cache are '%s'", path, m, model);
    }
    if (s == GC_OK) s = gc_desc_from_weights(w, o->map_name, o->postproc, d, NULL);
    if (s != GC_OK && s != GC_ERR_MISSING && s != GC_ERR_NOMEM && w) s = gc_error_context(s, "feature cache");
    gc_weights_free(w);
    free(path);
    return s;
}

/* Descriptor of (rel, pose), borrowed from the cache until the next pair (desc_cache.pinned). */
static gc_status load_desc(const gc_eval_cache_config *o, desc_cache *c, const char *rel, int pose, const gc_descriptors **d) {
    char *key = gc_strfmt("%s|%d", rel, pose);
    if (!key) return GC_ERR_NOMEM;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i]->key, key) == 0) {
            free(key);
            c->e[i]->used = ++c->tick;
            *d = &c->e[i]->desc;
            return GC_OK;
        }
    desc_entry *e = calloc(1, sizeof *e);
    gc_status s = e ? load_desc_file(o, rel, pose, c->model, &e->desc) : GC_ERR_NOMEM;
    if (s == GC_OK && c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        desc_entry **v = realloc(c->e, (size_t)cap * sizeof *v);
        if (v) c->e = v, c->cap = cap;
        else s = GC_ERR_NOMEM;
    }
    if (s != GC_OK) {
        if (e) gc_desc_clear(&e->desc);
        return free(e), free(key), s;
    }
    /* evict the least recently used entries not in the current pair until the new one fits */
    while (c->bytes + desc_bytes(&e->desc) > c->budget) {
        int lru = -1;
        for (int i = 0; i < c->n; i++)
            if (c->e[i]->used <= c->pinned && (lru < 0 || c->e[i]->used < c->e[lru]->used)) lru = i;
        if (lru < 0) break; /* a budget below one pair's descriptors: hold them anyway */
        c->bytes -= desc_bytes(&c->e[lru]->desc);
        free(c->e[lru]->key), gc_desc_clear(&c->e[lru]->desc), free(c->e[lru]);
        c->e[lru] = c->e[--c->n];
    }
    e->key = key, e->used = ++c->tick;
    c->e[c->n++] = e;
    c->bytes += desc_bytes(&e->desc);
    *d = &e->desc;
    return GC_OK;
}

/* The instance mask of (rel, pose) as the cache holds it (gc_extract with masks), 64x64 for the IMD. */
static gc_status load_mask(const gc_eval_cache_config *o, const char *rel, const int wh[2], int pose, float *m64) {
    char *path = gc_cache_mask_path(o->cache_dir, rel, pose);
    if (!path) return GC_ERR_NOMEM;
    uint8_t *canvas = gc_alloc((size_t)GC_CANVAS_SD * GC_CANVAS_SD);
    gc_status s = canvas ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && !gc_file_exists(path))
        s = gc_errorf(GC_ERR_MISSING, "%s: instance mask missing (geocorr extract --masks --sam W with the same orientations "
                                      "makes them; flip alignment compares masked IMDs, the mask-free MNN alignment needs none)",
                      path);
    gc_image img = {0};
    if (s == GC_OK) s = gc_image_load(path, &img);
    if (s == GC_OK && (s = gc_mask_to_canvas(&img, wh[0], wh[1], 0, canvas)) != GC_OK) s = gc_error_context(s, "%s", path);
    if (s == GC_OK) gc_mask_to64(canvas, GC_CANVAS_SD, GC_CANVAS_SD, m64);
    gc_image_free(&img);
    gc_free(canvas);
    free(path);
    return s;
}

/* One pair's alignment (--align flip|mnn) once its descriptors are resident: the used points matched
 * from the source, its mirror and the rotations asked for, the best pose kept. m64: scratch
 * [3 + GC_N_ROT, 64, 64] for the masks (source, flipped source, target, rotated sources). Runs on any
 * thread (the matcher inside is serial there). */
#define M64 4096
typedef struct {
    const gc_eval_pair *p;
    const gc_descriptors *ds, *dt, *dsf; /* source, target, flipped source (align only) */
    const gc_descriptors *dsr[GC_N_ROT]; /* rotated sources (the category's poses; else NULL) */
    gc_pck_pred *pr;
} pair_job;

static gc_status match_pair(const gc_eval_cache_config *o, const pair_job *j, const int *used, int nu, int nk,
                            const gc_flip_table *tused, float *m64) {
    const gc_eval_pair *p = j->p;
    gc_pck_pred *pr = j->pr;
    for (int k = 0; k < nk; k++) pr->pred[k][0] = pr->pred[k][1] = NAN;
    float sk[GC_EVAL_MAX_KPS][3], tk[GC_EVAL_MAX_KPS][3], xy[GC_EVAL_MAX_KPS][2];
    for (int u = 0; u < nu; u++) memcpy(sk[u], p->src_kps[used[u]], sizeof sk[u]), memcpy(tk[u], p->trg_kps[used[u]], sizeof tk[u]);
    gc_status s = GC_OK;
    bool imd = o->align == GC_EVAL_ALIGN_FLIP;
    const float *rot[GC_N_ROT] = {0}, *mrot[GC_N_ROT] = {0};
    bool any_rot = false;
    for (int q = 0; q < GC_N_ROT; q++)
        if (j->dsr[q]) rot[q] = j->dsr[q]->rows, mrot[q] = imd ? m64 + (3 + q) * M64 : NULL, any_rot = true;
    if (imd) s = load_mask(o, p->src, p->src_wh, GC_POSE_ORIGINAL, m64);
    if (s == GC_OK && imd) s = load_mask(o, p->src, p->src_wh, GC_POSE_FLIP, m64 + M64);
    if (s == GC_OK && imd) s = load_mask(o, p->trg, p->trg_wh, GC_POSE_ORIGINAL, m64 + 2 * M64);
    for (int q = 0; s == GC_OK && q < GC_N_ROT; q++)
        if (mrot[q]) s = load_mask(o, p->src, p->src_wh, GC_POSE_ROT90 + q, m64 + (3 + q) * M64);
    gc_align_result r = {0};
    if (s == GC_OK)
        s = gc_align_points(j->ds->rows, j->dsf->rows, j->dt->rows, j->ds->c, &sk[0][0], &tk[0][0], nu, tused,
                            imd ? m64 : NULL, imd ? m64 + M64 : NULL, imd ? m64 + 2 * M64 : NULL, &o->match, false, &r);
    if (s == GC_OK && any_rot)
        s = gc_align_rotations(rot, j->dt->rows, j->ds->c, &sk[0][0], &tk[0][0], nu, mrot, imd ? m64 + 2 * M64 : NULL,
                               &o->match, &r);
    if (s == GC_OK) memcpy(xy, r.merged, (size_t)nu * 2 * sizeof(float));
    gc_align_result_free(&r);
    if (s == GC_OK)
        for (int u = 0; u < nu; u++) pr->pred[used[u]][0] = xy[u][0], pr->pred[used[u]][1] = xy[u][1];
    return s;
}

/* Without alignment the pairs of one target share one GEMM: the query rows of every pair stacked
 * [sum K, C] against the target's grid [3600, C] (the target is packed once, not once per pair), then
 * every similarity row -> point. Row results do not depend on the stacking or the thread count. */
static gc_status match_target_gemm(const gc_eval_cache_config *o, const pair_job *jobs, int nj, const int *used, int nu,
                                   int nk, float **q, float **sim, int64_t *cap) {
    const gc_descriptors *dt = jobs[0].dt;
    const int64_t C = dt->c, M = (int64_t)nj * nu;
    if (M * GC_MAX(C, GC_CELLS) > *cap) { /* grown to the largest target run, reused after */
        gc_free(*q), gc_free(*sim);
        *cap = M * GC_MAX(C, GC_CELLS);
        *q = gc_alloc_array((size_t)*cap, sizeof(float));
        *sim = gc_alloc_array((size_t)*cap, sizeof(float));
        if (!*q || !*sim) return *cap = 0, gc_errorf(GC_ERR_NOMEM, "out of memory (similarities of %lld queries)", (long long)M);
    }
    for (int j = 0; j < nj; j++) {
        float sk[GC_EVAL_MAX_KPS][3];
        int64_t cells[GC_EVAL_MAX_KPS];
        for (int u = 0; u < nu; u++) memcpy(sk[u], jobs[j].p->src_kps[used[u]], sizeof sk[u]);
        gc_kps_to_cells(&sk[0][0], nu, cells);
        for (int u = 0; u < nu; u++) {
            if (cells[u] < 0 || cells[u] >= jobs[j].ds->n)
                return gc_errorf(GC_ERR_ARG, "%s: keypoint %d falls in cell %lld, outside the grid", jobs[j].p->src, used[u],
                                 (long long)cells[u]);
            memcpy(*q + ((int64_t)j * nu + u) * C, jobs[j].ds->rows + cells[u] * C, (size_t)C * sizeof(float));
        }
    }
    GC_TRY(gc_matmul(*sim, *q, dt->rows, M, C, GC_CELLS, false, true, 1.0f, 0.0f));
    /* all rows at once: enough of them for the matcher's threads (rows are independent) */
    float *xy = gc_alloc_array((size_t)M * 2, sizeof(float));
    if (!xy) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    gc_status s = gc_match_rows(*sim, M, &o->match, xy, NULL, NULL);
    for (int j = 0; s == GC_OK && j < nj; j++) {
        gc_pck_pred *pr = jobs[j].pr;
        const float *pj = xy + (int64_t)j * nu * 2;
        for (int k = 0; k < nk; k++) pr->pred[k][0] = pr->pred[k][1] = NAN;
        for (int u = 0; u < nu; u++) pr->pred[used[u]][0] = pj[2 * u], pr->pred[used[u]][1] = pj[2 * u + 1];
    }
    gc_free(xy);
    return s;
}

/* Pairs of one target are matched together: their descriptors are loaded (and pinned) first. Without
 * alignment they share one GEMM; with it the pairs run in parallel, one pair per thread with serial
 * BLAS inside (each pair computed whole by one thread: results do not depend on the thread count). */
static gc_status match_target_run(const gc_eval_cache_config *o, desc_cache *dc, pair_job *jobs, int nj, const int *used,
                                  int nu, int nk, const gc_flip_table *tused, unsigned poses, float *m64, float **q,
                                  float **sim, int64_t *cap) {
    dc->pinned = dc->tick;
    gc_status s = GC_OK;
    for (int j = 0; s == GC_OK && j < nj; j++) {
        const gc_eval_pair *p = jobs[j].p;
        s = load_desc(o, dc, p->src, GC_POSE_ORIGINAL, &jobs[j].ds);
        if (s == GC_OK) s = load_desc(o, dc, p->trg, GC_POSE_ORIGINAL, &jobs[j].dt);
        if (s == GC_OK) s = gc_desc_check_pair(jobs[j].ds, p->src, jobs[j].dt, p->trg);
        if (s == GC_OK && o->align != GC_EVAL_ALIGN_OFF) s = load_desc(o, dc, p->src, GC_POSE_FLIP, &jobs[j].dsf);
        for (int r = 0; s == GC_OK && r < GC_N_ROT; r++)
            if (poses >> (GC_POSE_ROT90 + r) & 1) {
                s = load_desc(o, dc, p->src, GC_POSE_ROT90 + r, &jobs[j].dsr[r]);
                if (s == GC_OK) s = gc_desc_check_pair(jobs[j].ds, p->src, jobs[j].dsr[r], gc_pose_name(GC_POSE_ROT90 + r));
            }
    }
    if (s != GC_OK) return s;
    if (o->align == GC_EVAL_ALIGN_OFF) return match_target_gemm(o, jobs, nj, used, nu, nk, q, sim, cap);
    int failed = nj;
    /* (a min reduction, not a named critical section: those export a global lock symbol) */
#pragma omp parallel for schedule(dynamic, 1) if (nj > 1) reduction(min : failed)
    for (int j = 0; j < nj; j++)
        if (match_pair(o, &jobs[j], used, nu, nk, tused, m64 + (size_t)omp_get_thread_num() * (3 + GC_N_ROT) * M64) != GC_OK)
            failed = GC_MIN(failed, j);
    /* a worker's message is its thread's: redo the first failure here to report it */
    return failed < nj ? match_pair(o, &jobs[failed], used, nu, nk, tused, m64) : GC_OK;
}

gc_status gc_cache_predict(const gc_eval_set *set, const int *sel, int n, const gc_eval_cache_config *o,
                           gc_pck_pred *preds) {
    desc_cache dc = {.budget = (o->mem_mb > 0 ? o->mem_mb : 2048) << 20};
    int nk = set->n_kps;
    gc_status s = GC_OK;
    int *cat_pairs = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(int));
    pair_job *jobs = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(pair_job));
    float *m64 = gc_alloc_array((size_t)omp_get_max_threads() * (3 + GC_N_ROT) * M64, sizeof(float));
    if (!cat_pairs || !jobs || !m64) s = GC_ERR_NOMEM;
    float *q = NULL, *sim = NULL; /* stacked query rows [M, C], their similarities [M, 3600]; cap floats each */
    int64_t cap = 0, done = 0;
    const double t0 = gc_now();
    for (int c = 0; s == GC_OK && c < set->n_categories; c++) {
        /* the category's used points over the scored pairs: the index space of the flip table */
        int np = 0, used[GC_EVAL_MAX_KPS], nu;
        for (int i = 0; i < n; i++)
            if (strcmp(set->pairs[sel[i]].category, set->categories[c]) == 0) cat_pairs[np++] = i;
        if (!np) continue;
        int *pidx = gc_alloc_array((size_t)np, sizeof(int));
        if (!pidx) {
            s = GC_ERR_NOMEM;
            break;
        }
        for (int i = 0; i < np; i++) pidx[i] = sel[cat_pairs[i]];
        nu = gc_eval_used_points(set, pidx, np, used);
        gc_free(pidx);
        gc_flip_table table = {0}, tused = {0};
        bool have_table = false;
        if (o->align != GC_EVAL_ALIGN_OFF && set->kind != GC_DS_PFPASCAL) {
            s = gc_flip_table_builtin(set->kind == GC_DS_AP10K ? "ap10k" : set->categories[c], &table);
            int64_t u64[GC_EVAL_MAX_KPS];
            for (int u = 0; u < nu; u++) u64[u] = used[u];
            if (s == GC_OK) s = gc_flip_table_for_points(&table, u64, nu, &tused);
            have_table = s == GC_OK;
        }
        /* visiting order: by target, then source, so that the pairs of a target run together (results
         * do not depend on the order: every pair is independent) */
        if (s == GC_OK) s = gc_eval_pairs_sort(set, sel, cat_pairs, np, true);
        for (int q0 = 0; s == GC_OK && q0 < np;) {
            int nj = 0;
            const char *trg = set->pairs[sel[cat_pairs[q0]]].trg;
            for (; q0 < np && strcmp(set->pairs[sel[cat_pairs[q0]]].trg, trg) == 0; q0++, nj++) {
                int i = cat_pairs[q0];
                jobs[nj] = (pair_job){.p = &set->pairs[sel[i]], .pr = &preds[i]};
                preds[i].pair = sel[i];
            }
            s = match_target_run(o, &dc, jobs, nj, used, nu, nk, have_table ? &tused : NULL,
                                 gc_poses_resolve(o->poses, set->categories[c]), m64, &q, &sim, &cap);
            done += nj;
            if (s == GC_OK && o->progress) o->progress(o->progress_ctx, done, n, gc_now() - t0);
        }
        gc_flip_table_free(&table), gc_flip_table_free(&tused);
    }
    gc_free(cat_pairs), gc_free(jobs), gc_free(m64), gc_free(q), gc_free(sim);
    desc_cache_free(&dc);
    return s;
}

gc_status gc_pck_preds_save(const char *path, const gc_eval_set *set, const gc_pck_pred *preds, int n) {
    cJSON *j = cJSON_CreateObject(), *pairs = cJSON_AddArrayToObject(j, "pairs");
    cJSON_AddStringToObject(j, "frame", "anno840");
    for (int i = 0; i < n; i++) {
        const gc_eval_pair *p = &set->pairs[preds[i].pair];
        cJSON *e = cJSON_CreateObject(), *pr = cJSON_AddArrayToObject(e, "pred");
        cJSON_AddStringToObject(e, "src", p->src);
        cJSON_AddStringToObject(e, "trg", p->trg);
        for (int k = 0; k < set->n_kps; k++) {
            if (isnan(preds[i].pred[k][0])) {
                cJSON_AddItemToArray(pr, cJSON_CreateNull());
                continue;
            }
            char buf[64];
            snprintf(buf, sizeof buf, "[%.9g, %.9g]", preds[i].pred[k][0], preds[i].pred[k][1]);
            cJSON_AddItemToArray(pr, cJSON_CreateRaw(buf));
        }
        cJSON_AddItemToArray(pairs, e);
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    gc_status s = text ? gc_write_file_atomic(path, text, strlen(text)) : gc_errorf(GC_ERR_NOMEM, "out of memory");
    free(text);
    return s;
}
