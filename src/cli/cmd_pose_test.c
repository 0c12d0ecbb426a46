/* `geocorr pose-test`: GeoAware-SC's pose-awareness test (pose_awareness_test.py; paper sec. 3.4 / Tab. 1;
 * REFERENCE.md sec. 9) from images: the features of the 12 template photos and of every labelled target
 * (SD at t = 100 recorded after the skip concatenation, DINOv2 as usual), then the same code as
 * `geocorr trace pose-test` (src/analysis). A target's mask is its --masks file, else SAM prompted with its
 * box (--sam W --boxes SRC, the path of `extract --masks`), else all ones, the reference's own fallback;
 * the report counts and names which. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pose_boxes.h"
#include "analysis/pose_report.h"
#include "cli/cli.h"
#include "pipeline/features.h"
#include "pipeline/mask_cache.h"

#define POSE_SD_T 100 /* pose_awareness_test.py: TIMESTEP */

static const char *const k_usage =
    "usage: geocorr pose-test (--models DIR | <model flags>) --templates DIR --targets DIR --labels L.json\n"
    "         [--features fused|dino|sd] [--masks DIR] [--sam W [--sam-config C] --boxes SRC] [--pca-dims Q]\n"
    "         [--json OUT] [--verbose]\n"
    "--templates: the 12 template PNGs <set>_{back,front,left,right}.png of 3 sets (the reference's\n"
    "  data/images/pose_template/cat_{black,orange,white}_*.png), taken in sorted order.\n"
    "--labels: {\"targets\": [{\"name\", \"pose\": l|r|f|b}, ...]}; target images are <targets>/<name>[.jpg|.jpeg|.png]\n"
    "  (data/pose_labels_spair_cat.json: the reference's 100 SPair-71k cat labels for JPEGImages/cat).\n"
    "Masks, per target the first that applies: <masks>/<stem>.png (object where > 127; the image's size or\n"
    "  the 960 canvas, as `geocorr mask` writes them; without --sam every target needs one); SAM W (a folder\n"
    "  or weights file as for `geocorr mask`) on the 960 canvas prompted with the target's box from SRC: a\n"
    "  SPair-71k ImageAnnotation folder (<SRC>/<stem>.json, bndbox; e.g. SPair-71k/ImageAnnotation/cat) or a\n"
    "  file {\"boxes\": {\"<name>\": [x1,y1,x2,y2], ...}} (image pixels); else all ones (the reference's fallback).\n"
    "  <stem>: the name without .jpg/.jpeg/.png. The report counts and names the sources (run.masks).\n"
    "--features: fused (default; SD + DINO, L2 per part), dino (raw DINO tokens), sd (raw SD co-PCA tokens).\n"
    "--pca-dims: co-PCA dims of s5, s4, s3 (256). Model flags as for `geocorr features` (docs/models.md);\n"
    "  dino needs only --dinov2.\n";

static const char *const k_poses[4] = {"back", "front", "left", "right"};

/* The sorted *.png of dir (glob sorts in the C locale, i.e. by bytes like Python's sorted()), checked
 * to be 3 sets x (back, front, left, right), so index = 4 * set + pose as the reference assumes. */
static gc_status list_templates(const char *dir, glob_t *g) {
    char *pat = gc_alloc_array(2 * strlen(dir) + 8, 1), *p = pat;
    if (!pat) return GC_ERR_NOMEM;
    for (const char *c = dir; *c; c++) {
        if (strchr("*?[\\", *c)) *p++ = '\\';
        *p++ = *c;
    }
    strcpy(p, "/*.png");
    int rc = glob(pat, 0, NULL, g);
    gc_free(pat);
    if (rc == GLOB_NOSPACE) return gc_errorf(GC_ERR_NOMEM, "out of memory listing %s", dir);
    size_t n = rc == 0 ? g->gl_pathc : 0;
    if (n != GC_POSE_TEMPLATES)
        return gc_errorf(GC_ERR_ARG, "%s: %zu template PNGs; the test needs 12 (3 sets x back, front, left, right: "
                         "cat_{black,orange,white}_{back,front,left,right}.png)", dir, n);
    for (int k = 0; k < GC_POSE_TEMPLATES; k++) {
        char want[16];
        snprintf(want, sizeof want, "_%s.png", k_poses[k % 4]);
        const char *name = gc_basename(g->gl_pathv[k]);
        size_t ln = strlen(name), lw = strlen(want);
        if (ln < lw || strcmp(name + ln - lw, want) != 0)
            return gc_errorf(GC_ERR_ARG, "%s: template %d in sorted order is %s; expected a name ending in %s "
                             "(each set's back, front, left, right)", dir, k, name, want);
    }
    return GC_OK;
}

/* <dir>/<name>, or with .jpg, .jpeg or .png appended. */
static gc_status find_image(const char *dir, const char *name, char **out) {
    static const char *const ext[] = {"", ".jpg", ".jpeg", ".png"};
    for (size_t i = 0; i < GC_COUNTOF(ext); i++) {
        char *p = gc_strfmt("%s/%s%s", dir, name, ext[i]);
        if (!p) return GC_ERR_NOMEM;
        if (gc_file_exists(p)) return *out = p, GC_OK;
        free(p);
    }
    return gc_errorf(GC_ERR_MISSING, "%s: no image for target \"%s\" (looked for %s, %s.jpg, %s.jpeg, %s.png)", dir, name,
                     name, name, name, name);
}

/* Where target i's mask comes from, in this precedence: its --masks file, SAM from its box (--sam W
 * --boxes SRC), else all ones (the reference's fallback when its segmenter finds no cat). */
typedef enum { MASK_ALL_ONES, MASK_FILE, MASK_SAM } mask_source;
static const char *const k_source_names[3] = {"all_ones", "file", "sam"};

/* Every target's image and mask, resolved and made before the features, so that a missing file or a bad
 * box is reported before the long part, and SAM is freed before the feature models load. */
typedef struct {
    int64_t n;
    char **image, **mask_file; /* [n]; mask_file[i]: the --masks PNG (MASK_FILE) */
    gc_pose_box *box;          /* [n] with --boxes, else NULL */
    mask_source *src;          /* [n] */
    uint8_t **mask;            /* [n] on the 960 canvas, 0/255 (NULL: all ones) */
} targets;

static void targets_free(targets *t) {
    for (int64_t i = 0; i < t->n; i++) {
        if (t->image) free(t->image[i]);
        if (t->mask_file) free(t->mask_file[i]);
        if (t->mask) gc_free(t->mask[i]);
    }
    free(t->image), free(t->mask_file), free(t->box), free(t->src), free(t->mask);
}

static gc_status resolve_targets(const gc_pose_labels *l, const char *dir, const char *masks_dir, const char *boxes,
                                 targets *t) {
    const size_t n = (size_t)l->n;
    t->n = l->n;
    t->image = calloc(n, sizeof(char *)), t->mask_file = calloc(n, sizeof(char *)), t->src = calloc(n, sizeof *t->src);
    t->mask = calloc(n, sizeof(uint8_t *));
    if (boxes) t->box = calloc(n, sizeof *t->box);
    if (!t->image || !t->mask_file || !t->src || !t->mask || (boxes && !t->box))
        return gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (boxes) GC_TRY(gc_pose_boxes_load(boxes, l, t->box));
    for (int64_t i = 0; i < l->n; i++) {
        GC_TRY(find_image(dir, l->names[i], &t->image[i]));
        if (masks_dir) {
            char *p = gc_strfmt("%s/%.*s.png", masks_dir, (int)gc_pose_name_stem(l->names[i]), l->names[i]);
            if (!p) return GC_ERR_NOMEM;
            if (gc_file_exists(p)) {
                t->mask_file[i] = p, t->src[i] = MASK_FILE;
            } else {
                gc_status s = boxes ? GC_OK : gc_errorf(GC_ERR_MISSING, "%s: no mask for target \"%s\" (--masks)", p, l->names[i]);
                free(p); /* --masks alone asks for every target's file; with --boxes the box is next */
                GC_TRY(s);
            }
        }
        if (t->src[i] == MASK_ALL_ONES && boxes && t->box[i].found) t->src[i] = MASK_SAM;
    }
    return GC_OK;
}

/* A --masks PNG (the image's size or the 960 canvas) on the 960 canvas: the same picture as the
 * reference's 840 one, scaled. */
static gc_status file_mask(const char *path, const gc_image *img, uint8_t *mask) {
    gc_image mi = {0};
    gc_status s = gc_image_load(path, &mi);
    if (s == GC_OK && (s = gc_mask_to_canvas(&mi, img->w, img->h, 0, mask)) != GC_OK) gc_error_context(s, "%s", path);
    gc_image_free(&mi);
    return s;
}

/* SAM from the target's box, as `extract --masks` makes the benchmark's masks (gc_mask_from_box). */
static gc_status sam_mask(const gc_sam *sam, const gc_pose_box *b, const char *path, const gc_image *img, uint8_t *mask) {
    const float *x = b->box;
    if (b->w && (b->w != img->w || b->h != img->h))
        return gc_errorf(GC_ERR_FORMAT, "%s: its --boxes annotation is for a %dx%d image, the image is %dx%d", path,
                         (int)b->w, (int)b->h, (int)img->w, (int)img->h);
    if (!(x[0] < (float)img->w && x[1] < (float)img->h && x[2] > 0 && x[3] > 0))
        return gc_errorf(GC_ERR_ARG, "%s: its --boxes box (%g, %g, %g, %g) lies outside the %dx%d image", path, x[0], x[1],
                         x[2], x[3], (int)img->w, (int)img->h);
    gc_status s = gc_mask_from_box(sam, img, x, mask);
    return s == GC_OK ? s : gc_error_context(s, "%s: SAM mask from box (%g, %g, %g, %g)", path, x[0], x[1], x[2], x[3]);
}

static gc_status make_masks(targets *t, const char *sam_path, const char *sam_config) {
    gc_sam *sam = NULL;
    gc_status s = GC_OK;
    for (int64_t i = 0; i < t->n && s == GC_OK; i++) {
        if (t->src[i] == MASK_ALL_ONES) continue;
        if (t->src[i] == MASK_SAM && !sam) s = gc_sam_load(sam_path, sam_config, &sam);
        gc_image img = {0};
        if (s == GC_OK && !(t->mask[i] = gc_alloc((size_t)GC_CANVAS_SD * GC_CANVAS_SD))) s = GC_ERR_NOMEM;
        if (s == GC_OK) s = gc_image_load(t->image[i], &img);
        if (s == GC_OK)
            s = t->src[i] == MASK_FILE ? file_mask(t->mask_file[i], &img, t->mask[i])
                                       : sam_mask(sam, &t->box[i], t->image[i], &img, t->mask[i]);
        gc_image_free(&img);
    }
    gc_sam_free(sam);
    return s;
}

/* run.masks of the report: the count per source, the targets left all ones, the source per target. */
static cJSON *masks_json(const targets *t, const gc_pose_labels *l, const char *masks_dir, const char *sam, const char *boxes) {
    int64_t count[3] = {0};
    for (int64_t i = 0; i < t->n; i++) count[t->src[i]]++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_file", (double)count[MASK_FILE]);
    cJSON_AddNumberToObject(o, "n_sam", (double)count[MASK_SAM]);
    cJSON_AddNumberToObject(o, "n_all_ones", (double)count[MASK_ALL_ONES]);
    cJSON *ones = cJSON_AddArrayToObject(o, "all_ones"), *src = cJSON_AddArrayToObject(o, "source");
    for (int64_t i = 0; i < t->n; i++) {
        if (t->src[i] == MASK_ALL_ONES) cJSON_AddItemToArray(ones, cJSON_CreateString(l->names[i]));
        cJSON_AddItemToArray(src, cJSON_CreateString(k_source_names[t->src[i]]));
    }
    cJSON_AddItemToObject(o, "masks_dir", masks_dir ? cJSON_CreateString(masks_dir) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "sam", sam ? cJSON_CreateString(sam) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "boxes", boxes ? cJSON_CreateString(boxes) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "rule", "--masks file > SAM from the box on the 960 canvas > all ones (the reference's "
                            "fallback when its segmenter finds no cat); a mask of fewer than 6 pixels becomes all ones too "
                            "(n_masked 16384)");
    return o;
}

/* The mask line on the terminal: counts per source and the targets without a mask. */
static void print_masks(const targets *t, const gc_pose_labels *l) {
    int64_t count[3] = {0};
    for (int64_t i = 0; i < t->n; i++) count[t->src[i]]++;
    printf("masks: %lld from files, %lld SAM from boxes, %lld all ones (the reference's fallback)", (long long)count[MASK_FILE],
           (long long)count[MASK_SAM], (long long)count[MASK_ALL_ONES]);
    const char *sep = count[MASK_ALL_ONES] && count[MASK_ALL_ONES] < t->n ? ": " : "";
    for (int64_t i = 0; *sep && i < t->n; i++)
        if (t->src[i] == MASK_ALL_ONES) printf("%s%s", sep, l->names[i]), sep = ", ";
    printf("\n");
}

/* The maps of one image for the test (the canvases of gc_features_compute; the flip never). */
static gc_status image_maps(gc_features *f, const char *path, gc_feature_maps *fm, gc_pose_maps *pm, gc_image *img) {
    GC_TRY(gc_image_load(path, img));
    gc_status st = gc_features_compute(f, img, 0, fm);
    if (st != GC_OK) return gc_error_context(st, "%s", path);
    *pm = (gc_pose_maps){.c = {fm->c5, fm->c4, fm->c3, fm->cd}, .h = {fm->g5, fm->g4, fm->g3, fm->gd},
                         .w = {fm->g5, fm->g4, fm->g3, fm->gd}, .x = {fm->s5, fm->s4, fm->s3, fm->dino}};
    return GC_OK;
}

static gc_status run(gc_args *a) {
    if (gc_arg_flag(a, "--help")) return fputs(k_usage, stdout), GC_OK;
    const char *tdir, *gdir, *labels_path, *masks = gc_arg_str(a, "--masks", NULL), *json = gc_arg_str(a, "--json", NULL);
    const char *sam = gc_arg_str(a, "--sam", NULL), *sam_config = gc_arg_str(a, "--sam-config", NULL),
               *boxes = gc_arg_str(a, "--boxes", NULL);
    gc_features_config cfg;
    gc_pose_opts o = {0};
    int64_t q;
    GC_TRY(gc_cli_features_config(a, &cfg));
    GC_TRY(gc_pose_features_parse(gc_arg_str(a, "--features", "fused"), &o.features));
    GC_TRY(gc_arg_req(a, "--templates", &tdir));
    GC_TRY(gc_arg_req(a, "--targets", &gdir));
    GC_TRY(gc_arg_req(a, "--labels", &labels_path));
    GC_TRY(gc_arg_int(a, "--pca-dims", GC_POSE_PCA_Q, &q));
    bool verbose = gc_arg_flag(a, "--verbose");
    GC_TRY(gc_args_finish(a));
    if (q < 1 || q > 1000000) return gc_errorf(GC_ERR_ARG, "--pca-dims %lld must be at least 1", (long long)q);
    if (!sam != !boxes)
        return gc_errorf(GC_ERR_ARG, "--sam W and --boxes SRC go together (the SAM model and the targets' boxes it is "
                         "prompted with: a SPair-71k ImageAnnotation folder or a {\"boxes\": {...}} file)");
    if (sam_config && !sam) return gc_errorf(GC_ERR_ARG, "--sam-config needs --sam W");
    o.pca_q[0] = o.pca_q[1] = o.pca_q[2] = q;
    if (o.features == GC_POSE_DINO) cfg.dino_only = 1;
    else if (cfg.dino_only)
        return gc_errorf(GC_ERR_ARG, "--features %s needs the SD branch: --models DIR or the SD-branch model flags "
                         "(--sd, --clip-vision, --captioner; docs/models.md); --features dino needs only --dinov2",
                         gc_pose_features_name(o.features));

    gc_pose_labels labels;
    GC_TRY(gc_pose_labels_load(labels_path, &labels));
    glob_t g = {0};
    targets tg = {0};
    gc_features *f = NULL;
    gc_feature_maps tf[GC_POSE_TEMPLATES] = {{0}};
    gc_pose_maps tm[GC_POSE_TEMPLATES];
    gc_pose_result *res = gc_calloc((size_t)labels.n, sizeof *res);
    cJSON *report = NULL;
    gc_status s = res ? list_templates(tdir, &g) : GC_ERR_NOMEM;
    if (s == GC_OK) s = resolve_targets(&labels, gdir, masks, boxes, &tg);
    if (s == GC_OK) s = make_masks(&tg, sam, sam_config);
    if (s == GC_OK) s = gc_features_load(&cfg, &f);
    if (s == GC_OK) gc_features_set_sd_variant(f, POSE_SD_T, true);
    for (int k = 0; k < GC_POSE_TEMPLATES && s == GC_OK; k++) {
        gc_image img = {0};
        s = image_maps(f, g.gl_pathv[k], &tf[k], &tm[k], &img);
        gc_image_free(&img);
    }
    for (int64_t i = 0; i < labels.n && s == GC_OK; i++) {
        const char *path = tg.image[i];
        gc_image img = {0};
        gc_feature_maps fm = {0};
        gc_pose_maps pm;
        s = image_maps(f, path, &fm, &pm, &img);
        if (s == GC_OK &&
            (s = gc_pose_target(tm, &pm, tg.mask[i], GC_CANVAS_SD, GC_CANVAS_SD, &o, &res[i], NULL)) != GC_OK)
            gc_error_context(s, "%s", path);
        if (s == GC_OK && verbose)
            fprintf(stderr, "  %lld/%lld %s: label %c, picks %c%c / %c (mask: %s, %lld of 128x128)\n", (long long)i + 1,
                    (long long)labels.n, labels.names[i], labels.poses[i], res[i].bf, res[i].lr, res[i].pose4,
                    k_source_names[tg.src[i]], (long long)res[i].n_masked);
        gc_feature_maps_free(&fm);
        gc_image_free(&img);
    }
    if (s == GC_OK && !(report = gc_pose_report(&labels, res, NULL))) s = gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (s == GC_OK) {
        cJSON *run_info = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(run_info, "templates");
        for (int k = 0; names && k < GC_POSE_TEMPLATES; k++) cJSON_AddItemToArray(names, cJSON_CreateString(gc_basename(g.gl_pathv[k])));
        cJSON_AddStringToObject(run_info, "features", gc_pose_features_name(o.features));
        cJSON_AddNumberToObject(run_info, "pca_dims", (double)q);
        cJSON_AddStringToObject(run_info, "pca", "exact (float64 eigen-solver), not the reference's randomised torch.pca_lowrank");
        cJSON_AddItemToObject(run_info, "masks", masks_json(&tg, &labels, masks, sam, boxes));
        if (o.features != GC_POSE_DINO)
            cJSON_AddStringToObject(run_info, "sd", "t = 100, s5/s4/s3 after the skip concatenation (decoder_only=False), FreeU on");
        cJSON_AddItemToObject(report, "run", run_info);
        gc_pose_report_print(stdout, &labels, res);
        print_masks(&tg, &labels);
        if (json) s = gc_pose_report_write(json, report);
    }
    cJSON_Delete(report);
    for (int k = 0; k < GC_POSE_TEMPLATES; k++) gc_feature_maps_free(&tf[k]);
    gc_features_free(f);
    targets_free(&tg);
    globfree(&g);
    gc_free(res);
    gc_pose_labels_free(&labels);
    return s;
}

const gc_command gc_cmd_pose_test = {"pose-test", "pose-awareness test: templates vs labelled targets (paper Tab. 1)", run};
