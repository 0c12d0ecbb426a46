/* PyTorch checkpoints (torch.save zip archives, and the legacy pre-1.6 stream) as gc_weights.
 * The pickle is run by the restricted VM (pickle.c); storages stay in the file's memory map and
 * contiguous tensors point straight into it; strided views are copied once into a contiguous buffer.
 * Tensors get their flattened dotted path as name (docs/checkpoints.md); the other leaves
 * (ints, strings, opaque objects...) become metadata entries for `geocorr inspect`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "io/torch_ckpt.h"
#include "io/zip_stored.h"

#define MAX_DEPTH 200          /* container nesting walked when flattening */
#define MAX_PATH 4096          /* flattened name length */
#define COPY_SLACK (256u << 20) /* strided-view copies may total 2 x file size + this */

static const unsigned char k_legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct {
    gc_pickle *pk;
    gc_weights *w;
    char path[MAX_PATH];
    size_t plen;
    int64_t budget;      /* nodes the walk may still visit (shared containers can repeat) */
    uint64_t copy_left;  /* bytes strided copies may still allocate */
} flattener;

/* ---- tensor bytes ---- */

static bool is_contiguous(const gc_pk_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expect) return false;
        expect *= t->size[i];
    }
    return true;
}

/* Strided copy of a validated view (every index stays inside the storage, see rebuild_tensor). */
static void copy_strided(const gc_pk_tensor *t, const unsigned char *base, size_t es, unsigned char *dst) {
    int64_t idx[GC_PK_MAX_TENSOR_DIMS] = {0};
    int nd = t->ndim;
    int64_t inner = nd ? t->size[nd - 1] : 1, istride = nd ? t->stride[nd - 1] : 0;
    for (int64_t done = 0; done < t->numel; done += inner) {
        int64_t off = t->offset;
        for (int i = 0; i < nd - 1; i++) off += idx[i] * t->stride[i];
        const unsigned char *src = base + (size_t)off * es;
        for (int64_t j = 0; j < inner; j++, dst += es) memcpy(dst, src + (size_t)(j * istride) * es, es);
        for (int i = nd - 2; i >= 0; i--) {
            if (++idx[i] < t->size[i]) break;
            idx[i] = 0;
        }
    }
}

static void release_alloc(void *p, size_t len) { gc_free(p); }

static gc_status tensor_bytes(flattener *f, gc_pk_tensor *t, const char *name) {
    if (t->data) return GC_OK;
    const gc_pk_storage *s = &f->pk->storages[t->storage];
    size_t es = gc_dtype_size(s->dtype);
    static const unsigned char empty[8];
    if (t->numel == 0) {
        t->data = empty;
        return GC_OK;
    }
    if (is_contiguous(t)) {
        t->data = s->data + (size_t)t->offset * es;
        return GC_OK;
    }
    uint64_t nbytes = (uint64_t)t->numel * es;
    if (nbytes > f->copy_left)
        return gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': its strided view would need %llu bytes, more than this "
                         "file can justify", f->pk->label, name, (unsigned long long)nbytes);
    unsigned char *dst = gc_alloc((size_t)nbytes);
    if (!dst) return gc_error_context(GC_ERR_NOMEM, "%s: tensor '%s'", f->pk->label, name);
    gc_status st = gc_weights_add_backing(f->w, dst, (size_t)nbytes, release_alloc);
    if (st != GC_OK) {
        gc_free(dst);
        return st;
    }
    f->copy_left -= nbytes;
    copy_strided(t, s->data, es, dst);
    t->data = dst;
    return GC_OK;
}

/* ---- leaf rendering (inspect) ---- */

/* LONG1 integers up to 16 bytes in decimal (as the reference's JSON), wider ones by size. */
static void render_bigint(const gc_pk_value *v, char *buf, size_t len) {
    if (v->s.n > 16) {
        snprintf(buf, len, "<int of %lld bytes>", (long long)v->s.n);
        return;
    }
    const unsigned char *p = (const unsigned char *)v->s.p;
    unsigned __int128 u = 0;
    for (int64_t i = v->s.n - 1; i >= 0; i--) u = (u << 8) | p[i];
    bool neg = v->s.n < 16 ? (p[v->s.n - 1] & 0x80) != 0 : (p[15] & 0x80) != 0;
    if (neg) u = v->s.n < 16 ? ((unsigned __int128)1 << (8 * v->s.n)) - u : -u;
    char d[48];
    int k = 0;
    do {
        d[k++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t o = 0;
    if (neg && o + 1 < len) buf[o++] = '-';
    while (k && o + 1 < len) buf[o++] = d[--k];
    buf[o] = 0;
}

static void render_leaf(const gc_pk_value *v, char *buf, size_t len) {
    char g[600];
    switch (v->kind) {
    case GC_PK_NONE: snprintf(buf, len, "None"); break;
    case GC_PK_BOOL: snprintf(buf, len, v->b ? "True" : "False"); break;
    case GC_PK_INT: snprintf(buf, len, "%lld", (long long)v->i); break;
    case GC_PK_BIGINT: render_bigint(v, buf, len); break;
    case GC_PK_FLOAT:
        if (isnan(v->f)) snprintf(buf, len, "nan");
        else if (isinf(v->f)) snprintf(buf, len, v->f > 0 ? "inf" : "-inf");
        else {
            for (int prec = 15; prec <= 17; prec++) { /* shortest that reads back, as Python's repr */
                snprintf(buf, len, "%.*g", prec, v->f);
                if (strtod(buf, NULL) == v->f) break;
            }
            if (!strpbrk(buf, ".e")) strncat(buf, ".0", len - strlen(buf) - 1); /* 3.0, not 3 */
        }
        break;
    case GC_PK_STR: {
        int n = v->s.n > 120 ? 120 : (int)v->s.n;
        snprintf(buf, len, "'%.*s'%s", n, v->s.p, v->s.n > 120 ? "..." : "");
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 32) *p = '?';
        break;
    }
    case GC_PK_BYTES: snprintf(buf, len, "<bytes, %lld>", (long long)v->s.n); break;
    case GC_PK_SET: snprintf(buf, len, "<set>"); break;
    case GC_PK_GLOBAL: snprintf(buf, len, "<global %s>", gc_pk_global_name(v, g, sizeof g)); break;
    case GC_PK_OPAQUE: snprintf(buf, len, "<opaque %s>", gc_pk_global_name(v, g, sizeof g)); break;
    case GC_PK_STORAGE: snprintf(buf, len, "<storage>"); break;
    default: snprintf(buf, len, "<%d>", (int)v->kind); break;
    }
}

/* A dict key as a path component: str as is, ints in decimal, True/False/None, <module.name>. */
static gc_status key_component(flattener *f, const gc_pk_value *k, char *buf, size_t len) {
    char g[600];
    switch (k->kind) {
    case GC_PK_STR:
        if (memchr(k->s.p, 0, (size_t)k->s.n) || (size_t)k->s.n >= len)
            return gc_errorf(GC_ERR_FORMAT, "%s: dict key at '%s' has a NUL byte or is too long", f->pk->label, f->path);
        memcpy(buf, k->s.p, (size_t)k->s.n);
        buf[k->s.n] = 0;
        return GC_OK;
    case GC_PK_GLOBAL: case GC_PK_OPAQUE: snprintf(buf, len, "<%s>", gc_pk_global_name(k, g, sizeof g)); return GC_OK;
    case GC_PK_NONE: case GC_PK_BOOL: case GC_PK_INT: case GC_PK_FLOAT: render_leaf(k, buf, len); return GC_OK;
    default: snprintf(buf, len, "<%s key>", k->kind == GC_PK_TUPLE ? "tuple" : "other"); return GC_OK;
    }
}

static gc_status walk(flattener *f, const gc_pk_value *v, int depth);

static gc_status walk_child(flattener *f, const char *comp, const gc_pk_value *v, int depth) {
    size_t save = f->plen, cl = strlen(comp);
    if (f->plen + 1 + cl >= MAX_PATH)
        return gc_errorf(GC_ERR_FORMAT, "%s: flattened name longer than %d bytes under '%.64s'", f->pk->label, MAX_PATH,
                         f->path);
    if (f->plen) f->path[f->plen++] = '.';
    memcpy(f->path + f->plen, comp, cl + 1);
    f->plen += cl;
    gc_status st = walk(f, v, depth + 1);
    f->plen = save;
    f->path[save] = 0;
    return st;
}

static gc_status walk(flattener *f, const gc_pk_value *v, int depth) {
    if (depth > MAX_DEPTH)
        return gc_errorf(GC_ERR_FORMAT, "%s: containers nested more than %d deep (or a cycle) at '%.64s...'",
                         f->pk->label, MAX_DEPTH, f->path);
    if (--f->budget < 0)
        return gc_errorf(GC_ERR_FORMAT, "%s: the object graph repeats shared containers too often (more nodes "
                         "than the pickle can justify)", f->pk->label);
    char comp[1100];
    switch (v->kind) {
    case GC_PK_TENSOR: {
        gc_pk_tensor *t = &f->pk->tensors[v->idx];
        const char *name = f->plen ? f->path : "tensor"; /* torch.save(tensor) */
        GC_TRY(tensor_bytes(f, t, name));
        return gc_weights_add(f->w, name, f->pk->storages[t->storage].dtype, t->ndim, t->size, t->data);
    }
    case GC_PK_DICT:
        for (int64_t i = 0; i + 1 < v->seq.n; i += 2) {
            GC_TRY(key_component(f, v->seq.v[i], comp, sizeof comp));
            GC_TRY(walk_child(f, comp, v->seq.v[i + 1], depth));
        }
        return GC_OK;
    case GC_PK_LIST: case GC_PK_TUPLE:
        for (int64_t i = 0; i < v->seq.n; i++) {
            snprintf(comp, sizeof comp, "%lld", (long long)i);
            GC_TRY(walk_child(f, comp, v->seq.v[i], depth));
        }
        return GC_OK;
    default:
        render_leaf(v, comp, sizeof comp);
        return gc_weights_add_meta(f->w, f->plen ? f->path : "(top)", comp);
    }
}

/* ---- containers ---- */

static gc_status flatten(gc_pickle *pk, const gc_pk_value *root, uint64_t file_len, uint64_t pickle_len,
                         gc_weights *w) {
    flattener *f = calloc(1, sizeof *f);
    if (!f) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
    f->pk = pk;
    f->w = w;
    f->budget = 4 * (int64_t)pickle_len + 1024;
    f->copy_left = 2 * file_len + COPY_SLACK;
    gc_status st = walk(f, root, 0);
    free(f);
    if (st == GC_OK) st = gc_weights_finalize(w);
    return st;
}

static gc_status load_zip(gc_weights *w, const char *label, const unsigned char *buf, uint64_t len) {
    gc_zip z;
    GC_TRY(gc_zip_open(&z, label, buf, len));
    gc_pickle pk;
    gc_pickle_init(&pk, label, len);
    gc_status st = GC_OK;
    char *name = NULL;
    gc_zip_entry *pkl = NULL;
    int found = 0;
    for (int64_t i = 0; i < z.n; i++) {
        const char *n = z.e[i].name, *slash = strchr(n, '/');
        if (slash && slash > n && strcmp(slash, "/data.pkl") == 0) {
            found++;
            pkl = &z.e[i];
        }
    }
    if (found != 1) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: zip: expected exactly one <prefix>/data.pkl, found %d (not a torch.save "
                       "checkpoint?)", label, found);
        goto done;
    }
    size_t plen = strlen(pkl->name) - strlen("/data.pkl");
    name = malloc(plen + GC_PK_MAX_KEY + 16);
    if (!name) {
        st = gc_errorf(GC_ERR_NOMEM, "%s: out of memory", label);
        goto done;
    }
    memcpy(name, pkl->name, plen);
    strcpy(name + plen, "/byteorder");
    gc_zip_entry *bo = gc_zip_find(&z, name);
    const unsigned char *p;
    if (bo) {
        if ((st = gc_zip_read(&z, bo, "byteorder", &p)) != GC_OK) goto done;
        if (bo->size != 6 || memcmp(p, "little", 6) != 0) {
            st = gc_errorf(GC_ERR_UNSUPPORTED, "%s: zip: big-endian checkpoint (byteorder record) not supported", label);
            goto done;
        }
    }
    if ((st = gc_zip_read(&z, pkl, "data.pkl", &p)) != GC_OK) goto done;
    gc_pk_value *root;
    uint64_t used;
    if ((st = gc_pickle_run(&pk, p, pkl->size, false, &root, &used)) != GC_OK) goto done;
    if (used != pkl->size) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: %s has %llu bytes after the pickle's STOP", label, pkl->name,
                       (unsigned long long)(pkl->size - used));
        goto done;
    }
    for (int64_t i = 0; i < pk.nstorages; i++) {
        gc_pk_storage *s = &pk.storages[i];
        snprintf(name + plen, GC_PK_MAX_KEY + 16, "/data/%s", s->key);
        gc_zip_entry *e = gc_zip_find(&z, name);
        uint64_t need = (uint64_t)s->numel * gc_dtype_size(s->dtype);
        if (!e) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: zip: storage record %s is missing", label, name);
            goto done;
        }
        if (e->size != need) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: zip: storage record %s has %llu bytes, %s of %lld elements needs %llu",
                           label, name, (unsigned long long)e->size, s->type_name, (long long)s->numel,
                           (unsigned long long)need);
            goto done;
        }
        if ((st = gc_zip_read(&z, e, "storage record", &s->data)) != GC_OK) goto done;
    }
    st = flatten(&pk, root, len, pkl->size, w);
    if (st == GC_OK) {
        name[plen] = 0;
        st = gc_weights_set_meta(w, "__format__", "torch zip");
        if (st == GC_OK) st = gc_weights_set_meta(w, "__prefix__", name);
    }
done:
    free(name);
    gc_pickle_free(&pk);
    gc_zip_free(&z);
    return st;
}

static const gc_pk_value *dict_get(const gc_pk_value *d, const char *key) {
    size_t kl = strlen(key);
    for (int64_t i = 0; d->kind == GC_PK_DICT && i + 1 < d->seq.n; i += 2)
        if (d->seq.v[i]->kind == GC_PK_STR && (size_t)d->seq.v[i]->s.n == kl && memcmp(d->seq.v[i]->s.p, key, kl) == 0)
            return d->seq.v[i + 1];
    return NULL;
}

/* Legacy stream: magic, protocol 1001, sys_info, the object, the storage keys; then per key an int64
 * element count and the raw elements. */
static gc_status load_legacy(gc_weights *w, const char *label, const unsigned char *buf, uint64_t len) {
    gc_pickle pk;
    gc_pickle_init(&pk, label, len);
    gc_pk_value *v[5];
    uint64_t pos = 0, used;
    gc_status st = GC_OK;
    for (int i = 0; i < 5 && st == GC_OK; i++, pos += used)
        st = gc_pickle_run(&pk, buf + pos, len - pos, i == 3, &v[i], &used);
    if (st != GC_OK) goto done;
    if (v[0]->kind != GC_PK_BIGINT || v[0]->s.n != 10 || memcmp(v[0]->s.p, k_legacy_magic, 10) != 0 ||
        v[1]->kind != GC_PK_INT || v[1]->i != 1001) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: not a PyTorch checkpoint (a pickle without torch's legacy magic number)", label);
        goto done;
    }
    const gc_pk_value *le = dict_get(v[2], "little_endian");
    if (!le || le->kind != GC_PK_BOOL || !le->b) {
        st = gc_errorf(GC_ERR_UNSUPPORTED, "%s: legacy: big-endian checkpoint not supported", label);
        goto done;
    }
    if (v[4]->kind != GC_PK_LIST) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: the storage key list is not a list", label);
        goto done;
    }
    for (int64_t i = 0; i < v[4]->seq.n; i++) {
        const gc_pk_value *k = v[4]->seq.v[i];
        char key[GC_PK_MAX_KEY + 1];
        if (k->kind != GC_PK_STR || k->s.n > GC_PK_MAX_KEY) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage key %lld is not a short string", label, (long long)i);
            goto done;
        }
        memcpy(key, k->s.p, (size_t)k->s.n);
        key[k->s.n] = 0;
        int64_t idx = gc_pickle_find_storage(&pk, key);
        if (idx < 0 || pk.storages[idx].data) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage %s is listed but %s", label, key,
                           idx < 0 ? "never used" : "listed twice");
            goto done;
        }
        gc_pk_storage *s = &pk.storages[idx];
        uint64_t es = gc_dtype_size(s->dtype), want = (uint64_t)s->numel * es;
        if (len - pos < 8) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage %s truncated (no element count)", label, key);
            goto done;
        }
        uint64_t count = 0;
        for (int b = 7; b >= 0; b--) count = (count << 8) | buf[pos + (uint64_t)b];
        pos += 8;
        if (count != (uint64_t)s->numel) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage %s holds %llu elements, the object says %lld", label, key,
                           (unsigned long long)count, (long long)s->numel);
            goto done;
        }
        if (len - pos < want) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage %s truncated (%llu of %llu bytes)", label, key,
                           (unsigned long long)(len - pos), (unsigned long long)want);
            goto done;
        }
        s->data = buf + pos;
        pos += want;
    }
    for (int64_t i = 0; i < pk.nstorages; i++)
        if (!pk.storages[i].data) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: storage %s is missing from the data", label, pk.storages[i].key);
            goto done;
        }
    if (pos != len) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: legacy: %llu unexpected bytes after the last storage", label,
                       (unsigned long long)(len - pos));
        goto done;
    }
    st = flatten(&pk, v[3], len, len, w);
    if (st == GC_OK) st = gc_weights_set_meta(w, "__format__", "torch legacy");
done:
    gc_pickle_free(&pk);
    return st;
}

bool gc_torch_ckpt_magic(const unsigned char *b, size_t len) {
    if (len < 4) return false;
    if (b[0] == 'P' && b[1] == 'K' && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))) return true;
    return b[0] == 0x80 && b[1] == 0x02 && b[2] == 0x8a && b[3] == 0x0a;
}

gc_status gc_torch_ckpt_parse(const char *label, const void *buf, size_t len, gc_weights **out) {
    *out = NULL;
    const unsigned char *b = buf;
    if (!gc_torch_ckpt_magic(b, len))
        return gc_errorf(GC_ERR_FORMAT, "%s: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle)", label);
    gc_weights *w = gc_weights_new(label);
    if (!w) return GC_ERR_NOMEM;
    gc_status st = b[0] == 'P' ? load_zip(w, label, b, len) : load_legacy(w, label, b, len);
    if (st != GC_OK) {
        gc_weights_free(w);
        return st;
    }
    *out = w;
    return GC_OK;
}

gc_status gc_torch_ckpt_open(const char *path, gc_weights **out) {
    return gc_weights_open_mapped(path, gc_torch_ckpt_parse, out);
}
