/* The public descriptor and matching API of geocorr.h over src/match: descriptors from files, maps
 * or DINOv2; matching in the 840 frame and in original pixels, with adaptive pose alignment. */
#include <math.h>
#include <string.h>

#include "match/poses.h"

/* A heap handle taking over the rows of d. */
static gc_status wrap(gc_descriptors *d, gc_descriptors **out) {
    *out = gc_alloc(sizeof **out);
    if (!*out) {
        gc_desc_clear(d);
        return GC_ERR_NOMEM;
    }
    **out = *d;
    return GC_OK;
}

gc_status gc_descriptors_load(const char *feature_file, const char *map_name, gc_descriptors **out) {
    *out = NULL;
    gc_descriptors d;
    GC_TRY(gc_desc_load(feature_file, map_name, NULL, &d));
    return wrap(&d, out);
}

gc_status gc_descriptors_load_postproc(const char *feature_file, const gc_postproc *pp, gc_descriptors **out) {
    *out = NULL;
    if (!pp) return gc_errorf(GC_ERR_ARG, "%s: no post-processor given for the supervised descriptor", feature_file);
    gc_descriptors d;
    GC_TRY(gc_desc_load(feature_file, NULL, pp, &d));
    return wrap(&d, out);
}

gc_status gc_descriptors_from_maps(const gc_feature_maps *maps, const gc_postproc *pp, gc_descriptors **out) {
    *out = NULL;
    const char *label = "feature maps";
    gc_map_view v[GC_N_MAPS] = {
        {maps->c3 > 0 ? maps->s3 : NULL, maps->c3, maps->g3, maps->g3},
        {maps->c4 > 0 ? maps->s4 : NULL, maps->c4, maps->g4, maps->g4},
        {maps->c5 > 0 ? maps->s5 : NULL, maps->c5, maps->g5, maps->g5},
        {maps->cd > 0 ? maps->dino : NULL, maps->cd, maps->gd, maps->gd},
    };
    GC_TRY(gc_map_views_check_finite(v, label));
    gc_descriptors d;
    GC_TRY(gc_desc_from_views(v, pp, label, &d, NULL));
    return wrap(&d, out);
}

gc_status gc_descriptors_dinov2(gc_dinov2 *m, const gc_image *img, int flip, gc_descriptors **out) {
    *out = NULL;
    gc_descriptors d;
    GC_TRY(gc_desc_from_dinov2(m, img, flip, &d));
    return wrap(&d, out);
}

void gc_descriptors_free(gc_descriptors *d) {
    if (!d) return;
    gc_desc_clear(d);
    gc_free(d);
}

int64_t gc_descriptors_channels(const gc_descriptors *d) { return d->c; }
const float *gc_descriptors_rows(const gc_descriptors *d) { return d->rows; }
const char *gc_descriptors_recipe(const gc_descriptors *d) { return d->recipe; }

void gc_match_params_default(gc_match_params *p) {
    memset(p, 0, sizeof *p);
    p->window = 5;
}

static gc_status check_params(const gc_match_params *p) {
    if (p->window < -GC_GRID || p->window > GC_GRID)
        return gc_errorf(GC_ERR_ARG, "match window %d out of range [-%d, %d]", p->window, GC_GRID, GC_GRID);
    return GC_OK;
}

/* [K,2] points -> [K,3] visible keypoints. */
static float *kps3(const float *pts, int64_t K) {
    float *k3 = gc_alloc_array((size_t)K * 3 + 1, sizeof(float));
    for (int64_t k = 0; k < K && k3; k++) {
        k3[3 * k] = pts[2 * k];
        k3[3 * k + 1] = pts[2 * k + 1];
        k3[3 * k + 2] = 1.0f;
    }
    return k3;
}

static gc_status check_points(const float *pts840, int64_t K) {
    for (int64_t k = 0; k < K; k++)
        if (!(pts840[2 * k] >= 0 && pts840[2 * k] < GC_CANVAS_DINO && pts840[2 * k + 1] >= 0 && pts840[2 * k + 1] < GC_CANVAS_DINO))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the 840x840 frame", (long long)k, pts840[2 * k],
                             pts840[2 * k + 1]);
    return GC_OK;
}

/* Independent matching of visible keypoints k3[K,3] (840 frame) in the original pose. */
static gc_status match_840(const gc_descriptors *src, const gc_descriptors *trg, const float *k3, int64_t K,
                           const gc_match_params *o, float *out840, float *score) {
    int64_t *cells = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
    if (!cells) return GC_ERR_NOMEM;
    gc_kps_to_cells(k3, K, cells);
    gc_status st = gc_match_cells(src->rows, trg->rows, src->c, cells, K, o, out840, NULL, score);
    gc_free(cells);
    return st;
}

gc_status gc_match_points(const gc_descriptors *src, const gc_descriptors *trg, const float *pts840, int64_t K,
                          const gc_match_params *p, float *out840, float *score) {
    GC_TRY(check_params(p));
    GC_TRY(gc_desc_check_pair(src, "source", trg, "target"));
    GC_TRY(check_points(pts840, K));
    float *k3 = kps3(pts840, K);
    gc_status st = k3 ? match_840(src, trg, k3, K, p, out840, score) : GC_ERR_NOMEM;
    gc_free(k3);
    return st;
}

/* The rotations of p->poses on top of r (IMD with the source mask turned like each pose when p has the
 * three masks, else MNN). */
static gc_status align_rotations(const gc_descriptors *src, const gc_descriptors *trg, const float *k3, int64_t K,
                                 const gc_align_params *p, gc_align_result *r) {
    const float *rows[GC_N_ROT] = {0};
    for (int q = 0; q < GC_N_ROT; q++) {
        const gc_descriptors *d = p->poses->src_rot[q];
        if (d) GC_TRY(gc_desc_check_pair(src, "source", d, gc_pose_name(GC_POSE_ROT90 + q)));
        rows[q] = d ? d->rows : NULL;
    }
    const bool imd = p->mask_src && p->mask_src_flip && p->mask_trg;
    const int64_t P = GC_IMD_RES * GC_IMD_RES, S = GC_CANVAS_SD;
    float *m64 = imd ? gc_alloc_array((size_t)(GC_N_ROT + 1) * P, sizeof(float)) : NULL;
    uint8_t *turned = imd ? gc_alloc((size_t)(S * S)) : NULL;
    if (imd && (!m64 || !turned)) return gc_free(m64), gc_free(turned), GC_ERR_NOMEM;
    const float *mrot[GC_N_ROT] = {0};
    for (int q = 0; imd && q < GC_N_ROT; q++) {
        gc_pose_canvas(GC_POSE_ROT90 + q, p->mask_src, (int32_t)S, turned);
        gc_mask_to64(turned, S, S, m64 + q * P);
        mrot[q] = m64 + q * P;
    }
    if (imd) gc_mask_to64(p->mask_trg, S, S, m64 + GC_N_ROT * P);
    gc_status st = gc_align_rotations(rows, trg->rows, src->c, k3, NULL, K, mrot, imd ? m64 + GC_N_ROT * P : NULL, &p->match, r);
    gc_free(m64), gc_free(turned);
    return st;
}

static bool any_rotation(const gc_align_params *p) {
    for (int q = 0; p->poses && q < GC_N_ROT; q++)
        if (p->poses->src_rot[q]) return true;
    return false;
}

/* The alignment of visible keypoints k3[K,3] (840 frame) with 960-canvas masks from p; the outputs of
 * gc_align_match plus the flip partners and the queried points of the extra (each may be NULL). */
static gc_status align_840(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                           const float *k3, const int64_t *ids, int64_t K, const gc_align_params *p, float *out840,
                           float *score, int *from_flip, gc_align_info *info, int64_t *partner, float *query840) {
    GC_TRY(check_params(&p->match));
    GC_TRY(gc_desc_check_pair(src, "source", src_flip, "flipped source"));
    const bool rotations = any_rotation(p);
    if (rotations && p->force_flip)
        return gc_errorf(GC_ERR_ARG, "match: forcing the flipped pose and comparing rotations exclude each other");
    gc_flip_table table = {0};
    const bool have_table = p->flip_table || p->category;
    if (have_table)
        GC_TRY(p->flip_table ? gc_flip_table_load(p->flip_table, p->category, &table) : gc_flip_table_builtin(p->category, &table));
    gc_align_result r = {0};
    gc_status st = gc_align_user_points(src->rows, src_flip->rows, trg->rows, src->c, k3, ids, K, have_table ? &table : NULL,
                                        p->mask_src, p->mask_src_flip, p->mask_trg, &p->match, p->force_flip != 0, &r);
    if (st == GC_OK && rotations) st = align_rotations(src, trg, k3, K, p, &r);
    if (st == GC_OK) {
        memcpy(out840, r.merged, (size_t)K * 2 * sizeof(float));
        for (int64_t k = 0; k < K; k++) {
            if (score) score[k] = r.from_flip[k] ? r.score_flip[k] : r.score[k];
            if (from_flip) from_flip[k] = r.from_flip[k];
            if (partner) partner[k] = gc_pose_is_rotation(r.pose) ? k : r.perm_vis[k];
            if (query840) {
                const float *q = r.kps_rot ? r.kps_rot + 3 * k : r.from_flip[k] ? r.kps_flip + 3 * k : k3 + 3 * k;
                query840[2 * k] = q[0];
                query840[2 * k + 1] = q[1];
            }
        }
        if (info) {
            info->dist_orig = r.dist_orig;
            info->dist_flip = r.dist_flip;
            info->flip_chosen = r.flip_chosen;
            info->pose = r.pose;
            memcpy(info->dist_rot, r.dist_rot, sizeof info->dist_rot);
        }
    }
    gc_align_result_free(&r);
    gc_flip_table_free(&table);
    return st;
}

gc_status gc_align_match(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                         const float *pts840, const int64_t *ids, int64_t K, const gc_align_params *p, float *out840,
                         float *score, int *from_flip, gc_align_info *info) {
    GC_TRY(gc_desc_check_pair(src, "source", trg, "target"));
    GC_TRY(check_points(pts840, K));
    float *k3 = kps3(pts840, K);
    gc_status st = k3 ? align_840(src, src_flip, trg, k3, ids, K, p, out840, score, from_flip, info, NULL, NULL)
                      : GC_ERR_NOMEM;
    gc_free(k3);
    return st;
}

gc_status gc_descriptors_similarity(const gc_descriptors *src, const gc_descriptors *trg, float x840, float y840,
                                    float *sim) {
    GC_TRY(gc_desc_check_pair(src, "source", trg, "target"));
    /* 840 itself is the mirror of column 0 (the flipped pose queries it): the matcher's cell arithmetic decides */
    if (!(x840 >= 0 && x840 <= GC_CANVAS_DINO && y840 >= 0 && y840 <= GC_CANVAS_DINO))
        return gc_errorf(GC_ERR_ARG, "query point (%g, %g) is outside the 840x840 frame", x840, y840);
    const float k3[3] = {x840, y840, 1.0f};
    int64_t cell;
    gc_kps_to_cells(k3, 1, &cell);
    return gc_match_similarity(src->rows, trg->rows, src->n, src->c, &cell, 1, sim);
}

gc_status gc_match_pixels(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                          int32_t src_w, int32_t src_h, int32_t trg_w, int32_t trg_h, const float *pts,
                          const int64_t *ids, int64_t K, const gc_align_params *p, const gc_image *mask_src,
                          const gc_image *mask_trg, float *out, float *score, int *from_flip, gc_align_info *info) {
    return gc_match_pixels_ex(src, src_flip, trg, src_w, src_h, trg_w, trg_h, pts, ids, K, p, mask_src, mask_trg, out,
                              score, from_flip, info, NULL);
}

/* The three 960 canvases (source, mirrored source, target) of the two masks into c[3 * 960 * 960]. */
static gc_status mask_canvases(const gc_image *ms, int32_t sw, int32_t sh, const gc_image *mt, int32_t tw, int32_t th,
                               uint8_t *c) {
    const size_t S2 = (size_t)GC_CANVAS_SD * GC_CANVAS_SD;
    gc_status st = gc_mask_to_canvas(ms, sw, sh, 0, c);
    if (st == GC_OK) st = gc_mask_to_canvas(ms, sw, sh, 1, c + S2);
    if (st != GC_OK) return gc_error_context(st, "source instance mask");
    st = gc_mask_to_canvas(mt, tw, th, 0, c + 2 * S2);
    return st == GC_OK ? st : gc_error_context(st, "target instance mask");
}

gc_status gc_match_pixels_ex(const gc_descriptors *src, const gc_descriptors *src_flip, const gc_descriptors *trg,
                             int32_t src_w, int32_t src_h, int32_t trg_w, int32_t trg_h, const float *pts,
                             const int64_t *ids, int64_t K, const gc_align_params *p, const gc_image *mask_src,
                             const gc_image *mask_trg, float *out, float *score, int *from_flip, gc_align_info *info,
                             gc_match_extra *extra) {
    if (!src || !trg || !p || !pts || !out)
        return gc_errorf(GC_ERR_ARG, "match: the source and target descriptors, the parameters, the points and the output are required");
    if (K < 1) return gc_errorf(GC_ERR_ARG, "match: no points given");
    if ((mask_src != NULL) != (mask_trg != NULL))
        return gc_errorf(GC_ERR_ARG, "match: give the instance masks of both images (source and target) or neither");
    gc_canvas_geom g;
    GC_TRY(gc_canvas_geometry(src_w, src_h, GC_CANVAS_DINO, &g));
    GC_TRY(gc_canvas_geometry(trg_w, trg_h, GC_CANVAS_DINO, &g));
    for (int64_t k = 0; k < K; k++) {
        const float x = pts[2 * k], y = pts[2 * k + 1];
        if (!(x >= 0 && y >= 0 && x < src_w && y < src_h))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the source image (%dx%d)", (long long)k, x, y, src_w,
                             src_h);
    }
    GC_TRY(gc_desc_check_pair(src, "source", trg, "target"));
    if (!src_flip && any_rotation(p))
        return gc_errorf(GC_ERR_ARG, "match: the rotated poses are compared with the original and the flipped one: give the "
                                     "flipped source's descriptors too");
    float *k3 = kps3(pts, K), *o840 = gc_alloc_array((size_t)K * 3, sizeof(float));
    float *q840 = extra && extra->query840 ? gc_alloc_array((size_t)K * 2, sizeof(float)) : NULL;
    uint8_t *canvases = src_flip && mask_src ? gc_alloc((size_t)3 * GC_CANVAS_SD * GC_CANVAS_SD) : NULL;
    gc_status st = k3 && o840 && (q840 || !(extra && extra->query840)) && (canvases || !(src_flip && mask_src))
                       ? GC_OK
                       : GC_ERR_NOMEM;
    if (st == GC_OK) st = gc_kps_to_canvas(k3, K, src_w, src_h, GC_CANVAS_DINO, k3);
    if (st == GC_OK && src_flip) {
        gc_align_params q = *p;
        if (canvases) {
            st = mask_canvases(mask_src, src_w, src_h, mask_trg, trg_w, trg_h, canvases);
            const size_t S2 = (size_t)GC_CANVAS_SD * GC_CANVAS_SD;
            q.mask_src = canvases, q.mask_src_flip = canvases + S2, q.mask_trg = canvases + 2 * S2;
        }
        if (st == GC_OK)
            st = align_840(src, src_flip, trg, k3, ids, K, &q, o840, score, from_flip, info,
                           extra ? extra->partner : NULL, q840);
    } else if (st == GC_OK) {
        st = check_params(&p->match);
        if (st == GC_OK) st = match_840(src, trg, k3, K, &p->match, o840, score);
        for (int64_t k = 0; st == GC_OK && k < K; k++) {
            if (from_flip) from_flip[k] = 0;
            if (extra && extra->partner) extra->partner[k] = k;
            if (q840) q840[2 * k] = k3[3 * k], q840[2 * k + 1] = k3[3 * k + 1];
        }
        if (st == GC_OK && info) {
            info->dist_orig = info->dist_flip = NAN, info->flip_chosen = 0, info->pose = GC_POSE_ORIGINAL;
            for (int q = 0; q < GC_N_ROT; q++) info->dist_rot[q] = NAN;
        }
    }
    if (st == GC_OK && extra) {
        for (int64_t k = 0; k < K; k++) {
            if (extra->src840) extra->src840[2 * k] = k3[3 * k], extra->src840[2 * k + 1] = k3[3 * k + 1];
            if (extra->out840) extra->out840[2 * k] = o840[2 * k], extra->out840[2 * k + 1] = o840[2 * k + 1];
        }
        if (q840) memcpy(extra->query840, q840, (size_t)K * 2 * sizeof(float));
    }
    if (st == GC_OK) {
        /* [K,2] -> visible [K,3] in place (back to front), then to target pixels */
        for (int64_t k = K - 1; k >= 0; k--) {
            const float x = o840[2 * k], y = o840[2 * k + 1];
            o840[3 * k] = x, o840[3 * k + 1] = y, o840[3 * k + 2] = 1.0f;
        }
        st = gc_kps_from_canvas(o840, K, trg_w, trg_h, GC_CANVAS_DINO, o840);
        for (int64_t k = 0; st == GC_OK && k < K; k++) out[2 * k] = o840[3 * k], out[2 * k + 1] = o840[3 * k + 1];
    }
    gc_free(k3);
    gc_free(o840);
    gc_free(q840);
    gc_free(canvases);
    return st;
}
