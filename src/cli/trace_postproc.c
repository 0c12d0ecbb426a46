/* `geocorr trace postproc --weights W --inputs IN --out OUT` (TRACE.md §2): the post-processor on
 * `input` [1, C, H, W], every block tap, the mixed output and softmax(mixing_weights). */
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/postproc.h"

static gc_status tap_to_writer(void *ctx, const char *name, const float *data, int64_t C, int64_t H,
                               int64_t W) {
    return GC_ST_ADD_F32((gc_st_writer *)ctx, name, data, 1, C, H, W);
}

static gc_status run_model(const gc_postproc *m, gc_weights *in, const char *in_path, gc_st_writer *wr) {
    const gc_tensor_ref *r = gc_weights_find(in, "input");
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor 'input'", in_path);
    if (r->ndim != 4 || r->shape[0] != 1 || r->shape[1] != m->cin)
        return gc_errorf(GC_ERR_SHAPE, "%s: 'input' must be [1, %lld, H, W] (the post-processor's feature dims "
                         "sum to %lld)", in_path, (long long)m->cin, (long long)m->cin);
    const float *x;
    GC_TRY(gc_weights_f32(in, "input", 4, r->shape, &x));
    const int64_t H = r->shape[2], W = r->shape[3];
    float *out = gc_alloc_array((size_t)(m->proj * H * W), sizeof(float));
    if (!out) return gc_error_context(GC_ERR_NOMEM, "trace postproc output");
    gc_status s = gc_postproc_forward(m, x, H, W, out, tap_to_writer, wr);
    gc_free(out);
    if (s != GC_OK) return s;
    float mix[GC_PP_GROUPS];
    gc_postproc_mixing(m, mix);
    return GC_ST_ADD_F32(wr, "mixing_softmax", mix, m->n_groups);
}

static gc_status run(gc_args *a) {
    const char *weights, *inputs, *out;
    GC_TRY(gc_trace_io_args(a, &weights, &inputs, &out));
    int64_t groups;
    GC_TRY(gc_arg_int(a, "--groups", 0, &groups)); /* GroupNorm groups when not 32 / config.json */
    GC_TRY(gc_args_finish(a));
    gc_postproc m;
    GC_TRY(gc_postproc_open(&m, weights, groups));
    gc_weights *in = NULL;
    gc_st_writer *wr = gc_st_writer_new();
    gc_status s = wr ? gc_weights_open(inputs, &in) : gc_errorf(GC_ERR_NOMEM, "trace postproc: writer");
    if (s == GC_OK) s = run_model(&m, in, inputs, wr);
    if (s == GC_OK) s = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    gc_weights_free(in);
    gc_postproc_clear(&m);
    return s;
}

const gc_command gc_trace_postproc = {"postproc", "GeoAware post-processor: block taps, mixed output", run};
