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
    size_t used = n < 0 ? 0 : GC_MIN((size_t)n, sizeof g_err - 1);
    size_t room = sizeof g_err - used, plen = strnlen(prev, sizeof prev);
    if (room > 3) { /* ": " + as much of the previous message as fits */
        memcpy(g_err + used, ": ", 2);
        size_t k = GC_MIN(plen, room - 3);
        memcpy(g_err + used + 2, prev, k);
        g_err[used + 2 + k] = 0;
    }
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
