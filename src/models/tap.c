#include <stdio.h>
#include <string.h>

#include "models/tap.h"

bool gc_tap_wants(const gc_tap *tap, const char *name) {
    if (!tap || !tap->wr) return false;
    if (!tap->only) return true;
    for (int i = 0; tap->only[i]; i++)
        if (!strcmp(tap->only[i], name)) return true;
    return false;
}

gc_status gc_tap_raw(const gc_tap *tap, const char *name, gc_dtype dt, const void *x, int ndim,
                     const int64_t *shape) {
    if (!gc_tap_wants(tap, name)) return GC_OK;
    char full[256];
    int n = snprintf(full, sizeof full, "%s%s", tap->prefix ? tap->prefix : "", name);
    if (n < 0 || (size_t)n >= sizeof full) return gc_errorf(GC_ERR_ARG, "tap name too long: %s", name);
    return gc_st_writer_add(tap->wr, full, dt, ndim, shape, x);
}

gc_status gc_tap_f32(const gc_tap *tap, const char *name, const float *x, int ndim, const int64_t *shape) {
    return gc_tap_raw(tap, name, GC_DT_F32, x, ndim, shape);
}

gc_status gc_tap_f32f(const gc_tap *tap, const float *x, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (!tap || !tap->wr) return GC_OK;
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return gc_tap_raw(tap, name, GC_DT_F32, x, ndim, shape);
}
