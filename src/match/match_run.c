#include "match/match_run.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "match/align.h"
#include "match/picture.h"

#define GC_MAX_POINTS 100000

gc_status gc_points_parse(const char *text, float **xy, int64_t *K) {
    *xy = NULL;
    *K = 0;
    int64_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ';';
    if (cap > GC_MAX_POINTS) return gc_errorf(GC_ERR_ARG, "--points: more than %d points", GC_MAX_POINTS);
    float *v = malloc((size_t)cap * 2 * sizeof(float));
    if (!v) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    const char *p = text;
    int64_t k = 0;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || *end != ',') goto bad;
        p = end + 1;
        double y = strtod(p, &end);
        if (end == p || (*end && *end != ';') || !isfinite(x) || !isfinite(y)) goto bad;
        v[2 * k] = (float)x;
        v[2 * k + 1] = (float)y;
        k++;
        p = *end ? end + 1 : end;
    }
    if (k == 0) goto bad;
    *xy = v;
    *K = k;
    return GC_OK;
bad:
    free(v);
    return gc_errorf(GC_ERR_ARG, "--points '%s': expected \"x1,y1;x2,y2;...\" in source image pixels", text);
}

gc_status gc_points_load(const char *path, float **xy, int64_t **ids, int64_t *K) {
    *xy = NULL;
    *ids = NULL;
    *K = 0;
    char *text;
    size_t len;
    GC_TRY(gc_read_file(path, &text, &len, 64u << 20));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *arr = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "points") : root;
    gc_status st = GC_OK;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > GC_MAX_POINTS) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: expected a non-empty list of points ([x, y] or {\"x\", \"y\"[, \"id\"]})", path);
        goto done;
    }
    float *v = malloc((size_t)n * 2 * sizeof(float));
    int64_t *id = malloc((size_t)n * sizeof(int64_t));
    if (!v || !id) {
        free(v);
        free(id);
        st = gc_errorf(GC_ERR_NOMEM, "out of memory");
        goto done;
    }
    bool have_ids = false;
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *x, *y, *i = NULL;
        if (cJSON_IsArray(it) && cJSON_GetArraySize(it) >= 2) {
            x = cJSON_GetArrayItem(it, 0);
            y = cJSON_GetArrayItem(it, 1);
        } else {
            x = cJSON_GetObjectItemCaseSensitive(it, "x");
            y = cJSON_GetObjectItemCaseSensitive(it, "y");
            i = cJSON_GetObjectItemCaseSensitive(it, "id");
        }
        if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y) || (i && (!cJSON_IsNumber(i) || i->valuedouble < 0 ||
                                                               i->valuedouble != floor(i->valuedouble)))) {
            free(v);
            free(id);
            st = gc_errorf(GC_ERR_FORMAT, "%s: point %d is not [x, y] / {\"x\", \"y\"[, \"id\"]} with numbers", path, k);
            goto done;
        }
        if (i) have_ids = true;
        v[2 * k] = (float)x->valuedouble;
        v[2 * k + 1] = (float)y->valuedouble;
        id[k] = i ? (int64_t)i->valuedouble : -1;
        k++;
    }
    if (have_ids)
        for (int j = 0; j < n; j++)
            if (id[j] < 0) {
                free(v);
                free(id);
                st = gc_errorf(GC_ERR_FORMAT, "%s: give an \"id\" for every point or for none", path);
                goto done;
            }
    if (!have_ids) {
        free(id);
        id = NULL;
    }
    *xy = v;
    *ids = id;
    *K = n;
done:
    cJSON_Delete(root);
    return st;
}

/* ---- the command ---------------------------------------------------------------------------- */

typedef struct {
    gc_desc src, trg, src_flip;
    bool have_flip;
    gc_flip_table table;     /* as given */
    bool have_table;
    float *kps840;           /* [K,3] source points in the 840 frame */
    float *match_xy;         /* [K,2] result, original target pixels */
    float *match840;         /* [K,2] */
    float *score;            /* [K] */
    bool *from_flip;         /* [K] */
    gc_align_result ar;
    bool aligned;
    uint8_t *mask[3];        /* 960x960 canvases: src, src flipped, trg */
    float *sim;              /* [3600] heat map row */
    gc_image si, ti;         /* source and target images */
} run_state;

static void run_state_free(run_state *s) {
    gc_desc_free(&s->src);
    gc_desc_free(&s->trg);
    gc_desc_free(&s->src_flip);
    gc_flip_table_free(&s->table);
    gc_free(s->kps840);
    gc_free(s->match_xy);
    gc_free(s->match840);
    gc_free(s->score);
    gc_free(s->from_flip);
    gc_align_result_free(&s->ar);
    for (int i = 0; i < 3; i++) gc_free(s->mask[i]);
    gc_free(s->sim);
    gc_image_free(&s->si);
    gc_image_free(&s->ti);
}

static cJSON *json_xy(double x, double y) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(x));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(y));
    return a;
}

static cJSON *json_num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static gc_status write_json(const gc_match_request *r, const run_state *s, const gc_image *si, const gc_image *ti,
                            const gc_match_opts *mo, const char *align_mode, const char *distance) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "src", r->src_image);
    cJSON_AddStringToObject(root, "tgt", r->trg_image);
    cJSON_AddItemToObject(root, "src_size", json_xy(si->w, si->h));
    cJSON_AddItemToObject(root, "tgt_size", json_xy(ti->w, ti->h));
    cJSON_AddStringToObject(root, "frame", "points in original pixels; *_840 in the 840x840 annotation frame");
    cJSON *d = cJSON_AddObjectToObject(root, "descriptor");
    cJSON_AddStringToObject(d, "recipe", s->src.recipe);
    cJSON_AddNumberToObject(d, "channels", (double)s->src.c);
    cJSON *m = cJSON_AddObjectToObject(root, "matching");
    cJSON_AddStringToObject(m, "method", mo->hard ? "hard argmax" : mo->window > 0 ? "window soft-argmax"
                                                    : mo->window == 0 ? "soft-argmax" : "gaussian-kernel soft-argmax");
    cJSON_AddNumberToObject(m, "window", mo->window);
    cJSON_AddBoolToObject(m, "exclude_outside", mo->exclude_outside);
    cJSON *a = cJSON_AddObjectToObject(root, "align");
    cJSON_AddStringToObject(a, "mode", align_mode);
    if (s->aligned) {
        cJSON_AddStringToObject(a, "distance", distance);
        cJSON_AddItemToObject(a, "dist_orig", json_num_or_null(s->ar.dist_orig));
        cJSON_AddItemToObject(a, "dist_flip", json_num_or_null(s->ar.dist_flip));
        cJSON_AddBoolToObject(a, "flip_chosen", s->ar.flip_chosen);
        cJSON_AddItemToObject(a, "flip_table", r->flip_table ? cJSON_CreateString(r->flip_table)
                                               : r->category ? cJSON_CreateString(r->category) : cJSON_CreateNull());
    }
    cJSON *pts = cJSON_AddArrayToObject(root, "points");
    for (int64_t k = 0; k < r->K; k++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "index", (double)k);
        if (r->ids) cJSON_AddNumberToObject(p, "id", (double)r->ids[k]);
        cJSON_AddItemToObject(p, "src", json_xy(r->points[2 * k], r->points[2 * k + 1]));
        cJSON_AddItemToObject(p, "src_840", json_xy(s->kps840[3 * k], s->kps840[3 * k + 1]));
        cJSON_AddItemToObject(p, "match", json_xy(s->match_xy[2 * k], s->match_xy[2 * k + 1]));
        cJSON_AddItemToObject(p, "match_840", json_xy(s->match840[2 * k], s->match840[2 * k + 1]));
        cJSON_AddNumberToObject(p, "score", s->score[k]);
        cJSON_AddStringToObject(p, "pose", s->from_flip[k] ? "flipped" : "original");
        if (s->aligned && s->from_flip[k] && s->ar.perm_vis[k] != k) cJSON_AddNumberToObject(p, "flip_partner", (double)s->ar.perm_vis[k]);
        cJSON_AddItemToArray(pts, p);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n';
    gc_status st = gc_write_file_atomic(r->out_json, text, n + 1);
    free(text);
    return st;
}

static gc_status load_features(const gc_match_request *r, run_state *s, bool want_flip) {
    if (r->dinov2) {
        if (r->features_src || r->features_trg || r->features_src_flip || r->feature_map || r->postproc)
            return gc_errorf(GC_ERR_ARG, "match: --dinov2 computes the features; do not combine it with --features-* / --feature-map / --postproc");
        gc_dinov2 *m;
        GC_TRY(gc_dinov2_load(r->dinov2, &m));
        gc_status st = gc_desc_from_dinov2(m, &s->si, 0, &s->src);
        if (st == GC_OK) st = gc_desc_from_dinov2(m, &s->ti, 0, &s->trg);
        if (st == GC_OK && want_flip) {
            st = gc_desc_from_dinov2(m, &s->si, 1, &s->src_flip);
            s->have_flip = st == GC_OK;
        }
        gc_dinov2_free(m);
        return st;
    }
    if (!r->features_src || !r->features_trg)
        return gc_errorf(GC_ERR_ARG, "match: give --features-src F --features-tgt F (or --dinov2 PATH)");
    if (r->postproc && r->feature_map)
        return gc_errorf(GC_ERR_ARG, "match: --postproc computes the supervised descriptor; do not combine it with --feature-map");
    gc_postproc pp = {0};
    if (r->postproc) GC_TRY(gc_postproc_open(&pp, r->postproc));
    const char *paths[3] = {r->features_src, r->features_trg, r->features_src_flip};
    gc_desc *descs[3] = {&s->src, &s->trg, &s->src_flip};
    gc_status st = GC_OK;
    for (int i = 0; st == GC_OK && i < 3 && paths[i]; i++) {
        st = r->postproc ? gc_desc_load_postproc(&pp, paths[i], descs[i]) : gc_desc_load(paths[i], r->feature_map, descs[i]);
        if (st == GC_OK && i > 0) st = gc_desc_check_pair(&s->src, r->features_src, descs[i], paths[i]);
    }
    s->have_flip = st == GC_OK && r->features_src_flip;
    gc_postproc_free(&pp);
    return st;
}

static gc_status run(const gc_match_request *r, run_state *s) {
    if (r->K < 1) return gc_errorf(GC_ERR_ARG, "match: no points given (--points or --points-file)");
    GC_TRY(gc_image_load(r->src_image, &s->si));
    GC_TRY(gc_image_load(r->trg_image, &s->ti));
    const int sw = s->si.w, sh = s->si.h, tw = s->ti.w, th = s->ti.h;
    int64_t K = r->K;
    s->kps840 = gc_alloc_array((size_t)K * 3, sizeof(float));
    s->match_xy = gc_alloc_array((size_t)K * 2, sizeof(float));
    s->match840 = gc_alloc_array((size_t)K * 2, sizeof(float));
    s->score = gc_alloc_array((size_t)K, sizeof(float));
    s->from_flip = gc_calloc((size_t)K, sizeof(bool));
    if (!s->kps840 || !s->match_xy || !s->match840 || !s->score || !s->from_flip) return GC_ERR_NOMEM;
    for (int64_t k = 0; k < K; k++) {
        float x = r->points[2 * k], y = r->points[2 * k + 1];
        if (!(x >= 0 && y >= 0 && x < sw && y < sh))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the source image %s (%dx%d)", (long long)k, x, y,
                             r->src_image, sw, sh);
        s->kps840[3 * k] = x;
        s->kps840[3 * k + 1] = y;
        s->kps840[3 * k + 2] = 1.0f;
    }
    gc_kps_to_canvas(s->kps840, K, sw, sh, GC_ANNO, s->kps840);
    if (r->heatmap_idx >= K) return gc_errorf(GC_ERR_ARG, "--heatmap %lld: only %lld points", (long long)r->heatmap_idx, (long long)K);
    if ((r->heatmap_idx >= 0) != (r->heatmap_out != NULL))
        return gc_errorf(GC_ERR_ARG, "match: --heatmap IDX and --heatmap-out H.png go together");
    const char *mode = r->align ? r->align : "auto";
    if (strcmp(mode, "auto") && strcmp(mode, "off") && strcmp(mode, "flip"))
        return gc_errorf(GC_ERR_ARG, "--align '%s': expected auto, off or flip", mode);
    if ((r->mask_src != NULL) != (r->mask_trg != NULL))
        return gc_errorf(GC_ERR_ARG, "match: --mask-src and --mask-tgt go together");
    if (r->flip_table || r->category) {
        GC_TRY(r->flip_table ? gc_flip_table_load(r->flip_table, r->category, &s->table)
                             : gc_flip_table_builtin(r->category, &s->table));
        s->have_table = true;
    }

    GC_TRY(load_features(r, s, strcmp(mode, "off") != 0));
    gc_match_opts mo = {.hard = r->hard, .exclude_outside = r->exclude_outside};
    const bool supervised = strncmp(s->src.recipe, "map:", 4) == 0 || strcmp(s->src.recipe, "postproc") == 0;
    mo.window = r->window != INT_MIN ? r->window : supervised ? 7 : 5;
    if (mo.window < -GC_GRID || mo.window > GC_GRID) return gc_errorf(GC_ERR_ARG, "--window %d out of range", mo.window);

    bool do_align = strcmp(mode, "off") != 0;
    const char *align_mode = mode;
    if (do_align && !s->have_flip) {
        if (!strcmp(mode, "flip")) return gc_errorf(GC_ERR_ARG, "--align flip needs --features-src-flip (features of the mirrored source)");
        fprintf(stderr, "geocorr match: no flipped source features (--features-src-flip): pose alignment off\n");
        do_align = false;
        align_mode = "off (no flipped source features)";
    }
    const char *distance = "none";
    if (do_align) {
        bool imd = r->mask_src && !r->mnn;
        if (imd) {
            const char *paths[3] = {r->mask_src, r->mask_src, r->mask_trg};
            for (int i = 0; i < 3; i++) {
                if (!(s->mask[i] = gc_alloc(960 * 960))) return GC_ERR_NOMEM;
                GC_TRY(gc_mask_canvas_load(paths[i], i < 2 ? sw : tw, i < 2 ? sh : th, i == 1, s->mask[i]));
            }
        }
        distance = imd ? "imd" : "mnn";
        gc_align_opts ao = {.match = mo, .mnn = !imd, .force_flip = !strcmp(mode, "flip")};
        GC_TRY(gc_align_user_points(s->src.rows, s->src_flip.rows, s->trg.rows, s->src.c, s->kps840, r->ids, K,
                                    s->have_table ? &s->table : NULL, s->mask[0], s->mask[1], s->mask[2], &ao, &s->ar));
        s->aligned = true;
        memcpy(s->match840, s->ar.merged, (size_t)K * 2 * sizeof(float));
        for (int64_t k = 0; k < K; k++) {
            s->from_flip[k] = s->ar.from_flip[k];
            s->score[k] = s->from_flip[k] ? s->ar.score_flip[k] : s->ar.score[k];
        }
    } else {
        int64_t *cells = gc_alloc_array((size_t)K, sizeof(int64_t));
        if (!cells) return GC_ERR_NOMEM;
        gc_kps_to_cells(s->kps840, K, cells);
        gc_status st = gc_match_cells(s->src.rows, s->trg.rows, s->src.c, cells, K, &mo, s->match840, NULL, s->score);
        gc_free(cells);
        GC_TRY(st);
    }
    float *m3 = gc_alloc_array((size_t)K * 3, sizeof(float));
    if (!m3) return GC_ERR_NOMEM;
    for (int64_t k = 0; k < K; k++) {
        m3[3 * k] = s->match840[2 * k];
        m3[3 * k + 1] = s->match840[2 * k + 1];
        m3[3 * k + 2] = 1.0f;
    }
    gc_kps_from_canvas(m3, K, tw, th, GC_ANNO, m3);
    for (int64_t k = 0; k < K; k++) {
        s->match_xy[2 * k] = m3[3 * k];
        s->match_xy[2 * k + 1] = m3[3 * k + 1];
    }
    gc_free(m3);
    if (r->picture || r->heatmap_out) {
        gc_status st = GC_OK;
        if (r->picture) st = gc_picture_matches(r->picture, &s->si, &s->ti, r->points, s->match_xy, K);
        if (st == GC_OK && r->heatmap_out) {
            /* similarity of the query from the pose that gave its match */
            int64_t q = r->heatmap_idx, cell;
            bool fl = s->from_flip[q];
            gc_kps_to_cells(fl ? s->ar.kps_flip + 3 * q : s->kps840 + 3 * q, 1, &cell);
            if (!(s->sim = gc_alloc_array(GC_CELLS, sizeof(float)))) st = GC_ERR_NOMEM;
            if (st == GC_OK)
                st = gc_match_similarity(fl ? s->src_flip.rows : s->src.rows, s->trg.rows, GC_CELLS, s->src.c, &cell, 1, s->sim);
            if (st == GC_OK) st = gc_picture_heatmap(r->heatmap_out, &s->si, &s->ti, r->points + 2 * q, s->match_xy + 2 * q, s->sim);
        }
        GC_TRY(st);
    }
    return write_json(r, s, &s->si, &s->ti, &mo, align_mode, distance);
}

gc_status gc_match_run(const gc_match_request *r) {
    run_state s;
    memset(&s, 0, sizeof s);
    gc_status st = run(r, &s);
    run_state_free(&s);
    return st;
}
