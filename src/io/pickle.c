/* Restricted unpickler (see pickle.h). An explicit value stack and a bounded MARK stack: no
 * recursion, so nesting cannot exhaust the C stack; every length is compared with the bytes left
 * before anything is read or allocated, so memory stays proportional to the input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"

/* ---- arena: every value and copied string of one load, freed at once ---- */

struct gc_arena {
    struct gc_arena *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
};

static void *arena_alloc(gc_pickle *pk, size_t n) {
    n = (n + 15) & ~(size_t)15;
    gc_arena *a = pk->arena;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        gc_arena *b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a;
        b->used = 0;
        b->cap = cap;
        pk->arena = a = b;
    }
    void *p = a->mem + a->used;
    a->used += n;
    return p;
}

/* ---- the allow-list ---- */

typedef struct {
    const char *module, *name;
    gc_pk_global_kind kind;
    gc_dtype dtype;
} global_rule;

static const global_rule k_globals[] = {
    {"torch._utils", "_rebuild_tensor_v2", GC_G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", GC_G_REBUILD_PARAM, 0},
    {"torch._utils", "_rebuild_parameter_with_state", GC_G_REBUILD_PARAM, 0},
    {"collections", "OrderedDict", GC_G_ORDERED_DICT, 0},
    {"torch", "DoubleStorage", GC_G_STORAGE, GC_DT_F64},
    {"torch", "FloatStorage", GC_G_STORAGE, GC_DT_F32},
    {"torch", "HalfStorage", GC_G_STORAGE, GC_DT_F16},
    {"torch", "BFloat16Storage", GC_G_STORAGE, GC_DT_BF16},
    {"torch", "LongStorage", GC_G_STORAGE, GC_DT_I64},
    {"torch", "IntStorage", GC_G_STORAGE, GC_DT_I32},
    {"torch", "ShortStorage", GC_G_STORAGE, GC_DT_I16},
    {"torch", "CharStorage", GC_G_STORAGE, GC_DT_I8},
    {"torch", "ByteStorage", GC_G_STORAGE, GC_DT_U8},
    {"torch", "BoolStorage", GC_G_STORAGE, GC_DT_BOOL},
    /* inert: found in real training checkpoints next to the weights; "calling" them yields an opaque
     * leaf (nothing runs). getattr/OneCycleLR/AdamW come from torch 1.13's OneCycleLR.state_dict(). */
    {"numpy.core.multiarray", "scalar", GC_G_INERT, 0},
    {"numpy.core.multiarray", "_reconstruct", GC_G_INERT, 0},
    {"numpy._core.multiarray", "scalar", GC_G_INERT, 0},
    {"numpy._core.multiarray", "_reconstruct", GC_G_INERT, 0},
    {"numpy", "dtype", GC_G_INERT, 0},
    {"numpy", "ndarray", GC_G_INERT, 0},
    {"_codecs", "encode", GC_G_INERT, 0},
    {"builtins", "set", GC_G_INERT, 0},
    {"builtins", "frozenset", GC_G_INERT, 0},
    {"builtins", "dict", GC_G_INERT, 0},
    {"builtins", "getattr", GC_G_INERT, 0},
    {"collections", "defaultdict", GC_G_INERT, 0},
    {"argparse", "Namespace", GC_G_INERT, 0},
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", GC_G_INERT, 0},
    {"torch.optim.lr_scheduler", "*", GC_G_INERT, 0},
    {"torch.optim.adamw", "AdamW", GC_G_INERT, 0},
    {"torch.optim.adam", "Adam", GC_G_INERT, 0},
    {"torch.optim.sgd", "SGD", GC_G_INERT, 0},
};

static void resolve_global(gc_pk_value *v) {
    v->g.kind = GC_G_UNKNOWN;
    const char *m = strcmp(v->g.module, "__builtin__") == 0 ? "builtins" : v->g.module;
    for (size_t i = 0; i < GC_COUNTOF(k_globals); i++)
        if (strcmp(m, k_globals[i].module) == 0 &&
            (strcmp(k_globals[i].name, "*") == 0 || strcmp(v->g.name, k_globals[i].name) == 0)) {
            v->g.kind = k_globals[i].kind;
            v->g.dtype = k_globals[i].dtype;
            return;
        }
}

const char *gc_pk_global_name(const gc_pk_value *v, char *buf, size_t len) {
    if (v && v->kind == GC_PK_OPAQUE) v = v->opaque_of;
    if (!v || v->kind != GC_PK_GLOBAL) snprintf(buf, len, "?");
    else snprintf(buf, len, "%s.%s", strcmp(v->g.module, "__builtin__") == 0 ? "builtins" : v->g.module, v->g.name);
    return buf;
}

static const char *kind_name(const gc_pk_value *v) {
    static const char *const k[] = {"None", "bool", "int", "int", "float", "str", "bytes", "tuple", "list",
                                    "dict", "set", "global", "opaque object", "storage", "tensor"};
    return k[v->kind];
}

/* ---- the VM state of one run ---- */

typedef struct {
    gc_pickle *pk;
    const unsigned char *buf;
    uint64_t len, pos, op_at; /* op_at: offset of the current opcode (messages) */
    bool legacy;
    gc_pk_value **stack;
    int64_t sp, scap;
    int64_t marks[GC_PK_MAX_MARKS];
    int nmarks;
    /* memo: open addressing on the 32-bit key */
    uint32_t *mkeys;
    gc_pk_value **mvals;
    int64_t mcount, mcap;
} vm;

#define FAIL(st, ...) gc_errorf(st, __VA_ARGS__)

static gc_status errf_at(vm *m, gc_status st, const char *what) {
    return gc_errorf(st, "%s: pickle: %s at offset %llu", m->pk->label, what, (unsigned long long)m->op_at);
}

static gc_status need(vm *m, uint64_t n) {
    if (n > m->len - m->pos)
        return gc_errorf(GC_ERR_FORMAT, "%s: pickle: needs %llu bytes at offset %llu, only %llu left", m->pk->label,
                         (unsigned long long)n, (unsigned long long)m->pos, (unsigned long long)(m->len - m->pos));
    return GC_OK;
}

static gc_pk_value *new_value(vm *m, gc_pk_kind k) {
    gc_pk_value *v = arena_alloc(m->pk, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->kind = k;
    }
    return v;
}

static gc_status push(vm *m, gc_pk_value *v) {
    if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    if (m->sp == m->scap) {
        int64_t cap = m->scap ? 2 * m->scap : 256;
        gc_pk_value **s = gc_realloc_array(m->stack, (size_t)cap, sizeof *s);
        if (!s) return GC_ERR_NOMEM;
        m->stack = s;
        m->scap = cap;
    }
    m->stack[m->sp++] = v;
    return GC_OK;
}

static int64_t mark_base(const vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

static gc_status pop(vm *m, gc_pk_value **out) {
    if (m->sp <= mark_base(m)) return errf_at(m, GC_ERR_FORMAT, "stack underflow");
    *out = m->stack[--m->sp];
    return GC_OK;
}

static gc_status top(vm *m, gc_pk_value **out) {
    if (m->sp <= mark_base(m)) return errf_at(m, GC_ERR_FORMAT, "stack underflow");
    *out = m->stack[m->sp - 1];
    return GC_OK;
}

/* Items since the last MARK: *items points into the stack, the mark is popped. */
static gc_status pop_mark(vm *m, gc_pk_value ***items, int64_t *n) {
    if (!m->nmarks) return errf_at(m, GC_ERR_FORMAT, "no MARK on the stack");
    int64_t base = m->marks[--m->nmarks];
    *items = m->stack ? m->stack + base : NULL; /* no push yet: an empty stack has no array */
    *n = m->sp - base;
    m->sp = base;
    return GC_OK;
}

static gc_status seq_append(vm *m, gc_pk_value *s, gc_pk_value *const *items, int64_t n) {
    if (s->seq.cap - s->seq.n < n) {
        int64_t cap = s->seq.cap ? s->seq.cap : 4;
        while (cap - s->seq.n < n) cap *= 2;
        gc_pk_value **v = arena_alloc(m->pk, (size_t)cap * sizeof *v);
        if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
        if (s->seq.n) memcpy(v, s->seq.v, (size_t)s->seq.n * sizeof *v);
        s->seq.v = v;
        s->seq.cap = cap;
    }
    if (n) memcpy(s->seq.v + s->seq.n, items, (size_t)n * sizeof *items);
    s->seq.n += n;
    return GC_OK;
}

static gc_status make_seq(vm *m, gc_pk_kind k, gc_pk_value *const *items, int64_t n) {
    gc_pk_value *t = new_value(m, k);
    if (!t) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    GC_TRY(seq_append(m, t, items, n));
    return push(m, t);
}

/* ---- memo ---- */

static gc_pk_value **memo_slot(vm *m, uint32_t key, bool insert) {
    if (insert && 2 * (m->mcount + 1) > m->mcap) {
        int64_t cap = m->mcap ? 2 * m->mcap : 1024;
        uint32_t *k = malloc((size_t)cap * sizeof *k);
        gc_pk_value **v = calloc((size_t)cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return NULL;
        }
        for (int64_t i = 0; i < m->mcap; i++)
            if (m->mvals[i]) {
                uint64_t h = (m->mkeys[i] * 0x9E3779B1u) & (uint64_t)(cap - 1);
                while (v[h]) h = (h + 1) & (uint64_t)(cap - 1);
                k[h] = m->mkeys[i];
                v[h] = m->mvals[i];
            }
        free(m->mkeys);
        free(m->mvals);
        m->mkeys = k;
        m->mvals = v;
        m->mcap = cap;
    }
    if (!m->mcap) return NULL;
    uint64_t h = (key * 0x9E3779B1u) & (uint64_t)(m->mcap - 1);
    while (m->mvals[h] && m->mkeys[h] != key) h = (h + 1) & (uint64_t)(m->mcap - 1);
    if (!m->mvals[h] && insert) {
        m->mkeys[h] = key;
        m->mcount++;
    }
    return &m->mvals[h];
}

static gc_status memo_put(vm *m, uint64_t key) {
    gc_pk_value *v = NULL;
    GC_TRY(top(m, &v));
    if (key > 0xFFFFFFFFu) return errf_at(m, GC_ERR_FORMAT, "memo key out of range");
    gc_pk_value **s = memo_slot(m, (uint32_t)key, true);
    if (!s) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    *s = v;
    return GC_OK;
}

static gc_status memo_get(vm *m, uint64_t key) {
    gc_pk_value **s = key <= 0xFFFFFFFFu ? memo_slot(m, (uint32_t)key, false) : NULL;
    if (!s || !*s)
        return gc_errorf(GC_ERR_FORMAT, "%s: pickle: memo key %llu used before it was stored (offset %llu)",
                         m->pk->label, (unsigned long long)key, (unsigned long long)m->op_at);
    return push(m, *s);
}

/* ---- storages ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int64_t gc_pickle_find_storage(const gc_pickle *pk, const char *key) {
    if (!pk->skey_cap) return -1;
    for (uint64_t h = hash_str(key) & (uint64_t)(pk->skey_cap - 1);; h = (h + 1) & (uint64_t)(pk->skey_cap - 1)) {
        int64_t i = pk->skey_table[h];
        if (i < 0) return -1;
        if (strcmp(pk->storages[i].key, key) == 0) return i;
    }
}

static gc_status index_storage(gc_pickle *pk, int64_t idx) {
    if (2 * (pk->nstorages + 1) > pk->skey_cap) {
        int64_t cap = pk->skey_cap ? 2 * pk->skey_cap : 256;
        int64_t *t = malloc((size_t)cap * sizeof *t);
        if (!t) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
        for (int64_t i = 0; i < cap; i++) t[i] = -1;
        free(pk->skey_table);
        pk->skey_table = t;
        pk->skey_cap = cap;
        for (int64_t i = 0; i < pk->nstorages; i++) {
            if (i == idx) continue;
            uint64_t h = hash_str(pk->storages[i].key) & (uint64_t)(cap - 1);
            while (t[h] >= 0) h = (h + 1) & (uint64_t)(cap - 1);
            t[h] = i;
        }
    }
    uint64_t h = hash_str(pk->storages[idx].key) & (uint64_t)(pk->skey_cap - 1);
    while (pk->skey_table[h] >= 0) h = (h + 1) & (uint64_t)(pk->skey_cap - 1);
    pk->skey_table[h] = idx;
    return GC_OK;
}

static bool as_str(const gc_pk_value *v, const char **p, int64_t *n) {
    if (v->kind != GC_PK_STR) return false;
    *p = v->s.p;
    *n = v->s.n;
    return true;
}

/* BINPERSID: ('storage', <storage type>, key, location, numel[, None]) -> STORAGE */
static gc_status persistent_load(vm *m, gc_pk_value *pid) {
    gc_pickle *pk = m->pk;
    int64_t want = m->legacy ? 6 : 5;
    const char *tag, *key, *loc;
    int64_t tagn, keyn, locn;
    if (pid->kind != GC_PK_TUPLE || pid->seq.n != want || !as_str(pid->seq.v[0], &tag, &tagn) ||
        tagn != 7 || memcmp(tag, "storage", 7) != 0)
        return errf_at(m, GC_ERR_FORMAT, "persistent id is not a ('storage', type, key, location, numel) tuple");
    gc_pk_value *type = pid->seq.v[1], *num = pid->seq.v[4];
    if (type->kind != GC_PK_GLOBAL || type->g.kind != GC_G_STORAGE) {
        char b[256];
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: persistent id: unsupported storage type %s", pk->label,
                         gc_pk_global_name(type, b, sizeof b));
    }
    if (!as_str(pid->seq.v[2], &key, &keyn) || !as_str(pid->seq.v[3], &loc, &locn) || num->kind != GC_PK_INT)
        return errf_at(m, GC_ERR_FORMAT, "persistent id fields have the wrong types");
    if (m->legacy && pid->seq.v[5]->kind != GC_PK_NONE)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: legacy storage views (torch < 1.0) are not supported", pk->label);
    if (keyn == 0 || keyn > GC_PK_MAX_KEY || memchr(key, 0, (size_t)keyn) || memchr(key, '/', (size_t)keyn))
        return errf_at(m, GC_ERR_FORMAT, "invalid storage key");
    char *k = arena_alloc(pk, (size_t)keyn + 1);
    if (!k) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
    memcpy(k, key, (size_t)keyn);
    k[keyn] = 0;
    size_t es = gc_dtype_size(type->g.dtype);
    int64_t nbytes;
    if (num->i < 0 || !gc_mul_ok(num->i, (int64_t)es, &nbytes) || (uint64_t)nbytes > pk->max_storage_bytes)
        return gc_errorf(GC_ERR_FORMAT, "%s: persistent id: storage '%s' claims %lld elements (out of range)",
                         pk->label, k, (long long)num->i);
    int64_t idx = gc_pickle_find_storage(pk, k);
    if (idx >= 0) {
        gc_pk_storage *s = &pk->storages[idx];
        if (s->dtype != type->g.dtype || s->numel != num->i)
            return gc_errorf(GC_ERR_FORMAT, "%s: storage '%s' is used as %s[%lld] and as %s[%lld]", pk->label, k,
                             s->type_name, (long long)s->numel, type->g.name, (long long)num->i);
    } else {
        if (pk->nstorages == pk->scap) {
            int64_t cap = pk->scap ? 2 * pk->scap : 64;
            gc_pk_storage *s = gc_realloc_array(pk->storages, (size_t)cap, sizeof *s);
            if (!s) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
            pk->storages = s;
            pk->scap = cap;
        }
        idx = pk->nstorages++;
        pk->storages[idx] = (gc_pk_storage){k, type->g.dtype, num->i, type->g.name, NULL};
        GC_TRY(index_storage(pk, idx));
    }
    gc_pk_value *v = new_value(m, GC_PK_STORAGE);
    if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
    v->idx = idx;
    return push(m, v);
}

/* ---- tensors ---- */

static gc_status int_tuple(vm *m, const gc_pk_value *t, const char *what, int64_t *out, int *n) {
    if (t->kind != GC_PK_TUPLE || t->seq.n > GC_PK_MAX_TENSOR_DIMS)
        return gc_errorf(t->kind == GC_PK_TUPLE ? GC_ERR_UNSUPPORTED : GC_ERR_FORMAT,
                         "%s: tensor: %s is not a tuple of at most %d ints", m->pk->label, what, GC_PK_MAX_TENSOR_DIMS);
    for (int64_t i = 0; i < t->seq.n; i++) {
        if (t->seq.v[i]->kind != GC_PK_INT || t->seq.v[i]->i < 0)
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor: %s has a negative or non-integer entry", m->pk->label, what);
        out[i] = t->seq.v[i]->i;
    }
    *n = (int)t->seq.n;
    return GC_OK;
}

static void dims_str(const int64_t *d, int n, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < n && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < len) snprintf(buf + o, len - o, n == 1 ? ",)" : ")");
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
static gc_status rebuild_tensor(vm *m, gc_pk_value *args) {
    gc_pickle *pk = m->pk;
    if (args->seq.n != 6 && args->seq.n != 7)
        return errf_at(m, GC_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    gc_pk_value **a = args->seq.v;
    if (a[0]->kind != GC_PK_STORAGE || a[1]->kind != GC_PK_INT || a[1]->i < 0 || a[4]->kind != GC_PK_BOOL)
        return errf_at(m, GC_ERR_FORMAT, "_rebuild_tensor_v2 arguments have the wrong types");
    gc_pk_tensor t;
    memset(&t, 0, sizeof t);
    int nstride;
    GC_TRY(int_tuple(m, a[2], "size", t.size, &t.ndim));
    GC_TRY(int_tuple(m, a[3], "stride", t.stride, &nstride));
    char sz[256], st[256];
    dims_str(t.size, t.ndim, sz, sizeof sz);
    if (nstride != t.ndim) return gc_errorf(GC_ERR_FORMAT, "%s: tensor: size %s and stride differ in length", pk->label, sz);
    t.storage = a[0]->idx;
    t.offset = a[1]->i;
    t.requires_grad = a[4]->b;
    const gc_pk_storage *s = &pk->storages[t.storage];
    int64_t numel = 1, last = t.offset;
    for (int i = 0; i < t.ndim; i++)
        if (!gc_mul_ok(numel, t.size[i], &numel) || numel >= (1ll << 50))
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor: size %s has more than 2^50 elements", pk->label, sz);
    t.numel = numel;
    dims_str(t.stride, t.ndim, st, sizeof st);
    if (numel > 0) {
        for (int i = 0; i < t.ndim; i++) {
            int64_t ext;
            if (!gc_mul_ok(t.size[i] - 1, t.stride[i], &ext) || last > INT64_MAX - ext) {
                last = INT64_MAX;
                break;
            }
            last += ext;
        }
        if (last >= s->numel)
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor: view (offset %lld, size %s, stride %s) reaches element %lld "
                             "of storage '%s' which has %lld", pk->label, (long long)t.offset, sz, st, (long long)last,
                             s->key, (long long)s->numel);
    } else if (t.offset > s->numel) {
        return gc_errorf(GC_ERR_FORMAT, "%s: tensor: empty view at offset %lld beyond storage '%s' of %lld elements",
                         pk->label, (long long)t.offset, s->key, (long long)s->numel);
    }
    if (pk->ntensors == pk->tcap) {
        int64_t cap = pk->tcap ? 2 * pk->tcap : 64;
        gc_pk_tensor *tt = gc_realloc_array(pk->tensors, (size_t)cap, sizeof *tt);
        if (!tt) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
        pk->tensors = tt;
        pk->tcap = cap;
    }
    pk->tensors[pk->ntensors] = t;
    gc_pk_value *v = new_value(m, GC_PK_TENSOR);
    if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
    v->idx = pk->ntensors++;
    return push(m, v);
}

static gc_status refuse_call(vm *m, const gc_pk_value *f, const char *op) {
    char b[600];
    gc_pk_global_name(f, b, sizeof b);
    bool module = strncmp(b, "torch.nn.", 9) == 0;
    return gc_errorf(GC_ERR_REFUSED, "%s: pickle: forbidden global %s (%s at offset %llu; only tensor-rebuild "
                     "functions, storage types, OrderedDict and a few inert names are allowed)%s", m->pk->label, b, op,
                     (unsigned long long)m->op_at,
                     module ? "; this file holds a whole pickled module: save model.state_dict() instead" : "");
}

static gc_status opaque(vm *m, const gc_pk_value *from) {
    gc_pk_value *v = new_value(m, GC_PK_OPAQUE);
    if (v) v->opaque_of = from->kind == GC_PK_OPAQUE ? from->opaque_of : from;
    return push(m, v);
}

static gc_status do_reduce(vm *m) {
    gc_pk_value *args = NULL, *f = NULL;
    GC_TRY(pop(m, &args));
    GC_TRY(pop(m, &f));
    if (args->kind != GC_PK_TUPLE) return errf_at(m, GC_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if (f->kind == GC_PK_OPAQUE) return opaque(m, f);
    if (f->kind != GC_PK_GLOBAL) {
        char what[64];
        snprintf(what, sizeof what, "REDUCE on a %s", kind_name(f));
        return errf_at(m, GC_ERR_FORMAT, what);
    }
    switch (f->g.kind) {
    case GC_G_REBUILD_TENSOR: return rebuild_tensor(m, args);
    case GC_G_REBUILD_PARAM:
        if (args->seq.n < 2 || args->seq.v[0]->kind != GC_PK_TENSOR || args->seq.v[1]->kind != GC_PK_BOOL)
            return errf_at(m, GC_ERR_FORMAT, "_rebuild_parameter arguments have the wrong types");
        m->pk->tensors[args->seq.v[0]->idx].parameter = true;
        m->pk->tensors[args->seq.v[0]->idx].requires_grad = args->seq.v[1]->b;
        return push(m, args->seq.v[0]);
    case GC_G_ORDERED_DICT:
        if (args->seq.n != 0) return errf_at(m, GC_ERR_UNSUPPORTED, "OrderedDict called with arguments");
        return push(m, new_value(m, GC_PK_DICT));
    case GC_G_INERT: return opaque(m, f);
    case GC_G_STORAGE: return errf_at(m, GC_ERR_REFUSED, "a storage type is called");
    case GC_G_UNKNOWN: break;
    }
    return refuse_call(m, f, "REDUCE");
}

static gc_status do_newobj(vm *m) {
    gc_pk_value *args = NULL, *cls = NULL;
    GC_TRY(pop(m, &args));
    GC_TRY(pop(m, &cls));
    if (args->kind != GC_PK_TUPLE) return errf_at(m, GC_ERR_FORMAT, "NEWOBJ arguments are not a tuple");
    if (cls->kind == GC_PK_OPAQUE || (cls->kind == GC_PK_GLOBAL && cls->g.kind == GC_G_INERT)) return opaque(m, cls);
    if (cls->kind == GC_PK_GLOBAL && cls->g.kind == GC_G_ORDERED_DICT) return push(m, new_value(m, GC_PK_DICT));
    if (cls->kind == GC_PK_GLOBAL && cls->g.kind == GC_G_UNKNOWN) return refuse_call(m, cls, "NEWOBJ");
    return errf_at(m, GC_ERR_REFUSED, "NEWOBJ on a value that is not an allowed class");
}

static gc_status do_build(vm *m) {
    gc_pk_value *state = NULL, *obj = NULL;
    GC_TRY(pop(m, &state));
    GC_TRY(top(m, &obj));
    /* OrderedDict's _metadata and the __dict__ of opaque objects are not part of the mapping */
    if (obj->kind == GC_PK_DICT || obj->kind == GC_PK_OPAQUE || obj->kind == GC_PK_SET) return GC_OK;
    if (obj->kind == GC_PK_GLOBAL && obj->g.kind == GC_G_INERT) return GC_OK;
    if (obj->kind == GC_PK_GLOBAL && obj->g.kind == GC_G_UNKNOWN) return refuse_call(m, obj, "BUILD");
    char what[64];
    snprintf(what, sizeof what, "BUILD on a %s", kind_name(obj));
    return errf_at(m, GC_ERR_FORMAT, what);
}

/* GLOBAL's "module\nname\n" line */
static gc_status read_line(vm *m, const char **out) {
    const unsigned char *p = m->buf + m->pos;
    uint64_t left = m->len - m->pos, max = left < 512 ? left : 512;
    const unsigned char *nl = memchr(p, '\n', (size_t)max);
    if (!nl) return errf_at(m, GC_ERR_FORMAT, "GLOBAL name unterminated or longer than 511 bytes");
    size_t n = (size_t)(nl - p);
    if (memchr(p, 0, n)) return errf_at(m, GC_ERR_FORMAT, "GLOBAL name contains a NUL byte");
    char *s = arena_alloc(m->pk, n + 1);
    if (!s) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    memcpy(s, p, n);
    s[n] = 0;
    m->pos += n + 1;
    *out = s;
    return GC_OK;
}

static gc_status push_global(vm *m, const char *module, const char *name) {
    gc_pk_value *v = new_value(m, GC_PK_GLOBAL);
    if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    v->g.module = module;
    v->g.name = name;
    resolve_global(v);
    return push(m, v);
}

static gc_status push_str(vm *m, gc_pk_kind k, uint64_t n) {
    GC_TRY(need(m, n));
    gc_pk_value *v = new_value(m, k);
    if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
    v->s.p = (const char *)m->buf + m->pos;
    v->s.n = (int64_t)n;
    m->pos += n;
    return push(m, v);
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* LONG1/LONG4: little-endian two's complement; up to 8 bytes fit an int64 */
static gc_status push_long(vm *m, uint64_t n) {
    GC_TRY(need(m, n));
    const unsigned char *p = m->buf + m->pos;
    if (n <= 8) {
        gc_pk_value *v = new_value(m, GC_PK_INT);
        if (!v) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory", m->pk->label);
        uint64_t u = rd_le(p, (int)n);
        if (n && n < 8 && (p[n - 1] & 0x80)) u |= ~0ull << (8 * n);
        v->i = (int64_t)u;
        m->pos += n;
        return push(m, v);
    }
    return push_str(m, GC_PK_BIGINT, n);
}

gc_status gc_pickle_run(gc_pickle *pk, const unsigned char *buf, uint64_t len, bool legacy, gc_pk_value **out,
                        uint64_t *used) {
    *out = NULL;
    vm m;
    memset(&m, 0, sizeof m);
    m.pk = pk;
    m.buf = buf;
    m.len = len;
    m.legacy = legacy;
    gc_status st = GC_OK;
    gc_pk_value *v = NULL, *w = NULL, **items = NULL;
    int64_t n = 0;
    while (st == GC_OK) {
        if (m.pos >= m.len) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: pickle: ends without STOP (truncated?)", pk->label);
            break;
        }
        m.op_at = m.pos;
        unsigned char op = buf[m.pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if ((st = need(&m, 1)) != GC_OK) break;
            if (buf[m.pos] < 2 || buf[m.pos] > 5) {
                st = errf_at(&m, GC_ERR_UNSUPPORTED, "pickle protocol outside 2..5");
                break;
            }
            if (buf[m.pos] > pk->protocol) pk->protocol = buf[m.pos];
            m.pos++;
            break;
        case 0x95: /* FRAME: a length hint; the opcodes follow inline */
            if ((st = need(&m, 8)) == GC_OK) {
                uint64_t fl = rd_le(buf + m.pos, 8);
                m.pos += 8;
                st = need(&m, fl);
            }
            break;
        case '.': /* STOP */
            if ((st = pop(&m, &v)) != GC_OK) break;
            if (m.sp || m.nmarks) {
                st = errf_at(&m, GC_ERR_FORMAT, "STOP with values left on the stack");
                break;
            }
            *out = v;
            *used = m.pos;
            goto done;
        case '(': /* MARK */
            if (m.nmarks == GC_PK_MAX_MARKS) {
                st = gc_errorf(GC_ERR_FORMAT, "%s: pickle: more than %d nested MARKs (offset %llu)", pk->label,
                               GC_PK_MAX_MARKS, (unsigned long long)m.op_at);
                break;
            }
            m.marks[m.nmarks++] = m.sp;
            break;
        case '0': st = pop(&m, &v); break;                       /* POP */
        case '1': st = pop_mark(&m, &items, &n); break;          /* POP_MARK */
        case '2': if ((st = top(&m, &v)) == GC_OK) st = push(&m, v); break; /* DUP */
        case 'N': st = push(&m, new_value(&m, GC_PK_NONE)); break;
        case 0x88: case 0x89: /* NEWTRUE / NEWFALSE */
            if ((v = new_value(&m, GC_PK_BOOL))) v->b = op == 0x88;
            st = push(&m, v);
            break;
        case 'J': case 'K': case 'M': { /* BININT (signed 32) / BININT1 / BININT2 */
            int nb = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if ((st = need(&m, (uint64_t)nb)) != GC_OK) break;
            uint64_t u = rd_le(buf + m.pos, nb);
            m.pos += (uint64_t)nb;
            if ((v = new_value(&m, GC_PK_INT))) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
            st = push(&m, v);
            break;
        }
        case 0x8a: /* LONG1 */
            if ((st = need(&m, 1)) == GC_OK) st = push_long(&m, buf[m.pos++]);
            break;
        case 0x8b: /* LONG4 */
            if ((st = need(&m, 4)) != GC_OK) break;
            n = (int64_t)rd_le(buf + m.pos, 4);
            m.pos += 4;
            st = n > 16 ? errf_at(&m, GC_ERR_UNSUPPORTED, "LONG4 integer wider than 16 bytes") : push_long(&m, (uint64_t)n);
            break;
        case 'G': { /* BINFLOAT: big-endian double */
            if ((st = need(&m, 8)) != GC_OK) break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = (u << 8) | buf[m.pos + i];
            m.pos += 8;
            if ((v = new_value(&m, GC_PK_FLOAT))) memcpy(&v->f, &u, 8);
            st = push(&m, v);
            break;
        }
        case 0x8c: case 'U': case 'C': /* SHORT_BINUNICODE / SHORT_BINSTRING / SHORT_BINBYTES */
            if ((st = need(&m, 1)) == GC_OK) st = push_str(&m, op == 'C' ? GC_PK_BYTES : GC_PK_STR, buf[m.pos++]);
            break;
        case 'X': case 'T': case 'B': { /* BINUNICODE / BINSTRING / BINBYTES: 32-bit length */
            if ((st = need(&m, 4)) != GC_OK) break;
            uint64_t l = rd_le(buf + m.pos, 4);
            m.pos += 4;
            if (op == 'T' && l > 0x7FFFFFFFu) {
                st = errf_at(&m, GC_ERR_FORMAT, "negative BINSTRING length");
                break;
            }
            st = push_str(&m, op == 'B' ? GC_PK_BYTES : GC_PK_STR, l);
            break;
        }
        case 0x8d: case 0x8e: { /* BINUNICODE8 / BINBYTES8 */
            if ((st = need(&m, 8)) != GC_OK) break;
            uint64_t l = rd_le(buf + m.pos, 8);
            m.pos += 8;
            st = push_str(&m, op == 0x8e ? GC_PK_BYTES : GC_PK_STR, l);
            break;
        }
        case ')': st = make_seq(&m, GC_PK_TUPLE, NULL, 0); break;
        case ']': st = make_seq(&m, GC_PK_LIST, NULL, 0); break;
        case '}': st = make_seq(&m, GC_PK_DICT, NULL, 0); break;
        case 0x8f: st = push(&m, new_value(&m, GC_PK_SET)); break; /* EMPTY_SET */
        case 't': case 'l': /* TUPLE / LIST */
            if ((st = pop_mark(&m, &items, &n)) == GC_OK) st = make_seq(&m, op == 't' ? GC_PK_TUPLE : GC_PK_LIST, items, n);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int k = op - 0x84;
            if (m.sp - mark_base(&m) < k) {
                st = errf_at(&m, GC_ERR_FORMAT, "stack underflow");
                break;
            }
            m.sp -= k;
            st = make_seq(&m, GC_PK_TUPLE, m.stack + m.sp, k);
            break;
        }
        case 'd': /* DICT */
            if ((st = pop_mark(&m, &items, &n)) != GC_OK) break;
            st = n % 2 ? errf_at(&m, GC_ERR_FORMAT, "DICT with an odd number of items") : make_seq(&m, GC_PK_DICT, items, n);
            break;
        case 0x91: /* FROZENSET */
            if ((st = pop_mark(&m, &items, &n)) == GC_OK) st = push(&m, new_value(&m, GC_PK_SET));
            break;
        case 'a': case 'e': case 's': case 'u': case 0x90: { /* APPEND APPENDS SETITEM SETITEMS ADDITEMS */
            gc_pk_value *pair[2];
            if (op == 'a' || op == 's') {
                int k = op == 'a' ? 1 : 2;
                if (m.sp - mark_base(&m) < k + 1) {
                    st = errf_at(&m, GC_ERR_FORMAT, "stack underflow");
                    break;
                }
                m.sp -= k;
                memcpy(pair, m.stack + m.sp, (size_t)k * sizeof *pair);
                items = pair;
                n = k;
            } else if ((st = pop_mark(&m, &items, &n)) != GC_OK) {
                break;
            }
            if ((st = top(&m, &w)) != GC_OK) break;
            bool list_op = op == 'a' || op == 'e', dict_op = op == 's' || op == 'u';
            if (w->kind == GC_PK_OPAQUE || (w->kind == GC_PK_SET && op == 0x90)) break; /* contents not kept */
            if ((list_op && w->kind != GC_PK_LIST) || (dict_op && w->kind != GC_PK_DICT) || op == 0x90) {
                char what[64];
                snprintf(what, sizeof what, "%s on a %s", list_op ? "APPEND" : dict_op ? "SETITEM" : "ADDITEMS",
                         kind_name(w));
                st = errf_at(&m, GC_ERR_FORMAT, what);
                break;
            }
            if (dict_op && n % 2) {
                st = errf_at(&m, GC_ERR_FORMAT, "SETITEMS with an odd number of items");
                break;
            }
            st = seq_append(&m, w, items, n);
            break;
        }
        case 'q': /* BINPUT */
            if ((st = need(&m, 1)) == GC_OK) st = memo_put(&m, buf[m.pos++]);
            break;
        case 'r': /* LONG_BINPUT */
            if ((st = need(&m, 4)) == GC_OK) {
                st = memo_put(&m, rd_le(buf + m.pos, 4));
                m.pos += 4;
            }
            break;
        case 0x94: st = memo_put(&m, (uint64_t)m.mcount); break; /* MEMOIZE */
        case 'h': /* BINGET */
            if ((st = need(&m, 1)) == GC_OK) st = memo_get(&m, buf[m.pos++]);
            break;
        case 'j': /* LONG_BINGET */
            if ((st = need(&m, 4)) == GC_OK) {
                uint64_t k = rd_le(buf + m.pos, 4);
                m.pos += 4;
                st = memo_get(&m, k);
            }
            break;
        case 'c': { /* GLOBAL */
            const char *mod, *name;
            if ((st = read_line(&m, &mod)) == GC_OK && (st = read_line(&m, &name)) == GC_OK) st = push_global(&m, mod, name);
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            gc_pk_value *mv = NULL, *nv = NULL;
            if ((st = pop(&m, &nv)) != GC_OK || (st = pop(&m, &mv)) != GC_OK) break;
            if (mv->kind != GC_PK_STR || nv->kind != GC_PK_STR || mv->s.n > 511 || nv->s.n > 511 ||
                memchr(mv->s.p, 0, (size_t)mv->s.n) || memchr(nv->s.p, 0, (size_t)nv->s.n)) {
                st = errf_at(&m, GC_ERR_FORMAT, "STACK_GLOBAL needs two short strings");
                break;
            }
            char *ms = arena_alloc(pk, (size_t)mv->s.n + 1), *ns = arena_alloc(pk, (size_t)nv->s.n + 1);
            if (!ms || !ns) {
                st = gc_errorf(GC_ERR_NOMEM, "%s: out of memory", pk->label);
                break;
            }
            memcpy(ms, mv->s.p, (size_t)mv->s.n);
            ms[mv->s.n] = 0;
            memcpy(ns, nv->s.p, (size_t)nv->s.n);
            ns[nv->s.n] = 0;
            st = push_global(&m, ms, ns);
            break;
        }
        case 'R': st = do_reduce(&m); break;
        case 0x81: st = do_newobj(&m); break;
        case 'b': st = do_build(&m); break;
        case 'Q': /* BINPERSID */
            if ((st = pop(&m, &v)) == GC_OK) st = persistent_load(&m, v);
            break;
        default: {
            char what[64];
            snprintf(what, sizeof what, "unsupported opcode 0x%02x", op);
            st = errf_at(&m, GC_ERR_UNSUPPORTED, what);
        }
        }
    }
done:
    free(m.stack);
    free(m.mkeys);
    free(m.mvals);
    return st;
}

gc_status gc_pickle_init(gc_pickle *pk, const char *label, uint64_t max_storage_bytes) {
    memset(pk, 0, sizeof *pk);
    pk->label = label;
    pk->max_storage_bytes = max_storage_bytes;
    return GC_OK;
}

void gc_pickle_free(gc_pickle *pk) {
    for (gc_arena *a = pk->arena, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(pk->storages);
    free(pk->tensors);
    free(pk->skey_table);
    memset(pk, 0, sizeof *pk);
}
