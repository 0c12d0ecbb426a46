#include <stdlib.h>
#include <string.h>

#include "eval/api.h"

gc_status gc_eval_ctx_init(gc_eval_ctx *x, const gc_eval_config *cfg) {
    memset(x, 0, sizeof *x);
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(cfg->dataset, &kind));
    GC_TRY(gc_ap10k_subset_parse(cfg->subset, &subset));
    if (cfg->subset && kind != GC_DS_AP10K) return gc_errorf(GC_ERR_ARG, "--subset applies to --dataset ap10k only");
    if (cfg->protocol && strcmp(cfg->protocol, "reference") != 0 && strcmp(cfg->protocol, "corrected") != 0)
        return gc_errorf(GC_ERR_ARG, "--protocol must be reference or corrected (got '%s')", cfg->protocol);
    if (!cfg->root) return gc_errorf(GC_ERR_ARG, "no dataset root given");
    gc_pck_opts *o = &x->opts;
    if (cfg->n_alpha < 0 || cfg->n_alpha > GC_PCK_MAX_ALPHA)
        return gc_errorf(GC_ERR_ARG, "--alpha: give 1..%d thresholds", GC_PCK_MAX_ALPHA);
    for (int a = 0; a < cfg->n_alpha; a++)
        if (!(cfg->alpha[a] > 0 && cfg->alpha[a] < 10))
            return gc_errorf(GC_ERR_ARG, "--alpha: %g is not a positive fraction", cfg->alpha[a]);
    if (cfg->n_alpha) {
        o->n_alpha = cfg->n_alpha;
        memcpy(o->alpha, cfg->alpha, (size_t)cfg->n_alpha * sizeof(double));
    } else { /* the reference's order; PF-Pascal's third threshold is 0.15 (logged as 0.01 there) */
        o->n_alpha = 3;
        o->alpha[0] = 0.1, o->alpha[1] = 0.05, o->alpha[2] = kind == GC_DS_PFPASCAL ? 0.15 : 0.01;
    }
    o->img_threshold = cfg->img_threshold || kind == GC_DS_PFPASCAL;
    o->geo = cfg->geo && kind != GC_DS_PFPASCAL;
    o->errors = cfg->errors;
    if (o->geo) GC_TRY(gc_geo_groups_load(&x->groups, NULL));
    o->groups = o->geo ? &x->groups : NULL;
    gc_status s = gc_eval_set_load(&x->set, kind, cfg->root, cfg->split ? cfg->split : "test", subset);
    if (s != GC_OK) gc_eval_ctx_free(x);
    return s;
}

void gc_eval_ctx_free(gc_eval_ctx *x) {
    gc_eval_set_free(&x->set);
    gc_geo_groups_free(&x->groups);
    memset(x, 0, sizeof *x);
}

gc_status gc_eval_ctx_score_file(gc_eval_ctx *x, const char *predictions_path, gc_pck_report *rep) {
    memset(rep, 0, sizeof *rep);
    gc_pck_pred *preds = NULL;
    int np = 0;
    gc_status s = gc_pck_preds_load(predictions_path, &x->set, &preds, &np);
    if (s == GC_OK) s = gc_pck_score(&x->set, preds, np, &x->opts, rep);
    gc_free(preds);
    return s;
}

gc_status gc_eval_ctx_score_cache(gc_eval_ctx *x, const gc_cache_eval_opts *co, int sample, const char *predictions_out,
                                  gc_pck_report *rep) {
    memset(rep, 0, sizeof *rep);
    int *sel = NULL, n = 0;
    GC_TRY(gc_eval_set_sample(&x->set, sample, &sel, &n));
    gc_pck_pred *preds = gc_calloc((size_t)GC_MAX(n, 1), sizeof(gc_pck_pred));
    gc_status s = preds ? gc_cache_predict(&x->set, sel, n, co, preds) : GC_ERR_NOMEM;
    if (s == GC_OK && predictions_out) s = gc_pck_preds_save(predictions_out, &x->set, preds, n);
    if (s == GC_OK) s = gc_pck_score(&x->set, preds, n, &x->opts, rep);
    gc_free(preds), gc_free(sel);
    return s;
}

gc_status gc_eval_predictions(const gc_eval_config *cfg, const char *predictions_path, char **report_json) {
    *report_json = NULL;
    gc_eval_ctx x;
    gc_pck_report rep;
    GC_TRY(gc_eval_ctx_init(&x, cfg));
    gc_status s = gc_eval_ctx_score_file(&x, predictions_path, &rep);
    if (s == GC_OK) {
        cJSON *j = gc_pck_report_json(&rep, &x.set, cfg->protocol ? cfg->protocol : "reference");
        *report_json = j ? cJSON_Print(j) : NULL;
        cJSON_Delete(j);
        if (!*report_json) s = gc_errorf(GC_ERR_NOMEM, "out of memory");
    }
    gc_pck_report_free(&rep);
    gc_eval_ctx_free(&x);
    return s;
}
