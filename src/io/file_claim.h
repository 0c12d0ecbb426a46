/* Per-file claims between processes that share a folder (several `geocorr extract` runs writing one
 * feature cache, on one machine or on cluster nodes over NFS): before computing `<file>` a process
 * creates `<file>.lock` with O_EXCL, holds an fcntl write lock on it for as long as the claim lasts
 * and writes one owner line ("pid P host H since T\n"). Another process that finds the lock file
 * can tell a live claim from one a killed process left behind: the kernel (or the NFS lock manager)
 * drops the fcntl lock of a dead process, so a lock file whose fcntl lock can be taken and whose
 * owner line is complete is stale. Where the file system has no fcntl locks, the owner line decides
 * (same host and no such pid: stale; another host: live). */
#ifndef GC_IO_FILE_CLAIM_H
#define GC_IO_FILE_CLAIM_H

#include "base/base.h"

typedef enum {
    GC_CLAIM_NONE,  /* no lock file */
    GC_CLAIM_LIVE,  /* claimed by a running process (possibly this one) */
    GC_CLAIM_STALE, /* left by a process that died */
} gc_claim_state;

typedef struct {
    char *lock; /* "<file>.lock" */
    int fd;     /* holds the fcntl lock; -1 when not claimed */
} gc_claim;

/* Try to claim `file` (its folder must exist). *taken = true: the claim is held until
 * gc_claim_release; false: another live process holds it (try again later). A stale lock file is
 * removed and the claim taken. Errors (GC_ERR_IO) name the lock file. */
gc_status gc_claim_try(gc_claim *c, const char *file, bool *taken);
/* Remove the lock file and drop the claim (after the file was written or the work abandoned). */
void gc_claim_release(gc_claim *c);
/* State of the claim on `file`, without taking it. Note: fcntl locks belong to a process, so a
 * process must not probe a file it has claimed itself (closing the probe would drop its lock). */
gc_claim_state gc_claim_probe(const char *file);

#endif
