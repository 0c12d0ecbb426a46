/* Steps 1-5 of the pose-awareness test for one target (pose_test/README.md): co-PCA per pair and SD
 * layer, the SD descriptor, the fusion with DINO, the mask at 128x128 and the IMD to every template. */
#include "analysis/pose_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/co_pca.h"
#include "match/align.h"
#include "match/descriptor.h"
#include "tensor/resample.h"

enum { L5, L4, L3, LD };
static const char *const k_layer[4] = {"s5", "s4", "s3", "dino"};

gc_status gc_pose_features_parse(const char *name, gc_pose_features *out) {
    static const char *const names[3] = {"fused", "dino", "sd"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) return *out = (gc_pose_features)i, GC_OK;
    return gc_errorf(GC_ERR_ARG, "--features '%s': expected fused, dino or sd", name ? name : "");
}

const char *gc_pose_features_name(gc_pose_features f) { return f == GC_POSE_DINO ? "dino" : f == GC_POSE_SD ? "sd" : "fused"; }

void gc_pose_pair_free(gc_pose_pair *p) {
    for (int l = 0; l < 3; l++) gc_free(p->sv[l]);
    memset(p, 0, sizeof *p);
}

gc_status gc_pose_check_maps(const gc_pose_maps *t, const gc_pose_maps *s, gc_pose_features f, const char *what) {
    for (int l = 0; l < 4; l++) {
        bool need = l == LD ? f != GC_POSE_SD : f != GC_POSE_DINO;
        if (!need) continue;
        if (!t->x[l] || !s->x[l])
            return gc_errorf(GC_ERR_MISSING, "%s: no %s map (the %s test needs it)", what, k_layer[l], gc_pose_features_name(f));
        if (s->c[l] < 1 || s->h[l] < 1 || s->w[l] < 1 || s->c[l] != t->c[l] || s->h[l] != t->h[l] || s->w[l] != t->w[l])
            return gc_errorf(GC_ERR_SHAPE, "%s: %s map is [%lld, %lld, %lld], the templates' [%lld, %lld, %lld]", what,
                             k_layer[l], (long long)s->c[l], (long long)s->h[l], (long long)s->w[l], (long long)t->c[l],
                             (long long)t->h[l], (long long)t->w[l]);
        if ((l == L3 || l == LD) && (s->h[l] != GC_GRID || s->w[l] != GC_GRID))
            return gc_errorf(GC_ERR_SHAPE, "%s: %s map is %lldx%lld; the descriptor grid is %dx%d", what, k_layer[l],
                             (long long)s->h[l], (long long)s->w[l], GC_GRID, GC_GRID);
    }
    return GC_OK;
}

/* [C, n] map -> [n, ldo] rows (first C columns), each row optionally divided by its L2 norm (no epsilon,
 * as the reference: a zero row gives NaN). */
static void to_rows(const float *map, int64_t C, int64_t n, bool normalise, float *rows, int64_t ldo) {
    for (int64_t p = 0; p < n; p++) {
        float *r = rows + p * ldo;
        double ss = 0;
        for (int64_t c = 0; c < C; c++) {
            r[c] = map[c * n + p];
            ss += (double)r[c] * r[c];
        }
        if (!normalise) continue;
        float nrm = (float)sqrt(ss);
        for (int64_t c = 0; c < C; c++) r[c] /= nrm;
    }
}

/* The SD descriptor of one image from its co-PCA maps y[L] = [q[L], h, w]: s5 bilinear to s4's grid and
 * appended after s4, that bilinear to s3's grid and appended after s3: desc [q3 + q4 + q5, 60, 60]. */
static gc_status sd_descriptor(const gc_pose_maps *m, float *const y[3], const int64_t q[3], float *desc) {
    int64_t n4 = m->h[L4] * m->w[L4], n3 = GC_CELLS;
    float *s45 = gc_alloc_array((size_t)((q[L4] + q[L5]) * n4), sizeof(float));
    if (!s45) return GC_ERR_NOMEM;
    memcpy(s45, y[L4], (size_t)(q[L4] * n4) * sizeof(float));
    gc_status st = gc_resize_bilinear(s45 + q[L4] * n4, y[L5], q[L5], m->h[L5], m->w[L5], m->h[L4], m->w[L4]);
    memcpy(desc, y[L3], (size_t)(q[L3] * n3) * sizeof(float));
    if (st == GC_OK) st = gc_resize_bilinear(desc + q[L3] * n3, s45, q[L4] + q[L5], m->h[L4], m->w[L4], GC_GRID, GC_GRID);
    gc_free(s45);
    return st;
}

/* Checksums of T, S [n, D] (row stride ld), in float64. */
static gc_status desc_sums(const float *T, const float *S, int64_t n, int64_t D, int64_t ld, gc_pose_desc_sums *o) {
    memset(o, 0, sizeof *o);
    double *ct = gc_calloc((size_t)(2 * D + 2 * D * D), sizeof(double));
    if (!ct) return GC_ERR_NOMEM;
    double *cs = ct + D, *gt = cs + D, *gs = gt + D * D;
    for (int64_t p = 0; p < n; p++)
        for (int64_t i = 0; i < D; i++) {
            double t = T[p * ld + i], s = S[p * ld + i];
            ct[i] += t, cs[i] += s;
            o->template_sumabs += fabs(t), o->target_sumabs += fabs(s);
            for (int64_t j = 0; j < D; j++) {
                gt[i * D + j] += t * T[p * ld + j];
                gs[i * D + j] += s * S[p * ld + j];
            }
        }
    /* ||T S^T||_F^2 = trace(T^T T S^T S) */
    double fro = 0;
    for (int64_t i = 0; i < D; i++) {
        o->colsum_dot += ct[i] * cs[i];
        o->template_colsum_sq += ct[i] * ct[i];
        o->target_colsum_sq += cs[i] * cs[i];
        for (int64_t j = 0; j < D; j++) fro += gt[i * D + j] * gs[i * D + j];
    }
    o->cross_fro = sqrt(GC_MAX(fro, 0.0));
    gc_free(ct);
    return GC_OK;
}

/* Work space of one target against the templates. */
typedef struct {
    int64_t q[3];           /* PCA dims asked of each pair's co-PCA (the buffers' widths) */
    int64_t r[3], dsd, D;   /* this pair: components kept (gc_co_pca's rank); SD descriptor width; descriptor width */
    float *y[2][3];         /* co-PCA maps [q, h*w] of template (0) and target (1) */
    float *sd[2];           /* SD descriptors [dsd, 60, 60] */
    float *rows[2];         /* descriptor rows [3600, D] */
    float m128[GC_POSE_RES * GC_POSE_RES];
} pose_work;

static void work_free(pose_work *w) {
    for (int i = 0; i < 2; i++) {
        for (int l = 0; l < 3; l++) gc_free(w->y[i][l]);
        gc_free(w->sd[i]);
        gc_free(w->rows[i]);
    }
}

static gc_status work_init(pose_work *w, const gc_pose_maps *s, const gc_pose_opts *o) {
    memset(w, 0, sizeof *w);
    bool sd = o->features != GC_POSE_DINO;
    for (int l = 0; l < 3 && sd; l++) {
        int64_t n = s->h[l] * s->w[l];
        if (o->pca_q[l] < 1) return gc_errorf(GC_ERR_ARG, "PCA dimension of %s is %lld; it must be at least 1", k_layer[l], (long long)o->pca_q[l]);
        w->q[l] = GC_MIN(o->pca_q[l], GC_MIN(2 * n, s->c[l]));
        w->dsd += w->q[l]; /* the widest; each pair's may be narrower */
        for (int i = 0; i < 2; i++)
            if (!(w->y[i][l] = gc_alloc_array((size_t)(w->q[l] * n), sizeof(float)))) return GC_ERR_NOMEM;
    }
    w->D = o->features == GC_POSE_FUSED ? w->dsd + s->c[LD] : sd ? w->dsd : s->c[LD];
    for (int i = 0; i < 2; i++) {
        if (sd && !(w->sd[i] = gc_alloc_array((size_t)(w->dsd * GC_CELLS), sizeof(float)))) return GC_ERR_NOMEM;
        if (!(w->rows[i] = gc_alloc_array((size_t)(w->D * GC_CELLS), sizeof(float)))) return GC_ERR_NOMEM;
    }
    return GC_OK;
}

/* The descriptor rows of one image of the pair (i = 0 template, 1 target) for the mode. */
static gc_status image_rows(pose_work *w, const gc_pose_maps *m, int i, gc_pose_features f) {
    if (f != GC_POSE_DINO) GC_TRY(sd_descriptor(m, w->y[i], w->r, w->sd[i]));
    if (f == GC_POSE_SD) to_rows(w->sd[i], w->dsd, GC_CELLS, false, w->rows[i], w->D);
    if (f == GC_POSE_DINO) to_rows(m->x[LD], m->c[LD], GC_CELLS, false, w->rows[i], w->D);
    if (f == GC_POSE_FUSED) {
        to_rows(w->sd[i], w->dsd, GC_CELLS, true, w->rows[i], w->D);
        to_rows(m->x[LD], m->c[LD], GC_CELLS, true, w->rows[i] + w->dsd, w->D);
    }
    return GC_OK;
}

/* One (template, target) pair: co-PCA, descriptors, IMD; diagnostics into pair when given. */
static gc_status pair_distance(pose_work *w, const gc_pose_maps *t, const gc_pose_maps *s, gc_pose_features f, float *dist,
                               gc_pose_pair *pair) {
    if (f != GC_POSE_DINO)
        for (int l = 0; l < 3; l++) {
            double *sv = NULL;
            if (pair) {
                pair->q[l] = w->q[l];
                if (!(sv = pair->sv[l] = gc_alloc_array((size_t)w->q[l], sizeof(double)))) return GC_ERR_NOMEM;
            }
            gc_status st = gc_co_pca(t->x[l], s->x[l], t->c[l], t->h[l] * t->w[l], w->q[l], w->y[0][l], w->y[1][l], sv,
                                     &w->r[l]);
            if (st != GC_OK) return gc_error_context(st, "co-PCA of %s", k_layer[l]);
        }
    if (f != GC_POSE_DINO) {
        w->dsd = w->r[L5] + w->r[L4] + w->r[L3];
        w->D = f == GC_POSE_FUSED ? w->dsd + t->c[LD] : w->dsd;
    }
    GC_TRY(image_rows(w, t, 0, f));
    GC_TRY(image_rows(w, s, 1, f));
    if (pair && f == GC_POSE_FUSED) {
        pair->has_desc = true;
        GC_TRY(desc_sums(w->rows[0], w->rows[1], GC_CELLS, w->dsd, w->D, &pair->sd));
        GC_TRY(desc_sums(w->rows[0], w->rows[1], GC_CELLS, w->D, w->D, &pair->fused));
    }
    /* the target photo is the IMD's source (masked), the template its target (not masked) */
    double d;
    GC_TRY(gc_imd_at(w->rows[1], w->rows[0], w->D, GC_POSE_RES, w->m128, NULL, &d, NULL, NULL));
    *dist = (float)d;
    return GC_OK;
}

gc_status gc_pose_target(const gc_pose_maps *templates, const gc_pose_maps *target, const uint8_t *mask, int64_t H,
                         int64_t W, const gc_pose_opts *o, gc_pose_result *r, gc_pose_pair *pairs) {
    memset(r, 0, sizeof *r);
    if (pairs) memset(pairs, 0, GC_POSE_TEMPLATES * sizeof *pairs);
    for (int k = 0; k < GC_POSE_TEMPLATES; k++) {
        char what[32];
        snprintf(what, sizeof what, "template %d", k);
        GC_TRY(gc_pose_check_maps(&templates[0], &templates[k], o->features, what));
    }
    GC_TRY(gc_pose_check_maps(&templates[0], target, o->features, "target"));
    if (mask && (H < 1 || W < 1)) return gc_errorf(GC_ERR_SHAPE, "target mask is %lldx%lld", (long long)H, (long long)W);
    pose_work *w = gc_alloc(sizeof *w);
    if (!w) return GC_ERR_NOMEM;
    gc_status st = work_init(w, target, o);
    /* the mask at 128x128: nearest, or all ones when it has fewer than 6 ones (or is absent) */
    int64_t ones = 0;
    for (int64_t i = 0; mask && i < H * W && ones < GC_POSE_MIN_MASK; i++) ones += mask[i] != 0;
    if (ones < GC_POSE_MIN_MASK)
        for (int64_t p = 0; p < GC_POSE_RES * GC_POSE_RES; p++) w->m128[p] = 1.0f;
    else
        gc_mask_nearest(mask, H, W, 0, GC_POSE_RES, w->m128);
    for (int64_t p = 0; p < GC_POSE_RES * GC_POSE_RES; p++) r->n_masked += w->m128[p] == 1.0f;
    for (int k = 0; k < GC_POSE_TEMPLATES && st == GC_OK; k++) {
        st = pair_distance(w, &templates[k], target, o->features, &r->distances[k], pairs ? &pairs[k] : NULL);
        if (st != GC_OK) gc_error_context(st, "template %d", k);
    }
    work_free(w);
    gc_free(w);
    if (st != GC_OK) {
        for (int k = 0; pairs && k < GC_POSE_TEMPLATES; k++) gc_pose_pair_free(&pairs[k]);
        return st;
    }
    gc_pose_vote(r);
    return GC_OK;
}
