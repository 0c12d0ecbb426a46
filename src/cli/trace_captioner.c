/* `geocorr trace captioner`: ODISE's implicit captioner on a stored prefix and U (TRACE.md §6). */
#include "cli/cli.h"
#include "models/captioner.h"

static gc_status run(gc_args *a) {
    const char *wpath, *in_path, *out_path;
    GC_TRY(gc_trace_io_args(a, &wpath, &in_path, &out_path));
    GC_TRY(gc_args_finish(a));
    captioner m;
    GC_TRY(captioner_load(&m, wpath));
    gc_weights *in = NULL;
    const float *prefix, *U;
    float *cond = gc_alloc_array((size_t)(m.ctx * m.width), sizeof(float));
    float *cond_emb = gc_alloc_array((size_t)m.time_dim, sizeof(float));
    gc_st_writer *wr = gc_st_writer_new();
    gc_status s = cond && cond_emb && wr ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (s == GC_OK) s = gc_weights_open(in_path, &in);
    if (s == GC_OK) s = GC_WEIGHT(in, "prefix", &prefix, 1, m.embed);
    if (s == GC_OK) s = GC_WEIGHT(in, "uncond_U", &U, 1, m.ctx, m.width);
    gc_tap tap = {.wr = wr};
    if (s == GC_OK) s = captioner_forward(&m, prefix, U, cond, cond_emb, &tap);
    if (s == GC_OK) s = gc_st_writer_save(wr, out_path);
    gc_st_writer_free(wr);
    gc_free(cond);
    gc_free(cond_emb);
    gc_weights_free(in);
    captioner_free(&m);
    return s;
}

const gc_command gc_trace_captioner = {"captioner", "ODISE implicit captioner: cond and cond_emb from a CLIP prefix", run};
