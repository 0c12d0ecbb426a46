/* `geocorr trace sam --weights W [--config C] --inputs IN --out OUT` (TRACE.md §10): SamPredictor's
 * set_image + predict on `image_u8` with a `box` or `point_coords` + `point_labels` prompt (and an
 * optional `multimask` flag), every intermediate under the fixture key names (sam/README.md). */
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/sam.h"

/* Input `name` of the given dtype and rank (dims of -1 match anything; `want` describes it);
 * *out = NULL when absent. */
static gc_status input(gc_weights *in, const char *name, gc_dtype dt, int ndim, const int64_t *shape, const char *want,
                       const gc_tensor_ref **out) {
    *out = gc_weights_find(in, name);
    if (!*out) return GC_OK;
    const gc_tensor_ref *r = *out;
    bool ok = r->dtype == dt && r->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || r->shape[i] == shape[i];
    char b[160];
    if (!ok)
        return gc_errorf(GC_ERR_SHAPE, "%s: input '%s' is %s %s, expected %s", gc_weights_label(in), name,
                         gc_dtype_name(r->dtype), gc_shape_str(r->ndim, r->shape, b, sizeof b), want);
    return GC_OK;
}

static gc_status trace_run(const gc_sam *m, gc_weights *in, gc_st_writer *wr) {
    const gc_tensor_ref *img_r, *box_r, *pc_r, *pl_r;
    GC_TRY(input(in, "image_u8", GC_DT_U8, 3, (const int64_t[]){-1, -1, 3}, "U8 [H, W, 3]", &img_r));
    if (!img_r) return gc_errorf(GC_ERR_MISSING, "%s: missing input 'image_u8' (U8 [H, W, 3])", gc_weights_label(in));
    GC_TRY(input(in, "box", GC_DT_F32, 1, (const int64_t[]){4}, "F32 [4] (x1, y1, x2, y2)", &box_r));
    GC_TRY(input(in, "point_coords", GC_DT_F32, 2, (const int64_t[]){-1, 2}, "F32 [N, 2]", &pc_r));
    GC_TRY(input(in, "point_labels", GC_DT_I32, 1, (const int64_t[]){pc_r ? pc_r->shape[0] : -1},
                 "I32 [N], one label per point", &pl_r));
    if (!pc_r != !pl_r)
        return gc_errorf(GC_ERR_MISSING, "%s: 'point_coords' and 'point_labels' go together", gc_weights_label(in));
    if (!box_r && !pc_r)
        return gc_errorf(GC_ERR_MISSING, "%s: no prompt: give 'box' (F32 [4]) or 'point_coords' (F32 [N, 2]) + "
                         "'point_labels' (I32 [N])", gc_weights_label(in));
    const gc_tensor_ref *mm = gc_weights_find(in, "multimask");
    if (mm && (mm->dtype != GC_DT_U8 || mm->numel != 1 || ((const uint8_t *)mm->data)[0] > 1))
        return gc_errorf(GC_ERR_SHAPE, "%s: 'multimask' must be a U8 scalar 0 or 1", gc_weights_label(in));
    const float *box = NULL, *pts = NULL;
    if (box_r) GC_TRY(gc_weights_f32(in, "box", 1, box_r->shape, &box));
    if (pc_r) GC_TRY(gc_weights_f32(in, "point_coords", 2, pc_r->shape, &pts));
    /* labels are int32: copied out of the (possibly unaligned) mapping */
    int32_t *labels = NULL;
    if (pl_r && !(labels = gc_alloc_array((size_t)pl_r->numel + 1, sizeof(int32_t)))) return GC_ERR_NOMEM;
    if (pl_r) memcpy(labels, pl_r->data, (size_t)pl_r->numel * sizeof(int32_t));
    gc_image img = {(int32_t)img_r->shape[1], (int32_t)img_r->shape[0], (uint8_t *)img_r->data};
    gc_sam_prompt p = {box, pts, labels, pc_r ? pc_r->shape[0] : 0, mm ? ((const uint8_t *)mm->data)[0] : 0};
    gc_tap tap = {.wr = wr};
    gc_sam_image *im = NULL;
    gc_sam_masks r = {0};
    gc_status s = gc_sam_set_image_tap(m, &img, &im, &tap);
    if (s == GC_OK) s = gc_sam_predict_tap(m, im, &p, &r, &tap);
    gc_sam_masks_free(&r);
    gc_sam_image_free(im);
    gc_free(labels);
    return s;
}

static gc_status run(gc_args *a) {
    const char *weights, *inputs, *out;
    GC_TRY(gc_trace_io_args(a, &weights, &inputs, &out));
    const char *config = gc_arg_str(a, "--config", NULL);
    GC_TRY(gc_args_finish(a));
    gc_sam *m;
    GC_TRY(gc_sam_load(weights, config, &m));
    gc_weights *in = NULL;
    gc_st_writer *wr = gc_st_writer_new();
    gc_status s = wr ? gc_weights_open(inputs, &in) : GC_ERR_NOMEM;
    if (s == GC_OK) s = trace_run(m, in, wr);
    if (s == GC_OK) s = gc_st_writer_meta(wr, "producer", "geocorr trace sam");
    if (s == GC_OK) s = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    gc_weights_free(in);
    gc_sam_free(m);
    return s;
}

const gc_command gc_trace_sam = {"sam", "Segment Anything: encoder blocks, prompt, decoder, masks (SamPredictor)", run};
