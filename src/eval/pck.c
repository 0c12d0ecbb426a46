#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/errors.h"
#include "eval/pck.h"
#include "io/config.h"

/* float32 Euclidean distance as torch's norm over (dx, dy): sqrt(dx*dx + dy*dy) in float. */
static float err32(const float *gt, const float *pred) {
    float dx = gt[0] - pred[0], dy = gt[1] - pred[1];
    return sqrtf(dx * dx + dy * dy);
}

static void cell_nan(gc_pck_cell *c) {
    for (int a = 0; a < GC_PCK_MAX_ALPHA; a++) c->pck[a] = NAN;
    c->n = 0;
}

/* count/n as torch's float32 division; NaN for 0/0. */
static double ratio32(int64_t cnt, int64_t n) { return (double)((float)cnt / (float)n); }

/* np.average(values, weights): sum(v*w)/sum(w); NaN when a weighted value is NaN or all weights are 0. */
static double wavg(const double *v, const double *w, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) num += v[i] * w[i], den += w[i];
    return den == 0 ? NAN : num / den;
}

typedef struct {
    int64_t cnt[GC_PCK_MAX_ALPHA], n;
} tally;

/* Per-keypoint correctness with compute_pck's dtypes: float64 bbox thresholds (float32 alpha widened),
 * or float32 alpha * 840 for the image threshold. */
static bool correct_ref(const gc_pck_opts *o, int a, float err, double thr) {
    float af = (float)o->alpha[a];
    if (o->img_threshold) return err < af * (float)GC_CANVAS_DINO;
    return (double)err < (double)af * thr;
}

static gc_status score_category(const gc_eval_set *set, const gc_pck_pred *preds, const int *sel, int ns,
                           const gc_pck_opts *o, const gc_geo_table *table, gc_pck_category *c) {
    int na = o->n_alpha;
    int *pairs = gc_alloc_array((size_t)ns, sizeof(int));
    if (!pairs) return GC_ERR_NOMEM;
    for (int i = 0; i < ns; i++) pairs[i] = preds[sel[i]].pair;
    c->n_used = gc_eval_used_points(set, pairs, ns, c->used);
    gc_free(pairs);
    gc_geo_table ren, val;
    c->has_geo = o->geo && table;
    if (c->has_geo) {
        gc_geo_table_compact(table, c->used, c->n_used, true, &ren);
        gc_geo_table_compact(table, c->used, c->n_used, false, &val);
    }
    tally all = {0}, geo_ref = {0}, geo_val = {0};
    float img_sum[GC_PCK_MAX_ALPHA] = {0}; /* torch.tensor(list).mean(): a float32 sum */
    bool img_nan = false;
    int64_t geo_pairs = 0, geo_total = 0;
    for (int i = 0; i < ns; i++) {
        const gc_pck_pred *pr = &preds[sel[i]];
        const gc_eval_pair *p = &set->pairs[pr->pair];
        bool mutual[GC_EVAL_MAX_KPS], tvis[GC_EVAL_MAX_KPS], fr[GC_EVAL_MAX_KPS], fv[GC_EVAL_MAX_KPS];
        bool ok[GC_EVAL_MAX_KPS][GC_PCK_MAX_ALPHA];
        tally pt = {0};
        for (int u = 0; u < c->n_used; u++) {
            int j = c->used[u];
            mutual[u] = p->src_kps[j][2] * p->trg_kps[j][2] > 0;
            tvis[u] = p->trg_kps[j][2] != 0;
            if (!mutual[u]) continue;
            float e = err32(p->trg_kps[j], pr->pred[j]);
            pt.n++;
            for (int a = 0; a < na; a++) pt.cnt[a] += ok[u][a] = correct_ref(o, a, e, p->thr);
        }
        all.n += pt.n;
        for (int a = 0; a < na; a++) {
            all.cnt[a] += pt.cnt[a];
            img_sum[a] += (float)pt.cnt[a] / (float)pt.n;
        }
        img_nan |= pt.n == 0;
        if (!c->has_geo) continue;
        int ng = gc_geo_aware_flags(&ren, mutual, tvis, c->n_used, fr);
        gc_geo_aware_flags(&val, mutual, tvis, c->n_used, fv);
        geo_pairs += ng > 0, geo_total += ng;
        for (int u = 0; u < c->n_used; u++) {
            geo_ref.n += fr[u], geo_val.n += fv[u];
            for (int a = 0; a < na; a++) geo_ref.cnt[a] += fr[u] && ok[u][a], geo_val.cnt[a] += fv[u] && ok[u][a];
        }
    }
    cell_nan(&c->img), cell_nan(&c->kpt), cell_nan(&c->geo_kpt_ref), cell_nan(&c->geo_kpt);
    c->img.n = ns, c->kpt.n = all.n;
    for (int a = 0; a < na; a++) {
        c->img.pck[a] = img_nan ? NAN : (double)(img_sum[a] / (float)ns);
        c->kpt.pck[a] = ratio32(all.cnt[a], all.n);
    }
    c->image_ratio = c->point_ratio = NAN;
    if (!c->has_geo) return GC_OK;
    c->geo_kpt_ref.n = geo_ref.n, c->geo_kpt.n = geo_val.n;
    for (int a = 0; a < na; a++) {
        c->geo_kpt_ref.pck[a] = ratio32(geo_ref.cnt[a], geo_ref.n);
        c->geo_kpt.pck[a] = ratio32(geo_val.cnt[a], geo_val.n);
        c->geo_cnt[a] = geo_val.cnt[a];
    }
    c->image_ratio = (double)geo_pairs / ns;
    c->point_ratio = (double)geo_total / (double)all.n;
    return GC_OK;
}

/* utils/eval_spair.py get_img_result over raw ids: per pair the fraction of the chosen keypoints
 * (all mutually visible, or the geo-aware ones) under float32 thresholds; pairs without any skipped. */
static bool pair_img_eval_spair(const gc_eval_set *set, const gc_pck_pred *pr, const gc_pck_opts *o,
                                const gc_geo_table *table, double *score) {
    const gc_eval_pair *p = &set->pairs[pr->pair];
    int nk = set->n_kps;
    bool mutual[GC_EVAL_MAX_KPS] = {0}, tvis[GC_EVAL_MAX_KPS] = {0}, flags[GC_EVAL_MAX_KPS];
    for (int j = 0; j < nk; j++) {
        mutual[j] = p->src_kps[j][2] * p->trg_kps_img[j][2] > 0;
        tvis[j] = p->trg_kps_img[j][2] > 0;
    }
    if (table) gc_geo_aware_flags(table, mutual, tvis, nk, flags);
    else memcpy(flags, mutual, sizeof flags);
    int64_t n = 0, cnt[GC_PCK_MAX_ALPHA] = {0};
    for (int j = 0; j < nk; j++) {
        if (!flags[j]) continue;
        float e = err32(p->trg_kps_img[j], pr->pred[j]);
        n++;
        for (int a = 0; a < o->n_alpha; a++) cnt[a] += e < (float)o->alpha[a] * p->thr_img;
    }
    if (table && n == 0) return false;
    for (int a = 0; a < o->n_alpha; a++) score[a] = ratio32(cnt[a], n);
    return true;
}

static void mean_cell(gc_pck_cell *c, const double *sum, int64_t n, int na) {
    cell_nan(c);
    c->n = n;
    for (int a = 0; a < na && n > 0; a++) c->pck[a] = (double)((float)sum[a] / (float)n);
}

/* The eval_spair grouping's slot of a source folder name (appended when new); -1 when out of memory. */
static int geo_img_slot(gc_pck_report *r, const char *name) {
    int g = 0;
    while (g < r->n_geo_img && strcmp(r->geo_img_cats[g].name, name) != 0) g++;
    if (g < r->n_geo_img) return g;
    gc_pck_named *nv = gc_realloc_array(r->geo_img_cats, (size_t)g + 1, sizeof *nv);
    if (!nv) return -1;
    r->geo_img_cats = nv;
    memset(&nv[g], 0, sizeof nv[g]);
    if (!(nv[g].name = gc_strdup(name))) return -1;
    r->n_geo_img++;
    return g;
}

static gc_status score_eval_spair(const gc_eval_set *set, const gc_pck_pred *preds, int n_preds, const gc_pck_opts *o,
                                  gc_pck_report *r) {
    int na = o->n_alpha;
    /* geo per image, grouped by the source image's folder, names sorted */
    if (o->geo && set->kind != GC_DS_PFPASCAL) {
        /* every category is listed (n = 0 without geo-aware pairs, as eval_spair.py lists every class)
         * where the categories are the source folders (SPair, AP-10K intra-species) */
        bool folders = true;
        for (int i = 0; i < set->n_pairs && folders; i++) folders = strcmp(set->pairs[i].category, set->pairs[i].src_category) == 0;
        for (int c = 0; folders && c < set->n_categories; c++)
            if (geo_img_slot(r, set->categories[c]) < 0) return GC_ERR_NOMEM;
        double tot[GC_PCK_MAX_ALPHA] = {0};
        int64_t tn = 0;
        for (int i = 0; i < n_preds; i++) {
            const gc_eval_pair *p = &set->pairs[preds[i].pair];
            const gc_geo_table *t = set->kind == GC_DS_AP10K ? &o->groups->ap10k : gc_geo_groups_spair(o->groups, p->src_category);
            double sc[GC_PCK_MAX_ALPHA];
            if (!t || !pair_img_eval_spair(set, &preds[i], o, t, sc)) continue;
            int g = geo_img_slot(r, p->src_category);
            if (g < 0) return GC_ERR_NOMEM;
            gc_pck_cell *c = &r->geo_img_cats[g].cell;
            for (int a = 0; a < na; a++) /* float32 sums, as torch's mean over the stacked pair scores */
                c->pck[a] = (float)(c->pck[a] + sc[a]), tot[a] = (float)(tot[a] + sc[a]);
            c->n++, tn++;
        }
        for (int g = 0; g < r->n_geo_img; g++) {
            double sum[GC_PCK_MAX_ALPHA];
            memcpy(sum, r->geo_img_cats[g].cell.pck, sizeof sum);
            mean_cell(&r->geo_img_cats[g].cell, sum, r->geo_img_cats[g].cell.n, na);
        }
        for (int g = 1; g < r->n_geo_img; g++) /* insertion sort by name */
            for (int k = g; k > 0 && strcmp(r->geo_img_cats[k - 1].name, r->geo_img_cats[k].name) > 0; k--) {
                gc_pck_named t = r->geo_img_cats[k];
                r->geo_img_cats[k] = r->geo_img_cats[k - 1], r->geo_img_cats[k - 1] = t;
            }
        mean_cell(&r->geo_img, tot, tn, na);
    }
    /* SPair azimuth-variation bins */
    if (set->kind == GC_DS_SPAIR) {
        double sum[5][GC_PCK_MAX_ALPHA] = {{0}};
        int64_t n[5] = {0};
        for (int i = 0; i < n_preds; i++) {
            int az = set->pairs[preds[i].pair].az;
            double sc[GC_PCK_MAX_ALPHA];
            if (az < 0 || az > 4) continue;
            pair_img_eval_spair(set, &preds[i], o, NULL, sc);
            for (int a = 0; a < na; a++) sum[az][a] = (float)(sum[az][a] + sc[a]);
            n[az]++;
            r->has_az = true;
        }
        for (int k = 0; k < 5; k++) mean_cell(&r->az[k], sum[k], n[k], na);
        for (int a = 0; a < na; a++) {
            double mx = -INFINITY, mn = INFINITY;
            for (int k = 0; k < 5; k++)
                if (n[k]) mx = fmax(mx, r->az[k].pck[a]), mn = fmin(mn, r->az[k].pck[a]);
            r->az_d[a] = mx > 0 ? (mx - mn) / mx : NAN;
        }
    }
    return GC_OK;
}

/* A category without scored pairs: n = 0 and undefined values in every table. */
static void category_empty(const gc_pck_opts *o, const gc_geo_table *table, gc_pck_category *c) {
    cell_nan(&c->img), cell_nan(&c->kpt), cell_nan(&c->geo_kpt_ref), cell_nan(&c->geo_kpt);
    c->image_ratio = c->point_ratio = NAN;
    c->has_geo = o->geo && table;
}

gc_status gc_pck_score(const gc_eval_set *set, const gc_pck_pred *preds, int n_preds, const gc_pck_opts *o,
                       gc_pck_report *r) {
    memset(r, 0, sizeof *r);
    r->opts = *o;
    if (o->n_alpha < 1 || o->n_alpha > GC_PCK_MAX_ALPHA)
        return gc_errorf(GC_ERR_ARG, "PCK thresholds: give 1..%d", GC_PCK_MAX_ALPHA);
    if (o->geo && !o->groups) return gc_errorf(GC_ERR_ARG, "geo-aware metrics need the group tables");
    if (n_preds <= 0) return gc_errorf(GC_ERR_ARG, "no pairs to score");
    int na = o->n_alpha, nc = 0;
    int *sel = gc_alloc_array((size_t)n_preds, sizeof(int));
    double *v = gc_alloc_array((size_t)set->n_categories + 1, sizeof(double));
    double *w = gc_alloc_array((size_t)set->n_categories + 1, sizeof(double));
    r->cats = gc_calloc((size_t)set->n_categories + 1, sizeof(gc_pck_category));
    gc_status s = sel && v && w && r->cats ? GC_OK : GC_ERR_NOMEM;
    for (int c = 0; s == GC_OK && c < set->n_categories; c++) {
        int ns = 0;
        for (int i = 0; i < n_preds; i++)
            if (strcmp(set->pairs[preds[i].pair].category, set->categories[c]) == 0) sel[ns++] = i;
        gc_pck_category *pc = &r->cats[nc];
        if (!(pc->name = gc_strdup(set->categories[c]))) s = GC_ERR_NOMEM;
        const gc_geo_table *t = !o->geo                    ? NULL
                                : set->kind == GC_DS_AP10K ? &o->groups->ap10k
                                : set->kind == GC_DS_SPAIR ? gc_geo_groups_spair(o->groups, pc->name)
                                                           : NULL;
        r->n_cats = ++nc;
        if (s == GC_OK && ns) s = score_category(set, preds, sel, ns, o, t, pc);
        else if (s == GC_OK) category_empty(o, t, pc); /* listed with n = 0, as eval_spair.py lists every class */
    }
    if (s != GC_OK) return gc_free(sel), gc_free(v), gc_free(w), gc_pck_report_free(r), s;
    /* overall: np.average over the scored categories with the reference's weights (a category without
     * scored pairs has no value to weigh) */
    cell_nan(&r->img), cell_nan(&r->kpt), cell_nan(&r->geo_kpt_ref), cell_nan(&r->geo_kpt);
    r->image_ratio = r->point_ratio = NAN;
    int k;
    for (int c = 0; c < nc; c++) r->img.n += r->cats[c].img.n, r->kpt.n += r->cats[c].kpt.n;
    for (int a = 0; a < na; a++) {
        k = 0;
        for (int c = 0; c < nc; c++)
            if (r->cats[c].img.n) v[k] = r->cats[c].img.pck[a], w[k++] = (double)r->cats[c].img.n;
        r->img.pck[a] = wavg(v, w, k);
        k = 0;
        for (int c = 0; c < nc; c++)
            if (r->cats[c].img.n) v[k] = r->cats[c].kpt.pck[a], w[k++] = (double)r->cats[c].kpt.n;
        r->kpt.pck[a] = wavg(v, w, k);
    }
    int ng = 0;
    int64_t gcnt[GC_PCK_MAX_ALPHA] = {0};
    for (int c = 0; c < nc; c++) {
        const gc_pck_category *pc = &r->cats[c];
        if (!pc->has_geo || !pc->img.n) continue;
        ng++;
        r->geo_kpt_ref.n += pc->geo_kpt_ref.n, r->geo_kpt.n += pc->geo_kpt.n;
        for (int a = 0; a < na; a++) gcnt[a] += pc->geo_cnt[a];
    }
    if (ng) {
        for (int a = 0; a < na; a++) {
            k = 0;
            for (int c = 0; c < nc; c++)
                if (r->cats[c].has_geo && r->cats[c].img.n)
                    v[k] = r->cats[c].geo_kpt_ref.pck[a], w[k++] = (double)r->cats[c].geo_kpt_ref.n;
            r->geo_kpt_ref.pck[a] = wavg(v, w, k);
            r->geo_kpt.pck[a] = ratio32(gcnt[a], r->geo_kpt.n);
        }
        k = 0;
        for (int c = 0; c < nc; c++)
            if (r->cats[c].has_geo && r->cats[c].img.n) v[k] = r->cats[c].image_ratio, w[k++] = 1;
        r->image_ratio = wavg(v, w, k);
        k = 0;
        for (int c = 0; c < nc; c++)
            if (r->cats[c].has_geo && r->cats[c].img.n) v[k] = r->cats[c].point_ratio, w[k++] = (double)r->cats[c].kpt.n;
        r->point_ratio = wavg(v, w, k);
    }
    gc_free(sel), gc_free(v), gc_free(w);
    s = score_eval_spair(set, preds, n_preds, o, r);
    if (s == GC_OK && o->errors) {
        r->errors = gc_calloc(1, sizeof *r->errors);
        s = r->errors ? gc_errors_score(set, preds, n_preds, o, NULL, r->errors) : GC_ERR_NOMEM;
        if (s != GC_OK) gc_free(r->errors), r->errors = NULL;
    }
    if (s != GC_OK) gc_pck_report_free(r);
    return s;
}

void gc_pck_report_free(gc_pck_report *r) {
    for (int c = 0; c < r->n_cats; c++) free(r->cats[c].name);
    gc_free(r->cats);
    for (int g = 0; g < r->n_geo_img; g++) free(r->geo_img_cats[g].name);
    free(r->geo_img_cats);
    if (r->errors) gc_errors_report_free(r->errors);
    gc_free(r->errors);
    memset(r, 0, sizeof *r);
}
