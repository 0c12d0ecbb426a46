/* `geocorr features --dinov2 PATH --image IMG [--canvas 840] [--flip] --out FEAT.safetensors`:
 * the reference preprocessing (Pillow-exact resize into a zero-padded square canvas) and the DINOv2
 * GeoAware descriptor `dino` [D, canvas/14, canvas/14]. */
#include <stdio.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/dinov2.h"

static gc_status features_dino(gc_dinov2 *m, const gc_image *img, int32_t canvas, bool flip, const char *model,
                               const char *out) {
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
    if (s == GC_OK) s = gc_st_writer_meta(wr, "geocorr_version", gc_version());
    if (s == GC_OK) s = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    gc_free(px);
    gc_free(feat);
    gc_image_free(&cv);
    return s;
}

static gc_status run(gc_args *a) {
    const char *image, *out;
    const char *dino = gc_arg_str(a, "--dinov2", NULL);
    GC_TRY(gc_arg_req(a, "--image", &image));
    GC_TRY(gc_arg_req(a, "--out", &out));
    int64_t canvas;
    GC_TRY(gc_arg_int(a, "--canvas", GC_CANVAS_DINO, &canvas));
    bool flip = gc_arg_flag(a, "--flip");
    GC_TRY(gc_cli_threads(a));
    GC_TRY(gc_args_finish(a));
    if (!dino)
        return gc_errorf(GC_ERR_ARG, "--dinov2 PATH is required: a folder with config.json + "
                                     "model.safetensors from the HuggingFace repo facebook/dinov2-base "
                                     "(scripts/fetch-models.sh downloads them), or the weights file");
    if (canvas < 14 || canvas > 14 * 512 || canvas % 14)
        return gc_errorf(GC_ERR_ARG, "--canvas %lld must be a multiple of 14 (840 in the reference)",
                         (long long)canvas);
    gc_dinov2 *m;
    GC_TRY(gc_dinov2_load(dino, &m));
    gc_image img = {0};
    gc_status s = gc_image_load(image, &img);
    if (s == GC_OK) s = features_dino(m, &img, (int32_t)canvas, flip, dino, out);
    gc_image_free(&img);
    gc_dinov2_free(m);
    return s;
}

const gc_command gc_cmd_features = {"features", "compute the feature maps of one image (DINOv2 `dino` [D,60,60])", run};
