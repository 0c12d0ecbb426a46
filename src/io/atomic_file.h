/* Write a file so that it appears whole or not at all: a temporary file beside the target
 * ("<name>.tmp.<pid>.<n>", mode 0666 & ~umask), fsync, rename over the target. */
#ifndef GC_ATOMIC_FILE_H
#define GC_ATOMIC_FILE_H

#include <stdio.h>

#include "base/base.h"

typedef struct {
    FILE *f;
    char *tmp;
    char *path;
} gc_atomic_file;

gc_status gc_atomic_open(gc_atomic_file *af, const char *path);
gc_status gc_atomic_write(gc_atomic_file *af, const void *buf, size_t len);
gc_status gc_atomic_commit(gc_atomic_file *af); /* closes; the target appears */
void gc_atomic_abort(gc_atomic_file *af);       /* closes; the temporary file is removed */
/* Convenience: write a whole buffer atomically. */
gc_status gc_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
