/* Checked allocation, clocks and small file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

bool gc_mul_ok(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > INT64_MAX / a) return false;
    *out = a * b;
    return true;
}

void *gc_alloc(size_t nbytes) {
    if (nbytes == 0) nbytes = 1;
    if (nbytes > (size_t)INT64_MAX - 64) {
        gc_errorf(GC_ERR_NOMEM, "allocation of %zu bytes is too large", nbytes);
        return NULL;
    }
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) gc_errorf(GC_ERR_NOMEM, "out of memory allocating %zu bytes", nbytes);
    return p;
}

void *gc_alloc_array(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        gc_errorf(GC_ERR_NOMEM, "array of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    return gc_alloc(count * size);
}

void *gc_calloc(size_t count, size_t size) {
    void *p = gc_alloc_array(count, size);
    if (p) memset(p, 0, (count && size) ? count * size : 1);
    return p;
}

void *gc_realloc_array(void *p, size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        gc_errorf(GC_ERR_NOMEM, "array of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *q = realloc(p, (count && size) ? count * size : 1);
    if (!q) gc_errorf(GC_ERR_NOMEM, "out of memory growing an array to %zu bytes", count * size);
    return q;
}

void gc_free(void *p) { free(p); }

char *gc_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        gc_errorf(GC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

char *gc_strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        gc_errorf(GC_ERR_ARG, "cannot format '%s': %s", fmt, strerror(errno));
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        gc_errorf(GC_ERR_NOMEM, "out of memory formatting a %d-byte string", n);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

double gc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *gc_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

bool gc_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool gc_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

gc_status gc_read_file(const char *path, char **out, size_t *len, size_t max_len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return gc_errorf(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return gc_errorf(GC_ERR_IO, "%s: cannot seek", path);
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return gc_errorf(GC_ERR_IO, "%s: cannot tell size (not a regular file?)", path);
    }
    if ((size_t)n > max_len) {
        fclose(f);
        return gc_errorf(GC_ERR_FORMAT, "%s: file is %ld bytes, more than the %zu allowed", path, n, max_len);
    }
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(buf);
        return gc_errorf(GC_ERR_IO, "%s: short read", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = (size_t)n;
    return GC_OK;
}

gc_status gc_map_file(const char *path, void **map, size_t *len) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gc_errorf(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gc_errorf(GC_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return gc_errorf(GC_ERR_FORMAT, "%s: empty file", path);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return gc_errorf(GC_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    *map = m;
    *len = (size_t)sb.st_size;
    return GC_OK;
}

void gc_unmap_file(void *map, size_t len) {
    if (map) munmap(map, len);
}
