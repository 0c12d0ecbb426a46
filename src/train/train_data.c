#include "train/train_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/pck.h"
#include "match/match.h"
#include "pipeline/feature_cache.h"
#include "match/flip_table.h"

/* x[cin, 3600] = the fused post-processor input of one cached image. */
static gc_status load_fused(const char *cache, const char *rel, int flip, const gc_postproc *m, float *x) {
    char *path = gc_cache_path(cache, rel, flip);
    if (!path) return gc_error_context(GC_ERR_NOMEM, "cache path");
    gc_weights *w = NULL;
    gc_status s = gc_file_exists(path) ? gc_weights_open(path, &w)
                                       : gc_errorf(GC_ERR_MISSING, "%s: feature cache file missing (image %s%s; run "
                                                   "`geocorr extract`%s)", path, rel, flip ? ", flipped" : "",
                                                   flip ? " with flips" : "");
    gc_map_view v[GC_N_MAPS];
    if (s == GC_OK) s = gc_map_views_from_weights(w, m->n_groups == 1, v);
    if (s == GC_OK) s = gc_postproc_input(m, v, path, x);
    gc_weights_free(w);
    free(path);
    return s;
}

gc_status gc_train_data_init(gc_train_data *d, gc_dataset_kind kind, const char *root, const char *split,
                             const char *cache, bool flips, const char *flip_tables, const gc_postproc *m) {
    memset(d, 0, sizeof *d);
    GC_TRY(gc_eval_set_load(&d->set, kind, root, split, GC_AP10K_INTRA));
    d->cache = cache;
    d->flips = flips;
    d->m = m;
    const int n = d->set.n_pairs, nc = d->set.n_categories;
    if (n <= 0) {
        gc_train_data_free(d);
        return gc_errorf(GC_ERR_ARG, "%s: split '%s' has no pairs", root, split);
    }
    if (flips && kind == GC_DS_PFPASCAL) {
        gc_train_data_free(d);
        return gc_errorf(GC_ERR_ARG, "pair augmentation: PF-Pascal has no training flip table (the reference trains it without)");
    }
    d->kps = gc_calloc((size_t)n, sizeof *d->kps);
    d->perm = gc_calloc((size_t)(n + nc), sizeof(int64_t *)); /* [n] per pair, then [nc] owned per category */
    d->np = gc_calloc((size_t)(n + nc), sizeof(int64_t));
    int *idx = gc_alloc_array((size_t)n, sizeof(int));
    gc_status s = d->kps && d->perm && d->np && idx ? GC_OK : gc_error_context(GC_ERR_NOMEM, "training pairs");
    for (int c = 0; s == GC_OK && c < nc; c++) {
        int k = 0, used[GC_EVAL_MAX_KPS];
        for (int i = 0; i < n; i++)
            if (strcmp(d->set.pairs[i].category, d->set.categories[c]) == 0) idx[k++] = i;
        const int nu = gc_eval_used_points(&d->set, idx, k, used);
        for (int j = 0; j < k; j++) {
            const gc_eval_pair *p = &d->set.pairs[idx[j]];
            for (int u = 0; u < nu; u++) {
                memcpy(d->kps[idx[j]][0][u], p->src_kps[used[u]], 3 * sizeof(float));
                memcpy(d->kps[idx[j]][1][u], p->trg_kps[used[u]], 3 * sizeof(float));
            }
        }
        if (flips && k > 0) {
            /* SPair: the table of the source's category (its parent folder); AP-10K: one table */
            const bool spair = kind == GC_DS_SPAIR;
            s = gc_flip_table_perm(flip_tables, spair ? "spair" : "ap10k",
                                   spair ? d->set.pairs[idx[0]].src_category : NULL, &d->perm[n + c], &d->np[n + c]);
            for (int j = 0; s == GC_OK && j < k; j++) {
                d->perm[idx[j]] = d->perm[n + c];
                d->np[idx[j]] = d->np[n + c];
            }
        }
    }
    gc_free(idx);
    if (s != GC_OK) gc_train_data_free(d);
    return s;
}

void gc_train_data_free(gc_train_data *d) {
    if (d->perm)
        for (int c = 0; c < d->set.n_categories; c++) gc_free(d->perm[d->set.n_pairs + c]);
    gc_free(d->perm);
    gc_free(d->np);
    gc_free(d->kps);
    for (int k = 0; k < 4; k++) gc_free(d->x[k]);
    gc_eval_set_free(&d->set);
    memset(d, 0, sizeof *d);
}

static gc_status data_get(void *ctx, int64_t index, gc_step_inputs *in) {
    gc_train_data *d = ctx;
    const gc_eval_pair *p = &d->set.pairs[index];
    static const int flip_of[4] = {0, 0, 1, 1};
    for (int k = 0; k < (d->flips ? 4 : 2); k++) /* on first use: d->m may be set after init */
        if (!d->x[k] && !(d->x[k] = gc_alloc_array((size_t)(d->m->cin * GC_CELLS), sizeof(float))))
            return gc_error_context(GC_ERR_NOMEM, "fused maps");
    for (int k = 0; k < (d->flips ? 4 : 2); k++) {
        const char *rel = k == GC_DESC_SRC || k == GC_DESC_SRC_FLIP ? p->src : p->trg;
        GC_TRY(load_fused(d->cache, rel, flip_of[k], d->m, d->x[k]));
        in->x[k] = d->x[k];
    }
    in->kps_src = &d->kps[index][0][0][0];
    in->kps_trg = &d->kps[index][1][0][0];
    in->nk = GC_EVAL_MAX_KPS;
    in->thr_src = p->thr_src;
    in->thr_trg = p->thr;
    in->perm = d->flips ? d->perm[index] : NULL;
    in->np = d->flips ? d->np[index] : 0;
    return GC_OK;
}

gc_status gc_train_data_cache_dims(const gc_train_data *d, int *n_groups, int64_t *fd) {
    const char *rel = d->set.pairs[0].src;
    char *path = gc_cache_path(d->cache, rel, 0);
    if (!path) return gc_error_context(GC_ERR_NOMEM, "cache path");
    gc_weights *w = NULL;
    gc_status s = gc_file_exists(path) ? gc_weights_open(path, &w)
                                       : gc_errorf(GC_ERR_MISSING, "%s: feature cache file missing (image %s; run "
                                                   "`geocorr extract`)", path, rel);
    if (s == GC_OK) s = gc_postproc_input_dims(w, n_groups, fd);
    gc_weights_free(w);
    free(path);
    return s;
}

gc_pair_source gc_train_data_source(gc_train_data *d) {
    return (gc_pair_source){.n_pairs = d->set.n_pairs, .get = data_get, .ctx = d};
}

gc_status gc_train_val_init(gc_train_val *v, gc_dataset_kind kind, const char *root, const char *split,
                            const char *cache, double alpha, int max_pairs) {
    memset(v, 0, sizeof *v);
    GC_TRY(gc_eval_set_load(&v->set, kind, root, split, GC_AP10K_INTRA));
    v->n = max_pairs > 0 ? GC_MIN(max_pairs, v->set.n_pairs) : v->set.n_pairs;
    v->cache = cache;
    v->alpha = alpha;
    v->window = 7;
    if (v->n <= 0) {
        gc_train_val_free(v);
        return gc_errorf(GC_ERR_ARG, "%s: validation split '%s' has no pairs", root, split);
    }
    if (!(v->pairs = gc_alloc_array((size_t)v->n, sizeof(int)))) {
        gc_train_val_free(v);
        return gc_error_context(GC_ERR_NOMEM, "validation pairs");
    }
    for (int i = 0; i < v->n; i++) v->pairs[i] = i;
    return GC_OK;
}

void gc_train_val_free(gc_train_val *v) {
    gc_free(v->pairs);
    gc_eval_set_free(&v->set);
    memset(v, 0, sizeof *v);
}

/* Predictions of one validation pair: window soft-argmax of every visible source keypoint. */
static gc_status val_pair(const gc_train_val *v, const gc_postproc *m, int pair, float *x, gc_pck_pred *pred) {
    const gc_eval_pair *p = &v->set.pairs[pair];
    gc_descriptors ds = {0}, dt = {0};
    gc_status s = load_fused(v->cache, p->src, 0, m, x);
    if (s == GC_OK) s = gc_desc_postproc_fused(m, x, &ds);
    if (s == GC_OK) s = load_fused(v->cache, p->trg, 0, m, x);
    if (s == GC_OK) s = gc_desc_postproc_fused(m, x, &dt);
    float kps[GC_EVAL_MAX_KPS][3], xy[GC_EVAL_MAX_KPS][2];
    int ids[GC_EVAL_MAX_KPS], K = 0;
    int64_t cells[GC_EVAL_MAX_KPS];
    pred->pair = pair;
    for (int i = 0; i < GC_EVAL_MAX_KPS; i++) {
        pred->pred[i][0] = pred->pred[i][1] = NAN;
        if (p->src_kps[i][2] > 0) {
            memcpy(kps[K], p->src_kps[i], sizeof kps[K]);
            ids[K++] = i;
        }
    }
    if (s == GC_OK && K > 0) {
        gc_kps_to_cells(&kps[0][0], K, cells);
        const gc_match_params mo = {.hard = false, .window = v->window, .exclude_outside = false};
        s = gc_match_cells(ds.rows, dt.rows, ds.c, cells, K, &mo, &xy[0][0], NULL, NULL);
        for (int k = 0; s == GC_OK && k < K; k++) memcpy(pred->pred[ids[k]], xy[k], sizeof xy[k]);
    }
    gc_desc_clear(&ds);
    gc_desc_clear(&dt);
    return s;
}

gc_status gc_train_val_score(void *ctx, const gc_postproc *m, double *score) {
    gc_train_val *v = ctx;
    gc_pck_pred *preds = gc_calloc((size_t)v->n, sizeof *preds);
    float *x = gc_alloc_array((size_t)(m->cin * GC_CELLS), sizeof(float));
    gc_status s = preds && x ? GC_OK : gc_error_context(GC_ERR_NOMEM, "validation");
    for (int i = 0; s == GC_OK && i < v->n; i++) s = val_pair(v, m, v->pairs[i], x, &preds[i]);
    gc_free(x);
    gc_pck_report r;
    memset(&r, 0, sizeof r);
    gc_pck_opts o = {.n_alpha = 1, .alpha = {v->alpha}};
    if (s == GC_OK) s = gc_pck_score(&v->set, preds, v->n, &o, &r);
    if (s == GC_OK) *score = isfinite(r.img.pck[0]) ? r.img.pck[0] : 0.0;
    gc_pck_report_free(&r);
    gc_free(preds);
    return s;
}
