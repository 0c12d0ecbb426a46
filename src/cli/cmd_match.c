/* `geocorr match SRC TGT ...`: match points of SRC in TGT (arguments only; the work is gc_match_run). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "match/match_run.h"

static const char k_usage[] =
    "usage: geocorr match SRC TGT (--points \"x1,y1;x2,y2\" | --points-file P.json)\n"
    "         (--features-src F --features-tgt F [--features-src-flip F] [--feature-map NAME | --postproc CKPT]\n"
    "          | --dinov2 PATH)\n"
    "         [--window W] [--hard] [--exclude-outside] [--align auto|off|flip]\n"
    "         [--category NAME | --flip-table T.json] [--mask-src M.png --mask-tgt M.png] [--mnn]\n"
    "         --out OUT.json [--picture OUT.png] [--heatmap IDX --heatmap-out H.png]\n\n"
    "Points are source image pixels; OUT.json lists each with its match (target pixels and the 840 frame),\n"
    "score (cosine similarity) and pose (original / flipped). Feature files are `geocorr features` outputs\n"
    "(dino [D,60,60], optionally s3, s4, s5: zero-shot descriptor); --feature-map picks one post-processed map;\n"
    "--postproc runs a post-processor (safetensors, the authors' .PTH, or a folder with config.json) on the fused\n"
    "s3, s4, s5, dino maps: supervised descriptors.\n"
    "--window: soft-argmax half-width (default 5 zero-shot, 7 for --feature-map / --postproc; 0 all cells; <0 Gaussian,\n"
    "sigma=-W); --exclude-outside drops cells outside the window from the softmax (the reference keeps them at\n"
    "similarity 0). --align auto compares the instance matching distance of the original and the flipped\n"
    "source (IMD with --mask-src/--mask-tgt, else mutual nearest neighbours); --category (SPair-71k class or\n"
    "ap10k) or --flip-table names the left/right keypoint pairs (points may carry ids in P.json).\n";

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    gc_match_request r;
    memset(&r, 0, sizeof r);
    const char *pts = gc_arg_str(a, "--points", NULL), *pts_file = gc_arg_str(a, "--points-file", NULL);
    r.features_src = gc_arg_str(a, "--features-src", NULL);
    r.features_trg = gc_arg_str(a, "--features-tgt", NULL);
    r.features_src_flip = gc_arg_str(a, "--features-src-flip", NULL);
    r.feature_map = gc_arg_str(a, "--feature-map", NULL);
    r.postproc = gc_arg_str(a, "--postproc", NULL);
    r.dinov2 = gc_arg_str(a, "--dinov2", NULL);
    int64_t win, hm;
    GC_TRY(gc_arg_int(a, "--window", INT_MIN, &win));
    r.window = (int)(win == INT_MIN ? INT_MIN : GC_MAX(GC_MIN(win, 1000), -1000));
    r.hard = gc_arg_flag(a, "--hard");
    r.exclude_outside = gc_arg_flag(a, "--exclude-outside");
    r.mnn = gc_arg_flag(a, "--mnn");
    r.align = gc_arg_str(a, "--align", "auto");
    r.category = gc_arg_str(a, "--category", NULL);
    r.flip_table = gc_arg_str(a, "--flip-table", NULL);
    r.mask_src = gc_arg_str(a, "--mask-src", NULL);
    r.mask_trg = gc_arg_str(a, "--mask-tgt", NULL);
    r.picture = gc_arg_str(a, "--picture", NULL);
    GC_TRY(gc_arg_int(a, "--heatmap", -1, &hm));
    r.heatmap_idx = hm;
    r.heatmap_out = gc_arg_str(a, "--heatmap-out", NULL);
    GC_TRY(gc_arg_req(a, "--out", &r.out_json));
    const char *pos[2];
    int np = gc_arg_positionals(a, pos, 2);
    GC_TRY(gc_args_finish(a));
    if (np != 2) return gc_errorf(GC_ERR_ARG, "match: expected two images SRC TGT, got %d (geocorr match --help)", np);
    if (hm < -1) return gc_errorf(GC_ERR_ARG, "match: --heatmap %lld is not a point index", (long long)hm);
    if (!pts == !pts_file) return gc_errorf(GC_ERR_ARG, "match: give exactly one of --points and --points-file");
    r.src_image = pos[0];
    r.trg_image = pos[1];
    float *xy = NULL;
    int64_t *ids = NULL;
    GC_TRY(pts ? gc_points_parse(pts, &xy, &r.K) : gc_points_load(pts_file, &xy, &ids, &r.K));
    r.points = xy;
    r.ids = ids;
    gc_status s = gc_match_run(&r);
    free(xy);
    free(ids);
    return s;
}

const gc_command gc_cmd_match = {"match", "match points of one image in another (JSON, pictures)", run};
