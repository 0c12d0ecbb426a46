/* The public matching API of geocorr.h over src/match. */
#include <math.h>
#include <string.h>

#include "match/align.h"

struct gc_descriptors {
    gc_desc d;
};

static gc_status wrap(gc_desc *d, gc_descriptors **out) {
    *out = gc_calloc(1, sizeof **out);
    if (!*out) {
        gc_desc_free(d);
        return GC_ERR_NOMEM;
    }
    (*out)->d = *d;
    return GC_OK;
}

gc_status gc_descriptors_load(const char *feature_file, const char *map_name, gc_descriptors **out) {
    *out = NULL;
    gc_desc d;
    GC_TRY(gc_desc_load(feature_file, map_name, &d));
    return wrap(&d, out);
}

gc_status gc_descriptors_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors **out) {
    *out = NULL;
    gc_desc d;
    GC_TRY(gc_desc_from_dinov2(m, img, flip, &d));
    return wrap(&d, out);
}

void gc_descriptors_free(gc_descriptors *d) {
    if (!d) return;
    gc_desc_free(&d->d);
    gc_free(d);
}

int64_t gc_descriptors_channels(const gc_descriptors *d) { return d->d.c; }
const float *gc_descriptors_rows(const gc_descriptors *d) { return d->d.rows; }

void gc_match_params_default(gc_match_params *p) {
    memset(p, 0, sizeof *p);
    p->window = 5;
}

static gc_status to_opts(const gc_match_params *p, gc_match_opts *o) {
    if (p->window < -GC_GRID || p->window > GC_GRID)
        return gc_errorf(GC_ERR_ARG, "match window %d out of range [-%d, %d]", p->window, GC_GRID, GC_GRID);
    o->hard = p->hard != 0;
    o->window = p->window;
    o->exclude_outside = p->exclude_outside != 0;
    return GC_OK;
}

/* [K,2] points -> [K,3] visible keypoints. */
static float *kps3(const float *pts840, int64_t K) {
    float *k3 = gc_alloc_array((size_t)K * 3 + 1, sizeof(float));
    for (int64_t k = 0; k < K && k3; k++) {
        k3[3 * k] = pts840[2 * k];
        k3[3 * k + 1] = pts840[2 * k + 1];
        k3[3 * k + 2] = 1.0f;
    }
    return k3;
}

static gc_status check_points(const float *pts840, int64_t K) {
    for (int64_t k = 0; k < K; k++)
        if (!(pts840[2 * k] >= 0 && pts840[2 * k] < GC_ANNO && pts840[2 * k + 1] >= 0 && pts840[2 * k + 1] < GC_ANNO))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the 840x840 frame", (long long)k, pts840[2 * k],
                             pts840[2 * k + 1]);
    return GC_OK;
}

gc_status gc_match_points(const gc_descriptors *src, const gc_descriptors *trg, const float *pts840, int64_t K,
                          const gc_match_params *p, float *out840, float *score) {
    gc_match_opts o;
    GC_TRY(to_opts(p, &o));
    GC_TRY(gc_desc_check_pair(&src->d, "source", &trg->d, "target"));
    GC_TRY(check_points(pts840, K));
    float *k3 = kps3(pts840, K);
    int64_t *cells = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
    gc_status st = k3 && cells ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) {
        gc_kps_to_cells(k3, K, cells);
        st = gc_match_cells(src->d.rows, trg->d.rows, src->d.c, cells, K, &o, out840, NULL, score);
    }
    gc_free(k3);
    gc_free(cells);
    return st;
}

gc_status gc_align_match(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                         const float *pts840, const int64_t *ids, int64_t K, const gc_align_params *p, float *out840,
                         float *score, int *from_flip, gc_align_info *info) {
    gc_align_opts o = {.force_flip = p->force_flip != 0};
    GC_TRY(to_opts(&p->match, &o.match));
    GC_TRY(gc_desc_check_pair(&src->d, "source", &trg->d, "target"));
    GC_TRY(gc_desc_check_pair(&src->d, "source", &src_flip->d, "flipped source"));
    GC_TRY(check_points(pts840, K));
    gc_flip_table table = {0};
    bool have_table = p->flip_table || p->category;
    if (have_table)
        GC_TRY(p->flip_table ? gc_flip_table_load(p->flip_table, p->category, &table) : gc_flip_table_builtin(p->category, &table));
    float *k3 = kps3(pts840, K);
    gc_align_result r = {0};
    gc_status st = k3 ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK)
        st = gc_align_user_points(src->d.rows, src_flip->d.rows, trg->d.rows, src->d.c, k3, ids, K, have_table ? &table : NULL,
                                  p->mask_src, p->mask_src_flip, p->mask_trg, &o, &r);
    if (st == GC_OK) {
        memcpy(out840, r.merged, (size_t)K * 2 * sizeof(float));
        for (int64_t k = 0; k < K; k++) {
            if (score) score[k] = r.from_flip[k] ? r.score_flip[k] : r.score[k];
            if (from_flip) from_flip[k] = r.from_flip[k];
        }
        if (info) {
            info->dist_orig = r.dist_orig;
            info->dist_flip = r.dist_flip;
            info->flip_chosen = r.flip_chosen;
        }
    }
    gc_align_result_free(&r);
    gc_free(k3);
    gc_flip_table_free(&table);
    return st;
}
