/* `geocorr convert IN.pth|IN.ckpt OUT.safetensors [--prefix P] [--dtype f16|f32]`: every tensor of a
 * PyTorch checkpoint (or any weights file) under its flattened name and original dtype; --prefix keeps
 * the tensors under P and strips it; --dtype converts floating tensors. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"

static const char k_usage[] =
    "usage: geocorr convert IN.pth|IN.ckpt OUT.safetensors [--prefix P] [--dtype f16|f32]\n"
    "  every tensor under its flattened name (docs/checkpoints.md) with its original dtype;\n"
    "  --prefix P keeps the tensors under P and strips it; --dtype converts floating tensors.\n";

static gc_status run(gc_args *a) {
    if (gc_arg_flag(a, "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    const char *prefix = gc_arg_str(a, "--prefix", NULL), *dt = gc_arg_str(a, "--dtype", NULL), *pos[2];
    int npos = gc_arg_positionals(a, pos, 2);
    GC_TRY(gc_args_finish(a));
    if (npos != 2) return gc_errorf(GC_ERR_ARG, "convert: expected IN and OUT.safetensors (got %d paths)", npos);
    int dtype = -1;
    if (dt && strcmp(dt, "f32") == 0) dtype = GC_DT_F32;
    else if (dt && strcmp(dt, "f16") == 0) dtype = GC_DT_F16;
    else if (dt) return gc_errorf(GC_ERR_ARG, "convert: --dtype must be f16 or f32, not '%s'", dt);
    gc_weights *w;
    GC_TRY(gc_weights_open(pos[0], &w));
    gc_status s = gc_weights_save_as(w, pos[1], prefix, dtype);
    gc_weights_free(w);
    return s;
}

const gc_command gc_cmd_convert = {"convert", "PyTorch checkpoint (.pth/.ckpt) to safetensors", run};
