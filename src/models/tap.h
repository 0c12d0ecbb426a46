/* Where a forward pass reports its intermediates. Trace commands pass a tap that copies every
 * reported tensor into a safetensors writer under `prefix` + name; production calls pass NULL and
 * the taps cost nothing. */
#ifndef GC_TAP_H
#define GC_TAP_H

#include "io/safetensors.h"

typedef struct {
    gc_st_writer *wr;   /* destination (tensors are copied at report time) */
    const char *prefix; /* prepended to every name ("crop0."), may be NULL */
    const char *const *only; /* NULL-terminated names to keep (before prefixing); NULL keeps all */
} gc_tap;

/* Whether a report of `name` would be kept (passes may skip work only a trace reads). */
bool gc_tap_wants(const gc_tap *tap, const char *name);
/* Report float32 tensor `name` with the given shape; no-op when tap is NULL. */
gc_status gc_tap_f32(const gc_tap *tap, const char *name, const float *x, int ndim, const int64_t *shape);
#define GC_TAP(tap, name, x, ...)                                                                   \
    gc_tap_f32((tap), (name), (x), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),     \
               (const int64_t[]){__VA_ARGS__})
/* Same for a name built printf-style ("block%d"). */
gc_status gc_tap_f32f(const gc_tap *tap, const float *x, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Any dtype (ids, uint8 images). */
gc_status gc_tap_raw(const gc_tap *tap, const char *name, gc_dtype dt, const void *x, int ndim,
                     const int64_t *shape);

#endif
