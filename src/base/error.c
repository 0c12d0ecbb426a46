/* Thread-local error messages. Every failing call leaves one; callers add context on the way up. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"

#define GC_ERRBUF 2048
static _Thread_local char g_err[GC_ERRBUF];

const char *gc_last_error(void) { return g_err; }

void gc_error_clear(void) { g_err[0] = 0; }

gc_status gc_errorf(gc_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return s;
}

gc_status gc_error_context(gc_status s, const char *fmt, ...) {
    char prev[GC_ERRBUF];
    memcpy(prev, g_err, sizeof prev);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g_err)
        snprintf(g_err + n, sizeof g_err - (size_t)n, ": %s", prev);
    return s;
}

const char *gc_status_str(gc_status s) {
    switch (s) {
    case GC_OK: return "ok";
    case GC_ERR_ARG: return "bad argument";
    case GC_ERR_IO: return "i/o error";
    case GC_ERR_FORMAT: return "format error";
    case GC_ERR_SHAPE: return "shape error";
    case GC_ERR_MISSING: return "missing";
    case GC_ERR_NOMEM: return "out of memory";
    case GC_ERR_UNSUPPORTED: return "unsupported";
    case GC_ERR_REFUSED: return "refused";
    case GC_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *gc_version(void) { return GEOCORR_VERSION; }
