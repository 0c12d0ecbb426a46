#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/errors.h"
#include "match/flip_table.h"

static const char *const k_names[GC_BD_COUNT] = {"jitter", "miss", "swap", "swap_lr", "pck_dagger"};

void gc_errors_pair_counts(const float (*trg)[2], const float (*pred)[2], const int *ids, int n, const int *partner,
                           int n_partner, float t, int64_t counts[GC_BD_COUNT]) {
    const float t2 = t * 2.0f;
    memset(counts, 0, GC_BD_COUNT * sizeof counts[0]);
    for (int p = 0; p < n; p++) {
        if (isnan(pred[p][0]) || isnan(pred[p][1])) { /* no prediction: a miss, nothing else */
            counts[GC_BD_MISS]++;
            continue;
        }
        /* dist[p][g] = sqrt((trg_x[g] - pred_x[p])^2 + (trg_y[g] - pred_y[p])^2), float32 as torch;
         * c = the first g of minimal distance (torch.argmin) */
        float own = 0, m = INFINITY;
        int c = -1;
        for (int g = 0; g < n; g++) {
            float dx = trg[g][0] - pred[p][0], dy = trg[g][1] - pred[p][1];
            float d = sqrtf(dx * dx + dy * dy);
            if (g == p) own = d;
            if (c < 0 || d < m) m = d, c = g;
        }
        bool swap = c != p && m <= t;
        counts[GC_BD_MISS] += m >= t;
        counts[GC_BD_JITTER] += t <= own && own <= t2;
        counts[GC_BD_SWAP] += swap;
        counts[GC_BD_PCK_DAGGER] += own <= t && c == p;
        counts[GC_BD_SWAP_LR] += swap && partner && ids[p] < n_partner && partner[ids[p]] == ids[c];
    }
}

/* Left/right partners of a category in raw ids: the two-member groups of the training flip table
 * (permute_indices swaps them; a longer cycle has no partner). partner[np] is gc_alloc'd. */
static gc_status load_partners(const char *path, const gc_eval_set *set, const char *category, int **partner, int *np) {
    int64_t *perm, n;
    GC_TRY(gc_flip_table_perm(path, set->kind == GC_DS_AP10K ? "ap10k" : "spair",
                              set->kind == GC_DS_AP10K ? NULL : category, &perm, &n));
    *partner = gc_alloc_array((size_t)n, sizeof(int));
    if (!*partner) return gc_free(perm), GC_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = perm[i];
        (*partner)[i] = j != i && j < n && perm[j] == i ? (int)j : -1;
    }
    *np = (int)n;
    gc_free(perm);
    return GC_OK;
}

static void cell_init(gc_bd_cell *c) {
    c->n = 0;
    for (int m = 0; m < GC_BD_COUNT; m++)
        for (int a = 0; a < GC_PCK_MAX_ALPHA; a++) c->v[m][a] = NAN;
}

/* Per-pair fractions frac[i][m][a] (NaN for pck_dagger of a pair without counted keypoints) into the
 * means of a cell: Python's sum over the pairs in order, / number of pairs (pck_dagger: of pairs with
 * counted keypoints), as upstream log_pck. */
static void cell_mean(gc_bd_cell *c, const double (*frac)[GC_BD_COUNT][GC_PCK_MAX_ALPHA], const int *sel, int n,
                      int na, bool has_lr) {
    cell_init(c);
    c->n = n;
    for (int m = 0; m < GC_BD_COUNT; m++) {
        if (m == GC_BD_SWAP_LR && !has_lr) continue;
        for (int a = 0; a < na; a++) {
            double sum = 0;
            int64_t den = 0;
            for (int i = 0; i < n; i++) {
                double v = frac[sel ? sel[i] : i][m][a];
                if (isnan(v)) continue;
                sum += v, den++;
            }
            c->v[m][a] = m == GC_BD_PCK_DAGGER ? (den ? sum / (double)den : NAN) : (n ? sum / (double)n : NAN);
        }
    }
}

gc_status gc_errors_score(const gc_eval_set *set, const gc_pck_pred *preds, int n_preds, const gc_pck_opts *o,
                          const char *lr_tables, gc_errors_report *r) {
    memset(r, 0, sizeof *r);
    const int nc = set->n_categories, na = o->n_alpha;
    r->n_alpha = na;
    memcpy(r->alpha, o->alpha, sizeof r->alpha);
    r->has_lr = set->kind != GC_DS_PFPASCAL; /* PF-Pascal has no left/right table */
    const char *path = lr_tables; /* NULL: the shipped training tables */
    r->names = gc_calloc((size_t)nc + 1, sizeof(char *));
    r->cats = gc_calloc((size_t)nc + 1, sizeof(gc_bd_cell));
    int **partner = gc_calloc((size_t)nc + 1, sizeof(int *));
    int *n_partner = gc_calloc((size_t)nc + 1, sizeof(int));
    int *cat_of = gc_alloc_array((size_t)n_preds + 1, sizeof(int)), *sel = gc_alloc_array((size_t)n_preds + 1, sizeof(int));
    double(*frac)[GC_BD_COUNT][GC_PCK_MAX_ALPHA] = gc_alloc_array((size_t)n_preds + 1, sizeof *frac);
    gc_status s = r->names && r->cats && partner && n_partner && cat_of && sel && frac ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) r->n_cats = nc;
    for (int c = 0; s == GC_OK && c < nc; c++) {
        if (!(r->names[c] = gc_strdup(set->categories[c]))) s = GC_ERR_NOMEM;
        if (s == GC_OK && r->has_lr) s = load_partners(path, set, set->categories[c], &partner[c], &n_partner[c]);
    }
    for (int i = 0; s == GC_OK && i < n_preds; i++) {
        const gc_eval_pair *p = &set->pairs[preds[i].pair];
        int c = 0;
        while (c < nc && strcmp(p->category, set->categories[c]) != 0) c++;
        cat_of[i] = c;
        /* counted keypoints: mutually visible, ascending raw id (all lie within the used points) */
        float trg[GC_EVAL_MAX_KPS][2], pred[GC_EVAL_MAX_KPS][2];
        int ids[GC_EVAL_MAX_KPS], n = 0;
        for (int j = 0; j < set->n_kps; j++) {
            if (!(p->src_kps[j][2] * p->trg_kps[j][2] > 0)) continue;
            trg[n][0] = p->trg_kps[j][0], trg[n][1] = p->trg_kps[j][1];
            pred[n][0] = preds[i].pred[j][0], pred[n][1] = preds[i].pred[j][1];
            ids[n++] = j;
        }
        /* the pair's PCK threshold T (float64 bbox value, or the image's 840) as torch: float32(T) * alpha */
        double T = o->img_threshold ? GC_CANVAS_DINO : p->thr;
        for (int a = 0; a < na; a++) {
            int64_t cnt[GC_BD_COUNT];
            float t = (float)T * (float)o->alpha[a];
            gc_errors_pair_counts((const float (*)[2])trg, (const float (*)[2])pred, ids, n, c < nc ? partner[c] : NULL,
                                  c < nc ? n_partner[c] : 0, t, cnt);
            for (int m = 0; m < GC_BD_COUNT; m++) frac[i][m][a] = n ? (double)cnt[m] / n : 0;
            if (!n) frac[i][GC_BD_PCK_DAGGER][a] = NAN; /* left out of PCK† (upstream eval_pck) */
        }
    }
    for (int c = 0; s == GC_OK && c < nc; c++) {
        int k = 0;
        for (int i = 0; i < n_preds; i++)
            if (cat_of[i] == c) sel[k++] = i;
        cell_mean(&r->cats[c], (const double (*)[GC_BD_COUNT][GC_PCK_MAX_ALPHA])frac, sel, k, na, r->has_lr);
    }
    if (s == GC_OK) cell_mean(&r->overall, (const double (*)[GC_BD_COUNT][GC_PCK_MAX_ALPHA])frac, NULL, n_preds, na, r->has_lr);
    for (int c = 0; partner && c < nc; c++) gc_free(partner[c]);
    gc_free(partner), gc_free(n_partner), gc_free(cat_of), gc_free(sel), gc_free(frac);
    if (s != GC_OK) gc_errors_report_free(r);
    return s;
}

void gc_errors_report_free(gc_errors_report *r) {
    for (int c = 0; r->names && c < r->n_cats; c++) free(r->names[c]);
    gc_free(r->names), gc_free(r->cats);
    memset(r, 0, sizeof *r);
}

static cJSON *cell_json(const gc_errors_report *r, const gc_bd_cell *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)c->n);
    for (int m = 0; m < GC_BD_COUNT; m++) {
        if (m == GC_BD_SWAP_LR && !r->has_lr) {
            cJSON_AddNullToObject(o, k_names[m]);
            continue;
        }
        cJSON *v = cJSON_AddObjectToObject(o, k_names[m]);
        for (int a = 0; a < r->n_alpha; a++) {
            char k[32];
            gc_report_alpha_key(r->alpha[a], k, sizeof k);
            gc_report_add_num(v, k, c->v[m][a]);
        }
    }
    return o;
}

cJSON *gc_errors_report_json(const gc_errors_report *r) {
    cJSON *j = cJSON_CreateObject(), *pi = cJSON_AddObjectToObject(j, "per_image");
    cJSON_AddItemToObject(pi, "overall", cell_json(r, &r->overall));
    cJSON *cats = cJSON_AddObjectToObject(pi, "categories");
    for (int c = 0; c < r->n_cats; c++) cJSON_AddItemToObject(cats, r->names[c], cell_json(r, &r->cats[c]));
    return j;
}

/* " <100 v>" in width w with p decimals, "-" when undefined */
static void print_pct(FILE *f, int w, int p, double v) {
    if (isfinite(v)) fprintf(f, " %*.*f", w, p, 100 * v);
    else fprintf(f, " %*s", w, "-");
}

void gc_errors_report_print(const gc_errors_report *r, const gc_pck_report *pck, FILE *f) {
    fprintf(f, "Error breakdown per image (%%) at alpha %g (Aygun & Mac Aodha; Swap^LR: left/right partner)\n  %-16s",
            r->alpha[0], "category");
    for (int m = 0; m < GC_BD_COUNT; m++) fprintf(f, " %10s", k_names[m]);
    fprintf(f, " %8s\n", "pairs");
    for (int c = 0; c <= r->n_cats; c++) {
        const gc_bd_cell *cell = c < r->n_cats ? &r->cats[c] : &r->overall;
        fprintf(f, "  %-16s", c < r->n_cats ? r->names[c] : "overall");
        for (int m = 0; m < GC_BD_COUNT; m++) print_pct(f, 10, 2, cell->v[m][0]);
        fprintf(f, " %8lld\n", (long long)cell->n);
    }
    /* Tab. 9's columns: Jitter, Miss, Swap, Swap^LR, PCK-dagger at the first alpha, then the per-image PCK
     * at every alpha in ascending order */
    const char *label[GC_BD_COUNT] = {"Jitter", "Miss", "Swap", "Swap^LR", "PCK\xe2\x80\xa0"};
    fprintf(f, "Tab. 9 (%%, alpha %g):", r->alpha[0]);
    for (int m = 0; m < GC_BD_COUNT; m++) {
        fprintf(f, "  %s", label[m]);
        if (m == GC_BD_PCK_DAGGER) fprintf(f, "@%g", r->alpha[0]);
        print_pct(f, 0, 1, r->overall.v[m][0]);
    }
    bool done[GC_PCK_MAX_ALPHA] = {0};
    for (int k = 0; k < pck->opts.n_alpha; k++) {
        int a = -1;
        for (int b = 0; b < pck->opts.n_alpha; b++)
            if (!done[b] && (a < 0 || pck->opts.alpha[b] < pck->opts.alpha[a])) a = b;
        done[a] = true;
        fprintf(f, "  PCK@%g", pck->opts.alpha[a]);
        print_pct(f, 0, 1, pck->img.pck[a]);
    }
    fprintf(f, "\n");
}
