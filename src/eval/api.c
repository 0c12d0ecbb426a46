#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/api.h"

gc_status gc_eval_ctx_init(gc_eval_ctx *x, const gc_eval_config *cfg) {
    memset(x, 0, sizeof *x);
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(cfg->dataset, &kind));
    GC_TRY(gc_ap10k_subset_parse(cfg->subset, &subset));
    if (cfg->subset && kind != GC_DS_AP10K) return gc_errorf(GC_ERR_ARG, "a subset applies to the ap10k dataset only");
    if (cfg->protocol && strcmp(cfg->protocol, "reference") != 0 && strcmp(cfg->protocol, "corrected") != 0)
        return gc_errorf(GC_ERR_ARG, "protocol must be reference or corrected (got '%s')", cfg->protocol);
    if (!cfg->root) return gc_errorf(GC_ERR_ARG, "no dataset root given");
    gc_pck_opts *o = &x->opts;
    if (cfg->n_alpha < 0 || cfg->n_alpha > GC_PCK_MAX_ALPHA)
        return gc_errorf(GC_ERR_ARG, "PCK thresholds: give 1..%d", GC_PCK_MAX_ALPHA);
    for (int a = 0; a < cfg->n_alpha; a++)
        if (!(cfg->alpha[a] > 0 && cfg->alpha[a] < 10))
            return gc_errorf(GC_ERR_ARG, "PCK threshold %g is not a positive fraction", cfg->alpha[a]);
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

gc_status gc_eval_ctx_score_cache(gc_eval_ctx *x, const gc_eval_cache_config *co, gc_pck_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!co->cache_dir) return gc_errorf(GC_ERR_ARG, "eval: no feature cache folder given");
    if (co->sample < 0 || co->sample > 1000000) return gc_errorf(GC_ERR_ARG, "eval: sample %d pairs per category", co->sample);
    if ((unsigned)co->align > GC_EVAL_ALIGN_MNN) return gc_errorf(GC_ERR_ARG, "eval: unknown alignment %d", (int)co->align);
    if (co->postproc && co->map_name)
        return gc_errorf(GC_ERR_ARG, "eval: a post-processor makes the descriptor from s3, s4, s5 and dino; it does not combine with the map '%s'",
                         co->map_name);
    if (co->poses && co->align == GC_EVAL_ALIGN_OFF)
        return gc_errorf(GC_ERR_ARG, "eval: poses are compared by the pose alignment: use it (align flip or mnn)");
    if (co->poses & ~(GC_POSES_AUTO | GC_POSES_ROTATIONS | (1u << GC_POSE_FLIP)))
        return gc_errorf(GC_ERR_ARG, "eval: pose set 0x%x has bits that are no pose (gc_poses_parse)", co->poses);
    int *sel = NULL, n = 0;
    GC_TRY(gc_eval_set_sample(&x->set, co->sample, &sel, &n));
    gc_pck_pred *preds = gc_calloc((size_t)GC_MAX(n, 1), sizeof(gc_pck_pred));
    gc_status s = preds ? gc_cache_predict(&x->set, sel, n, co, preds) : GC_ERR_NOMEM;
    if (s == GC_OK && co->predictions_out) s = gc_pck_preds_save(co->predictions_out, &x->set, preds, n);
    if (s == GC_OK) s = gc_pck_score(&x->set, preds, n, &x->opts, rep);
    gc_free(preds), gc_free(sel);
    return s;
}

struct gc_eval_report {
    gc_eval_ctx x;
    gc_pck_report rep;
    char *dataset, *split, *protocol; /* as configured (the summary line, the JSON) */
};

void gc_eval_report_free(gc_eval_report *r) {
    if (!r) return;
    gc_pck_report_free(&r->rep);
    gc_eval_ctx_free(&r->x);
    free(r->dataset), free(r->split), free(r->protocol);
    gc_free(r);
}

gc_status gc_eval_run(const gc_eval_config *cfg, const char *predictions_path, const gc_eval_cache_config *cache,
                      gc_eval_report **out) {
    *out = NULL;
    if (!predictions_path == !cache)
        return gc_errorf(GC_ERR_ARG, "eval: give either a predictions file or a feature cache to match on");
    gc_eval_report *r = gc_calloc(1, sizeof *r);
    if (!r) return GC_ERR_NOMEM;
    r->dataset = gc_strdup(cfg->dataset ? cfg->dataset : "");
    r->split = gc_strdup(cfg->split ? cfg->split : "test");
    r->protocol = gc_strdup(cfg->protocol ? cfg->protocol : "reference");
    gc_status s = r->dataset && r->split && r->protocol ? gc_eval_ctx_init(&r->x, cfg) : GC_ERR_NOMEM;
    if (s == GC_OK) s = predictions_path ? gc_eval_ctx_score_file(&r->x, predictions_path, &r->rep)
                                         : gc_eval_ctx_score_cache(&r->x, cache, &r->rep);
    if (s != GC_OK) {
        gc_eval_report_free(r);
        return s;
    }
    *out = r;
    return GC_OK;
}

gc_status gc_eval_report_json(const gc_eval_report *r, char **json) {
    cJSON *j = gc_pck_report_json(&r->rep, &r->x.set, r->protocol);
    *json = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    return *json ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory (eval report)");
}

gc_status gc_eval_report_text(const gc_eval_report *r, int per_keypoint, char **text) {
    *text = NULL;
    size_t len;
    FILE *f = open_memstream(text, &len);
    if (!f) return gc_errorf(GC_ERR_NOMEM, "out of memory (eval report)");
    fprintf(f, "%s %s: %lld pairs scored (%s threshold, protocol %s)\n", r->dataset, r->split, (long long)r->rep.img.n,
            r->rep.opts.img_threshold ? "image" : "bbox", r->protocol);
    gc_pck_report_print(&r->rep, f, per_keypoint != 0, strcmp(r->protocol, "corrected") == 0);
    if (fclose(f) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return gc_errorf(GC_ERR_NOMEM, "out of memory (eval report)");
    }
    return GC_OK;
}

gc_status gc_eval_predictions(const gc_eval_config *cfg, const char *predictions_path, char **report_json) {
    *report_json = NULL;
    gc_eval_report *r;
    GC_TRY(gc_eval_run(cfg, predictions_path, NULL, &r));
    gc_status s = gc_eval_report_json(r, report_json);
    gc_eval_report_free(r);
    return s;
}
