/* A strict reader of the zip archives torch.save writes: stored (uncompressed) members are handed out
 * as spans of the caller's buffer (usually a read-only memory map), so storages are never copied.
 * Everything is validated against the buffer: end-of-central-directory records (classic and zip64),
 * every central entry against its local header (signature, name, method, sizes), offsets within
 * the file, members that overlap, duplicate names. CRC-32 is checked when a member is read. */
#ifndef GC_ZIP_STORED_H
#define GC_ZIP_STORED_H

#include "base/base.h"

typedef struct {
    char *name;       /* NUL-terminated copy of the member name */
    uint64_t offset;  /* data start within the buffer */
    uint64_t size;    /* uncompressed size (== stored size for method 0) */
    uint64_t csize;   /* size in the archive */
    uint32_t crc;     /* CRC-32 from the central directory */
    int method;       /* 0 = stored, 8 = deflate, ... */
    bool crc_ok;      /* verified once by gc_zip_read */
} gc_zip_entry;

typedef struct {
    const char *label;            /* file name for messages (not owned) */
    const unsigned char *buf;     /* [len] the whole archive (not owned) */
    uint64_t len;
    gc_zip_entry *e;              /* [n] in central-directory order */
    int64_t n;
    gc_zip_entry **by_name;       /* [n] entries sorted by name */
} gc_zip;

/* Parse and validate the directory of the archive in buf[len]. */
gc_status gc_zip_open(gc_zip *z, const char *label, const void *buf, uint64_t len);
void gc_zip_free(gc_zip *z);
/* Entry by exact name, or NULL. */
gc_zip_entry *gc_zip_find(const gc_zip *z, const char *name);
/* The bytes of a stored member, CRC-checked (once); compressed members are refused. `what` names
 * the member's role in messages ("data.pkl", "storage record"). */
gc_status gc_zip_read(const gc_zip *z, gc_zip_entry *e, const char *what, const unsigned char **out);

uint32_t gc_crc32(const void *buf, size_t len);

#endif
