/* `geocorr match SRC TGT [TGT ...]`: match points of SRC in each target, or every source cell (dense
 * mode). Parses and checks the arguments; match_inputs.c gives the descriptors and masks (files, or the
 * models and SAM run here, optionally through a content-keyed cache); gc_match_pixels_ex matches; the
 * outputs are match_output.c's. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/match_inputs.h"
#include "cli/match_output.h"
#include "io/atomic_file.h"

static const char k_usage[] =
    "usage: geocorr match SRC TGT [TGT ...] [--points \"x1,y1;x2,y2\" | --points-file P.json]\n"
    "         (--features-src F --features-tgt F [--features-tgt F ...] [--features-src-flip F] [--feature-map NAME]\n"
    "          | --models DIR [model flags] [--dino-only] [--cache DIR] | --dinov2 PATH [--cache DIR])\n"
    "         [--postproc CKPT [--groups N]] [--window W] [--hard] [--exclude-outside] [--align auto|off|flip]\n"
    "         [--poses auto|flip,rot90,rot180,rot270 [--features-src-rot90 F ...]]\n"
    "         [--category NAME | --flip-table T.json] [--mnn]\n"
    "         [--mask-src M.png --mask-tgt M.png ... | --box-src x1,y1,x2,y2 --box-tgt x1,y1,x2,y2 ... [--sam W]]\n"
    "         --out OUT.json|OUT.safetensors [--picture OUT.png] [--heatmap IDX --heatmap-out H.png] [--no-progress]\n\n"
    "Points are source image pixels; OUT.json lists each with its match (target pixels and the 840 frame),\n"
    "score (cosine similarity) and pose (original / flipped). Without points (one target): dense mode, the match\n"
    "of every source cell of the 60x60 grid (OUT.json, or OUT.safetensors for arrays). Several targets: one\n"
    "result per target in OUT.json (each as a single-pair run gives it) and a contact sheet as --picture.\n"
    "Features: `geocorr features` files (dino [D,60,60], optionally s3, s4, s5: zero-shot descriptor; one\n"
    "--features-tgt per target; --feature-map picks one post-processed map), or computed here from --models DIR\n"
    "(model flags as geocorr features: --dinov2 --sd --sd-config --clip-vision --text-encoder --captioner;\n"
    "--dinov2 PATH alone: DINOv2 only). --cache DIR keeps computed features and masks by image content: a second\n"
    "run on the same images runs no model (OUT.json \"computed\" counts what ran). --postproc runs a\n"
    "post-processor (safetensors, the authors' .PTH, or a folder with config.json; --groups: its GroupNorm groups)\n"
    "on the fused s3, s4, s5, dino maps: supervised descriptors.\n"
    "--window: soft-argmax half-width (default 5 zero-shot, 7 for --feature-map / --postproc; 0 all cells; <0 Gaussian,\n"
    "sigma=-W); --exclude-outside drops cells outside the window from the softmax (the reference keeps them at\n"
    "similarity 0). --align auto compares the instance matching distance of the original and the flipped\n"
    "source: IMD with instance masks (--mask-src/--mask-tgt PNGs, or --box-src/--box-tgt boxes made into masks by\n"
    "SAM: --sam W, or sam_vit_h_4b8939.pth in --models), else mutual nearest neighbours; --category (SPair-71k\n"
    "class or ap10k) or --flip-table names the left/right keypoint pairs (points may carry ids in P.json).\n"
    "--poses also compares the source turned by +90, 180, -90 degrees (counter-clockwise; auto: for --category\n"
    "bottle, as the paper does); feature files: --features-src-rot90/-rot180/-rot270 (geocorr features --pose).\n"
    "--mask-tgt, --box-tgt and --features-tgt are given once per target, in the targets' order.\n";

#define MAX_TARGETS 4096
#define SAM_IN_MODELS "sam_vit_h_4b8939.pth"

typedef struct {
    const char *src_image;
    const char *trg_images[MAX_TARGETS];
    int n_trg;
    const char *features_trg[MAX_TARGETS], *mask_trg[MAX_TARGETS], *box_trg_text[MAX_TARGETS];
    int n_features_trg, n_mask_trg, n_box_trg;
    gc_features_config models;
    bool compute;      /* the features are computed from the models */
    char *sam;         /* SAM weights for the boxes (owned) */
    gc_match_sources sources;
    float box_src[4], box_trg[MAX_TARGETS][4];
    int window;        /* INT_MIN: by descriptor (5 zero-shot, 7 map / postproc) */
    bool hard, exclude_outside, mnn, dense, progress;
    const char *align; /* auto | off | flip */
    unsigned poses;    /* gc_poses_resolve'd: the rotations compared */
    const char *category, *flip_table;
    const char *out, *picture, *heatmap_out;
    int64_t heatmap_idx; /* -1: none */
} match_args;

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* Every flag combination checked before anything is loaded; SAM's weights resolved. */
static gc_status check_args(match_args *r, int64_t K) {
    const gc_match_sources *so = &r->sources;
    if (r->heatmap_idx >= K)
        return gc_errorf(GC_ERR_ARG, "--heatmap %lld: only %lld points", (long long)r->heatmap_idx, (long long)K);
    if ((r->heatmap_idx >= 0) != (r->heatmap_out != NULL))
        return gc_errorf(GC_ERR_ARG, "match: --heatmap IDX and --heatmap-out H.png go together");
    if (strcmp(r->align, "auto") && strcmp(r->align, "off") && strcmp(r->align, "flip"))
        return gc_errorf(GC_ERR_ARG, "--align '%s': expected auto, off or flip", r->align);
    if (r->window != INT_MIN && (r->window < -60 || r->window > 60))
        return gc_errorf(GC_ERR_ARG, "--window %d out of range", r->window);
    if (r->dense && r->n_trg > 1)
        return gc_errorf(GC_ERR_ARG, "match: the dense mode (no --points) takes one target; give --points for %d targets", r->n_trg);
    if (r->dense && (r->category || r->flip_table || r->heatmap_out))
        return gc_errorf(GC_ERR_ARG, "match: the dense mode matches cells, not keypoints: --category, --flip-table and --heatmap need --points");
    if (r->n_trg > 1 && r->heatmap_out) return gc_errorf(GC_ERR_ARG, "match: --heatmap shows one target; it takes a single TGT");
    for (int q = 0; q < 3; q++) {
        const int pose = GC_POSE_ROT90 + q;
        const bool want = r->poses >> pose & 1;
        if (want && strcmp(r->align, "auto"))
            return gc_errorf(GC_ERR_ARG, "--poses: the poses are compared by --align auto, not '%s'", r->align);
        if (want && !r->compute && !so->features_src_rot[q])
            return gc_errorf(GC_ERR_ARG, "--poses asks for %s: give --features-src-%s F (geocorr features --pose %s)",
                             gc_pose_name(pose), gc_pose_name(pose), gc_pose_name(pose));
        if (!want && so->features_src_rot[q])
            return gc_errorf(GC_ERR_ARG, "--features-src-%s given, but the poses compared do not include %s (--poses)",
                             gc_pose_name(pose), gc_pose_name(pose));
    }
    if (!r->dense && ends_with(r->out, ".safetensors"))
        return gc_errorf(GC_ERR_ARG, "match: --out %s: safetensors is the dense mode's array output (without --points)", r->out);
    /* features */
    if (r->compute) {
        if (so->features_src || r->n_features_trg || so->features_src_flip || so->feature_map || so->features_src_rot[0] ||
            so->features_src_rot[1] || so->features_src_rot[2])
            return gc_errorf(GC_ERR_ARG, "match: the models compute the features; do not combine --models / --dinov2 with --features-* / --feature-map");
    } else {
        if (!so->features_src || !r->n_features_trg)
            return gc_errorf(GC_ERR_ARG, "match: give --features-src F --features-tgt F, or --models DIR (or --dinov2 PATH) to compute them");
        if (r->n_features_trg != r->n_trg)
            return gc_errorf(GC_ERR_ARG, "match: %d --features-tgt for %d targets (give one per target, in order)", r->n_features_trg, r->n_trg);
        if (so->cache_dir && !so->box_src)
            return gc_errorf(GC_ERR_ARG, "match: --cache keeps what the models compute (features with --models / --dinov2, masks with --box-*)");
    }
    if (so->postproc && so->feature_map)
        return gc_errorf(GC_ERR_ARG, "match: --postproc computes the supervised descriptor; do not combine it with --feature-map");
    if (so->groups && !so->postproc) return gc_errorf(GC_ERR_ARG, "match: --groups N goes with --postproc");
    /* masks */
    if ((so->mask_src != NULL) != (r->n_mask_trg > 0))
        return gc_errorf(GC_ERR_ARG, "match: --mask-src and --mask-tgt go together");
    if (r->n_mask_trg && r->n_mask_trg != r->n_trg)
        return gc_errorf(GC_ERR_ARG, "match: %d --mask-tgt for %d targets (give one per target, in order)", r->n_mask_trg, r->n_trg);
    if (!so->box_src != !r->n_box_trg) return gc_errorf(GC_ERR_ARG, "match: --box-src and --box-tgt go together");
    if (r->n_box_trg && r->n_box_trg != r->n_trg)
        return gc_errorf(GC_ERR_ARG, "match: %d --box-tgt for %d targets (give one per target, in order)", r->n_box_trg, r->n_trg);
    if (so->box_src && so->mask_src)
        return gc_errorf(GC_ERR_ARG, "match: --box-* makes the masks with SAM; do not combine it with --mask-*");
    if (so->box_src && (r->mnn || !strcmp(r->align, "off")))
        return gc_errorf(GC_ERR_ARG, "match: --box-src/--box-tgt give the instance masks of the pose alignment (IMD); %s does not use them",
                         r->mnn ? "--mnn" : "--align off");
    if (so->sam && !so->box_src) return gc_errorf(GC_ERR_ARG, "match: --sam makes masks from --box-src / --box-tgt; give the boxes");
    if (so->box_src && !so->sam) {
        char *p = r->models.models_dir ? gc_strfmt("%s/%s", r->models.models_dir, SAM_IN_MODELS) : NULL;
        if (p && gc_file_exists(p)) r->sam = p, r->sources.sam = p;
        else free(p);
        if (!r->sam && r->models.models_dir)
            return gc_errorf(GC_ERR_ARG, "match: --box-src/--box-tgt need Segment Anything: give --sam W, or put %s in %s",
                             SAM_IN_MODELS, r->models.models_dir);
        if (!r->sam)
            return gc_errorf(GC_ERR_ARG, "match: --box-src/--box-tgt need Segment Anything: give --sam W (or --models DIR holding %s)",
                             SAM_IN_MODELS);
    }
    return GC_OK;
}

/* Everything one run holds. */
typedef struct {
    gc_image si, ms;                      /* the source and its mask */
    gc_descriptors *src, *src_flip;       /* src_flip NULL: no alignment */
    gc_descriptors *src_rot[3];           /* the rotations of args.poses */
    gc_align_poses poses;
    float *xy;                            /* [K,2] the points */
    int64_t *ids, *cells;                 /* [K] keypoint ids or NULL; dense: each point's cell */
    gc_match_inputs *in;
    cJSON *results;                       /* one object per target */
    gc_image *rows;                       /* [n_trg] pictures (contact sheet) */
    gc_progress bar;
} match_state;

static void state_free(match_state *s, int n_trg) {
    gc_image_free(&s->si);
    gc_image_free(&s->ms);
    gc_descriptors_free(s->src);
    gc_descriptors_free(s->src_flip);
    for (int q = 0; q < 3; q++) gc_descriptors_free(s->src_rot[q]);
    free(s->xy), free(s->ids), free(s->cells);
    gc_match_inputs_free(s->in);
    cJSON_Delete(s->results);
    for (int i = 0; s->rows && i < n_trg; i++) gc_image_free(&s->rows[i]);
    free(s->rows);
}

static gc_status save_png(const char *path, gc_status made, gc_image *img) {
    gc_status st = made == GC_OK ? gc_image_save_png(path, img) : made;
    gc_image_free(img);
    return st;
}

/* The dense mode's picture: the lines of every sixth cell (a lattice of at most 10 x 10 matches). */
static gc_status dense_picture(const gc_match_result *r, const int64_t *cells, gc_image *out) {
    float *a = malloc((size_t)r->K * 4 * sizeof(float)), *b = a ? a + 2 * r->K : NULL;
    if (!a) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    for (int64_t k = 0; k < r->K; k++)
        if (cells[k] % GC_DENSE_GRID % 6 == 3 && cells[k] / GC_DENSE_GRID % 6 == 3) {
            memcpy(a + 2 * n, r->points + 2 * k, 2 * sizeof(float));
            memcpy(b + 2 * n++, r->out + 2 * k, 2 * sizeof(float));
        }
    gc_status s = gc_picture_matches_masked(r->src, r->tgt, a, b, n, r->mask_src, r->mask_tgt, out);
    free(a);
    return s;
}

static cJSON *computed_object(const gc_match_inputs *in) {
    const gc_match_counts *c = gc_match_inputs_counts(in);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "features", (double)c->features);
    cJSON_AddNumberToObject(o, "masks", (double)c->masks);
    return o;
}

/* Dense mode with OUT.safetensors: the grids as tensors, the rest of the JSON (header, computed) as the
 * metadata "match". */
static gc_status save_dense(const match_args *r, const match_state *s, const gc_match_result *res) {
    cJSON *meta = gc_match_dense_object(res, s->cells);
    static const char *const arrays[] = {"match", "match_840", "score"};
    for (size_t k = 0; meta && k < GC_COUNTOF(arrays); k++) cJSON_DeleteItemFromObject(meta, arrays[k]);
    if (meta) cJSON_AddItemToObject(meta, "computed", computed_object(s->in));
    gc_status st = meta ? gc_match_dense_save(res, s->cells, meta, r->out) : gc_errorf(GC_ERR_NOMEM, "out of memory");
    cJSON_Delete(meta);
    return st;
}

/* Target i: its descriptors and mask, the match, its JSON object (or the dense arrays) and picture row. */
static gc_status match_target(const match_args *r, match_state *s, int i, int64_t K, bool imd) {
    const char *path = r->trg_images[i];
    gc_image ti = {0}, mt = {0};
    gc_descriptors *trg = NULL;
    gc_match_result res = {.src_name = r->src_image, .tgt_name = path, .src = &s->si, .tgt = &ti, .points = s->xy, .ids = s->ids};
    gc_status st = gc_image_load(path, &ti);
    if (st == GC_OK) st = gc_match_inputs_descriptors(s->in, i, path, &ti, GC_POSE_ORIGINAL, &trg);
    if (st == GC_OK && imd) st = gc_match_inputs_mask(s->in, i, path, &ti, &mt);
    if (st == GC_OK) {
        const gc_match_options mo = {.window = r->window, .hard = r->hard, .exclude_outside = r->exclude_outside,
                                     .align = r->align, .category = r->category, .flip_table = r->flip_table,
                                     .mask_src = imd ? &s->ms : NULL, .mask_trg = imd ? &mt : NULL,
                                     .poses = r->poses & GC_POSES_ROTATIONS ? &s->poses : NULL};
        st = gc_match_run(&res, K, s->src, s->src_flip, trg, &mo);
    }
    if (st == GC_OK && r->dense && ends_with(r->out, ".safetensors")) {
        st = save_dense(r, s, &res);
    } else if (st == GC_OK) {
        cJSON *obj = r->dense ? gc_match_dense_object(&res, s->cells) : gc_match_json_object(&res);
        if (obj) cJSON_AddItemToArray(s->results, obj);
        else st = gc_errorf(GC_ERR_NOMEM, "out of memory (match JSON)");
    }
    if (st == GC_OK && r->picture) st = r->dense ? dense_picture(&res, s->cells, &s->rows[i]) : gc_match_picture(&res, &s->rows[i]);
    if (st == GC_OK && r->heatmap_out) {
        gc_image pic = {0};
        st = save_png(r->heatmap_out, gc_match_heatmap(&res, r->heatmap_idx, s->src, s->src_flip, trg, false, &pic), &pic);
    }
    gc_match_result_free(&res);
    gc_descriptors_free(trg);
    gc_image_free(&ti);
    gc_image_free(&mt);
    return st;
}

/* The picture, or the contact sheet of several targets; then OUT.json (last: a failure before leaves no
 * result file): one pair's object, or {"src", "targets": [one object per target]}, with "computed" (what
 * the models ran). */
static gc_status write_outputs(const match_args *r, match_state *s) {
    gc_status st = GC_OK;
    if (r->picture && r->n_trg == 1) {
        st = gc_image_save_png(r->picture, &s->rows[0]);
    } else if (r->picture) {
        gc_image sheet = {0};
        st = save_png(r->picture, gc_match_sheet(s->rows, r->n_trg, &sheet), &sheet);
    }
    if (st == GC_OK && cJSON_GetArraySize(s->results) > 0) {
        cJSON *doc;
        if (r->n_trg == 1) {
            doc = cJSON_DetachItemFromArray(s->results, 0);
        } else {
            doc = cJSON_CreateObject();
            cJSON_AddStringToObject(doc, "src", r->src_image);
            cJSON_AddItemToObject(doc, "targets", s->results);
            s->results = NULL;
        }
        cJSON_AddItemToObject(doc, "computed", computed_object(s->in));
        char *text = NULL;
        st = gc_json_text(doc, &text);
        if (st == GC_OK) st = gc_write_file_atomic(r->out, text, strlen(text));
        free(text);
        cJSON_Delete(doc);
    }
    const gc_match_counts *c = gc_match_inputs_counts(s->in);
    if (st == GC_OK && r->sources.cache_dir)
        fprintf(stderr, "geocorr match: cache %s: %lld feature sets and %lld masks reused, %lld and %lld computed\n",
                r->sources.cache_dir, (long long)c->cached_features, (long long)c->cached_masks, (long long)c->features,
                (long long)c->masks);
    return st;
}

static gc_status run_match(const match_args *r, match_state *s, int64_t K) {
    GC_TRY(gc_image_load(r->src_image, &s->si));
    if (r->dense) GC_TRY(gc_dense_points(s->si.w, s->si.h, &s->xy, &s->cells, &K));
    for (int64_t k = 0; k < K; k++) {
        const float x = s->xy[2 * k], y = s->xy[2 * k + 1];
        if (!(x >= 0 && y >= 0 && x < s->si.w && y < s->si.h))
            return gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the source image %s (%dx%d)", (long long)k, x, y,
                             r->src_image, s->si.w, s->si.h);
    }
    GC_TRY(gc_match_inputs_open(&r->sources, &s->in));
    if (!(s->results = cJSON_CreateArray()) || !(s->rows = calloc((size_t)r->n_trg, sizeof *s->rows)))
        return gc_errorf(GC_ERR_NOMEM, "out of memory");
    GC_TRY(gc_match_inputs_descriptors(s->in, -1, r->src_image, &s->si, GC_POSE_ORIGINAL, &s->src));
    if (strcmp(r->align, "off") != 0)
        GC_TRY(gc_match_inputs_descriptors(s->in, -1, r->src_image, &s->si, GC_POSE_FLIP, &s->src_flip));
    for (int q = 0; q < 3; q++) {
        if (r->poses >> (GC_POSE_ROT90 + q) & 1)
            GC_TRY(gc_match_inputs_descriptors(s->in, -1, r->src_image, &s->si, GC_POSE_ROT90 + q, &s->src_rot[q]));
        s->poses.src_rot[q] = s->src_rot[q];
    }
    if (strcmp(r->align, "off") != 0 && !s->src_flip) {
        if (!strcmp(r->align, "flip"))
            return gc_errorf(GC_ERR_ARG, "--align flip needs --features-src-flip (features of the mirrored source)");
        fprintf(stderr, "geocorr match: no flipped source features (--features-src-flip): pose alignment off\n");
    }
    const bool imd = s->src_flip && (r->sources.mask_src || r->sources.box_src) && !r->mnn;
    if (imd) GC_TRY(gc_match_inputs_mask(s->in, -1, r->src_image, &s->si, &s->ms));
    gc_progress_init(&s->bar, "match", "target", r->progress && r->n_trg > 1);
    const double t0 = gc_now();
    gc_status st = GC_OK;
    for (int i = 0; st == GC_OK && i < r->n_trg; i++) {
        st = match_target(r, s, i, K, imd);
        if (st == GC_OK) gc_progress_update(&s->bar, i + 1, r->n_trg, gc_now() - t0, NULL);
    }
    gc_progress_end(&s->bar);
    return st == GC_OK ? write_outputs(r, s) : st;
}

/* The boxes' text -> numbers. */
static gc_status parse_boxes(match_args *r, const char *box_src) {
    if (!box_src) return GC_OK;
    GC_TRY(gc_box_parse(box_src, "--box-src", r->box_src));
    r->sources.box_src = r->box_src;
    for (int i = 0; i < r->n_box_trg && i < MAX_TARGETS; i++) {
        if (!r->box_trg_text[i]) return gc_errorf(GC_ERR_ARG, "match: --box-tgt needs a value");
        GC_TRY(gc_box_parse(r->box_trg_text[i], "--box-tgt", r->box_trg[i]));
    }
    r->sources.box_trg = &r->box_trg[0][0];
    return GC_OK;
}

static gc_status parse(gc_args *a, match_args *r, const char **pts, const char **pts_file) {
    gc_match_sources *so = &r->sources;
    *pts = gc_arg_str(a, "--points", NULL), *pts_file = gc_arg_str(a, "--points-file", NULL);
    so->features_src = gc_arg_str(a, "--features-src", NULL);
    r->n_features_trg = gc_arg_strs(a, "--features-tgt", r->features_trg, MAX_TARGETS);
    so->features_src_flip = gc_arg_str(a, "--features-src-flip", NULL);
    so->feature_map = gc_arg_str(a, "--feature-map", NULL);
    so->postproc = gc_arg_str(a, "--postproc", NULL);
    so->cache_dir = gc_arg_str(a, "--cache", NULL);
    GC_TRY(gc_cli_features_config(a, &r->models));
    r->compute = r->models.models_dir || r->models.dinov2 || r->models.sd || r->models.sd_config || r->models.clip_vision ||
                 r->models.text_encoder || r->models.captioner;
    so->models = r->compute ? &r->models : NULL;
    int64_t win, groups;
    GC_TRY(gc_arg_int(a, "--window", INT_MIN, &win));
    r->window = (int)(win == INT_MIN ? INT_MIN : GC_MAX(GC_MIN(win, 1000), -1000));
    GC_TRY(gc_arg_int(a, "--groups", 0, &groups));
    if (groups < 0 || groups > 4096) return gc_errorf(GC_ERR_ARG, "match: --groups %lld out of range", (long long)groups);
    so->groups = (int)groups;
    r->hard = gc_arg_flag(a, "--hard");
    r->exclude_outside = gc_arg_flag(a, "--exclude-outside");
    r->mnn = gc_arg_flag(a, "--mnn");
    r->progress = !gc_arg_flag(a, "--no-progress");
    r->align = gc_arg_str(a, "--align", "auto");
    const char *poses = gc_arg_str(a, "--poses", NULL);
    so->features_src_rot[0] = gc_arg_str(a, "--features-src-rot90", NULL);
    so->features_src_rot[1] = gc_arg_str(a, "--features-src-rot180", NULL);
    so->features_src_rot[2] = gc_arg_str(a, "--features-src-rot270", NULL);
    r->category = gc_arg_str(a, "--category", NULL);
    r->flip_table = gc_arg_str(a, "--flip-table", NULL);
    so->mask_src = gc_arg_str(a, "--mask-src", NULL);
    r->n_mask_trg = gc_arg_strs(a, "--mask-tgt", r->mask_trg, MAX_TARGETS);
    so->mask_trg = r->mask_trg;
    const char *box_src = gc_arg_str(a, "--box-src", NULL);
    r->n_box_trg = gc_arg_strs(a, "--box-tgt", r->box_trg_text, MAX_TARGETS);
    so->sam = gc_arg_str(a, "--sam", NULL);
    so->features_trg = r->features_trg;
    r->picture = gc_arg_str(a, "--picture", NULL);
    GC_TRY(gc_arg_int(a, "--heatmap", -1, &r->heatmap_idx));
    r->heatmap_out = gc_arg_str(a, "--heatmap-out", NULL);
    GC_TRY(gc_arg_req(a, "--out", &r->out));
    const char *pos[MAX_TARGETS + 1];
    int np = gc_arg_positionals(a, pos, MAX_TARGETS + 1);
    GC_TRY(gc_args_finish(a));
    if (np < 2 || np > MAX_TARGETS + 1)
        return gc_errorf(GC_ERR_ARG, "match: expected the images SRC TGT [TGT ...] (at most %d targets), got %d (geocorr match --help)",
                         MAX_TARGETS, np);
    if (!r->align) return gc_errorf(GC_ERR_ARG, "match: --align needs a value");
    if (r->heatmap_idx < -1) return gc_errorf(GC_ERR_ARG, "match: --heatmap %lld is not a point index", (long long)r->heatmap_idx);
    if (*pts && *pts_file) return gc_errorf(GC_ERR_ARG, "match: give one of --points and --points-file");
    r->dense = !*pts && !*pts_file;
    if (poses) {
        GC_TRY(gc_poses_parse(poses, &r->poses));
        r->poses = gc_poses_resolve(r->poses, r->category);
    }
    r->src_image = pos[0];
    r->n_trg = np - 1;
    for (int i = 0; i < r->n_trg; i++) r->trg_images[i] = pos[i + 1];
    if ((box_src && !*box_src) || r->n_mask_trg > MAX_TARGETS || r->n_box_trg > MAX_TARGETS || r->n_features_trg > MAX_TARGETS)
        return gc_errorf(GC_ERR_ARG, "match: --box-src needs a value, and at most %d of each per-target option", MAX_TARGETS);
    for (int i = 0; i < r->n_features_trg; i++)
        if (!r->features_trg[i]) return gc_errorf(GC_ERR_ARG, "match: --features-tgt needs a value");
    for (int i = 0; i < r->n_mask_trg; i++)
        if (!r->mask_trg[i]) return gc_errorf(GC_ERR_ARG, "match: --mask-tgt needs a value");
    return parse_boxes(r, box_src);
}

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    match_args *r = calloc(1, sizeof *r); /* (per-target tables: too big for the stack) */
    if (!r) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    const char *pts, *pts_file;
    match_state s = {0};
    int64_t K = 0;
    gc_status st = parse(a, r, &pts, &pts_file);
    if (st == GC_OK && pts) st = gc_points_parse(pts, &s.xy, &K);
    else if (st == GC_OK && pts_file) st = gc_points_load(pts_file, &s.xy, &s.ids, &K);
    if (st == GC_OK) st = check_args(r, r->dense ? GC_DENSE_CELLS : K);
    if (st == GC_OK) st = run_match(r, &s, K);
    state_free(&s, r->n_trg);
    free(r->sam);
    free(r);
    return st;
}

const gc_command gc_cmd_match = {"match", "match points of one image in others, or every cell (JSON, pictures; features computed or given)", run};
