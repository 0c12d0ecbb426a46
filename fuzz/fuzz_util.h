/* Shared by the libFuzzer targets: touch the float32 view of every (not huge) tensor of a set, so
 * conversions and every exposed byte span are exercised under the sanitizers; write a file of a
 * target's scratch folder. */
#ifndef GC_FUZZ_UTIL_H
#define GC_FUZZ_UTIL_H

#include <stdio.h>

#include "io/weights.h"

static inline void gc_fuzz_touch_tensors(gc_weights *w) {
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        const float *p;
        if (r->numel < (1 << 20) && gc_weights_f32(w, r->name, r->ndim, r->shape, &p) == GC_OK && r->numel)
            (void)p[r->numel - 1];
    }
}

/* dir/rel := buf[n] (best effort: a scratch file the target then reads). */
static inline void gc_fuzz_put(const char *dir, const char *rel, const void *buf, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(buf, 1, n, f);
    fclose(f);
}

#endif
