/* Strict zip directory reader for torch.save archives (see zip_stored.h). torch writes local headers
 * with flag bit 3 (sizes and CRC only in the central directory and a trailing data descriptor), so
 * the central directory is authoritative; the local header must still agree on name and method. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/zip_stored.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define MAX_NAME 4096
/* Fuzz builds skip the CRC check (the libFuzzer convention) so that mutated members reach the pickle. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHECK_CRC 0
#else
#define CHECK_CRC 1
#endif

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

uint32_t gc_crc32(const void *buf, size_t len) {
    const unsigned char *p = buf;
    uLong c = crc32(0L, Z_NULL, 0);
    while (len) { /* zlib takes uInt lengths */
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(gc_zip_entry *const *)a)->name, (*(gc_zip_entry *const *)b)->name);
}
static int cmp_offset(const void *a, const void *b) {
    uint64_t x = (*(gc_zip_entry *const *)a)->offset, y = (*(gc_zip_entry *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Locate the end records; fills the central directory span and entry count. */
static gc_status find_directory(const gc_zip *z, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                                uint64_t *cd_limit) {
    const unsigned char *b = z->buf;
    uint64_t len = z->len;
    if (len < 22) return gc_errorf(GC_ERR_FORMAT, "%s: zip: no end-of-central-directory record (truncated file?)", z->label);
    int64_t eocd = -1;
    uint64_t lowest = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (uint64_t p = len - 22 + 1; p-- > lowest;)
        if (rd32(b + p) == SIG_EOCD && p + 22 + rd16(b + p + 20) == len) {
            eocd = (int64_t)p;
            break;
        }
    if (eocd < 0)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: no end-of-central-directory record (truncated file?)", z->label);
    const unsigned char *e = b + eocd;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10))
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: multi-disk archives are not supported", z->label);
    *count = rd16(e + 10);
    *cd_size = rd32(e + 12);
    *cd_off = rd32(e + 16);
    *cd_limit = (uint64_t)eocd;
    if (eocd >= 20 && rd32(b + eocd - 20) == SIG_LOC64) {
        const unsigned char *l = b + eocd - 20;
        uint64_t off64 = rd64(l + 8);
        if (rd32(l + 4) != 0 || rd32(l + 16) > 1 || off64 > (uint64_t)eocd - 20 || (uint64_t)eocd - 20 - off64 < 56)
            return gc_errorf(GC_ERR_FORMAT, "%s: zip: bad zip64 end-of-central-directory locator", z->label);
        const unsigned char *r = b + off64;
        if (rd32(r) != SIG_EOCD64 || rd32(r + 16) != 0 || rd32(r + 20) != 0 || rd64(r + 24) != rd64(r + 32))
            return gc_errorf(GC_ERR_FORMAT, "%s: zip: bad zip64 end-of-central-directory record", z->label);
        uint64_t c64 = rd64(r + 32), s64 = rd64(r + 40), o64 = rd64(r + 48);
        /* the classic fields hold either the same value or the 0xFF.. escape */
        if ((*count != 0xFFFF && *count != c64) || (*cd_size != 0xFFFFFFFFu && *cd_size != s64) ||
            (*cd_off != 0xFFFFFFFFu && *cd_off != o64))
            return gc_errorf(GC_ERR_FORMAT, "%s: zip: zip64 and classic end records disagree", z->label);
        *count = c64;
        *cd_size = s64;
        *cd_off = o64;
        *cd_limit = off64;
    }
    if (*cd_off > *cd_limit || *cd_size > *cd_limit - *cd_off)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: central directory [%llu, +%llu) lies outside the file", z->label,
                         (unsigned long long)*cd_off, (unsigned long long)*cd_size);
    if (*count > *cd_size / 46)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: %llu entries cannot fit a %llu-byte central directory", z->label,
                         (unsigned long long)*count, (unsigned long long)*cd_size);
    return GC_OK;
}

/* One central entry at *pos (advanced); checks its local header. */
static gc_status parse_entry(gc_zip *z, uint64_t *pos, uint64_t cd_end, uint64_t cd_off, gc_zip_entry *out) {
    const unsigned char *b = z->buf;
    if (cd_end - *pos < 46 || rd32(b + *pos) != SIG_CENTRAL)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: bad central directory entry at offset %llu", z->label,
                         (unsigned long long)*pos);
    const unsigned char *c = b + *pos;
    uint16_t flags = rd16(c + 8), method = rd16(c + 10), nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
    uint64_t csize = rd32(c + 20), usize = rd32(c + 24), lho = rd32(c + 42);
    if (46 + (uint64_t)nlen + xlen + clen > cd_end - *pos)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: central directory entry at offset %llu overruns the directory",
                         z->label, (unsigned long long)*pos);
    if (nlen == 0 || nlen > MAX_NAME || memchr(c + 46, 0, nlen))
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: invalid member name at offset %llu", z->label, (unsigned long long)*pos);
    out->name = malloc((size_t)nlen + 1);
    if (!out->name) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", z->label);
    memcpy(out->name, c + 46, nlen);
    out->name[nlen] = 0;
    if (flags & 0x41) return gc_errorf(GC_ERR_UNSUPPORTED, "%s: zip: member %s is encrypted", z->label, out->name);
    /* zip64 extra field: present values replace the escaped 32-bit ones, in this order */
    const unsigned char *x = c + 46 + nlen, *xend = x + xlen;
    while (xend - x >= 4) {
        uint16_t id = rd16(x), sz = rd16(x + 2);
        if (sz > xend - x - 4) return gc_errorf(GC_ERR_FORMAT, "%s: zip: bad extra field in %s", z->label, out->name);
        if (id == 1) {
            const unsigned char *q = x + 4, *qend = q + sz;
            uint64_t *fields[3] = {&usize, &csize, &lho};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xFFFFFFFFu) continue;
                if (qend - q < 8) return gc_errorf(GC_ERR_FORMAT, "%s: zip: short zip64 field in %s", z->label, out->name);
                *fields[k] = rd64(q);
                q += 8;
            }
        }
        x += 4 + sz;
    }
    *pos += 46 + (uint64_t)nlen + xlen + clen;
    /* the local header must lie before the central directory and agree with it */
    if (lho > cd_off || cd_off - lho < 30 || rd32(b + lho) != SIG_LOCAL)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: local header of %s missing or outside the file", z->label, out->name);
    const unsigned char *l = b + lho;
    uint16_t lflags = rd16(l + 6), lmethod = rd16(l + 8), lnlen = rd16(l + 26), lxlen = rd16(l + 28);
    if (30 + (uint64_t)lnlen + lxlen > cd_off - lho || lnlen != nlen || memcmp(l + 30, out->name, nlen) != 0 ||
        lmethod != method || ((lflags ^ flags) & 0x08))
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: local header of %s disagrees with the central directory", z->label,
                         out->name);
    if (!(lflags & 0x08)) { /* sizes in the local header unless escaped for zip64 */
        uint32_t lcrc = rd32(l + 14), lcs = rd32(l + 18), lus = rd32(l + 22);
        if (lcrc != rd32(c + 16) || (lcs != 0xFFFFFFFFu && lcs != csize) || (lus != 0xFFFFFFFFu && lus != usize))
            return gc_errorf(GC_ERR_FORMAT, "%s: zip: local header of %s disagrees with the central directory",
                             z->label, out->name);
    }
    uint64_t data = lho + 30 + lnlen + lxlen;
    if (csize > cd_off - data)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: member %s (%llu bytes at offset %llu) runs past the data area "
                         "(truncated file?)", z->label, out->name, (unsigned long long)csize, (unsigned long long)data);
    if (method == 0 && csize != usize)
        return gc_errorf(GC_ERR_FORMAT, "%s: zip: stored member %s has sizes %llu and %llu", z->label, out->name,
                         (unsigned long long)csize, (unsigned long long)usize);
    out->offset = data;
    out->size = usize;
    out->csize = csize;
    out->crc = rd32(c + 16);
    out->method = method;
    out->crc_ok = false;
    return GC_OK;
}

gc_status gc_zip_open(gc_zip *z, const char *label, const void *buf, uint64_t len) {
    memset(z, 0, sizeof *z);
    z->label = label;
    z->buf = buf;
    z->len = len;
    uint64_t cd_off = 0, cd_size = 0, count = 0, cd_limit = 0;
    GC_TRY(find_directory(z, &cd_off, &cd_size, &count, &cd_limit));
    z->e = calloc(count ? (size_t)count : 1, sizeof *z->e);
    z->by_name = calloc(count ? (size_t)count : 1, sizeof *z->by_name);
    if (!z->e || !z->by_name) {
        gc_zip_free(z);
        return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", label);
    }
    uint64_t pos = cd_off, cd_end = cd_off + cd_size;
    gc_status st = GC_OK;
    for (uint64_t i = 0; i < count && st == GC_OK; i++, z->n++) st = parse_entry(z, &pos, cd_end, cd_off, &z->e[i]);
    if (st == GC_OK && pos != cd_end)
        st = gc_errorf(GC_ERR_FORMAT, "%s: zip: central directory holds more than its %llu entries", label,
                       (unsigned long long)count);
    if (st != GC_OK) {
        gc_zip_free(z);
        return st;
    }
    for (int64_t i = 0; i < z->n; i++) z->by_name[i] = &z->e[i];
    /* members must not overlap: sort by data offset and compare neighbours (headers included) */
    qsort(z->by_name, (size_t)z->n, sizeof *z->by_name, cmp_offset);
    for (int64_t i = 1; i < z->n; i++) {
        const gc_zip_entry *a = z->by_name[i - 1], *c = z->by_name[i];
        if (a->offset + a->csize + 30 > c->offset) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: zip: members %s and %s overlap", label, a->name, c->name);
            break;
        }
    }
    if (st == GC_OK) {
        qsort(z->by_name, (size_t)z->n, sizeof *z->by_name, cmp_name);
        for (int64_t i = 1; i < z->n; i++)
            if (strcmp(z->by_name[i - 1]->name, z->by_name[i]->name) == 0) {
                st = gc_errorf(GC_ERR_FORMAT, "%s: zip: member %s appears twice", label, z->by_name[i]->name);
                break;
            }
    }
    if (st != GC_OK) gc_zip_free(z);
    return st;
}

void gc_zip_free(gc_zip *z) {
    for (int64_t i = 0; z->e && i < z->n; i++) free(z->e[i].name);
    free(z->e);
    free(z->by_name);
    z->e = NULL;
    z->by_name = NULL;
    z->n = 0;
}

gc_zip_entry *gc_zip_find(const gc_zip *z, const char *name) {
    int64_t lo = 0, hi = z->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->by_name[mid]->name, name);
        if (c == 0) return z->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

gc_status gc_zip_read(const gc_zip *z, gc_zip_entry *e, const char *what, const unsigned char **out) {
    *out = NULL;
    if (e->method != 0)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: zip: %s (%s) is compressed (method %d); torch.save writes stored "
                         "entries only (re-save it with torch.save)", z->label, what, e->name, e->method);
    if (!e->crc_ok) {
        if (CHECK_CRC && gc_crc32(z->buf + e->offset, (size_t)e->size) != e->crc)
            return gc_errorf(GC_ERR_FORMAT, "%s: zip: CRC mismatch in %s", z->label, e->name);
        e->crc_ok = true;
    }
    *out = z->buf + e->offset;
    return GC_OK;
}
