/* `geocorr pose-test`: GeoAware-SC's pose-awareness test (pose_awareness_test.py; paper sec. 3.4 / Tab. 1;
 * REFERENCE.md sec. 9) from images: the features of the 12 template photos and of every labelled target
 * (SD at t = 100 recorded after the skip concatenation, DINOv2 as usual), then the same code as
 * `geocorr trace pose-test` (src/analysis). Masks come from --masks (one PNG per target), else every
 * target is all ones, the reference's own fallback; the report says which. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pose_report.h"
#include "cli/cli.h"
#include "pipeline/features.h"

#define POSE_SD_T 100 /* pose_awareness_test.py: TIMESTEP */

static const char *const k_usage =
    "usage: geocorr pose-test (--models DIR | <model flags>) --templates DIR --targets DIR --labels L.json\n"
    "         [--features fused|dino|sd] [--masks DIR] [--pca-dims Q] [--json OUT] [--verbose]\n"
    "--templates: the 12 template PNGs <set>_{back,front,left,right}.png of 3 sets (the reference's\n"
    "  data/images/pose_template/cat_{black,orange,white}_*.png), taken in sorted order.\n"
    "--labels: {\"targets\": [{\"name\", \"pose\": l|r|f|b}, ...]}; target images are <targets>/<name>[.jpg|.jpeg|.png]\n"
    "  (data/pose_labels_spair_cat.json: the reference's 100 SPair-71k cat labels for JPEGImages/cat).\n"
    "--masks: <masks>/<name>.png per target (object where > 127; the image's size or the 960 canvas, as\n"
    "  `geocorr mask` writes them); without it every mask is all ones (the reference's fallback).\n"
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

/* <masks>/<name without .jpg/.jpeg/.png>.png, which must exist. */
static gc_status find_mask(const char *masks_dir, const char *name, char **out) {
    const char *dot = strrchr(name, '.');
    int stem = dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg") || !strcmp(dot, ".png")) ? (int)(dot - name) : (int)strlen(name);
    if (!(*out = gc_strfmt("%s/%.*s.png", masks_dir, stem, name))) return GC_ERR_NOMEM;
    return gc_file_exists(*out) ? GC_OK : gc_errorf(GC_ERR_MISSING, "%s: no mask for target \"%s\" (--masks)", *out, name);
}

/* Where each target's image and mask are, resolved before any model runs. The mask source is a PNG per
 * target or none (all ones); SAM from the image's box (`geocorr mask`, issue H) plugs in here. */
typedef struct {
    char **image, **mask; /* [n]; mask[i] NULL: all ones */
    int64_t n;
} target_files;

static void target_files_free(target_files *t) {
    for (int64_t i = 0; i < t->n; i++) {
        if (t->image) free(t->image[i]);
        if (t->mask) free(t->mask[i]);
    }
    free(t->image);
    free(t->mask);
}

static gc_status resolve_targets(const gc_pose_labels *l, const char *dir, const char *masks_dir, target_files *t) {
    t->n = l->n;
    t->image = calloc((size_t)l->n, sizeof(char *));
    t->mask = calloc((size_t)l->n, sizeof(char *));
    if (!t->image || !t->mask) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < l->n; i++) {
        GC_TRY(find_image(dir, l->names[i], &t->image[i]));
        if (masks_dir) GC_TRY(find_mask(masks_dir, l->names[i], &t->mask[i]));
    }
    return GC_OK;
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
    o.pca_q[0] = o.pca_q[1] = o.pca_q[2] = q;
    if (o.features == GC_POSE_DINO) cfg.dino_only = 1;
    else if (cfg.dino_only)
        return gc_errorf(GC_ERR_ARG, "--features %s needs the SD branch: --models DIR or the SD-branch model flags "
                         "(--sd, --clip-vision, --captioner; docs/models.md); --features dino needs only --dinov2",
                         gc_pose_features_name(o.features));

    gc_pose_labels labels;
    GC_TRY(gc_pose_labels_load(labels_path, &labels));
    glob_t g = {0};
    target_files files = {0};
    gc_features *f = NULL;
    gc_feature_maps tf[GC_POSE_TEMPLATES] = {{0}};
    gc_pose_maps tm[GC_POSE_TEMPLATES];
    gc_pose_result *res = gc_calloc((size_t)labels.n, sizeof *res);
    cJSON *report = NULL;
    gc_status s = res ? list_templates(tdir, &g) : GC_ERR_NOMEM;
    if (s == GC_OK) s = resolve_targets(&labels, gdir, masks, &files);
    if (s == GC_OK) s = gc_features_load(&cfg, &f);
    if (s == GC_OK) gc_features_set_sd_variant(f, POSE_SD_T, true);
    for (int k = 0; k < GC_POSE_TEMPLATES && s == GC_OK; k++) {
        gc_image img = {0};
        s = image_maps(f, g.gl_pathv[k], &tf[k], &tm[k], &img);
        gc_image_free(&img);
    }
    for (int64_t i = 0; i < labels.n && s == GC_OK; i++) {
        const char *path = files.image[i];
        gc_image img = {0};
        gc_feature_maps fm = {0};
        gc_pose_maps pm;
        uint8_t *mask = NULL;
        s = image_maps(f, path, &fm, &pm, &img);
        if (s == GC_OK && files.mask[i]) {
            /* the mask on the 960 canvas: the same picture as the reference's 840 one, scaled */
            gc_image mi = {0};
            if (!(mask = gc_alloc((size_t)GC_CANVAS_SD * GC_CANVAS_SD))) s = GC_ERR_NOMEM;
            if (s == GC_OK) s = gc_image_load(files.mask[i], &mi);
            if (s == GC_OK && (s = gc_mask_to_canvas(&mi, img.w, img.h, 0, mask)) != GC_OK)
                gc_error_context(s, "%s", files.mask[i]);
            gc_image_free(&mi);
        }
        if (s == GC_OK &&
            (s = gc_pose_target(tm, &pm, mask, GC_CANVAS_SD, GC_CANVAS_SD, &o, &res[i], NULL)) != GC_OK)
            gc_error_context(s, "%s", path);
        if (s == GC_OK && verbose)
            fprintf(stderr, "  %lld/%lld %s: label %c, picks %c%c / %c\n", (long long)i + 1, (long long)labels.n,
                    labels.names[i], labels.poses[i], res[i].bf, res[i].lr, res[i].pose4);
        gc_free(mask);
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
        cJSON_AddStringToObject(run_info, "masks", masks ? masks : "none: all ones (the reference's fallback when no mask is found)");
        if (o.features != GC_POSE_DINO)
            cJSON_AddStringToObject(run_info, "sd", "t = 100, s5/s4/s3 after the skip concatenation (decoder_only=False), FreeU on");
        cJSON_AddItemToObject(report, "run", run_info);
        gc_pose_report_print(stdout, &labels, res);
        if (!masks) printf("masks: none given, every target all ones (the reference's fallback)\n");
        if (json) s = gc_pose_report_write(json, report);
    }
    cJSON_Delete(report);
    for (int k = 0; k < GC_POSE_TEMPLATES; k++) gc_feature_maps_free(&tf[k]);
    gc_features_free(f);
    target_files_free(&files);
    globfree(&g);
    gc_free(res);
    gc_pose_labels_free(&labels);
    return s;
}

const gc_command gc_cmd_pose_test = {"pose-test", "pose-awareness test: templates vs labelled targets (paper Tab. 1)", run};
