/* `geocorr inspect FILE`: the tensors of a weights file (safetensors or PyTorch checkpoint) with
 * dtype and shape, then its non-tensor entries (checkpoint leaves, safetensors __metadata__). */
#include <stdio.h>

#include "cli/cli.h"
#include "io/weights.h"

static gc_status run(gc_args *a) {
    if (gc_arg_flag(a, "--help")) {
        fputs("usage: geocorr inspect FILE   (safetensors or PyTorch .pth/.pt/.ckpt)\n"
              "  lists every tensor (dtype, shape, name), then the non-tensor entries\n", stdout);
        return GC_OK;
    }
    const char *pos[1];
    int npos = gc_arg_positionals(a, pos, 1);
    GC_TRY(gc_args_finish(a));
    if (npos != 1) return gc_errorf(GC_ERR_ARG, "inspect: expected one FILE (got %d paths)", npos);
    gc_weights *w;
    GC_TRY(gc_weights_open(pos[0], &w));
    printf("%s: %lld tensors\n", pos[0], (long long)gc_weights_count(w));
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        char shape[256];
        printf("  %-5s %-20s %s\n", gc_dtype_name(r->dtype), gc_shape_str(r->ndim, r->shape, shape, sizeof shape),
               r->name);
    }
    if (gc_weights_meta_count(w)) printf("non-tensor entries:\n");
    const char *k, *v;
    for (int i = 0; gc_weights_meta_at(w, i, &k, &v); i++) printf("  %s = %s\n", k, v);
    gc_weights_free(w);
    return GC_OK;
}

const gc_command gc_cmd_inspect = {"inspect", "list the tensors (name, dtype, shape) and other entries of a weights file",
                                   run};
