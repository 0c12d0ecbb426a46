/* geocorr — geometry-aware semantic correspondence (Zhang et al., CVPR 2024) in C.
 *
 * The one public header. Conventions:
 *  - every call that can fail returns gc_status; gc_last_error() then holds a message that names
 *    the file, tensor or argument at fault (thread-local, valid until the next failing call);
 *  - objects are opaque handles with <module>_init/_load and <module>_free pairs;
 *  - tensors are float32, row-major; maps are C x H x W, token matrices N x C;
 *  - coordinates in the public API are original image pixels unless a name says "840".
 */
#ifndef GEOCORR_H
#define GEOCORR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GC_OK = 0,
    GC_ERR_ARG = 1,         /* bad argument or option */
    GC_ERR_IO = 2,          /* cannot open, read or write a file */
    GC_ERR_FORMAT = 3,      /* a file is malformed (header, JSON, pickle, image...) */
    GC_ERR_SHAPE = 4,       /* a tensor has the wrong shape or dtype for its use */
    GC_ERR_MISSING = 5,     /* a tensor, key or file that is required is absent */
    GC_ERR_NOMEM = 6,       /* allocation failed or a size overflowed */
    GC_ERR_UNSUPPORTED = 7, /* valid input that geocorr does not handle */
    GC_ERR_REFUSED = 8,     /* input refused for safety (e.g. a pickle that tries to call code) */
    GC_ERR_INTERNAL = 9
} gc_status;

/* The message of the last failure on this thread ("" if none). */
const char *gc_last_error(void);
/* A short name for a status code ("format error", ...). */
const char *gc_status_str(gc_status s);
/* Library version string, e.g. "0.1.0". */
const char *gc_version(void);

/* Thread count for GEMM (OpenBLAS) and the OpenMP loops. n <= 0 selects GEOCORR_THREADS from
 * the environment or else all cores. Results are identical for every thread count. */
void gc_set_threads(int n);
int gc_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* GEOCORR_H */
