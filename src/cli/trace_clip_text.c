/* `geocorr trace clip-text`: SD's text encoder on the empty prompt (or given ids), TRACE.md §6. */
#include <string.h>

#include "cli/cli.h"
#include "models/clip_text.h"

static gc_status run(gc_args *a) {
    const char *wpath, *out_path, *in_path = gc_arg_str(a, "--inputs", NULL);
    GC_TRY(gc_arg_req(a, "--weights", &wpath));
    GC_TRY(gc_arg_req(a, "--out", &out_path));
    GC_TRY(gc_args_finish(a));
    clip_text m;
    GC_TRY(clip_text_load(&m, wpath));
    gc_weights *in = NULL;
    int64_t *ids = gc_alloc_array((size_t)m.ctx, sizeof(int64_t));
    float *U = gc_alloc_array((size_t)(m.ctx * m.width), sizeof(float));
    gc_st_writer *wr = gc_st_writer_new();
    gc_status s = ids && U && wr ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (s == GC_OK && in_path) {
        s = gc_weights_open(in_path, &in);
        const gc_tensor_ref *r = s == GC_OK ? gc_weights_find(in, "input_ids") : NULL;
        if (s == GC_OK && (!r || r->dtype != GC_DT_I64 || r->numel != m.ctx))
            s = gc_errorf(GC_ERR_SHAPE, "%s: needs 'input_ids' I64 [1, %lld]", in_path, (long long)m.ctx);
        if (s == GC_OK) memcpy(ids, r->data, (size_t)m.ctx * sizeof(int64_t));
    } else if (s == GC_OK) {
        clip_text_empty_prompt(&m, ids);
    }
    gc_tap tap = {.wr = wr};
    if (s == GC_OK) s = gc_tap_raw(&tap, "input_ids", GC_DT_I64, ids, 2, (const int64_t[]){1, m.ctx});
    if (s == GC_OK) s = clip_text_forward(&m, ids, U, &tap);
    if (s == GC_OK) s = gc_st_writer_save(wr, out_path);
    gc_st_writer_free(wr);
    gc_free(ids);
    gc_free(U);
    gc_weights_free(in);
    clip_text_free(&m);
    return s;
}

const gc_command gc_trace_clip_text = {"clip-text", "SD text encoder on the empty prompt: U = last_hidden_state", run};
