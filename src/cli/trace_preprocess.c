/* `geocorr trace preprocess (--image IMG | --inputs IN) --canvas S [--flip] --out OUT` (TRACE.md §6):
 * the reference resize() of one image into an S x S canvas, and preprocess_kps_pad of its keypoints.
 * IN: src_rgb U8 [H,W,3] (replaces decoding; optional when --image is given too), kps.in F32 [N,3].
 * OUT: src_rgb, canvas U8 [S,S,3], band U8 [H',W',3]; with kps.in: kps.{S}, kps.{S}.flip F32 [N,3]
 * and kps.offset_xy_scale F64 [3] (the keypoint outputs do not depend on --flip). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"

/* The src_rgb tensor of IN as an image (copied, so the set can be freed independently). */
static gc_status image_from_inputs(gc_weights *in, const char *path, gc_image *img) {
    const gc_tensor_ref *r = gc_weights_find(in, "src_rgb");
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: tensor 'src_rgb' (U8 [H,W,3]) is missing", path);
    char buf[96];
    if (r->dtype != GC_DT_U8 || r->ndim != 3 || r->shape[2] != 3 || r->shape[0] <= 0 || r->shape[1] <= 0 ||
        r->shape[0] > INT32_MAX || r->shape[1] > INT32_MAX)
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor 'src_rgb' must be U8 [H,W,3], got %s %s", path,
                         gc_dtype_name(r->dtype), gc_shape_str(r->ndim, r->shape, buf, sizeof buf));
    GC_TRY(gc_image_alloc(img, (int32_t)r->shape[1], (int32_t)r->shape[0]));
    memcpy(img->rgb, r->data, r->nbytes);
    return GC_OK;
}

static gc_status run(gc_args *a) {
    const char *out, *image = gc_arg_str(a, "--image", NULL), *inputs = gc_arg_str(a, "--inputs", NULL);
    int64_t size;
    GC_TRY(gc_arg_req(a, "--out", &out));
    GC_TRY(gc_arg_int(a, "--canvas", -1, &size));
    const bool flip = gc_arg_flag(a, "--flip");
    GC_TRY(gc_args_finish(a));
    if (!image && !inputs) return gc_errorf(GC_ERR_ARG, "%s: give --image IMG or --inputs IN", a->cmd);
    if (size < 1 || size > 16384) return gc_errorf(GC_ERR_ARG, "%s: --canvas S is required (1..16384)", a->cmd);

    gc_weights *in = NULL;
    gc_image img = {0}, canvas = {0}, band = {0};
    gc_st_writer *wr = NULL;
    gc_status s = GC_OK;
    if (inputs && (s = gc_weights_open(inputs, &in)) != GC_OK) goto done;
    s = image ? gc_image_load(image, &img) : image_from_inputs(in, inputs, &img);
    if (s != GC_OK) goto done;
    const int32_t S = (int32_t)size;
    if ((s = gc_image_to_canvas(&img, S, flip, &canvas, &band)) != GC_OK) goto done;

    wr = gc_st_writer_new();
    if (!wr) {
        s = GC_ERR_NOMEM;
        goto done;
    }
    const int64_t src_shape[3] = {img.h, img.w, 3}, canvas_shape[3] = {S, S, 3}, band_shape[3] = {band.h, band.w, 3};
    if ((s = gc_st_writer_add_ref(wr, "src_rgb", GC_DT_U8, 3, src_shape, img.rgb)) != GC_OK ||
        (s = gc_st_writer_add_ref(wr, "canvas", GC_DT_U8, 3, canvas_shape, canvas.rgb)) != GC_OK ||
        (s = gc_st_writer_add_ref(wr, "band", GC_DT_U8, 3, band_shape, band.rgb)) != GC_OK)
        goto done;
    if (in && gc_weights_has(in, "kps.in")) {
        const float *kps;
        const gc_tensor_ref *r = gc_weights_find(in, "kps.in");
        if ((s = GC_WEIGHT(in, "kps.in", &kps, -1, 3)) != GC_OK) goto done;
        const int64_t n = r->shape[0];
        float *k = gc_alloc_array((size_t)(2 * n + 1), 3 * sizeof(float));
        if (!k) {
            s = GC_ERR_NOMEM;
            goto done;
        }
        gc_canvas_geom g = {0};
        s = gc_canvas_geometry(img.w, img.h, S, &g);
        if (s == GC_OK) s = gc_kps_to_canvas(kps, n, img.w, img.h, S, k);
        gc_kps_flip(k, n, S, k + 3 * n);
        const double oxs[3] = {img.h > img.w ? g.off_x : 0, img.h < img.w ? g.off_y : 0, g.scale};
        char key[2][48];
        snprintf(key[0], sizeof key[0], "kps.%d", (int)S);
        snprintf(key[1], sizeof key[1], "kps.%d.flip", (int)S);
        const int64_t kshape[2] = {n, 3}, oshape[1] = {3};
        if (s == GC_OK) s = gc_st_writer_add(wr, key[0], GC_DT_F32, 2, kshape, k);
        if (s == GC_OK) s = gc_st_writer_add(wr, key[1], GC_DT_F32, 2, kshape, k + 3 * n);
        if (s == GC_OK) s = gc_st_writer_add(wr, "kps.offset_xy_scale", GC_DT_F64, 1, oshape, oxs);
        gc_free(k);
        if (s != GC_OK) goto done;
    }
    s = gc_st_writer_save(wr, out);
done:
    gc_st_writer_free(wr);
    gc_image_free(&img);
    gc_image_free(&canvas);
    gc_image_free(&band);
    gc_weights_free(in);
    return s;
}

const gc_command gc_trace_preprocess = {"preprocess", "reference resize(): LANCZOS to an SxS canvas, keypoint frame",
                                        run};
