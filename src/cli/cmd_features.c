/* `geocorr features`: the cached feature maps of one image, as the reference's preprocess_map.py
 * computes them: s5, s4, s3 (SD branch) and dino, in one safetensors file (TRACE.md §7).
 *   geocorr features (--models DIR | <model flags>) --image IMG [--flip | --pose P] --out FEAT.safetensors
 *   geocorr features --dinov2 PATH --image IMG [--canvas 840] [--flip | --pose P] --out FEAT.safetensors
 * The second form (or --dino-only) computes the DINOv2 GeoAware descriptor `dino` [D, canvas/14,
 * canvas/14] alone. --pose rot90|rot180|rot270 turns the image first (gc_image_pose): the rotated
 * source of the pose alignment (geocorr match --poses). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/dinov2.h"
#include "models/sd.h"
#include "pipeline/features.h"

static const char *const k_usage =
    "usage: geocorr features (--models DIR | <model flags>) --image IMG [--flip | --pose P] --out FEAT.safetensors\n"
    "       geocorr features --dinov2 PATH [--dino-only] --image IMG [--canvas 840] [--flip | --pose P] --out FEAT.safetensors\n"
    "--pose rot90|rot180|rot270: the image turned by +90 (counter-clockwise), 180, -90 degrees first.\n"
    "model flags (each overrides what --models finds; docs/models.md): --dinov2 P --sd P [--sd-config F]\n"
    "  --clip-vision P --text-encoder P --captioner P\n"
    "writes s5 [c5,15,15], s4 [c4,30,30], s3 [c3,60,60], dino [cd,60,60] (float32) + metadata;\n"
    "with only --dinov2 (or --dino-only): dino alone. --verbose: seconds per stage on stderr.\n";

static gc_status features_dino(gc_dinov2 *m, const gc_image *img, int32_t canvas, bool flip, int pose,
                               const char *model, const char *out) {
    gc_image cv = {0};
    GC_TRY(gc_image_to_canvas(img, canvas, flip, &cv, NULL));
    int64_t S = canvas, Hp = S / m->patch, D = m->dim;
    float *px = gc_alloc_array((size_t)(3 * S * S), sizeof(float));
    float *feat = gc_alloc_array((size_t)(D * Hp * Hp), sizeof(float));
    gc_status s = px && feat ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) {
        gc_dinov2_normalize_u8(px, cv.rgb, S, S);
        s = gc_dinov2_features(m, px, S, S, feat);
    }
    gc_st_writer *wr = s == GC_OK ? gc_st_writer_new() : NULL;
    if (s == GC_OK && !wr) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "dino", feat, D, Hp, Hp);
    char canvas_s[16];
    snprintf(canvas_s, sizeof canvas_s, "%d", (int)canvas);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "model", model);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "canvas", canvas_s);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "flip", flip ? "1" : "0");
    if (s == GC_OK && pose) s = gc_st_writer_meta(wr, "pose", gc_pose_name(pose));
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    gc_free(px);
    gc_free(feat);
    gc_image_free(&cv);
    return s;
}

static gc_status add_map(gc_st_writer *wr, const char *name, const float *x, int64_t c, int64_t g) {
    return gc_st_writer_add(wr, name, GC_DT_F32, 3, (const int64_t[]){c, g, g}, x);
}

/* Both branches: s5, s4, s3 and dino. */
static gc_status features_all(gc_features *f, const gc_image *img, bool flip, int pose, const gc_features_config *cfg,
                              bool verbose, const char *out) {
    gc_feature_maps m = {0};
    double t0 = gc_now();
    gc_status s = gc_features_compute(f, img, flip, &m);
    double dt = gc_now() - t0;
    gc_st_writer *wr = s == GC_OK ? gc_st_writer_new() : NULL;
    if (s == GC_OK && !wr) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = add_map(wr, "s5", m.s5, m.c5, m.g5);
    if (s == GC_OK) s = add_map(wr, "s4", m.s4, m.c4, m.g4);
    if (s == GC_OK) s = add_map(wr, "s3", m.s3, m.c3, m.g3);
    if (s == GC_OK) s = add_map(wr, "dino", m.dino, m.cd, m.gd);
    char secs[32];
    snprintf(secs, sizeof secs, "%.2f", dt);
    const char *meta[][2] = {
        {"geocorr_version", gc_version()}, {"flip", flip ? "1" : "0"}, {"canvas", "840"}, {"sd.canvas", "960"},
        {"sd.pipeline", "ODISE slide 2x2 512 crops; implicit captioner; VAE mean; t=50 seed-42 noise; UNet FreeU "
                        "(b1 1.2 b2 1.4 s1 0.9 s2 0.2) decoder taps 2/5/8"},
        {"seconds", secs}, {"models", cfg->models_dir ? cfg->models_dir : ""},
        {"dino.model", gc_weights_label(f->dino->weights)}, {"sd.model", gc_weights_label(f->sd->wu)},
        {"clip_vision.model", gc_weights_label(f->clip.w)}, {"captioner.model", gc_weights_label(f->cap.w)},
    };
    for (size_t i = 0; i < GC_COUNTOF(meta) && s == GC_OK; i++) s = gc_st_writer_meta(wr, meta[i][0], meta[i][1]);
    if (s == GC_OK && pose) s = gc_st_writer_meta(wr, "pose", gc_pose_name(pose));
    if (s == GC_OK) s = gc_st_writer_save(wr, out);
    for (int i = 0; i < GC_STAGE_COUNT && s == GC_OK && verbose; i++)
        fprintf(stderr, "  %-28s %8.2f s\n", gc_stage_names[i], f->stage_s[i]);
    gc_st_writer_free(wr);
    gc_feature_maps_free(&m);
    return s;
}

static gc_status run(gc_args *a) {
    if (gc_arg_flag(a, "--help")) return fputs(k_usage, stdout), GC_OK;
    const char *image, *out;
    gc_features_config cfg;
    GC_TRY(gc_cli_features_config(a, &cfg));
    GC_TRY(gc_arg_req(a, "--image", &image));
    GC_TRY(gc_arg_req(a, "--out", &out));
    int64_t canvas;
    GC_TRY(gc_arg_int(a, "--canvas", GC_CANVAS_DINO, &canvas));
    bool flip = gc_arg_flag(a, "--flip"), verbose = gc_arg_flag(a, "--verbose");
    const char *pose_s = gc_arg_str(a, "--pose", NULL);
    GC_TRY(gc_args_finish(a));
    if (!cfg.dinov2 && !cfg.models_dir)
        return gc_errorf(GC_ERR_ARG, "--models DIR or --dinov2 PATH is required: a folder with config.json + "
                                     "model.safetensors from the HuggingFace repo facebook/dinov2-base "
                                     "(scripts/fetch-models.sh downloads them), or the weights file; "
                                     "docs/models.md lists the SD-branch models");
    if (canvas < 14 || canvas > 14 * 512 || canvas % 14)
        return gc_errorf(GC_ERR_ARG, "--canvas %lld must be a multiple of 14 (840 in the reference)",
                         (long long)canvas);
    int pose = 0;
    while (pose_s && pose < GC_N_POSES && strcmp(pose_s, gc_pose_name(pose))) pose++;
    if (pose_s && (pose < GC_POSE_ROT90 || pose >= GC_N_POSES))
        return gc_errorf(GC_ERR_ARG, "--pose '%s': expected rot90, rot180 or rot270 (--flip for the mirror image)", pose_s);
    if (pose && flip) return gc_errorf(GC_ERR_ARG, "--flip and --pose exclude each other (one pose per file)");
    if (!cfg.dino_only && canvas != GC_CANVAS_DINO)
        return gc_errorf(GC_ERR_ARG, "--canvas applies to the DINOv2-only form (--dino-only); the full pipeline uses "
                                     "the reference canvases 960 / 840");
    gc_features *f;
    GC_TRY(gc_features_load(&cfg, &f));
    gc_image img = {0}, turned = {0};
    gc_status s = gc_image_load(image, &img);
    if (s == GC_OK && pose) s = gc_image_pose(&img, pose, &turned);
    const gc_image *in = pose ? &turned : &img;
    if (s == GC_OK && cfg.dino_only)
        s = features_dino(f->dino, in, (int32_t)canvas, flip, pose,
                          cfg.dinov2 ? cfg.dinov2 : gc_weights_label(f->dino->weights), out);
    else if (s == GC_OK)
        s = features_all(f, in, flip, pose, &cfg, verbose, out);
    gc_image_free(&img);
    gc_image_free(&turned);
    gc_features_free(f);
    return s;
}

const gc_command gc_cmd_features = {"features", "the feature maps of one image: s5, s4, s3 (SD) and dino", run};
