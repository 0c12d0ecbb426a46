/* `geocorr trace zeroshot` (TRACE.md C): fusion of s3, s4, s5, dino and the zero-shot descriptor. */
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "match/descriptor.h"

static gc_status run(gc_args *a) {
    const char *in, *out;
    GC_TRY(gc_arg_req(a, "--inputs", &in));
    GC_TRY(gc_arg_req(a, "--out", &out));
    GC_TRY(gc_args_finish(a));
    gc_weights *w;
    GC_TRY(gc_weights_open(in, &w));
    gc_descriptors d = {0};
    float *fused = NULL;
    gc_st_writer *wr = NULL;
    gc_status s = gc_desc_from_weights(w, NULL, NULL, &d, &fused);
    if (s == GC_OK && strcmp(d.recipe, "zeroshot") != 0)
        s = gc_errorf(GC_ERR_MISSING, "%s: trace zeroshot needs s3, s4, s5 and dino", in);
    if (s == GC_OK) {
        wr = gc_st_writer_new();
        if (!wr) s = GC_ERR_NOMEM;
    }
    if (s == GC_OK && !(s = gc_st_writer_add_ref(wr, "fused", GC_DT_F32, 2, (int64_t[]){d.n, d.c}, fused)) &&
        !(s = gc_st_writer_add_ref(wr, "desc", GC_DT_F32, 2, (int64_t[]){d.n, d.c}, d.rows)))
        s = gc_st_writer_save(wr, out);
    gc_st_writer_free(wr);
    gc_free(fused);
    gc_desc_clear(&d);
    gc_weights_free(w);
    return s;
}

const gc_command gc_trace_zeroshot = {"zeroshot", "fused SD+DINO token matrix and the split-normalised zero-shot descriptor", run};
