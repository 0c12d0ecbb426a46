/* safetensors: reader (memory-mapped, strictly validated) and writer (atomic). */
#ifndef GC_SAFETENSORS_H
#define GC_SAFETENSORS_H

#include "io/weights.h"

/* Header limit: the format's own 100 MB cap. */
#define GC_ST_MAX_HEADER (100u * 1024u * 1024u)

gc_status gc_safetensors_open(const char *path, gc_weights **out);
/* Parse from a buffer that stays alive as long as the result (used by the fuzzer and tests). */
gc_status gc_safetensors_parse(const char *label, const void *buf, size_t len, gc_weights **out);

/* Writer: collects tensors (data copied at add time) then writes `path` atomically: a temporary
 * file in the same folder, fsync, rename. On failure nothing is left behind. */
typedef struct gc_st_writer gc_st_writer;
gc_st_writer *gc_st_writer_new(void);
void gc_st_writer_free(gc_st_writer *wr);
gc_status gc_st_writer_add(gc_st_writer *wr, const char *name, gc_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
/* Float32 tensor with the shape written inline: GC_ST_ADD_F32(wr, "x", ptr, 1, 3, 224, 224). */
#define GC_ST_ADD_F32(wr, name, data, ...)                                                     \
    gc_st_writer_add((wr), (name), GC_DT_F32,                                                  \
                     (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                \
                     (const int64_t[]){__VA_ARGS__}, (data))
/* Same without copying: `data` must stay valid until save. */
gc_status gc_st_writer_add_ref(gc_st_writer *wr, const char *name, gc_dtype dtype, int ndim,
                               const int64_t *shape, const void *data);
gc_status gc_st_writer_meta(gc_st_writer *wr, const char *key, const char *value);
gc_status gc_st_writer_save(gc_st_writer *wr, const char *path);

/* Write every tensor of a set (original dtypes, no prefix applied) to `path`. */
gc_status gc_weights_save(const gc_weights *w, const char *path);
/* Same, keeping only tensors under `prefix` (NULL: all; "a.b" or "a.b." select "a.b.*" and strip
 * it) and converting floating tensors to `dtype` (GC_DT_F32 / GC_DT_F16; -1 keeps every dtype). */
gc_status gc_weights_save_as(const gc_weights *w, const char *path, const char *prefix, int dtype);

#endif
