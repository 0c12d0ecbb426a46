/* Shared by the libFuzzer targets: touch the float32 view of every (not huge) tensor of a set, so
 * conversions and every exposed byte span are exercised under the sanitizers. */
#ifndef GC_FUZZ_UTIL_H
#define GC_FUZZ_UTIL_H

#include "io/weights.h"

static inline void gc_fuzz_touch_tensors(gc_weights *w) {
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        const float *p;
        if (r->numel < (1 << 20) && gc_weights_f32(w, r->name, r->ndim, r->shape, &p) == GC_OK && r->numel)
            (void)p[r->numel - 1];
    }
}

#endif
