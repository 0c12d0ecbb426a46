/* PyTorch checkpoints (.pth / .ckpt / .pt, zip and legacy): a restricted unpickler that never executes code;
 * tensors are exposed through gc_weights with flattened dotted names (see docs/checkpoints.md). */
#ifndef GC_TORCH_CKPT_H
#define GC_TORCH_CKPT_H

#include "io/weights.h"

/* Open a checkpoint (zip or legacy): tensors named by their flattened path, memory-mapped where
 * contiguous; non-tensor leaves as metadata entries (path -> rendered value), plus "__format__" and
 * (zip) "__prefix__". Hostile input gets GC_ERR_FORMAT / GC_ERR_REFUSED / GC_ERR_UNSUPPORTED. */
gc_status gc_torch_ckpt_open(const char *path, gc_weights **out);
/* Whether the first bytes (at least 4) start a zip archive or a legacy torch stream (PROTO 2 +
 * LONG1 of the 10-byte magic number); none of these can begin a safetensors file under 100 MB. */
bool gc_torch_ckpt_magic(const unsigned char *b, size_t len);
/* Same from a buffer that must outlive the result (fuzzer, tests). */
gc_status gc_torch_ckpt_parse(const char *label, const void *buf, size_t len, gc_weights **out);

#endif
