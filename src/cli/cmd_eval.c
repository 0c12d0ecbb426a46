/* `geocorr eval --dataset spair|pfpascal|ap10k --root DIR [--split test] --from-predictions P.json
 *  [--alpha a,b,c] [--per-image|--per-keypoint] [--img-threshold] [--geo] [--subset S]
 *  [--protocol reference|corrected] [--json OUT]`: PCK of given predictions in every convention the
 * reference reports (TRACE.md §4). Scoring cached descriptors (--cache) needs the matching engine. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/pck.h"
#include "io/atomic_file.h"

static gc_status parse_alphas(const char *s, gc_dataset_kind kind, gc_pck_opts *o) {
    o->n_alpha = 0;
    if (!s) { /* the reference's order; PF-Pascal's third threshold is 0.15 (logged as 0.01 there) */
        double d[3] = {0.1, 0.05, kind == GC_DS_PFPASCAL ? 0.15 : 0.01};
        memcpy(o->alpha, d, sizeof d);
        o->n_alpha = 3;
        return GC_OK;
    }
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0 && v < 10) || o->n_alpha >= GC_PCK_MAX_ALPHA || (*end && *end != ','))
            return gc_errorf(GC_ERR_ARG, "--alpha: expected up to %d comma-separated positive numbers, got '%s'",
                             GC_PCK_MAX_ALPHA, s);
        o->alpha[o->n_alpha++] = v;
        p = *end ? end + 1 : end;
    }
    return o->n_alpha ? GC_OK : gc_errorf(GC_ERR_ARG, "--alpha: no thresholds given");
}

static gc_status run(gc_args *a) {
    const char *ds, *root, *preds_path;
    GC_TRY(gc_arg_req(a, "--dataset", &ds));
    GC_TRY(gc_arg_req(a, "--root", &root));
    const char *split = gc_arg_str(a, "--split", "test");
    const char *alpha = gc_arg_str(a, "--alpha", NULL);
    const char *subset_s = gc_arg_str(a, "--subset", NULL);
    const char *protocol = gc_arg_str(a, "--protocol", "reference");
    const char *json_out = gc_arg_str(a, "--json", NULL);
    preds_path = gc_arg_str(a, "--from-predictions", NULL);
    bool per_kpt = gc_arg_flag(a, "--per-keypoint"), per_img = gc_arg_flag(a, "--per-image");
    bool img_thr = gc_arg_flag(a, "--img-threshold"), geo = gc_arg_flag(a, "--geo");
    if (!split || !protocol || (gc_arg_str(a, "--json", "") == NULL))
        return gc_errorf(GC_ERR_ARG, "an option lacks its value");
    if (!preds_path)
        return gc_errorf(GC_ERR_UNSUPPORTED,
                         "scoring cached descriptors needs the matching engine (src/match), which this build lacks; "
                         "score a predictions file with --from-predictions P.json");
    GC_TRY(gc_args_finish(a));
    if (per_kpt && per_img) return gc_errorf(GC_ERR_ARG, "--per-image and --per-keypoint exclude each other");
    if (strcmp(protocol, "reference") != 0 && strcmp(protocol, "corrected") != 0)
        return gc_errorf(GC_ERR_ARG, "--protocol must be reference or corrected (got '%s')", protocol);
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(ds, &kind));
    GC_TRY(gc_ap10k_subset_parse(subset_s, &subset));
    if (subset_s && kind != GC_DS_AP10K) return gc_errorf(GC_ERR_ARG, "--subset applies to --dataset ap10k only");
    gc_pck_opts o = {0};
    GC_TRY(parse_alphas(alpha, kind, &o));
    o.img_threshold = img_thr || kind == GC_DS_PFPASCAL;
    o.geo = geo && kind != GC_DS_PFPASCAL;

    gc_geo_groups groups = {0};
    gc_eval_set set;
    gc_pck_pred *preds = NULL;
    int np = 0;
    gc_pck_report rep = {0};
    if (o.geo) GC_TRY(gc_geo_groups_load(&groups, NULL));
    o.groups = o.geo ? &groups : NULL;
    gc_status s = gc_eval_set_load(&set, kind, root, split, subset);
    if (s == GC_OK) s = gc_pck_preds_load(preds_path, &set, &preds, &np);
    if (s == GC_OK) s = gc_pck_score(&set, preds, np, &o, &rep);
    if (s == GC_OK && json_out) {
        cJSON *j = gc_pck_report_json(&rep, &set, protocol);
        char *text = j ? cJSON_Print(j) : NULL;
        s = text ? gc_write_file_atomic(json_out, text, strlen(text)) : gc_errorf(GC_ERR_NOMEM, "out of memory");
        free(text);
        cJSON_Delete(j);
    }
    if (s == GC_OK) {
        printf("%s %s: %d pairs scored (%s threshold, protocol %s)\n", gc_dataset_kind_name(kind), split, np,
               o.img_threshold ? "image" : "bbox", protocol);
        gc_pck_report_print(&rep, stdout, per_kpt, strcmp(protocol, "corrected") == 0);
    }
    gc_pck_report_free(&rep);
    gc_free(preds);
    if (o.geo) gc_geo_groups_free(&groups);
    gc_eval_set_free(&set);
    return s;
}

const gc_command gc_cmd_eval = {"eval", "PCK on SPair-71k / PF-Pascal / AP-10K (per image, per keypoint, geo-aware)", run};
