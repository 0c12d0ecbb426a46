/* `geocorr match SRC TGT ...`: match points of SRC in TGT. Parses and checks the arguments, loads the
 * images, descriptors and masks, calls gc_match_pixels_ex and writes what match_output.c makes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/match_output.h"
#include "io/atomic_file.h"

static const char k_usage[] =
    "usage: geocorr match SRC TGT (--points \"x1,y1;x2,y2\" | --points-file P.json)\n"
    "         (--features-src F --features-tgt F [--features-src-flip F] [--feature-map NAME | --postproc CKPT]\n"
    "          | --dinov2 PATH)\n"
    "         [--window W] [--hard] [--exclude-outside] [--align auto|off|flip]\n"
    "         [--poses auto|flip,rot90,rot180,rot270 [--features-src-rot90 F ...]]\n"
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
    "ap10k) or --flip-table names the left/right keypoint pairs (points may carry ids in P.json).\n"
    "--poses also compares the source turned by +90, 180, -90 degrees (counter-clockwise; auto: for --category\n"
    "bottle, as the paper does); feature files: --features-src-rot90/-rot180/-rot270 (geocorr features --pose).\n";

typedef struct {
    const char *src_image, *trg_image;
    const char *features_src, *features_trg, *features_src_flip, *feature_map, *postproc, *dinov2;
    int window; /* INT_MIN: by descriptor (5 zero-shot, 7 map / postproc) */
    bool hard, exclude_outside, mnn;
    const char *align; /* auto | off | flip */
    unsigned poses;    /* gc_poses_resolve'd: the rotations compared */
    const char *features_src_rot[3]; /* feature files of the rotated source */
    const char *category, *flip_table, *mask_src, *mask_trg;
    const char *out_json, *picture, *heatmap_out;
    int64_t heatmap_idx; /* -1: none */
} match_args;

typedef struct {
    gc_image si, ti, ms, mt;              /* images, masks */
    gc_descriptors *src, *trg, *src_flip; /* src_flip NULL: no alignment */
    gc_descriptors *src_rot[3];           /* the rotations of args.poses */
    gc_align_poses poses;
    float *xy;                            /* [K,2] the points */
    int64_t *ids;                         /* [K] or NULL */
    gc_match_result res;
} match_state;

static void state_free(match_state *s) {
    gc_image_free(&s->si);
    gc_image_free(&s->ti);
    gc_image_free(&s->ms);
    gc_image_free(&s->mt);
    gc_descriptors_free(s->src);
    gc_descriptors_free(s->trg);
    gc_descriptors_free(s->src_flip);
    for (int q = 0; q < 3; q++) gc_descriptors_free(s->src_rot[q]);
    free(s->xy);
    free(s->ids);
    gc_match_result_free(&s->res);
}

/* Every flag combination checked before anything is loaded. */
static gc_status check_args(const match_args *r, int64_t K) {
    if (r->heatmap_idx >= K)
        return gc_errorf(GC_ERR_ARG, "--heatmap %lld: only %lld points", (long long)r->heatmap_idx, (long long)K);
    if ((r->heatmap_idx >= 0) != (r->heatmap_out != NULL))
        return gc_errorf(GC_ERR_ARG, "match: --heatmap IDX and --heatmap-out H.png go together");
    if (strcmp(r->align, "auto") && strcmp(r->align, "off") && strcmp(r->align, "flip"))
        return gc_errorf(GC_ERR_ARG, "--align '%s': expected auto, off or flip", r->align);
    if ((r->mask_src != NULL) != (r->mask_trg != NULL))
        return gc_errorf(GC_ERR_ARG, "match: --mask-src and --mask-tgt go together");
    for (int q = 0; q < 3; q++) {
        const bool want = r->poses >> (GC_POSE_ROT90 + q) & 1;
        if (want && strcmp(r->align, "auto"))
            return gc_errorf(GC_ERR_ARG, "--poses: the poses are compared by --align auto, not '%s'", r->align);
        if (want && !r->dinov2 && !r->features_src_rot[q])
            return gc_errorf(GC_ERR_ARG, "--poses asks for %s: give --features-src-%s F (geocorr features --pose %s)",
                             gc_pose_name(GC_POSE_ROT90 + q), gc_pose_name(GC_POSE_ROT90 + q), gc_pose_name(GC_POSE_ROT90 + q));
        if (!want && r->features_src_rot[q])
            return gc_errorf(GC_ERR_ARG, "--features-src-%s given, but the poses compared do not include %s (--poses)",
                             gc_pose_name(GC_POSE_ROT90 + q), gc_pose_name(GC_POSE_ROT90 + q));
    }
    if (r->window != INT_MIN && (r->window < -60 || r->window > 60))
        return gc_errorf(GC_ERR_ARG, "--window %d out of range", r->window);
    if (r->dinov2) {
        if (r->features_src || r->features_trg || r->features_src_flip || r->feature_map || r->postproc ||
            r->features_src_rot[0] || r->features_src_rot[1] || r->features_src_rot[2])
            return gc_errorf(GC_ERR_ARG, "match: --dinov2 computes the features; do not combine it with --features-* / --feature-map / --postproc");
        return GC_OK;
    }
    if (!r->features_src || !r->features_trg)
        return gc_errorf(GC_ERR_ARG, "match: give --features-src F --features-tgt F (or --dinov2 PATH)");
    if (r->postproc && r->feature_map)
        return gc_errorf(GC_ERR_ARG, "match: --postproc computes the supervised descriptor; do not combine it with --feature-map");
    return GC_OK;
}

static gc_status load_descriptors(const match_args *r, match_state *s, bool want_flip) {
    if (r->dinov2) {
        gc_dinov2 *m;
        GC_TRY(gc_dinov2_load(r->dinov2, &m));
        gc_status st = gc_descriptors_dinov2(m, &s->si, 0, &s->src);
        if (st == GC_OK) st = gc_descriptors_dinov2(m, &s->ti, 0, &s->trg);
        if (st == GC_OK && want_flip) st = gc_descriptors_dinov2(m, &s->si, 1, &s->src_flip);
        for (int q = 0; st == GC_OK && q < 3; q++) {
            if (!(r->poses >> (GC_POSE_ROT90 + q) & 1)) continue;
            gc_image turned;
            st = gc_image_pose(&s->si, GC_POSE_ROT90 + q, &turned);
            if (st == GC_OK) st = gc_descriptors_dinov2(m, &turned, 0, &s->src_rot[q]);
            gc_image_free(&turned);
        }
        gc_dinov2_free(m);
        return st;
    }
    gc_postproc *pp = NULL;
    if (r->postproc) GC_TRY(gc_postproc_load(r->postproc, 0, &pp));
    const char *paths[6] = {r->features_src, r->features_trg, want_flip ? r->features_src_flip : NULL};
    gc_descriptors **descs[6] = {&s->src, &s->trg, &s->src_flip, &s->src_rot[0], &s->src_rot[1], &s->src_rot[2]};
    for (int q = 0; q < 3; q++) paths[3 + q] = r->features_src_rot[q];
    gc_status st = GC_OK;
    for (int i = 0; st == GC_OK && i < 6; i++) {
        if (!paths[i]) continue;
        st = pp ? gc_descriptors_load_postproc(paths[i], pp, descs[i]) : gc_descriptors_load(paths[i], r->feature_map, descs[i]);
        /* features of different models cannot be matched: name both files */
        const gc_descriptors *a = s->src, *b = *descs[i];
        if (st == GC_OK && i > 0 && (strcmp(gc_descriptors_recipe(a), gc_descriptors_recipe(b)) != 0 ||
                                     gc_descriptors_channels(a) != gc_descriptors_channels(b)))
            st = gc_errorf(GC_ERR_SHAPE, "features of different models: %s gives a %s descriptor of %lld channels, %s a %s descriptor of %lld",
                           paths[0], gc_descriptors_recipe(a), (long long)gc_descriptors_channels(a), paths[i],
                           gc_descriptors_recipe(b), (long long)gc_descriptors_channels(b));
    }
    gc_postproc_free(pp);
    return st;
}

/* A mask of the image's size or the 960 canvas (the library maps either; the message names the file). */
static gc_status load_mask(const char *path, const gc_image *img, gc_image *mask) {
    GC_TRY(gc_image_load(path, mask));
    if ((mask->w == img->w && mask->h == img->h) || (mask->w == GC_CANVAS_SD && mask->h == GC_CANVAS_SD)) return GC_OK;
    return gc_errorf(GC_ERR_SHAPE, "%s: mask is %dx%d; expected the image size %dx%d or the %dx%d canvas", path, mask->w,
                     mask->h, img->w, img->h, GC_CANVAS_SD, GC_CANVAS_SD);
}

static gc_status save_png(const char *path, gc_status made, gc_image *img) {
    gc_status st = made == GC_OK ? gc_image_save_png(path, img) : made;
    gc_image_free(img);
    return st;
}

static gc_status run_match(const match_args *r, match_state *s, int64_t K) {
    GC_TRY(gc_image_load(r->src_image, &s->si));
    GC_TRY(gc_image_load(r->trg_image, &s->ti));
    for (int64_t k = 0; k < K; k++) {
        const float x = s->xy[2 * k], y = s->xy[2 * k + 1];
        if (!(x >= 0 && y >= 0 && x < s->si.w && y < s->si.h))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the source image %s (%dx%d)", (long long)k, x, y,
                             r->src_image, s->si.w, s->si.h);
    }
    GC_TRY(load_descriptors(r, s, strcmp(r->align, "off") != 0));
    /* IMD with masks when alignment runs and masks are given (--mnn: mutual NN anyway) */
    const bool imd = s->src_flip && r->mask_src && !r->mnn;
    if (imd) {
        GC_TRY(load_mask(r->mask_src, &s->si, &s->ms));
        GC_TRY(load_mask(r->mask_trg, &s->ti, &s->mt));
    }
    for (int q = 0; q < 3; q++) s->poses.src_rot[q] = s->src_rot[q];
    gc_match_result *res = &s->res;
    *res = (gc_match_result){.src_name = r->src_image, .tgt_name = r->trg_image, .src = &s->si, .tgt = &s->ti,
                             .points = s->xy, .ids = s->ids};
    const gc_match_options mo = {.window = r->window, .hard = r->hard, .exclude_outside = r->exclude_outside,
                                 .align = r->align, .category = r->category, .flip_table = r->flip_table,
                                 .mask_src = imd ? &s->ms : NULL, .mask_trg = imd ? &s->mt : NULL,
                                 .poses = r->poses & GC_POSES_ROTATIONS ? &s->poses : NULL};
    GC_TRY(gc_match_run(res, K, s->src, s->src_flip, s->trg, &mo));
    if (strcmp(r->align, "off") != 0 && !s->src_flip)
        fprintf(stderr, "geocorr match: no flipped source features (--features-src-flip): pose alignment off\n");
    gc_image pic = {0};
    if (r->picture) GC_TRY(save_png(r->picture, gc_match_picture(res, &pic), &pic));
    if (r->heatmap_out)
        GC_TRY(save_png(r->heatmap_out, gc_match_heatmap(res, r->heatmap_idx, s->src, s->src_flip, s->trg, false, &pic), &pic));
    char *text;
    GC_TRY(gc_match_json(res, &text));
    gc_status st = gc_write_file_atomic(r->out_json, text, strlen(text));
    free(text);
    return st;
}

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    match_args r = {0};
    const char *pts = gc_arg_str(a, "--points", NULL), *pts_file = gc_arg_str(a, "--points-file", NULL);
    r.features_src = gc_arg_str(a, "--features-src", NULL);
    r.features_trg = gc_arg_str(a, "--features-tgt", NULL);
    r.features_src_flip = gc_arg_str(a, "--features-src-flip", NULL);
    r.feature_map = gc_arg_str(a, "--feature-map", NULL);
    r.postproc = gc_arg_str(a, "--postproc", NULL);
    r.dinov2 = gc_arg_str(a, "--dinov2", NULL);
    int64_t win;
    GC_TRY(gc_arg_int(a, "--window", INT_MIN, &win));
    r.window = (int)(win == INT_MIN ? INT_MIN : GC_MAX(GC_MIN(win, 1000), -1000));
    r.hard = gc_arg_flag(a, "--hard");
    r.exclude_outside = gc_arg_flag(a, "--exclude-outside");
    r.mnn = gc_arg_flag(a, "--mnn");
    r.align = gc_arg_str(a, "--align", "auto");
    const char *poses = gc_arg_str(a, "--poses", NULL);
    r.features_src_rot[0] = gc_arg_str(a, "--features-src-rot90", NULL);
    r.features_src_rot[1] = gc_arg_str(a, "--features-src-rot180", NULL);
    r.features_src_rot[2] = gc_arg_str(a, "--features-src-rot270", NULL);
    r.category = gc_arg_str(a, "--category", NULL);
    r.flip_table = gc_arg_str(a, "--flip-table", NULL);
    r.mask_src = gc_arg_str(a, "--mask-src", NULL);
    r.mask_trg = gc_arg_str(a, "--mask-tgt", NULL);
    r.picture = gc_arg_str(a, "--picture", NULL);
    GC_TRY(gc_arg_int(a, "--heatmap", -1, &r.heatmap_idx));
    r.heatmap_out = gc_arg_str(a, "--heatmap-out", NULL);
    GC_TRY(gc_arg_req(a, "--out", &r.out_json));
    const char *pos[2];
    int np = gc_arg_positionals(a, pos, 2);
    GC_TRY(gc_args_finish(a));
    if (np != 2) return gc_errorf(GC_ERR_ARG, "match: expected two images SRC TGT, got %d (geocorr match --help)", np);
    if (!r.align) return gc_errorf(GC_ERR_ARG, "match: --align needs a value");
    if (r.heatmap_idx < -1) return gc_errorf(GC_ERR_ARG, "match: --heatmap %lld is not a point index", (long long)r.heatmap_idx);
    if (!pts == !pts_file) return gc_errorf(GC_ERR_ARG, "match: give exactly one of --points and --points-file");
    if (poses) {
        GC_TRY(gc_poses_parse(poses, &r.poses));
        r.poses = gc_poses_resolve(r.poses, r.category);
    }
    r.src_image = pos[0];
    r.trg_image = pos[1];
    match_state s = {0};
    int64_t K;
    gc_status st = pts ? gc_points_parse(pts, &s.xy, &K) : gc_points_load(pts_file, &s.xy, &s.ids, &K);
    if (st == GC_OK) st = check_args(&r, K);
    if (st == GC_OK) st = run_match(&r, &s, K);
    state_free(&s);
    return st;
}

const gc_command gc_cmd_match = {"match", "match points of one image in another (JSON, pictures)", run};
