/* A set of named tensors read from a file (safetensors, a PyTorch checkpoint, a generated manifest),
 * the one interface model loaders use. Tensor bytes stay where the reader put them (usually a
 * read-only memory map); gc_weights_f32 hands out float32 views, converting half precision (or
 * unaligned data) once and keeping the converted copy inside the set, so a model holds a single copy
 * of every weight. */
#ifndef GC_WEIGHTS_H
#define GC_WEIGHTS_H

#include <stdbool.h>

#include "base/base.h"
#include "io/dtype.h"

#define GC_MAX_DIMS 8

typedef struct {
    char *name;
    gc_dtype dtype;
    int ndim;
    int64_t shape[GC_MAX_DIMS];
    int64_t numel;
    const void *data; /* contiguous row-major little-endian bytes, numel * dtype size */
    size_t nbytes;
    float *f32;       /* converted copy (owned by the set), NULL until asked for */
} gc_tensor_ref;

typedef struct gc_weights gc_weights;

/* Open a weights file by content: safetensors, or a PyTorch zip checkpoint (.pth/.ckpt/.pt). */
gc_status gc_weights_open(const char *path, gc_weights **out);
void gc_weights_free(gc_weights *w);
/* Memory-map `path` and parse it with `parse` (the path labels messages); the map lives as long as
 * the set. Used by the format readers' open functions. */
typedef gc_status (*gc_weights_parse_fn)(const char *label, const void *buf, size_t len, gc_weights **out);
gc_status gc_weights_open_mapped(const char *path, gc_weights_parse_fn parse, gc_weights **out);

/* Building a set (used by readers and generators). `label` names the source in messages. */
gc_weights *gc_weights_new(const char *label);
/* Add a tensor whose bytes live in memory owned elsewhere (a backing registered below). */
gc_status gc_weights_add(gc_weights *w, const char *name, gc_dtype dtype, int ndim,
                         const int64_t *shape, const void *data);
/* Add a float32 tensor, taking ownership of `data` (allocated with gc_alloc). */
gc_status gc_weights_add_owned_f32(gc_weights *w, const char *name, int ndim, const int64_t *shape,
                                   float *data);
/* Register memory to release when the set is freed. */
gc_status gc_weights_add_backing(gc_weights *w, void *ptr, size_t len, void (*release)(void *, size_t));
/* Sort by name and reject duplicates; call once after the last add. */
gc_status gc_weights_finalize(gc_weights *w);
/* Free-form string metadata (safetensors __metadata__). */
gc_status gc_weights_set_meta(gc_weights *w, const char *key, const char *value);
const char *gc_weights_meta(const gc_weights *w, const char *key);
/* Append an entry without looking for an existing key (readers with many entries, unique keys). */
gc_status gc_weights_add_meta(gc_weights *w, const char *key, const char *value);
int gc_weights_meta_count(const gc_weights *w);
/* i-th entry in insertion order (key and value), false when out of range. */
bool gc_weights_meta_at(const gc_weights *w, int i, const char **key, const char **value);

const char *gc_weights_label(const gc_weights *w);
int64_t gc_weights_count(const gc_weights *w);
const gc_tensor_ref *gc_weights_at(const gc_weights *w, int64_t i);

/* Lookups go through an optional prefix: with prefix "teacher.backbone.", find("blocks.0.x")
 * finds "teacher.backbone.blocks.0.x". */
void gc_weights_set_prefix(gc_weights *w, const char *prefix);
const char *gc_weights_prefix(const gc_weights *w);
/* If no tensor is named `first_key` but exactly one prefix P makes "P<first_key>" a tensor, set P
 * as prefix (true). Used to find a model inside a training checkpoint. When several prefixes match
 * and exactly one has a `teacher` component ("teacher.backbone.", "model.teacher.backbone."), it wins. */
bool gc_weights_detect_prefix(gc_weights *w, const char *first_key);

const gc_tensor_ref *gc_weights_find(const gc_weights *w, const char *name);
bool gc_weights_has(const gc_weights *w, const char *name);

/* The float32 view of tensor `name`, checked against `shape` (ndim dims; a dim of -1 matches any
 * size). Fails with GC_ERR_MISSING / GC_ERR_SHAPE and a message naming the file and the tensor.
 * The pointer lives as long as the set. */
gc_status gc_weights_f32(gc_weights *w, const char *name, int ndim, const int64_t *shape,
                         const float **out);
/* Same with the shape written inline: GC_WEIGHT(w, "blocks.0.w", &p, 768, 768). */
#define GC_WEIGHT(w, name, out, ...)                                                        \
    gc_weights_f32((w), (name), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                   (const int64_t[]){__VA_ARGS__}, (out))
/* Printf-style name variant of gc_weights_find. */
const gc_tensor_ref *gc_weights_findf(const gc_weights *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "[1, 3, 224, 224]" into buf. */
const char *gc_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

#endif
