#include "io/file_claim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A lock file without a complete owner line is being created right now, unless it is this old: its
 * creator died between creating it and writing the line (both happen within microseconds). */
#define GC_CLAIM_UNWRITTEN_S 60

static bool owner_line_complete(int fd) {
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    return n > 0 && memchr(buf, '\n', (size_t)n) != NULL;
}

static bool unwritten_too_long(int fd) {
    struct stat sb;
    return fstat(fd, &sb) == 0 && time(NULL) - sb.st_mtime > GC_CLAIM_UNWRITTEN_S;
}

/* Without fcntl locks: the owner line. A process on this host that no longer exists left a stale
 * claim; a claim from another host cannot be checked and counts as live. */
static gc_claim_state owner_line_state(int fd) {
    char buf[512], host[256], me[256] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    long pid;
    if (!strchr(buf, '\n') || sscanf(buf, "pid %ld host %255s", &pid, host) != 2)
        return unwritten_too_long(fd) ? GC_CLAIM_STALE : GC_CLAIM_LIVE;
    gethostname(me, sizeof me - 1);
    if (strcmp(host, me) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) return GC_CLAIM_STALE;
    return GC_CLAIM_LIVE;
}

/* State of the lock file `lock`; for GC_CLAIM_STALE, *held (when not NULL) receives a descriptor that
 * holds its fcntl lock, so that the caller can remove it while no one else can judge it. */
static gc_claim_state probe_lock(const char *lock, int *held) {
    /* A write lock excludes other probers while the file is judged and removed. Another user's lock
     * file (0644) can only be read: a read lock still shows whether its owner lives. */
    short type = F_WRLCK;
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) type = F_RDLCK, fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? GC_CLAIM_NONE : GC_CLAIM_LIVE; /* unreadable: leave it alone */
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
    gc_claim_state st;
    if (fcntl(fd, F_SETLK, &fl) == 0) /* nobody holds it: dead owner, or a creator not yet locked */
        st = owner_line_complete(fd) || unwritten_too_long(fd) ? GC_CLAIM_STALE : GC_CLAIM_LIVE;
    else if (errno == EACCES || errno == EAGAIN)
        st = GC_CLAIM_LIVE;
    else
        st = owner_line_state(fd); /* no fcntl locks on this file system */
    if (st == GC_CLAIM_STALE && held) *held = fd;
    else close(fd);
    return st;
}

gc_status gc_claim_try(gc_claim *c, const char *file, bool *taken) {
    *taken = false;
    c->fd = -1;
    c->lock = gc_strfmt("%s.lock", file);
    if (!c->lock) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(c->lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            /* a prober may hold the new file's lock for a moment: it sees no owner line and lets go */
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            while (fcntl(fd, F_SETLKW, &fl) != 0 && errno == EINTR) {
            }
            char host[256] = {0}, line[400];
            gethostname(host, sizeof host - 1);
            for (char *p = host; *p; p++)
                if (*p == ' ' || *p == '\n') *p = '_';
            int n = snprintf(line, sizeof line, "pid %ld host %s since %lld\n", (long)getpid(), host[0] ? host : "?",
                             (long long)time(NULL));
            if (write(fd, line, (size_t)n) != n) {
                gc_status s = gc_errorf(GC_ERR_IO, "%s: cannot write the claim file: %s", c->lock, strerror(errno));
                unlink(c->lock);
                close(fd);
                free(c->lock);
                c->lock = NULL;
                return s;
            }
            c->fd = fd;
            *taken = true;
            return GC_OK;
        }
        if (errno != EEXIST) {
            gc_status s = gc_errorf(GC_ERR_IO, "%s: cannot create the claim file: %s", c->lock, strerror(errno));
            free(c->lock);
            c->lock = NULL;
            return s;
        }
        int held = -1;
        gc_claim_state st = probe_lock(c->lock, &held);
        if (st == GC_CLAIM_LIVE) break;
        if (st == GC_CLAIM_STALE) {
            /* remove it only if the name still points at the file judged stale: another process may
             * have removed it and claimed the file anew in between */
            struct stat a, b;
            if (fstat(held, &a) == 0 && stat(c->lock, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                unlink(c->lock);
            close(held);
        }
    }
    free(c->lock);
    c->lock = NULL;
    return GC_OK;
}

void gc_claim_release(gc_claim *c) {
    if (c->fd >= 0) {
        unlink(c->lock); /* before close: the lock is held until the name is gone */
        close(c->fd);
    }
    free(c->lock);
    c->lock = NULL;
    c->fd = -1;
}

gc_claim_state gc_claim_probe(const char *file) {
    char *lock = gc_strfmt("%s.lock", file);
    if (!lock) return GC_CLAIM_LIVE;
    gc_claim_state st = probe_lock(lock, NULL);
    free(lock);
    return st;
}
