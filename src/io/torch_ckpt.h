/* PyTorch zip checkpoints (.pth / .ckpt / .pt): a restricted unpickler that never executes code;
 * tensors are exposed through gc_weights with flattened dotted names (see docs/checkpoints.md). */
#ifndef GC_TORCH_CKPT_H
#define GC_TORCH_CKPT_H

#include "io/weights.h"

gc_status gc_torch_ckpt_open(const char *path, gc_weights **out);

#endif
