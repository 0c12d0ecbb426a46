/* A restricted unpickler for torch.save checkpoints. It builds plain values (None, bools, ints,
 * floats, strings, bytes, tuples, lists, dicts, sets) and torch storages / tensors, and NEVER runs
 * code: GLOBAL names resolve against an allow-list (tensor rebuild functions, storage types,
 * OrderedDict) or an inert list (names real training checkpoints carry outside the weights: numpy
 * scalars, optimizer/scheduler classes, ...) whose "calls" produce opaque values. Calling any other
 * global (REDUCE / NEWOBJ / BUILD) refuses the file with GC_ERR_REFUSED. Every length, index and
 * depth is bounded by the input (see docs/checkpoints.md for the limits). */
#ifndef GC_PICKLE_H
#define GC_PICKLE_H

#include "base/base.h"
#include "io/dtype.h"

#define GC_PK_MAX_MARKS 100      /* nested MARKs (the reference reader's bound) */
#define GC_PK_MAX_TENSOR_DIMS 8  /* dims of a tensor (gc_weights' GC_MAX_DIMS) */
#define GC_PK_MAX_KEY 1024       /* storage key length */

typedef enum {
    GC_PK_NONE, GC_PK_BOOL, GC_PK_INT, GC_PK_BIGINT, GC_PK_FLOAT, GC_PK_STR, GC_PK_BYTES,
    GC_PK_TUPLE, GC_PK_LIST, GC_PK_DICT, GC_PK_SET,
    GC_PK_GLOBAL,  /* a resolved name (module.name), never callable code */
    GC_PK_OPAQUE,  /* the result of "calling" an inert global: a leaf that is never descended into */
    GC_PK_STORAGE, /* a persistent-id storage reference */
    GC_PK_TENSOR,
} gc_pk_kind;

typedef enum {
    GC_G_UNKNOWN,       /* not allowed: a placeholder that may be a dict key but is never called */
    GC_G_INERT,         /* known non-tensor names: calls give opaque values */
    GC_G_REBUILD_TENSOR,
    GC_G_REBUILD_PARAM,
    GC_G_STORAGE,       /* torch.<X>Storage */
    GC_G_ORDERED_DICT,
} gc_pk_global_kind;

typedef struct gc_pk_value gc_pk_value;

typedef struct {
    char *key;      /* storage key ("0", "1", ... or a legacy address) */
    gc_dtype dtype;
    int64_t numel;  /* elements of dtype */
    const char *type_name; /* "FloatStorage" ... */
    /* filled by the container reader: the record's bytes (numel * dtype size), NULL until bound */
    const unsigned char *data;
} gc_pk_storage;

typedef struct {
    int64_t storage;   /* index into gc_pickle.storages */
    int64_t offset;    /* storage offset in elements */
    int ndim;
    int64_t size[GC_PK_MAX_TENSOR_DIMS];
    int64_t stride[GC_PK_MAX_TENSOR_DIMS];
    int64_t numel;
    bool requires_grad, parameter;
    /* set by the container reader: the contiguous bytes (a span of the record or a copy) */
    const void *data;
} gc_pk_tensor;

struct gc_pk_value {
    gc_pk_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; int64_t n; } s;              /* STR / BYTES / BIGINT (little-endian) */
        struct { gc_pk_value **v; int64_t n, cap; } seq;     /* TUPLE / LIST / DICT (k0, v0, k1, v1, ...) */
        struct { const char *module, *name; gc_pk_global_kind kind; gc_dtype dtype; } g; /* GLOBAL */
        const gc_pk_value *opaque_of;                        /* OPAQUE / SET: the GLOBAL called (or NULL) */
        int64_t idx;                                         /* STORAGE / TENSOR index */
    };
};

typedef struct gc_arena gc_arena;

typedef struct {
    const char *label;          /* file name for messages */
    gc_arena *arena;            /* every value and string lives here */
    gc_pk_storage *storages;    /* [nstorages] in first-use order */
    int64_t nstorages, scap;
    gc_pk_tensor *tensors;      /* [ntensors] one per _rebuild_tensor_v2 call */
    int64_t ntensors, tcap;
    int64_t *skey_table;        /* [skey_cap] open-addressing index of storages by key (-1 empty) */
    int64_t skey_cap;
    uint64_t max_storage_bytes; /* a storage may not claim more bytes than this (the file size) */
    int protocol;               /* highest PROTO seen */
} gc_pickle;

/* Set up a VM whose storages/tensors accumulate over several gc_pickle_run calls (the legacy format
 * has five pickles in a row). */
gc_status gc_pickle_init(gc_pickle *pk, const char *label, uint64_t max_storage_bytes);
void gc_pickle_free(gc_pickle *pk);
/* Run one pickle from buf[len] up to its STOP; *used = bytes consumed. `legacy` selects the 6-field
 * persistent ids of the pre-zip format. The result lives in pk's arena. */
gc_status gc_pickle_run(gc_pickle *pk, const unsigned char *buf, uint64_t len, bool legacy,
                        gc_pk_value **out, uint64_t *used);
/* Storage by key, or -1. */
int64_t gc_pickle_find_storage(const gc_pickle *pk, const char *key);
/* "module.name" of a GLOBAL (or of the global an OPAQUE came from) into buf. */
const char *gc_pk_global_name(const gc_pk_value *v, char *buf, size_t len);

#endif
