/* libFuzzer target: the safetensors header parser and the f32 view of every tensor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_weights *w = NULL;
    if (gc_safetensors_parse("fuzz", data, size, &w) != GC_OK) return 0;
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        const float *p;
        if (r->numel < (1 << 20) && gc_weights_f32(w, r->name, r->ndim, r->shape, &p) == GC_OK && r->numel)
            (void)p[r->numel - 1];
    }
    gc_weights_free(w);
    return 0;
}
