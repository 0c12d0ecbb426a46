#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fs_tree.h"

gc_status gc_mkdir_p(const char *dir) {
    char *p = gc_strdup(dir);
    if (!p) return GC_ERR_NOMEM;
    gc_status s = GC_OK;
    for (char *q = p + 1;; q++) {
        if (*q && *q != '/') continue;
        char c = *q;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            s = gc_errorf(GC_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
            break;
        }
        if (!c) break;
        *q = c;
    }
    if (s == GC_OK && !gc_dir_exists(dir)) s = gc_errorf(GC_ERR_IO, "%s: exists and is not a folder", dir);
    free(p);
    return s;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 ? errno : 0;
}

gc_status gc_remove_tree(const char *path) {
    int e = nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS);
    if (e != 0) return gc_errorf(GC_ERR_IO, "%s: cannot remove: %s", path, strerror(e > 0 ? e : errno));
    return GC_OK;
}

gc_status gc_copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return gc_errorf(GC_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (out < 0) {
        gc_status s = gc_errorf(GC_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
        close(in);
        return s;
    }
    gc_status s = GC_OK;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            s = gc_errorf(GC_ERR_IO, "%s: read failed: %s", src, strerror(errno));
            break;
        }
        if (n == 0) break;
        for (ssize_t done = 0; done < n && s == GC_OK;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) s = gc_errorf(GC_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
            else done += w;
        }
        if (s != GC_OK) break;
    }
    close(in);
    if (close(out) != 0 && s == GC_OK) s = gc_errorf(GC_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
    return s;
}
