/* Internal base layer: error reporting, checked allocation, small utilities. */
#ifndef GC_BASE_H
#define GC_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geocorr.h"

#define GC_UNUSED(x) ((void)(x))
#define GC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GC_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* Record a failure message (printf-style) for gc_last_error() and return the status, so that
 * call sites read `return gc_errorf(GC_ERR_FORMAT, "%s: bad header", path);`. */
gc_status gc_errorf(gc_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend context to the current message: "ctx: <previous message>". Returns s. */
gc_status gc_error_context(gc_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gc_error_clear(void);

/* Propagate a failing status. */
#define GC_TRY(expr)                     \
    do {                                 \
        gc_status gc_try_s_ = (expr);    \
        if (gc_try_s_ != GC_OK) return gc_try_s_; \
    } while (0)

/* Allocation: NULL on failure with a GC_ERR_NOMEM message set. Sizes are overflow-checked.
 * gc_alloc returns 64-byte aligned memory (free with gc_free). */
void *gc_alloc(size_t nbytes);
void *gc_calloc(size_t count, size_t size);
void *gc_alloc_array(size_t count, size_t size);
void *gc_realloc_array(void *p, size_t count, size_t size); /* for plain malloc'd arrays */
void gc_free(void *p);
char *gc_strdup(const char *s);
/* a * b without overflow; false if it would overflow (or a value is negative). */
bool gc_mul_ok(int64_t a, int64_t b, int64_t *out);

/* Threads (src/base/threads.c). */
int gc_threads(void);

/* The CPU (src/base/cpu.c): x86-64 micro-architecture level 1..4 (4: AVX-512 F/BW/DQ/VL, 3: AVX2 +
 * FMA, 2: SSE4.2; 0 off x86-64), capped by gc_cpu_limit (tests run the portable kernels with it).
 * gc_cpu_loops_isa names the version of the GC_CLONES loops the loader picked. */
int gc_cpu_level(void);
void gc_cpu_limit(int level);
const char *gc_cpu_loops_isa(void);

/* GC_CLONES before a hot loop's function: compiled for x86-64-v4, -v3 and the baseline, one picked
 * at load time. Same arithmetic in every version (no FMA contraction, no reassociation), so the
 * bytes do not depend on the version. GCC only; other compilers build the baseline. Static functions
 * only (a public op calls its static cloned body): GCC exports a non-static target_clones function's
 * ifunc and resolver from the shared library whatever its visibility. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GC_HAVE_CLONES 1
#define GC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GC_HAVE_CLONES 0
#define GC_CLONES
#endif

/* Wall clock in seconds (monotonic). */
double gc_now(void);

/* Whole-file read into a NUL-terminated buffer (for JSON and small files). */
gc_status gc_read_file(const char *path, char **out, size_t *len, size_t max_len);
/* Basename pointer inside path. */
const char *gc_basename(const char *path);
/* Map a regular, non-empty file read-only (errors name the file); release with gc_unmap_file. */
gc_status gc_map_file(const char *path, void **map, size_t *len);
void gc_unmap_file(void *map, size_t len);
bool gc_file_exists(const char *path);
bool gc_dir_exists(const char *path);
/* snprintf into a fresh string (free()); NULL with a message on failure. */
char *gc_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Path of a shipped data file (data/<name>): the first that exists of $GEOCORR_DATA_DIR (the one
 * environment variable), the source tree's data/ and the install prefix's share/geocorr. NULL (message
 * set) when none has it; the caller frees the path. */
char *gc_data_path(const char *name);

#endif
