/* safetensors writer. Tensors are sorted by name (as the reference files are), the header is padded
 * with spaces so the data section starts 8-byte aligned, and the file appears atomically. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"

typedef struct {
    char *name;
    gc_dtype dtype;
    int ndim;
    int64_t shape[GC_MAX_DIMS];
    void *data;
    size_t nbytes;
    bool borrowed; /* data owned by the caller (gc_st_writer_add_ref) */
} wentry;

struct gc_st_writer {
    wentry *e;
    int n, cap;
    cJSON *meta;
};

gc_st_writer *gc_st_writer_new(void) {
    gc_st_writer *wr = calloc(1, sizeof *wr);
    if (!wr) gc_errorf(GC_ERR_NOMEM, "out of memory");
    return wr;
}

void gc_st_writer_free(gc_st_writer *wr) {
    if (!wr) return;
    for (int i = 0; i < wr->n; i++) {
        free(wr->e[i].name);
        if (!wr->e[i].borrowed) free(wr->e[i].data);
    }
    free(wr->e);
    cJSON_Delete(wr->meta);
    free(wr);
}

static gc_status add(gc_st_writer *wr, const char *name, gc_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, bool borrow) {
    if (ndim < 0 || ndim > GC_MAX_DIMS) return gc_errorf(GC_ERR_ARG, "tensor '%s': bad rank %d", name, ndim);
    for (int i = 0; i < wr->n; i++)
        if (strcmp(wr->e[i].name, name) == 0)
            return gc_errorf(GC_ERR_INTERNAL, "tensor '%s' written twice", name);
    int64_t numel = 1, nbytes;
    for (int i = 0; i < ndim; i++)
        if (!gc_mul_ok(numel, shape[i], &numel)) return gc_errorf(GC_ERR_ARG, "tensor '%s': bad shape", name);
    if (!gc_mul_ok(numel, (int64_t)gc_dtype_size(dtype), &nbytes))
        return gc_errorf(GC_ERR_ARG, "tensor '%s': too large", name);
    if (wr->n == wr->cap) {
        int cap = wr->cap ? 2 * wr->cap : 32;
        wentry *e = gc_realloc_array(wr->e, (size_t)cap, sizeof *e);
        if (!e) return GC_ERR_NOMEM;
        wr->e = e;
        wr->cap = cap;
    }
    wentry *e = &wr->e[wr->n];
    memset(e, 0, sizeof *e);
    e->name = gc_strdup(name);
    e->borrowed = borrow;
    e->data = borrow ? (void *)data : malloc(nbytes ? (size_t)nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        if (!borrow) free(e->data);
        return gc_errorf(GC_ERR_NOMEM, "tensor '%s': out of memory", name);
    }
    if (nbytes && !borrow) memcpy(e->data, data, (size_t)nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    if (ndim) memcpy(e->shape, shape, sizeof(int64_t) * (size_t)ndim);
    e->nbytes = (size_t)nbytes;
    wr->n++;
    return GC_OK;
}

gc_status gc_st_writer_add(gc_st_writer *wr, const char *name, gc_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
    return add(wr, name, dtype, ndim, shape, data, false);
}

gc_status gc_st_writer_add_ref(gc_st_writer *wr, const char *name, gc_dtype dtype, int ndim,
                               const int64_t *shape, const void *data) {
    return add(wr, name, dtype, ndim, shape, data, true);
}

/* Name under `prefix` ("a.b" or "a.b." both select "a.b.*"), stripped; NULL if outside. */
static const char *under_prefix(const char *name, const char *prefix, size_t lp) {
    if (!lp) return name;
    if (strncmp(name, prefix, lp) != 0) return NULL;
    name += lp;
    if (prefix[lp - 1] != '.') {
        if (*name != '.') return NULL;
        name++;
    }
    return *name ? name : NULL;
}

gc_status gc_weights_save_as(const gc_weights *w, const char *path, const char *prefix, int dtype) {
    if (dtype >= 0 && dtype != GC_DT_F32 && dtype != GC_DT_F16)
        return gc_errorf(GC_ERR_ARG, "%s: can convert floats to F32 or F16 only, not %s", path,
                         gc_dtype_name((gc_dtype)dtype));
    gc_st_writer *wr = gc_st_writer_new();
    if (!wr) return GC_ERR_NOMEM;
    size_t lp = prefix ? strlen(prefix) : 0;
    int64_t kept = 0;
    gc_status st = GC_OK;
    for (int64_t i = 0; st == GC_OK && i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        const char *name = under_prefix(r->name, prefix, lp);
        if (!name) continue;
        kept++;
        bool is_float = r->dtype == GC_DT_F64 || r->dtype == GC_DT_F32 || r->dtype == GC_DT_F16 || r->dtype == GC_DT_BF16;
        if (dtype < 0 || !is_float || r->dtype == (gc_dtype)dtype) {
            st = gc_st_writer_add_ref(wr, name, r->dtype, r->ndim, r->shape, r->data);
            continue;
        }
        /* converted copies are owned by the writer (gc_st_writer_add copies) */
        float *f = gc_alloc_array((size_t)(r->numel ? r->numel : 1), sizeof(float));
        uint16_t *h = dtype == GC_DT_F16 ? gc_alloc_array((size_t)(r->numel ? r->numel : 1), 2) : NULL;
        if (!f || (dtype == GC_DT_F16 && !h)) {
            st = gc_error_context(GC_ERR_NOMEM, "%s: tensor '%s'", gc_weights_label(w), r->name);
        } else {
            gc_convert_to_f32(r->dtype, r->data, f, r->numel);
            for (int64_t k = 0; h && k < r->numel; k++) h[k] = gc_f32_to_f16(f[k]);
            st = gc_st_writer_add(wr, name, (gc_dtype)dtype, r->ndim, r->shape, h ? (void *)h : (void *)f);
        }
        gc_free(f);
        gc_free(h);
    }
    if (st == GC_OK && lp && !kept)
        st = gc_errorf(GC_ERR_MISSING, "%s: no tensor under the prefix '%s'", gc_weights_label(w), prefix);
    if (st == GC_OK) st = gc_st_writer_save(wr, path);
    gc_st_writer_free(wr);
    return st;
}

gc_status gc_weights_save(const gc_weights *w, const char *path) { return gc_weights_save_as(w, path, NULL, -1); }

gc_status gc_st_writer_meta(gc_st_writer *wr, const char *key, const char *value) {
    if (!wr->meta && !(wr->meta = cJSON_CreateObject())) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(wr->meta, key);
    if (!cJSON_AddStringToObject(wr->meta, key, value)) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    return GC_OK;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const wentry *)a)->name, ((const wentry *)b)->name);
}

gc_status gc_st_writer_save(gc_st_writer *wr, const char *path) {
    if (wr->n > 1) qsort(wr->e, (size_t)wr->n, sizeof *wr->e, cmp_entry);
    cJSON *root = cJSON_CreateObject();
    if (!root) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (wr->meta) cJSON_AddItemReferenceToObject(root, "__metadata__", wr->meta);
    size_t off = 0;
    for (int i = 0; i < wr->n; i++) {
        wentry *e = &wr->e[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", gc_dtype_name(e->dtype));
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int k = 0; k < e->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[k]));
        cJSON *of = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + e->nbytes)));
        off += e->nbytes;
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory building the header", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    gc_atomic_file af;
    gc_status st = gc_atomic_open(&af, path);
    if (st != GC_OK) {
        free(hdr);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    st = gc_atomic_write(&af, len8, 8);
    if (st == GC_OK) st = gc_atomic_write(&af, hdr, hlen);
    for (size_t i = hlen; st == GC_OK && i < padded; i++) st = gc_atomic_write(&af, " ", 1);
    for (int i = 0; st == GC_OK && i < wr->n; i++) st = gc_atomic_write(&af, wr->e[i].data, wr->e[i].nbytes);
    free(hdr);
    if (st != GC_OK) {
        gc_atomic_abort(&af);
        return st;
    }
    return gc_atomic_commit(&af);
}
