/* `geocorr eval --dataset spair|pfpascal|ap10k --root DIR [--split test]
 *  (--from-predictions P.json | --cache DIR [--map NAME | --postproc P.PTH [--groups N]] [--hard | --window W]
 *   [--align off|flip|mnn] [--poses auto|flip,rot90,...] [--sample N] [--predictions-out P.json] [--cache-mem MB]
 *   [--threads N] [--no-progress])
 *  [--alpha a,b,c] [--per-image|--per-keypoint] [--img-threshold] [--geo] [--errors] [--subset S]
 *  [--protocol reference|corrected] [--json OUT]`: PCK in every convention the reference reports
 * (TRACE.md §4, §8, docs/eval.md), of given predictions or of matches on the feature cache (zero-shot
 * descriptors, one named map, or the supervised recipe with a post-processor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/atomic_file.h"

static gc_status parse_alphas(const char *s, gc_eval_config *c) {
    const int max = (int)(sizeof c->alpha / sizeof c->alpha[0]);
    const char *p = s;
    while (p && *p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || c->n_alpha >= max || (*end && *end != ','))
            return gc_errorf(GC_ERR_ARG, "--alpha: expected up to %d comma-separated numbers, got '%s'", max, s);
        c->alpha[c->n_alpha++] = v;
        p = *end ? end + 1 : end;
    }
    return s && !c->n_alpha ? gc_errorf(GC_ERR_ARG, "--alpha: no thresholds given") : GC_OK;
}

static void on_progress(void *ctx, int64_t done, int64_t total, double seconds) {
    gc_progress_update(ctx, done, total, seconds, NULL);
}

static gc_status run(gc_args *a) {
    gc_eval_config c = {0};
    GC_TRY(gc_arg_req(a, "--dataset", &c.dataset));
    GC_TRY(gc_arg_req(a, "--root", &c.root));
    c.split = gc_arg_str(a, "--split", "test");
    c.subset = gc_arg_str(a, "--subset", NULL);
    c.protocol = gc_arg_str(a, "--protocol", "reference");
    const char *alpha = gc_arg_str(a, "--alpha", NULL), *json_out = gc_arg_str(a, "--json", NULL);
    const char *preds_path = gc_arg_str(a, "--from-predictions", NULL);
    bool per_kpt = gc_arg_flag(a, "--per-keypoint"), per_img = gc_arg_flag(a, "--per-image");
    c.img_threshold = gc_arg_flag(a, "--img-threshold");
    c.geo = gc_arg_flag(a, "--geo");
    c.errors = gc_arg_flag(a, "--errors");
    gc_eval_cache_config co = {0};
    int64_t window, sample;
    co.cache_dir = gc_arg_str(a, "--cache", NULL);
    co.map_name = gc_arg_str(a, "--map", NULL);
    const char *postproc = gc_arg_str(a, "--postproc", NULL);
    int64_t groups;
    GC_TRY(gc_arg_int(a, "--groups", 0, &groups)); /* the post-processor's GroupNorm groups (0: config.json, else 32) */
    gc_progress bar;
    gc_progress_init(&bar, "eval", "pair", !gc_arg_flag(a, "--no-progress"));
    co.match.hard = gc_arg_flag(a, "--hard");
    GC_TRY(gc_arg_int(a, "--window", 7, &window)); /* the eval configs' SOFT_EVAL_WINDOW (zero-shot: 5) */
    GC_TRY(gc_arg_int(a, "--sample", 0, &sample));
    GC_TRY(gc_arg_int(a, "--cache-mem", 2048, &co.mem_mb)); /* descriptors held in memory (MiB) */
    if (co.mem_mb < 1) return gc_errorf(GC_ERR_ARG, "--cache-mem must be a positive number of MiB");
    const char *align = gc_arg_str(a, "--align", "off");
    co.predictions_out = gc_arg_str(a, "--predictions-out", NULL);
    if (!align) return gc_errorf(GC_ERR_ARG, "--align needs a value");
    if (strcmp(align, "off") == 0) co.align = GC_EVAL_ALIGN_OFF;
    else if (strcmp(align, "flip") == 0) co.align = GC_EVAL_ALIGN_FLIP;
    else if (strcmp(align, "mnn") == 0) co.align = GC_EVAL_ALIGN_MNN;
    else return gc_errorf(GC_ERR_ARG, "--align must be off, flip or mnn (got '%s')", align);
    const char *poses = gc_arg_str(a, "--poses", NULL);
    if (poses) GC_TRY(gc_poses_parse(poses, &co.poses));
    if (poses && co.align == GC_EVAL_ALIGN_OFF)
        return gc_errorf(GC_ERR_ARG, "--poses: the poses are compared by the pose alignment (--align flip or mnn)");
    if (!preds_path == !co.cache_dir)
        return gc_errorf(GC_ERR_ARG, "give either --from-predictions P.json or --cache DIR (features of geocorr extract)");
    if (preds_path && (sample || co.predictions_out || poses))
        return gc_errorf(GC_ERR_ARG, "--sample, --poses and --predictions-out apply to --cache (the predictions file lists the "
                                     "pairs and their predictions)");
    if (window < -60 || window > 60 || sample < 0 || sample > 1000000)
        return gc_errorf(GC_ERR_ARG, "--window must be in [-60, 60] and --sample >= 0");
    if (preds_path && postproc) return gc_errorf(GC_ERR_ARG, "--postproc applies to --cache (it makes the descriptors of the cached features)");
    if (postproc && co.map_name) return gc_errorf(GC_ERR_ARG, "--postproc and --map exclude each other (the post-processor reads s3, s4, s5, dino)");
    if (groups < 0 || groups > 4096 || (groups && !postproc)) return gc_errorf(GC_ERR_ARG, "--groups N (N >= 1) goes with --postproc");
    co.match.window = (int)window;
    co.sample = (int)sample;
    GC_TRY(gc_args_finish(a));
    if (!c.split || !c.protocol) return gc_errorf(GC_ERR_ARG, "an option lacks its value");
    if (per_kpt && per_img) return gc_errorf(GC_ERR_ARG, "--per-image and --per-keypoint exclude each other");
    GC_TRY(parse_alphas(alpha, &c));
    gc_postproc *pp = NULL;
    if (postproc) { /* the dataset folder first: a wrong --root is reported before a large model is read */
        if (!gc_dir_exists(c.root)) return gc_errorf(GC_ERR_MISSING, "--root %s: no such dataset folder", c.root);
        GC_TRY(gc_postproc_load(postproc, (int)groups, &pp));
    }
    co.postproc = pp;
    co.progress = on_progress, co.progress_ctx = &bar;
    gc_eval_report *r;
    gc_status rs = gc_eval_run(&c, preds_path, preds_path ? NULL : &co, &r);
    gc_progress_end(&bar);
    gc_postproc_free(pp);
    GC_TRY(rs);
    char *text = NULL;
    gc_status s = json_out ? gc_eval_report_json(r, &text) : GC_OK;
    if (s == GC_OK && json_out) s = gc_write_file_atomic(json_out, text, strlen(text));
    free(text);
    text = NULL;
    if (s == GC_OK) s = gc_eval_report_text(r, per_kpt, &text);
    if (s == GC_OK) fputs(text, stdout);
    free(text);
    gc_eval_report_free(r);
    return s;
}

const gc_command gc_cmd_eval = {"eval", "PCK on SPair-71k / PF-Pascal / AP-10K (per image, per keypoint, geo-aware)", run};
