#include "match/descriptor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/dinov2.h"
#include "models/postproc.h"

void gc_normalize_rows(float *x, int64_t n, int64_t c, int64_t ld, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *v = x + i * ld;
        /* 8 independent double accumulators: vectorisable without reassociation flags */
        double acc[8] = {0};
        int64_t k = 0;
        for (; k + 8 <= c; k += 8)
            for (int j = 0; j < 8; j++) acc[j] += (double)v[k + j] * v[k + j];
        for (; k < c; k++) acc[0] += (double)v[k] * v[k];
        double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        float d = (float)sqrt(s) + eps;
        for (k = 0; k < c; k++) v[k] /= d;
    }
}

void gc_desc_zeroshot(float *x, int64_t n, int64_t c_sd, int64_t c_dino) {
    int64_t c = c_sd + c_dino;
    if (c_sd > 0) gc_normalize_rows(x, n, c_sd, c, 1e-10f);
    if (c_dino > 0) gc_normalize_rows(x + c_sd, n, c_dino, c, 1e-10f);
    gc_normalize_rows(x, n, c, c, 1e-10f);
}

const char *const gc_map_names[GC_N_MAPS] = {"s3", "s4", "s5", "dino"};

static gc_status check_finite(const gc_map_view *v, const char *label, const char *name) {
    for (int64_t i = 0; i < v->c * v->h * v->w; i++)
        if (!isfinite(v->data[i]))
            return gc_errorf(GC_ERR_FORMAT, "%s: feature map '%s' holds a non-finite value (NaN or Inf) at element %lld",
                             label, name, (long long)i);
    return GC_OK;
}

gc_status gc_map_views_check_finite(const gc_map_view v[GC_N_MAPS], const char *label) {
    for (int i = 0; i < GC_N_MAPS; i++)
        if (v[i].data) GC_TRY(check_finite(&v[i], label, gc_map_names[i]));
    return GC_OK;
}

/* Map `name` of w as [c,h,w] (a leading 1 allowed); GC_ERR_MISSING when absent. */
static gc_status get_map(gc_weights *w, const char *name, gc_map_view *v) {
    const gc_tensor_ref *t = gc_weights_find(w, name);
    if (!t) return GC_ERR_MISSING;
    char buf[96];
    int nd = t->ndim;
    const int64_t *s = t->shape;
    if (nd == 4 && s[0] == 1) {
        nd = 3;
        s++;
    }
    if (nd != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: feature map '%s' has shape %s, expected [C,H,W] or [1,C,H,W]",
                         gc_weights_label(w), name, gc_shape_str(t->ndim, t->shape, buf, sizeof buf));
    GC_TRY(gc_weights_f32(w, name, t->ndim, t->shape, &v->data));
    v->c = s[0];
    v->h = s[1];
    v->w = s[2];
    return check_finite(v, gc_weights_label(w), name);
}

gc_status gc_map_views_from_weights(gc_weights *w, bool dino_only, gc_map_view v[GC_N_MAPS]) {
    memset(v, 0, GC_N_MAPS * sizeof *v);
    for (int i = dino_only ? GC_MAP_DINO : 0; i < GC_N_MAPS; i++) {
        gc_status s = get_map(w, gc_map_names[i], &v[i]);
        if (s != GC_ERR_MISSING) GC_TRY(s);
    }
    return GC_OK;
}

static gc_status check_grid(const char *label, const char *name, const gc_map_view *v) {
    if (v->h != GC_GRID || v->w != GC_GRID)
        return gc_errorf(GC_ERR_SHAPE, "%s: map '%s' is on a %lldx%lld grid; matching needs %dx%d (840-pixel input, patch 14)",
                         label, name, (long long)v->h, (long long)v->w, GC_GRID, GC_GRID);
    return GC_OK;
}

/* The zero-shot recipe (s3, s4, s5, dino) or dino alone. */
static gc_status desc_zeroshot(const gc_map_view v[GC_N_MAPS], const char *label, gc_descriptors *out, float **fused_out) {
    int n_sd = (v[GC_MAP_S3].data != NULL) + (v[GC_MAP_S4].data != NULL) + (v[GC_MAP_S5].data != NULL);
    if (n_sd != 0 && n_sd != 3)
        return gc_errorf(GC_ERR_MISSING, "%s: has %d of the SD maps s3, s4, s5; the zero-shot descriptor needs all three (or none, for DINO alone)",
                         label, n_sd);
    if (!v[GC_MAP_DINO].data)
        return gc_errorf(GC_ERR_MISSING, "%s: no feature map 'dino' (a `geocorr features` file holds dino [D,60,60] and optionally s3, s4, s5)", label);
    GC_TRY(check_grid(label, "dino", &v[GC_MAP_DINO]));
    if (n_sd) GC_TRY(check_grid(label, "s3", &v[GC_MAP_S3]));
    const int64_t c_sd = n_sd ? v[GC_MAP_S3].c + v[GC_MAP_S4].c + v[GC_MAP_S5].c : 0;
    return n_sd ? gc_desc_from_maps(v, GC_N_MAPS, c_sd, "zeroshot", out, fused_out)
                : gc_desc_from_maps(&v[GC_MAP_DINO], 1, 0, "dino", out, fused_out);
}

gc_status gc_desc_from_views(const gc_map_view v[GC_N_MAPS], const gc_postproc *pp, const char *label,
                             gc_descriptors *out, float **fused_out) {
    memset(out, 0, sizeof *out);
    if (fused_out) *fused_out = NULL;
    if (!pp) return desc_zeroshot(v, label, out, fused_out);
    float *x = gc_alloc_array((size_t)(pp->cin * GC_CELLS), sizeof(float));
    gc_status s = x ? gc_postproc_input(pp, v, label, x) : gc_error_context(GC_ERR_NOMEM, "post-processor input");
    if (s == GC_OK && (s = gc_desc_postproc_fused(pp, x, out)) != GC_OK) s = gc_error_context(s, "%s", label);
    gc_free(x);
    return s;
}

gc_status gc_desc_from_weights(gc_weights *w, const char *map_name, const gc_postproc *pp, gc_descriptors *out,
                               float **fused_out) {
    memset(out, 0, sizeof *out);
    if (fused_out) *fused_out = NULL;
    const char *label = gc_weights_label(w);
    if (!map_name) {
        gc_map_view v[GC_N_MAPS];
        GC_TRY(gc_map_views_from_weights(w, pp && pp->n_groups == 1, v));
        return gc_desc_from_views(v, pp, label, out, fused_out);
    }
    gc_map_view m;
    gc_status s = get_map(w, map_name, &m);
    if (s == GC_ERR_MISSING) return gc_errorf(s, "%s: no feature map named '%s'", label, map_name);
    GC_TRY(s);
    GC_TRY(check_grid(label, map_name, &m));
    char recipe[sizeof out->recipe];
    snprintf(recipe, sizeof recipe, "map:%s", map_name);
    return gc_desc_from_maps(&m, 1, 0, recipe, out, fused_out);
}

gc_status gc_desc_from_maps(const gc_map_view *maps, int n_maps, int64_t c_sd, const char *recipe, gc_descriptors *out,
                            float **fused_out) {
    memset(out, 0, sizeof *out);
    snprintf(out->recipe, sizeof out->recipe, "%s", recipe);
    if (fused_out) *fused_out = NULL;
    int64_t c = 0;
    for (int i = 0; i < n_maps; i++) c += maps[i].c;
    float *rows = gc_alloc_array((size_t)GC_CELLS * (size_t)c, sizeof(float));
    if (!rows) return GC_ERR_NOMEM;
    gc_status s = gc_fuse_maps(rows, maps, n_maps, GC_GRID, true);
    if (s != GC_OK) {
        gc_free(rows);
        return s;
    }
    if (fused_out) {
        *fused_out = gc_alloc_array((size_t)GC_CELLS * (size_t)c, sizeof(float));
        if (!*fused_out) {
            gc_free(rows);
            return GC_ERR_NOMEM;
        }
        memcpy(*fused_out, rows, (size_t)GC_CELLS * (size_t)c * sizeof(float));
    }
    if (c_sd > 0)
        gc_desc_zeroshot(rows, GC_CELLS, c_sd, c - c_sd);
    else
        gc_normalize_rows(rows, GC_CELLS, c, c, 1e-10f);
    out->n = GC_CELLS;
    out->c = c;
    out->rows = rows;
    return GC_OK;
}

gc_status gc_desc_load(const char *path, const char *map_name, const gc_postproc *pp, gc_descriptors *out) {
    memset(out, 0, sizeof *out);
    if (map_name && pp) return gc_errorf(GC_ERR_ARG, "%s: a named map is a finished descriptor; no post-processor applies", path);
    gc_weights *w;
    GC_TRY(gc_weights_open(path, &w));
    gc_status s = gc_desc_from_weights(w, map_name, pp, out, NULL);
    gc_weights_free(w);
    return s;
}

gc_status gc_postproc_input_dims(gc_weights *w, int *n_groups, int64_t *fd) {
    gc_map_view v[GC_N_MAPS];
    GC_TRY(gc_map_views_from_weights(w, false, v));
    if (!v[GC_MAP_S3].data) { /* a DINO-only cache */
        if (!v[GC_MAP_DINO].data) return gc_errorf(GC_ERR_MISSING, "%s: no feature map 's3' or 'dino'", gc_weights_label(w));
        *n_groups = 1;
        fd[0] = v[GC_MAP_DINO].c;
        return GC_OK;
    }
    *n_groups = GC_PP_GROUPS;
    for (int i = 0; i < GC_PP_GROUPS; i++) {
        if (!v[i].data)
            return gc_errorf(GC_ERR_MISSING, "%s: no feature map '%s' (a post-processor takes s3, s4, s5 and dino, or dino alone)",
                             gc_weights_label(w), gc_map_names[i]);
        fd[i] = v[i].c;
    }
    return GC_OK;
}

gc_status gc_postproc_input(const gc_postproc *pp, const gc_map_view v[GC_N_MAPS], const char *label, float *x) {
    /* the post-processor's groups are v[first..] (all four, or dino alone) */
    const int first = pp->n_groups == 1 ? GC_MAP_DINO : 0;
    for (int i = 0; i < pp->n_groups; i++) {
        const gc_map_view *m = &v[first + i];
        if (!m->data)
            return gc_errorf(GC_ERR_MISSING, "%s: no feature map '%s' (the post-processor takes %s)", label,
                             gc_map_names[first + i], pp->n_groups == 1 ? "dino" : "s3, s4, s5 and dino");
        if (m->c != pp->fd[i])
            return gc_errorf(GC_ERR_SHAPE, "%s: map '%s' has %lld channels; the post-processor's block %d takes %lld", label,
                             gc_map_names[first + i], (long long)m->c, i, (long long)pp->fd[i]);
    }
    GC_TRY(check_grid(label, "dino", &v[GC_MAP_DINO]));
    if (pp->n_groups == 1) { /* DINO only: the map is the input */
        memcpy(x, v[GC_MAP_DINO].data, (size_t)(v[GC_MAP_DINO].c * GC_CELLS) * sizeof(float));
        return GC_OK;
    }
    GC_TRY(check_grid(label, "s3", &v[GC_MAP_S3]));
    gc_status s = gc_fuse_maps(x, v, GC_N_MAPS, GC_GRID, false);
    return s == GC_OK ? s : gc_error_context(s, "%s", label);
}

gc_status gc_desc_postproc_fused(const gc_postproc *pp, const float *x, gc_descriptors *out) {
    memset(out, 0, sizeof *out);
    const int64_t HW = GC_CELLS, P = pp->proj;
    float *y = gc_alloc_array((size_t)(P * HW), sizeof(float));
    float *norm = gc_alloc_array((size_t)HW, sizeof(float));
    float *rows = gc_alloc_array((size_t)(P * HW), sizeof(float));
    gc_status s = y && norm && rows ? GC_OK : gc_error_context(GC_ERR_NOMEM, "post-processed descriptor");
    if (s == GC_OK) s = gc_postproc_forward(pp, x, GC_GRID, GC_GRID, y, NULL, NULL);
    if (s == GC_OK) gc_postproc_descriptors(rows, norm, y, P, HW);
    gc_free(y);
    gc_free(norm);
    if (s != GC_OK) {
        gc_free(rows);
        return s;
    }
    out->n = HW;
    out->c = P;
    out->rows = rows;
    snprintf(out->recipe, sizeof out->recipe, "postproc");
    return GC_OK;
}

void gc_desc_clear(gc_descriptors *d) {
    gc_free(d->rows);
    d->rows = NULL;
}

gc_status gc_desc_check_pair(const gc_descriptors *a, const char *label_a, const gc_descriptors *b, const char *label_b) {
    if (strcmp(a->recipe, b->recipe) != 0 || a->c != b->c)
        return gc_errorf(GC_ERR_SHAPE, "features of different models: %s gives a %s descriptor of %lld channels, %s a %s descriptor of %lld",
                         label_a, a->recipe, (long long)a->c, label_b, b->recipe, (long long)b->c);
    return GC_OK;
}

gc_status gc_desc_tokens_view(gc_weights *w, const char *name, int64_t *C, const float **rows) {
    const gc_tensor_ref *t = gc_weights_find(w, name);
    if (!t) return gc_errorf(GC_ERR_MISSING, "%s: no tensor '%s'", gc_weights_label(w), name);
    bool ok = (t->ndim == 3 && t->shape[0] == 1 && t->shape[1] == GC_CELLS) || (t->ndim == 2 && t->shape[0] == GC_CELLS);
    char buf[96];
    if (!ok || t->shape[t->ndim - 1] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' has shape %s, expected token rows [1,%d,C] or [%d,C]",
                         gc_weights_label(w), name, gc_shape_str(t->ndim, t->shape, buf, sizeof buf), GC_CELLS, GC_CELLS);
    *C = t->shape[t->ndim - 1];
    return gc_weights_f32(w, name, t->ndim, t->shape, rows);
}

gc_status gc_kps_view(gc_weights *w, const char *name, int64_t *K, const float **kps) {
    const gc_tensor_ref *t = gc_weights_find(w, name);
    if (!t) return gc_errorf(GC_ERR_MISSING, "%s: no tensor '%s'", gc_weights_label(w), name);
    GC_TRY(GC_WEIGHT(w, name, kps, -1, 3));
    *K = t->shape[0];
    return GC_OK;
}

gc_status gc_desc_from_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors *out) {
    gc_dinov2_info info;
    gc_dinov2_info_get(m, &info);
    gc_image canvas = {0};
    float *px = gc_alloc_array(3 * GC_CANVAS_DINO * GC_CANVAS_DINO, sizeof(float));
    float *feat = gc_alloc_array((size_t)(info.dim * GC_CELLS), sizeof(float));
    gc_status st = px && feat ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) st = gc_image_to_canvas(img, GC_CANVAS_DINO, flip, &canvas, NULL);
    if (st == GC_OK) {
        gc_dinov2_normalize_u8(px, canvas.rgb, GC_CANVAS_DINO, GC_CANVAS_DINO);
        st = gc_dinov2_features(m, px, GC_CANVAS_DINO, GC_CANVAS_DINO, feat);
    }
    if (st == GC_OK) {
        gc_map_view v = {feat, info.dim, GC_GRID, GC_GRID};
        st = gc_desc_from_maps(&v, 1, 0, "dino", out, NULL);
    }
    gc_image_free(&canvas);
    gc_free(px);
    gc_free(feat);
    return st;
}
