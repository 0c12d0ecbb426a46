#include "match/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/linear.h"
#include "tensor/resample.h"

/* ---- distances ------------------------------------------------------------------------------- */

void gc_mask_nearest(const uint8_t *mask, int64_t H, int64_t W, uint8_t thresh, int64_t res, float *m) {
    const float sh = (float)H / (float)res, sw = (float)W / (float)res;
    for (int64_t i = 0; i < res; i++) {
        int64_t r = GC_MIN((int64_t)floorf((float)i * sh), H - 1);
        for (int64_t j = 0; j < res; j++) {
            int64_t c = GC_MIN((int64_t)floorf((float)j * sw), W - 1);
            m[i * res + j] = mask[r * W + c] > thresh ? 1.0f : 0.0f;
        }
    }
}

void gc_mask_to64(const uint8_t *mask, int64_t H, int64_t W, float *m64) {
    gc_mask_nearest(mask, H, W, 127, GC_IMD_RES, m64);
}

/* The masked res x res features of get_distance, split for exact distances: for each pixel whose mask
 * is 1, clean[p, C] holds the values with the -1e5 entries zeroed and rep[p, C] (allocated only when
 * any entry was replaced) marks them. Without a mask every pixel is kept with its values as they are
 * (nothing was multiplied by a mask, so no zero is replaced). */
typedef struct {
    int64_t n;     /* masked pixels */
    float *clean;  /* [n, C] */
    float *rep;    /* [n, C] 1 where the reference holds -1e5, or NULL */
    double *norm2; /* [n] |clean|^2 */
    double *nrep;  /* [n] count of replaced entries */
} imd_set;

static void imd_set_free(imd_set *s) {
    gc_free(s->clean);
    gc_free(s->rep);
    gc_free(s->norm2);
    gc_free(s->nrep);
}

static gc_status imd_set_build(const float *rows, int64_t C, int64_t res, const float *m, imd_set *s) {
    memset(s, 0, sizeof *s);
    const int64_t P = res * res;
    int64_t *pix = gc_alloc_array((size_t)P, sizeof(int64_t));
    if (!pix) return GC_ERR_NOMEM;
    for (int64_t p = 0; p < P; p++)
        if (!m || m[p] == 1.0f) pix[s->n++] = p;
    /* only the masked pixels of the upsampled map are ever used (multiplied by mask 1) */
    s->clean = gc_alloc_array((size_t)(s->n * C) + 1, sizeof(float));
    s->norm2 = gc_calloc((size_t)s->n + 1, sizeof(double));
    s->nrep = gc_calloc((size_t)s->n + 1, sizeof(double));
    gc_status st = s->clean && s->norm2 && s->nrep ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) st = gc_resize_bilinear_tokens(s->clean, C, rows, C, GC_GRID, GC_GRID, res, res, pix, s->n);
    gc_free(pix);
    if (st != GC_OK) {
        imd_set_free(s);
        return st;
    }
    /* exact zeros are what the reference turns into -1e5: keep them 0 in `clean`, mark them in `rep` */
    bool any_rep = false;
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t c = 0; c < C; c++) {
            float v = s->clean[i * C + c];
            s->norm2[i] += (double)v * v;
            if (v == 0.0f && m) {
                s->clean[i * C + c] = 0.0f; /* -0.0 too */
                s->nrep[i] += 1;
                any_rep = true;
            }
        }
    if (any_rep) {
        if (!(s->rep = gc_alloc_array((size_t)(s->n * C), sizeof(float)))) {
            imd_set_free(s);
            return GC_ERR_NOMEM;
        }
        for (int64_t k = 0; k < s->n * C; k++) s->rep[k] = s->clean[k] == 0.0f ? 1.0f : 0.0f;
    }
    return GC_OK;
}

/* Exact squared distance between reference vectors a = a' + R*ra and b = b' + R*rb (ra/rb NULL: no
 * replaced entries; b NULL: the all -1e5 vector of masked-out target pixels). */
static double exact_d2(const float *a, const float *ra, const float *b, const float *rb, int64_t C) {
    const double R = GC_IMD_REPLACE;
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double x = (ra && ra[c] != 0.0f) ? R : a[c];
        double y = !b ? R : (rb && rb[c] != 0.0f) ? R : b[c];
        s += (x - y) * (x - y);
    }
    return s;
}

/* One source row's expanded squared distances to every target row (see gc_imd_at). */
typedef struct {
    const double *tn, *tnrep;   /* target |t'|^2, replaced-entry counts */
    const float *g1, *g2, *g3;  /* the row's products; g2, g3 NULL without replaced entries */
    double sn, snrep;           /* source |s'|^2, replaced-entry count */
} scan_row;

static inline double scan_d2(const scan_row *r, int64_t j) {
    const double R = GC_IMD_REPLACE;
    double d2 = r->sn + r->tn[j] - 2.0 * r->g1[j];
    if (r->g2) d2 += -2.0 * R * r->g2[j] + R * R * (r->snrep + r->tnrep[j] - 2.0 * r->g3[j]);
    return d2 == d2 ? d2 : INFINITY; /* a NaN never wins */
}

/* The first j of the smallest d2 (into *min), or -1. Vectorised: the minimum of each block of 256, then
 * the first block reaching the overall minimum is searched again with the same arithmetic
 * (bit-identical, so the equality finds it). */
static int64_t scan_argmin(const scan_row *r, int64_t n, double *min) {
    const int64_t B = 256;
    double best = INFINITY;
    int64_t at = -1;
    for (int64_t j0 = 0; j0 < n; j0 += B) {
        int64_t j1 = GC_MIN(j0 + B, n);
        double bm = INFINITY;
#pragma omp simd reduction(min : bm)
        for (int64_t j = j0; j < j1; j++) bm = GC_MIN(bm, scan_d2(r, j));
        if (bm < best) {
            best = bm;
            at = j0;
        }
    }
    *min = best;
    if (at < 0) return -1;
    for (int64_t j = at;; j++)
        if (scan_d2(r, j) == best) return j;
}

gc_status gc_imd_at(const float *src, const float *trg, int64_t C, int64_t res, const float *msrc, const float *mtrg,
                    double *dist, float *min_dists, int64_t *n_min) {
    imd_set S, T;
    GC_TRY(imd_set_build(src, C, res, msrc, &S));
    gc_status st = imd_set_build(trg, C, res, mtrg, &T);
    if (st != GC_OK) {
        imd_set_free(&S);
        return st;
    }
    bool has_out = T.n < res * res; /* masked-out target pixels: all -1e5 */
    bool any_rep = S.rep || T.rep;
    /* blocks of CH source x CT target rows: the products of a block stay in cache while they are scanned */
    const int64_t CH = 256, CT = 2048;
    float *g1 = gc_alloc_array((size_t)(CH * CT), sizeof(float));
    float *g2 = any_rep ? gc_alloc_array((size_t)(CH * CT), sizeof(float)) : NULL;
    float *g3 = any_rep ? gc_alloc_array((size_t)(CH * CT), sizeof(float)) : NULL;
    float *zeros = any_rep ? gc_calloc((size_t)(GC_MAX(S.n, T.n) * C) + 1, sizeof(float)) : NULL;
    float *mins = gc_alloc_array((size_t)S.n + 1, sizeof(float));
    double *best = gc_alloc_array((size_t)CH, sizeof(double));
    int64_t *bj = gc_alloc_array((size_t)CH, sizeof(int64_t));
    if (!g1 || !mins || !best || !bj || (any_rep && (!g2 || !g3 || !zeros))) {
        st = GC_ERR_NOMEM;
        goto done;
    }
    /* missing indicator matrices are all zero */
    const float *srep = S.rep ? S.rep : zeros, *trep = T.rep ? T.rep : zeros;
    for (int64_t i0 = 0; i0 < S.n; i0 += CH) {
        int64_t m = GC_MIN(CH, S.n - i0);
        for (int64_t ii = 0; ii < m; ii++) best[ii] = INFINITY, bj[ii] = -1;
        for (int64_t j0 = 0; j0 < T.n; j0 += CT) {
            int64_t nt = GC_MIN(CT, T.n - j0);
            const float *tc = T.clean + j0 * C, *tr = trep + j0 * C;
            st = gc_matmul(g1, S.clean + i0 * C, tc, m, C, nt, false, true, 1.0f, 0.0f);
            if (any_rep && st == GC_OK) {
                /* d2 = |s'-t'|^2 - 2R (s'.n + m.t') + R^2 (|m| + |n| - 2 m.n): every product is of
                 * O(1) numbers, so the 1e10 terms never swamp the small ones */
                st = gc_matmul(g2, S.clean + i0 * C, tr, m, C, nt, false, true, 1.0f, 0.0f);
                if (st == GC_OK) st = gc_matmul(g2, srep + i0 * C, tc, m, C, nt, false, true, 1.0f, 1.0f);
                if (st == GC_OK) st = gc_matmul(g3, srep + i0 * C, tr, m, C, nt, false, true, 1.0f, 0.0f);
            }
            if (st != GC_OK) goto done;
#pragma omp parallel for schedule(static)
            for (int64_t ii = 0; ii < m; ii++) {
                const scan_row row = {T.norm2 + j0, T.nrep + j0, g1 + ii * nt, any_rep ? g2 + ii * nt : NULL,
                                      any_rep ? g3 + ii * nt : NULL, S.norm2[i0 + ii], S.nrep[i0 + ii]};
                double v;
                int64_t j = scan_argmin(&row, nt, &v);
                if (j >= 0 && v < best[ii]) best[ii] = v, bj[ii] = j0 + j; /* strict: the first j on ties */
            }
        }
#pragma omp parallel for schedule(static)
        for (int64_t ii = 0; ii < m; ii++) {
            int64_t i = i0 + ii, b = bj[ii];
            const float *sr = S.rep ? S.rep + i * C : NULL;
            double d2 = b >= 0 ? exact_d2(S.clean + i * C, sr, T.clean + b * C, T.rep ? T.rep + b * C : NULL, C) : INFINITY;
            if (has_out) {
                double d2o = exact_d2(S.clean + i * C, sr, NULL, NULL, C);
                if (d2o < d2) d2 = d2o;
            }
            mins[i] = (float)sqrt(d2);
        }
    }
    double sum = 0;
    for (int64_t i = 0; i < S.n; i++) sum += mins[i];
    *dist = S.n ? (double)(float)(sum / (double)S.n) : NAN;
    if (min_dists) memcpy(min_dists, mins, (size_t)S.n * sizeof(float));
    if (n_min) *n_min = S.n;
done:
    gc_free(g1);
    gc_free(g2);
    gc_free(g3);
    gc_free(zeros);
    gc_free(mins);
    gc_free(best);
    gc_free(bj);
    imd_set_free(&S);
    imd_set_free(&T);
    return st;
}

gc_status gc_imd(const float *src, const float *trg, int64_t C, const float *msrc64, const float *mtrg64,
                 double *dist, float *min_dists, int64_t *n_min) {
    return gc_imd_at(src, trg, C, GC_IMD_RES, msrc64, mtrg64, dist, min_dists, n_min);
}

gc_status gc_mnn_distance(const float *src, const float *trg, int64_t n, int64_t C, double *dist) {
    const int64_t CH = 512;
    float *an = gc_alloc_array((size_t)n, sizeof(float)), *bn = gc_alloc_array((size_t)n, sizeof(float));
    float *d = gc_alloc_array((size_t)(CH * n), sizeof(float));
    float *rowmin = gc_alloc_array((size_t)n, sizeof(float)), *colmin = gc_alloc_array((size_t)n, sizeof(float));
    int64_t *nn12 = gc_alloc_array((size_t)n, sizeof(int64_t)), *nn21 = gc_alloc_array((size_t)n, sizeof(int64_t));
    gc_status st = GC_OK;
    if (!an || !bn || !d || !rowmin || !colmin || !nn12 || !nn21) {
        st = GC_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        double sa = 0, sb = 0;
        for (int64_t c = 0; c < C; c++) {
            sa += (double)src[i * C + c] * src[i * C + c];
            sb += (double)trg[i * C + c] * trg[i * C + c];
        }
        an[i] = (float)sa;
        bn[i] = (float)sb;
        colmin[i] = INFINITY;
        nn21[i] = 0;
    }
    for (int64_t i0 = 0; i0 < n; i0 += CH) {
        int64_t m = GC_MIN(CH, n - i0);
        /* torch.cdist's matrix-product path: |a|^2 + |b|^2 - 2 a.b, clamped at 1e-30, sqrt */
        if ((st = gc_matmul(d, src + i0 * C, trg, m, C, n, false, true, -2.0f, 0.0f)) != GC_OK) goto done;
#pragma omp parallel for schedule(static)
        for (int64_t ii = 0; ii < m; ii++) {
            float *row = d + ii * n;
            int64_t b = 0;
            for (int64_t j = 0; j < n; j++) {
                float v = row[j] + an[i0 + ii] + bn[j];
                row[j] = sqrtf(v > 1e-30f ? v : 1e-30f);
                if (row[j] < row[b]) b = j;
            }
            rowmin[i0 + ii] = row[b];
            nn12[i0 + ii] = b;
        }
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n; j++)
            for (int64_t ii = 0; ii < m; ii++)
                if (d[ii * n + j] < colmin[j]) {
                    colmin[j] = d[ii * n + j];
                    nn21[j] = i0 + ii;
                }
    }
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++)
        if (nn21[nn12[i]] == i) {
            sum += rowmin[i];
            cnt++;
        }
    *dist = cnt ? (double)(float)(sum / (double)cnt) : NAN;
done:
    gc_free(an);
    gc_free(bn);
    gc_free(d);
    gc_free(rowmin);
    gc_free(colmin);
    gc_free(nn12);
    gc_free(nn21);
    return st;
}

/* ---- the whole alignment --------------------------------------------------------------------- */

void gc_align_result_free(gc_align_result *r) {
    gc_free(r->pred);
    gc_free(r->pred_flip);
    gc_free(r->merged);
    gc_free(r->score);
    gc_free(r->score_flip);
    gc_free(r->from_flip);
    gc_free(r->perm_vis);
    gc_free(r->perm_full);
    gc_free(r->kps_flip);
    gc_free(r->imd_min_orig);
    gc_free(r->imd_min_flip);
    gc_free(r->kps_rot);
    memset(r, 0, sizeof *r);
}

gc_status gc_align_points(const float *src, const float *src_flip, const float *trg, int64_t C,
                          const float *src_kps, const float *trg_kps, int64_t K, const gc_flip_table *table,
                          const float *msrc64, const float *msrc_flip64, const float *mtrg64,
                          const gc_match_params *m, bool force_flip, gc_align_result *r) {
    memset(r, 0, sizeof *r);
    r->K = K;
    size_t k = (size_t)K + 1;
    const int64_t P = GC_IMD_RES * GC_IMD_RES;
    const bool imd = msrc64 && msrc_flip64 && mtrg64;
    r->pred = gc_alloc_array(2 * k, sizeof(float));
    r->pred_flip = gc_alloc_array(2 * k, sizeof(float));
    r->merged = gc_alloc_array(2 * k, sizeof(float));
    r->score = gc_alloc_array(k, sizeof(float));
    r->score_flip = gc_alloc_array(k, sizeof(float));
    r->from_flip = gc_calloc(k, sizeof(bool));
    r->perm_vis = gc_alloc_array(k, sizeof(int64_t));
    r->perm_full = gc_alloc_array(k, sizeof(int64_t));
    r->kps_flip = gc_alloc_array(3 * k, sizeof(float));
    if (imd) {
        r->imd_min_orig = gc_alloc_array(P, sizeof(float));
        r->imd_min_flip = gc_alloc_array(P, sizeof(float));
    }
    bool *vis = gc_calloc(k, sizeof(bool));
    int64_t *cells = gc_alloc_array(k, sizeof(int64_t));
    gc_status st = GC_OK;
    if (!r->pred || !r->pred_flip || !r->merged || !r->score || !r->score_flip || !r->from_flip || !r->perm_vis ||
        !r->perm_full || !r->kps_flip || !vis || !cells || (imd && (!r->imd_min_orig || !r->imd_min_flip))) {
        st = GC_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < K; i++) vis[i] = src_kps[3 * i + 2] * (trg_kps ? trg_kps[3 * i + 2] : 1.0f) > 0;
    gc_kps_to_cells(src_kps, K, cells);
    if ((st = gc_match_cells(src, trg, C, cells, K, m, r->pred, NULL, r->score)) != GC_OK) goto done;
    if (table) {
        if ((st = gc_flip_perm(table, K, vis, r->perm_vis)) != GC_OK) goto done;
        if ((st = gc_flip_perm(table, K, NULL, r->perm_full)) != GC_OK) goto done;
    } else {
        for (int64_t i = 0; i < K; i++) r->perm_vis[i] = r->perm_full[i] = i;
    }
    gc_flip_kps(src_kps, K, r->perm_vis, r->kps_flip);
    gc_kps_to_cells(r->kps_flip, K, cells);
    if ((st = gc_match_cells(src_flip, trg, C, cells, K, m, r->pred_flip, NULL, r->score_flip)) != GC_OK)
        goto done;
    if (force_flip) {
        r->dist_orig = r->dist_flip = NAN;
        r->flip_chosen = true;
    } else {
        if (imd) {
            if ((st = gc_imd(src, trg, C, msrc64, mtrg64, &r->dist_orig, r->imd_min_orig, &r->n_min_orig)) != GC_OK ||
                (st = gc_imd(src_flip, trg, C, msrc_flip64, mtrg64, &r->dist_flip, r->imd_min_flip, &r->n_min_flip)) !=
                    GC_OK)
                goto done;
        } else {
            if ((st = gc_mnn_distance(src, trg, GC_CELLS, C, &r->dist_orig)) != GC_OK ||
                (st = gc_mnn_distance(src_flip, trg, GC_CELLS, C, &r->dist_flip)) != GC_OK)
                goto done;
        }
        r->flip_chosen = r->dist_flip < r->dist_orig; /* NaN (empty mask): keep the original */
    }
    r->pose = r->flip_chosen ? GC_POSE_FLIP : GC_POSE_ORIGINAL;
    for (int q = 0; q < GC_N_ROT; q++) r->dist_rot[q] = NAN;
    /* optimized_kps_1_to_2: replace where the point and its unconditional flip partner are mutually visible */
    memcpy(r->merged, r->pred, (size_t)K * 2 * sizeof(float));
    for (int64_t i = 0; i < K && r->flip_chosen; i++) {
        int64_t p = r->perm_full[i];
        float vp = src_kps[3 * p + 2] * (vis[p] ? 1.0f : 0.0f);
        float vt = trg_kps ? trg_kps[3 * i + 2] : 1.0f;
        if (vp * vt * src_kps[3 * i + 2] > 0) {
            r->merged[2 * i] = r->pred_flip[2 * i];
            r->merged[2 * i + 1] = r->pred_flip[2 * i + 1];
            r->from_flip[i] = true;
        }
    }
done:
    gc_free(vis);
    gc_free(cells);
    if (st != GC_OK) gc_align_result_free(r);
    return st;
}

gc_status gc_align_user_points(const float *src, const float *src_flip, const float *trg, int64_t C, const float *kps840,
                               const int64_t *ids, int64_t K, const gc_flip_table *table, const uint8_t *mask_src,
                               const uint8_t *mask_src_flip, const uint8_t *mask_trg, const gc_match_params *m,
                               bool force_flip, gc_align_result *r) {
    memset(r, 0, sizeof *r);
    gc_flip_table kt = {0};
    if (table) {
        int64_t *used = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
        if (!used) return GC_ERR_NOMEM;
        for (int64_t k = 0; k < K; k++) used[k] = ids ? ids[k] : k;
        gc_status st = gc_flip_table_for_points(table, used, K, &kt);
        gc_free(used);
        GC_TRY(st);
    }
    const bool imd = mask_src && mask_src_flip && mask_trg;
    float *m64 = imd ? gc_alloc_array(3 * GC_IMD_RES * GC_IMD_RES, sizeof(float)) : NULL;
    gc_status st = imd && !m64 ? GC_ERR_NOMEM : GC_OK;
    if (st == GC_OK && imd) {
        const uint8_t *mk[3] = {mask_src, mask_src_flip, mask_trg};
        for (int i = 0; i < 3; i++) gc_mask_to64(mk[i], GC_CANVAS_SD, GC_CANVAS_SD, m64 + i * GC_IMD_RES * GC_IMD_RES);
    }
    if (st == GC_OK) {
        const int64_t P = GC_IMD_RES * GC_IMD_RES;
        st = gc_align_points(src, src_flip, trg, C, kps840, NULL, K, table ? &kt : NULL, imd ? m64 : NULL,
                             imd ? m64 + P : NULL, imd ? m64 + 2 * P : NULL, m, force_flip, r);
    }
    gc_free(m64);
    gc_flip_table_free(&kt);
    return st;
}
