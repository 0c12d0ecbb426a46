/* Report output (JSON structure of TRACE.md §4 and the stdout table) and the predictions file reader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/errors.h"
#include "eval/pck.h"
#include "io/config.h"

void gc_report_alpha_key(double a, char *buf, size_t n) { snprintf(buf, n, "%.10g", a); }

/* %.17g: cJSON's own printer drops digits that a relative-epsilon check deems insignificant, and PCK
 * values must round-trip exactly. */
void gc_report_add_num(cJSON *o, const char *k, double v) {
    char buf[32];
    if (!isfinite(v)) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    snprintf(buf, sizeof buf, "%.17g", v);
    cJSON_AddRawToObject(o, k, buf);
}

static void add_alphas(cJSON *o, const gc_pck_report *r, const gc_pck_cell *c) {
    for (int a = 0; a < r->opts.n_alpha; a++) {
        char k[32];
        gc_report_alpha_key(r->opts.alpha[a], k, sizeof k);
        gc_report_add_num(o, k, c->pck[a]);
    }
}

static cJSON *cell_obj(const gc_pck_report *r, const gc_pck_cell *c) {
    cJSON *o = cJSON_CreateObject();
    add_alphas(o, r, c);
    cJSON_AddNumberToObject(o, "n", (double)c->n);
    return o;
}

/* {"overall": {alpha: pck}, "n": count, "categories": {name: {alpha: pck, "n": count}}} */
static cJSON *block(const gc_pck_report *r, const gc_pck_cell *overall, size_t cell_off, bool geo_only) {
    cJSON *b = cJSON_CreateObject(), *ov = cJSON_CreateObject(), *cats = cJSON_CreateObject();
    add_alphas(ov, r, overall);
    cJSON_AddItemToObject(b, "overall", ov);
    cJSON_AddNumberToObject(b, "n", (double)overall->n);
    for (int c = 0; c < r->n_cats; c++) {
        if (geo_only && !r->cats[c].has_geo) continue;
        const gc_pck_cell *cell = (const gc_pck_cell *)((const char *)&r->cats[c] + cell_off);
        cJSON_AddItemToObject(cats, r->cats[c].name, cell_obj(r, cell));
    }
    cJSON_AddItemToObject(b, "categories", cats);
    return b;
}

cJSON *gc_pck_report_json(const gc_pck_report *r, const gc_eval_set *set, const char *protocol) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "dataset", gc_dataset_kind_name(set->kind));
    cJSON_AddStringToObject(j, "protocol", protocol);
    cJSON_AddStringToObject(j, "threshold", r->opts.img_threshold || set->kind == GC_DS_PFPASCAL ? "image" : "bbox");
    cJSON *al = cJSON_AddArrayToObject(j, "alphas");
    for (int a = 0; a < r->opts.n_alpha; a++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.17g", r->opts.alpha[a]);
        cJSON_AddItemToArray(al, cJSON_CreateRaw(buf));
    }
    cJSON_AddItemToObject(j, "per_image", block(r, &r->img, offsetof(gc_pck_category, img), false));
    cJSON_AddItemToObject(j, "per_keypoint", block(r, &r->kpt, offsetof(gc_pck_category, kpt), false));
    cJSON *used = cJSON_AddObjectToObject(j, "used_points");
    for (int c = 0; c < r->n_cats; c++)
        cJSON_AddItemToObject(used, r->cats[c].name, cJSON_CreateIntArray(r->cats[c].used, r->cats[c].n_used));
    if (r->opts.geo && set->kind != GC_DS_PFPASCAL) {
        cJSON *g = cJSON_AddObjectToObject(j, "geo");
        cJSON *pi = cJSON_CreateObject(), *ov = cJSON_CreateObject(), *cats = cJSON_CreateObject();
        add_alphas(ov, r, &r->geo_img);
        cJSON_AddItemToObject(pi, "overall", ov);
        cJSON_AddNumberToObject(pi, "n", (double)r->geo_img.n);
        for (int k = 0; k < r->n_geo_img; k++)
            cJSON_AddItemToObject(cats, r->geo_img_cats[k].name, cell_obj(r, &r->geo_img_cats[k].cell));
        cJSON_AddItemToObject(pi, "categories", cats);
        cJSON_AddStringToObject(pi, "path", "reference per-image (utils/eval_spair.py: raw ids, image-annotation "
                                            "thresholds, categories = source image folder)");
        cJSON_AddItemToObject(g, "per_image", pi);
        cJSON *pr = block(r, &r->geo_kpt_ref, offsetof(gc_pck_category, geo_kpt_ref), true);
        cJSON_AddStringToObject(pr, "path", "reference per-keypoint (compute_pck: groups renumbered by a running "
                                            "counter in list order; overall = geo-keypoint-weighted mean)");
        cJSON_AddItemToObject(g, "per_keypoint_reference", pr);
        cJSON *pk = block(r, &r->geo_kpt, offsetof(gc_pck_category, geo_kpt), true);
        cJSON_AddStringToObject(pk, "path", "corrected per-keypoint (groups mapped by keypoint id; pooled)");
        cJSON_AddItemToObject(g, "per_keypoint", pk);
        gc_report_add_num(g, "image_ratio", r->image_ratio);
        gc_report_add_num(g, "point_ratio", r->point_ratio);
    }
    if (r->errors) cJSON_AddItemToObject(j, "errors", gc_errors_report_json(r->errors));
    if (r->has_az) {
        cJSON *az = cJSON_AddObjectToObject(j, "azimuth");
        cJSON *bins = cJSON_AddArrayToObject(az, "bins");
        for (int k = 0; k < 5; k++) {
            cJSON *b = cell_obj(r, &r->az[k]);
            cJSON_AddNumberToObject(b, "az", k);
            cJSON_AddItemToArray(bins, b);
        }
        cJSON *d = cJSON_AddObjectToObject(az, "d");
        for (int a = 0; a < r->opts.n_alpha; a++) {
            char k[32];
            gc_report_alpha_key(r->opts.alpha[a], k, sizeof k);
            gc_report_add_num(d, k, r->az_d[a]);
        }
    }
    return j;
}

static void print_row(FILE *f, const char *name, const gc_pck_report *r, const gc_pck_cell *c) {
    fprintf(f, "  %-16s", name);
    for (int a = 0; a < r->opts.n_alpha; a++) {
        if (isfinite(c->pck[a])) fprintf(f, " %8.2f", 100 * c->pck[a]);
        else fprintf(f, " %8s", "-");
    }
    fprintf(f, " %8lld\n", (long long)c->n);
}

static void print_head(FILE *f, const gc_pck_report *r, const char *title, const char *unit) {
    fprintf(f, "%s\n  %-16s", title, "category");
    for (int a = 0; a < r->opts.n_alpha; a++) fprintf(f, "  PCK@%-4.3g", r->opts.alpha[a]);
    fprintf(f, " %8s\n", unit);
}

void gc_pck_report_print(const gc_pck_report *r, FILE *f, bool per_keypoint, bool corrected) {
    const char *unit = per_keypoint ? "kpts" : "pairs";
    print_head(f, r, per_keypoint ? "PCK per keypoint (%)" : "PCK per image (%)", unit);
    for (int c = 0; c < r->n_cats; c++) print_row(f, r->cats[c].name, r, per_keypoint ? &r->cats[c].kpt : &r->cats[c].img);
    print_row(f, "overall", r, per_keypoint ? &r->kpt : &r->img);
    print_row(f, per_keypoint ? "(per image)" : "(per keypoint)", r, per_keypoint ? &r->img : &r->kpt);
    if (r->n_geo_img || r->geo_kpt.n) {
        if (per_keypoint) {
            print_head(f, r, corrected ? "Geo-aware subset per keypoint (%), corrected groups"
                                       : "Geo-aware subset per keypoint (%), reference renumbered groups", "kpts");
            for (int c = 0; c < r->n_cats; c++)
                if (r->cats[c].has_geo)
                    print_row(f, r->cats[c].name, r, corrected ? &r->cats[c].geo_kpt : &r->cats[c].geo_kpt_ref);
            print_row(f, "overall", r, corrected ? &r->geo_kpt : &r->geo_kpt_ref);
            print_row(f, corrected ? "(reference)" : "(corrected)", r, corrected ? &r->geo_kpt_ref : &r->geo_kpt);
        } else {
            print_head(f, r, "Geo-aware subset per image (%), reference eval_spair path", "pairs");
            for (int k = 0; k < r->n_geo_img; k++) print_row(f, r->geo_img_cats[k].name, r, &r->geo_img_cats[k].cell);
            print_row(f, "overall", r, &r->geo_img);
        }
        fprintf(f, "Geo-aware occurrence: images %.2f%%, keypoints %.2f%% (reference groups)\n", 100 * r->image_ratio,
                100 * r->point_ratio);
    }
    if (r->has_az) {
        print_head(f, r, "SPair azimuth variation (per image, %)", "pairs");
        for (int k = 0; k < 5; k++) {
            char n[16];
            snprintf(n, sizeof n, "az=%d", k);
            print_row(f, n, r, &r->az[k]);
        }
        fprintf(f, "  %-16s", "d=(max-min)/max");
        for (int a = 0; a < r->opts.n_alpha; a++) fprintf(f, " %8.4f", r->az_d[a]);
        fprintf(f, "\n");
    }
    if (r->errors) gc_errors_report_print(r->errors, r, f);
}

gc_status gc_pck_preds_load(const char *path, const gc_eval_set *set, gc_pck_pred **preds, int *n) {
    *preds = NULL, *n = 0;
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    gc_status s = GC_OK;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(j, "frame");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(j, "pairs");
    bool pixels = false;
    if (!cJSON_IsString(fr) || (strcmp(fr->valuestring, "anno840") != 0 && !(pixels = strcmp(fr->valuestring, "pixels") == 0)))
        s = gc_errorf(GC_ERR_FORMAT, "%s: 'frame' must be \"pixels\" or \"anno840\"", path);
    else if (!cJSON_IsArray(pairs) || cJSON_GetArraySize(pairs) == 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: 'pairs' must be a non-empty list", path);
    int np = s == GC_OK ? cJSON_GetArraySize(pairs) : 0;
    if (s == GC_OK && !(*preds = gc_calloc((size_t)np, sizeof(gc_pck_pred)))) s = GC_ERR_NOMEM;
    const cJSON *e;
    int i = 0;
    const cJSON *list = s == GC_OK ? pairs : NULL;
    cJSON_ArrayForEach(e, list) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(e, "src"), *trg = cJSON_GetObjectItemCaseSensitive(e, "trg");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(e, "pred");
        if (!cJSON_IsString(src) || !cJSON_IsString(trg)) {
            s = gc_errorf(GC_ERR_FORMAT, "%s: pairs[%d]: 'src' and 'trg' must be strings", path, i);
            break;
        }
        int k = gc_eval_set_find(set, src->valuestring, trg->valuestring);
        if (k < 0) {
            s = gc_errorf(GC_ERR_MISSING, "%s: pairs[%d]: (%s, %s) is not a pair of this split", path, i,
                          src->valuestring, trg->valuestring);
            break;
        }
        if (!cJSON_IsArray(pr) || cJSON_GetArraySize(pr) != set->n_kps) {
            s = gc_errorf(GC_ERR_FORMAT, "%s: pairs[%d]: 'pred' must list %d entries (one per keypoint id)", path, i,
                          set->n_kps);
            break;
        }
        gc_pck_pred *p = &(*preds)[i];
        const gc_eval_pair *ep = &set->pairs[k];
        p->pair = k;
        int m = 0;
        const cJSON *xy;
        cJSON_ArrayForEach(xy, pr) {
            if (cJSON_IsNull(xy)) {
                p->pred[m][0] = p->pred[m][1] = NAN;
            } else {
                const cJSON *x = cJSON_GetArrayItem(xy, 0), *y = cJSON_GetArrayItem(xy, 1);
                if (!cJSON_IsArray(xy) || cJSON_GetArraySize(xy) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) ||
                    !isfinite(x->valuedouble) || !isfinite(y->valuedouble) || fabs(x->valuedouble) > 1e7 ||
                    fabs(y->valuedouble) > 1e7) {
                    s = gc_errorf(GC_ERR_FORMAT, "%s: pairs[%d].pred[%d] must be [x, y] (finite) or null", path, i, m);
                    break;
                }
                float fx = (float)x->valuedouble, fy = (float)y->valuedouble;
                if (pixels) /* original target pixels -> 840 frame, as the loader maps keypoints */
                    fx = fx * ep->trg_scale + ep->trg_off[0], fy = fy * ep->trg_scale + ep->trg_off[1];
                p->pred[m][0] = fx, p->pred[m][1] = fy;
            }
            m++;
        }
        if (s != GC_OK) break;
        i++;
    }
    cJSON_Delete(j);
    if (s != GC_OK) {
        gc_free(*preds);
        *preds = NULL;
        return s;
    }
    *n = i;
    return GC_OK;
}
