/* The outputs of `geocorr match` (match_output.h). */
#include "cli/match_output.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gc_status gc_match_result_init(gc_match_result *r, int64_t K) {
    r->K = K;
    r->out = gc_alloc_array((size_t)K * 2, sizeof(float));
    r->score = gc_alloc_array((size_t)K, sizeof(float));
    r->from_flip = gc_calloc((size_t)K, sizeof(int));
    r->extra.src840 = gc_alloc_array((size_t)K * 2, sizeof(float));
    r->extra.query840 = gc_alloc_array((size_t)K * 2, sizeof(float));
    r->extra.out840 = gc_alloc_array((size_t)K * 2, sizeof(float));
    r->extra.partner = gc_alloc_array((size_t)K, sizeof(int64_t));
    if (r->out && r->score && r->from_flip && r->extra.src840 && r->extra.query840 && r->extra.out840 && r->extra.partner)
        return GC_OK;
    gc_match_result_free(r);
    return GC_ERR_NOMEM;
}

void gc_match_result_free(gc_match_result *r) {
    gc_free(r->out);
    gc_free(r->score);
    gc_free(r->from_flip);
    gc_free(r->extra.src840);
    gc_free(r->extra.query840);
    gc_free(r->extra.out840);
    gc_free(r->extra.partner);
    r->out = r->score = NULL;
    r->from_flip = NULL;
    memset(&r->extra, 0, sizeof r->extra);
}

gc_status gc_match_run(gc_match_result *r, int64_t K, const gc_descriptors *src, const gc_descriptors *src_flip,
                       const gc_descriptors *trg, const gc_match_options *o) {
    r->recipe = gc_descriptors_recipe(src);
    r->channels = gc_descriptors_channels(src);
    r->align_mode = o->align;
    r->distance = "none";
    r->flip_table = NULL;
    r->poses = o->poses;
    GC_TRY(gc_match_result_init(r, K));
    const bool supervised = strncmp(r->recipe, "map:", 4) == 0 || strcmp(r->recipe, "postproc") == 0;
    r->match = (gc_match_params){.window = o->window != INT_MIN ? o->window : supervised ? 7 : 5, .hard = o->hard,
                                 .exclude_outside = o->exclude_outside};
    r->aligned = src_flip != NULL;
    if (strcmp(o->align, "off") != 0 && !src_flip) {
        if (!strcmp(o->align, "flip"))
            return gc_errorf(GC_ERR_ARG, "--align flip needs --features-src-flip (features of the mirrored source)");
        r->align_mode = "off (no flipped source features)";
    }
    const bool imd = r->aligned && o->mask_src;
    r->mask_src = imd ? o->mask_src : NULL;
    r->mask_tgt = imd ? o->mask_trg : NULL;
    if (r->aligned) {
        r->distance = imd ? "imd" : "mnn";
        r->flip_table = o->flip_table ? o->flip_table : o->category;
    }
    const gc_align_params ap = {.match = r->match, .category = o->category, .flip_table = o->flip_table,
                                .force_flip = !strcmp(o->align, "flip"), .poses = r->poses};
    return gc_match_pixels_ex(src, src_flip, trg, r->src->w, r->src->h, r->tgt->w, r->tgt->h, r->points, r->ids, K, &ap,
                              r->mask_src, r->mask_tgt, r->out, r->score, r->from_flip, &r->info,
                              &r->extra);
}

static cJSON *json_xy(double x, double y) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(x));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(y));
    return a;
}

static cJSON *json_num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static const char *method_name(const gc_match_params *m) {
    return m->hard ? "hard argmax" : m->window > 0 ? "window soft-argmax" : m->window == 0 ? "soft-argmax" : "gaussian-kernel soft-argmax";
}

/* What every result says before its points: the images, the descriptor, the matching and the alignment. */
static cJSON *json_header(const gc_match_result *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "src", r->src_name);
    cJSON_AddStringToObject(root, "tgt", r->tgt_name);
    cJSON_AddItemToObject(root, "src_size", json_xy(r->src->w, r->src->h));
    cJSON_AddItemToObject(root, "tgt_size", json_xy(r->tgt->w, r->tgt->h));
    cJSON_AddStringToObject(root, "frame", "points in original pixels; *_840 in the 840x840 annotation frame");
    cJSON *d = cJSON_AddObjectToObject(root, "descriptor");
    cJSON_AddStringToObject(d, "recipe", r->recipe);
    cJSON_AddNumberToObject(d, "channels", (double)r->channels);
    cJSON *m = cJSON_AddObjectToObject(root, "matching");
    cJSON_AddStringToObject(m, "method", method_name(&r->match));
    cJSON_AddNumberToObject(m, "window", r->match.window);
    cJSON_AddBoolToObject(m, "exclude_outside", r->match.exclude_outside);
    cJSON *a = cJSON_AddObjectToObject(root, "align");
    cJSON_AddStringToObject(a, "mode", r->align_mode);
    if (r->aligned) {
        cJSON_AddStringToObject(a, "distance", r->distance);
        cJSON_AddItemToObject(a, "dist_orig", json_num_or_null(r->info.dist_orig));
        cJSON_AddItemToObject(a, "dist_flip", json_num_or_null(r->info.dist_flip));
        cJSON_AddBoolToObject(a, "flip_chosen", r->info.flip_chosen);
        cJSON_AddItemToObject(a, "flip_table", r->flip_table ? cJSON_CreateString(r->flip_table) : cJSON_CreateNull());
        if (r->poses) { /* rotations compared (beyond the released code): each one's distance and the winner */
            for (int q = 0; q < 3; q++) {
                if (!r->poses->src_rot[q]) continue;
                char key[32];
                snprintf(key, sizeof key, "dist_%s", gc_pose_name(GC_POSE_ROT90 + q));
                cJSON_AddItemToObject(a, key, json_num_or_null(r->info.dist_rot[q]));
            }
            cJSON_AddStringToObject(a, "pose_chosen", gc_pose_name(r->info.pose));
        }
    }
    return root;
}

cJSON *gc_match_json_object(const gc_match_result *r) {
    cJSON *root = json_header(r);
    cJSON *pts = cJSON_AddArrayToObject(root, "points");
    for (int64_t k = 0; k < r->K; k++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "index", (double)k);
        if (r->ids) cJSON_AddNumberToObject(p, "id", (double)r->ids[k]);
        cJSON_AddItemToObject(p, "src", json_xy(r->points[2 * k], r->points[2 * k + 1]));
        cJSON_AddItemToObject(p, "src_840", json_xy(r->extra.src840[2 * k], r->extra.src840[2 * k + 1]));
        cJSON_AddItemToObject(p, "match", json_xy(r->out[2 * k], r->out[2 * k + 1]));
        cJSON_AddItemToObject(p, "match_840", json_xy(r->extra.out840[2 * k], r->extra.out840[2 * k + 1]));
        cJSON_AddNumberToObject(p, "score", r->score[k]);
        /* a rotation that wins gives every point (all user points are visible) */
        const bool turned = r->aligned && r->info.pose >= GC_POSE_ROT90;
        cJSON_AddStringToObject(p, "pose", r->from_flip[k] ? "flipped" : turned ? gc_pose_name(r->info.pose) : "original");
        if (r->aligned && r->from_flip[k] && r->extra.partner[k] != k)
            cJSON_AddNumberToObject(p, "flip_partner", (double)r->extra.partner[k]);
        cJSON_AddItemToArray(pts, p);
    }
    return root;
}

gc_status gc_json_text(const cJSON *j, char **text) {
    *text = NULL;
    char *t = j ? cJSON_Print(j) : NULL;
    size_t n = t ? strlen(t) : 0;
    char *full = t ? realloc(t, n + 2) : NULL;
    if (!full) {
        free(t);
        return gc_errorf(GC_ERR_NOMEM, "out of memory (match JSON)");
    }
    full[n] = '\n';
    full[n + 1] = 0;
    *text = full;
    return GC_OK;
}

gc_status gc_match_json(const gc_match_result *r, char **text) {
    cJSON *root = gc_match_json_object(r);
    gc_status s = gc_json_text(root, text);
    cJSON_Delete(root);
    return s;
}

/* ---- dense mode: the match of every source cell ------------------------------------------------- */

/* One [60][60] array of the points' values by cell (null where no point is): `dim` numbers per point
 * from v (dim 1: a number, 2: [x, y]). */
static cJSON *json_grid(const gc_match_result *r, const int64_t *cells, const float *v, int dim) {
    cJSON *rows = cJSON_CreateArray();
    cJSON **at = calloc(GC_DENSE_CELLS, sizeof *at);
    for (int64_t k = 0; at && k < r->K; k++)
        at[cells[k]] = dim == 2 ? json_xy(v[2 * k], v[2 * k + 1]) : cJSON_CreateNumber(v[k]);
    for (int y = 0; at && y < GC_DENSE_GRID; y++) {
        cJSON *row = cJSON_CreateArray();
        for (int x = 0; x < GC_DENSE_GRID; x++) {
            cJSON *e = at[y * GC_DENSE_GRID + x];
            cJSON_AddItemToArray(row, e ? e : cJSON_CreateNull());
        }
        cJSON_AddItemToArray(rows, row);
    }
    if (!at) cJSON_Delete(rows), rows = NULL;
    free(at);
    return rows;
}

cJSON *gc_match_dense_object(const gc_match_result *r, const int64_t *cells) {
    cJSON *root = json_header(r), *d = cJSON_AddObjectToObject(root, "dense");
    cJSON_AddNumberToObject(d, "grid", GC_DENSE_GRID);
    cJSON_AddNumberToObject(d, "cells_in_source", (double)r->K);
    cJSON_AddStringToObject(d, "layout", "[row][column] of the source's 60x60 cells: cell (c, r) is the source point "
                                         "(14c + 7, 14r + 7) of the 840 frame; null where that point is outside the image");
    cJSON_AddItemToObject(root, "match", json_grid(r, cells, r->out, 2));
    cJSON_AddItemToObject(root, "match_840", json_grid(r, cells, r->extra.out840, 2));
    cJSON_AddItemToObject(root, "score", json_grid(r, cells, r->score, 1));
    return root;
}

gc_status gc_match_dense_save(const gc_match_result *r, const int64_t *cells, const cJSON *meta, const char *path) {
    const size_t n = GC_DENSE_CELLS;
    float *xy = gc_alloc_array(n * 2, sizeof(float)), *xy840 = gc_alloc_array(n * 2, sizeof(float));
    float *score = gc_alloc_array(n, sizeof(float));
    uint8_t *inside = gc_calloc(n, 1);
    char *meta_text = meta ? cJSON_PrintUnformatted(meta) : NULL;
    gc_st_writer *wr = gc_st_writer_new();
    gc_status s = xy && xy840 && score && inside && meta_text && wr ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == GC_OK && i < 2 * n; i++) xy[i] = xy840[i] = NAN;
    for (size_t i = 0; s == GC_OK && i < n; i++) score[i] = NAN;
    for (int64_t k = 0; s == GC_OK && k < r->K; k++) {
        const int64_t c = cells[k];
        inside[c] = 1;
        score[c] = r->score[k];
        for (int j = 0; j < 2; j++) xy[2 * c + j] = r->out[2 * k + j], xy840[2 * c + j] = r->extra.out840[2 * k + j];
    }
    const int64_t g = GC_DENSE_GRID;
    if (s == GC_OK) s = gc_st_writer_add(wr, "match", GC_DT_F32, 3, (const int64_t[]){g, g, 2}, xy);
    if (s == GC_OK) s = gc_st_writer_add(wr, "match_840", GC_DT_F32, 3, (const int64_t[]){g, g, 2}, xy840);
    if (s == GC_OK) s = gc_st_writer_add(wr, "score", GC_DT_F32, 2, (const int64_t[]){g, g}, score);
    if (s == GC_OK) s = gc_st_writer_add(wr, "inside", GC_DT_U8, 2, (const int64_t[]){g, g}, inside);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "match", meta_text);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    free(meta_text);
    gc_free(xy), gc_free(xy840), gc_free(score), gc_free(inside);
    return s;
}

gc_status gc_match_picture(const gc_match_result *r, gc_image *out) {
    return gc_picture_matches_masked(r->src, r->tgt, r->points, r->out, r->K, r->mask_src, r->mask_tgt, out);
}

gc_status gc_match_sheet(const gc_image *rows, int n, gc_image *out) {
    memset(out, 0, sizeof *out);
    int w = 1, h = 0;
    for (int i = 0; i < n; i++) w = GC_MAX(w, rows[i].w), h += rows[i].h + (i ? GC_SHEET_GAP : 0);
    GC_TRY(gc_image_alloc(out, w, GC_MAX(h, 1)));
    memset(out->rgb, 255, (size_t)out->w * out->h * 3);
    for (int i = 0, y0 = 0; i < n; y0 += rows[i].h + GC_SHEET_GAP, i++)
        for (int y = 0; y < rows[i].h; y++)
            memcpy(out->rgb + ((size_t)(y0 + y) * out->w) * 3, rows[i].rgb + (size_t)y * rows[i].w * 3, (size_t)rows[i].w * 3);
    return GC_OK;
}

/* sim[3600]: the similarity map of point q from the pose that gave its match. */
static gc_status query_similarity(const gc_match_result *r, int64_t q, const gc_descriptors *src, const gc_descriptors *src_flip,
                                  const gc_descriptors *trg, float *sim) {
    if (q < 0 || q >= r->K) return gc_errorf(GC_ERR_ARG, "heat map of point %lld: only %lld points", (long long)q, (long long)r->K);
    const bool fl = r->from_flip[q];
    if (fl && !src_flip) return gc_errorf(GC_ERR_ARG, "heat map of point %lld: its match came from the flipped source", (long long)q);
    const gc_descriptors *from = fl ? src_flip : src;
    if (r->aligned && r->info.pose >= GC_POSE_ROT90) {
        if (!r->poses || !r->poses->src_rot[r->info.pose - GC_POSE_ROT90])
            return gc_errorf(GC_ERR_ARG, "heat map of point %lld: its match came from the %s source", (long long)q,
                             gc_pose_name(r->info.pose));
        from = r->poses->src_rot[r->info.pose - GC_POSE_ROT90];
    }
    return gc_descriptors_similarity(from, trg, r->extra.query840[2 * q], r->extra.query840[2 * q + 1], sim);
}

gc_status gc_match_heatmap(const gc_match_result *r, int64_t q, const gc_descriptors *src, const gc_descriptors *src_flip,
                           const gc_descriptors *trg, bool target_only, gc_image *out) {
    memset(out, 0, sizeof *out);
    float *sim = gc_alloc_array(3600, sizeof(float));
    if (!sim) return GC_ERR_NOMEM;
    gc_status s = query_similarity(r, q, src, src_flip, trg, sim);
    if (s == GC_OK)
        s = target_only ? gc_picture_similarity(r->tgt, sim, out)
                        : gc_picture_heatmap(r->src, r->tgt, r->points + 2 * q, r->out + 2 * q, sim, out);
    gc_free(sim);
    return s;
}
