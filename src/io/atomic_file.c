#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/atomic_file.h"

/* A fresh "<path>.tmp.<pid>.<n>" created exclusively with mode 0666 & ~umask, so that results,
 * caches and pictures get the usual permissions (mkstemp would make them 0600). Returns the
 * descriptor, or -1 with errno set (ENOMEM: no memory for the name). */
static int create_tmp(const char *path, char **tmp) {
    static atomic_uint counter;
    const unsigned seed = (unsigned)time(NULL) * 2654435761u;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (!(*tmp = gc_strfmt("%s.tmp.%d.%08x", path, (int)getpid(), seed ^ atomic_fetch_add(&counter, 1u)))) {
            errno = ENOMEM;
            return -1;
        }
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return fd;
        free(*tmp);
        *tmp = NULL;
        if (errno != EEXIST) return -1;
    }
    return -1; /* errno EEXIST */
}

gc_status gc_atomic_open(gc_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    af->path = gc_strdup(path);
    if (!af->path) return GC_ERR_NOMEM;
    int fd = create_tmp(path, &af->tmp);
    if (fd < 0) {
        gc_status s = gc_errorf(errno == ENOMEM ? GC_ERR_NOMEM : GC_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                                path, strerror(errno));
        free(af->path);
        return s;
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp);
        free(af->path);
        free(af->tmp);
        return gc_errorf(GC_ERR_IO, "%s: cannot open for writing", path);
    }
    return GC_OK;
}

gc_status gc_atomic_write(gc_atomic_file *af, const void *buf, size_t len) {
    if (len && fwrite(buf, 1, len, af->f) != len)
        return gc_errorf(GC_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    return GC_OK;
}

void gc_atomic_abort(gc_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}

gc_status gc_atomic_commit(gc_atomic_file *af) {
    gc_status st = GC_OK;
    if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
        st = gc_errorf(GC_ERR_IO, "%s: flush failed: %s", af->path, strerror(errno));
    if (fclose(af->f) != 0 && st == GC_OK) st = gc_errorf(GC_ERR_IO, "%s: close failed", af->path);
    af->f = NULL;
    if (st == GC_OK && rename(af->tmp, af->path) != 0)
        st = gc_errorf(GC_ERR_IO, "%s: cannot rename the temporary file into place: %s", af->path,
                       strerror(errno));
    if (st != GC_OK) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
    return st;
}

gc_status gc_write_file_atomic(const char *path, const void *buf, size_t len) {
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_status st = gc_atomic_write(&af, buf, len);
    if (st != GC_OK) {
        gc_atomic_abort(&af);
        return st;
    }
    return gc_atomic_commit(&af);
}
