/* Placeholder until the checkpoint reader lands (issue D): refuse clearly rather than guess. */
#include "io/torch_ckpt.h"

gc_status gc_torch_ckpt_open(const char *path, gc_weights **out) {
    *out = NULL;
    return gc_errorf(GC_ERR_UNSUPPORTED, "%s: PyTorch checkpoints are not readable yet; convert to "
                     "safetensors first", path);
}
