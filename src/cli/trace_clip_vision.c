/* `geocorr trace clip-vision`: the captioner's CLIP image tower on a normalised image or on a raw
 * uint8 crop (ODISE preprocessing applied), every intermediate written (TRACE.md §5). */
#include <string.h>

#include "cli/cli.h"
#include "models/clip_vision.h"

static gc_status run(gc_args *a) {
    const char *wpath, *in_path, *out_path;
    GC_TRY(gc_trace_io_args(a, &wpath, &in_path, &out_path));
    GC_TRY(gc_args_finish(a));
    gc_weights *in = NULL;
    GC_TRY(gc_weights_open(in_path, &in));
    clip_vision m;
    gc_status s = clip_vision_load(&m, wpath);
    if (s != GC_OK) return gc_weights_free(in), s;
    int64_t S = m.image_size;
    float *pix = gc_alloc_array((size_t)(3 * S * S), sizeof(float)), *embed = gc_alloc_array((size_t)m.embed, sizeof(float));
    gc_st_writer *wr = gc_st_writer_new();
    if (!pix || !embed || !wr) s = gc_errorf(GC_ERR_NOMEM, "out of memory");
    const gc_tensor_ref *crop = gc_weights_find(in, "crop_u8");
    if (s == GC_OK && crop) {
        if (crop->dtype != GC_DT_U8 || crop->ndim != 3 || crop->shape[2] != 3)
            s = gc_errorf(GC_ERR_SHAPE, "%s: 'crop_u8' must be U8 [H, W, 3]", in_path);
        else
            s = clip_vision_preprocess(&m, crop->data, crop->shape[0], crop->shape[1], crop->shape[1] * 3, pix);
    } else if (s == GC_OK) {
        const float *p;
        s = gc_weights_find(in, "pixel_values") ? GC_WEIGHT(in, "pixel_values", &p, 1, 3, S, S)
                                                : gc_errorf(GC_ERR_MISSING, "%s: needs 'pixel_values' F32 [1,3,%lld,%lld] "
                                                            "or 'crop_u8' U8 [H,W,3]", in_path, (long long)S, (long long)S);
        if (s == GC_OK) memcpy(pix, p, (size_t)(3 * S * S) * sizeof(float));
    }
    gc_tap tap = {.wr = wr};
    if (s == GC_OK) s = clip_vision_forward(&m, pix, embed, &tap);
    if (s == GC_OK) s = gc_st_writer_save(wr, out_path);
    gc_st_writer_free(wr);
    gc_free(pix);
    gc_free(embed);
    clip_vision_free(&m);
    gc_weights_free(in);
    return s;
}

const gc_command gc_trace_clip_vision = {"clip-vision", "CLIP image tower (captioner prefix): every block, image_embed",
                                         run};
