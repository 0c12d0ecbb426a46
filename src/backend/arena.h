/* A model's scratch arena: one block of backend memory that a forward pass takes its buffers from
 * and gives back in LIFO order (mark / rewind), so that a model allocates nothing after its first
 * forward pass at a given input size (no page faults of freshly mapped buffers, nothing to free).
 *
 * Growth: a take that does not fit the block gets a separate buffer for now (given back, it stays
 * for reuse by a later take until the pass ends); when the outermost user releases the arena, the block is replaced by one that holds the whole high-water mark, so
 * the next pass fits. Memory held between passes: the high-water mark (gc_arena_trim drops it).
 *
 * Sharing: gc_arena_acquire gives the arena to one forward pass at a time; a concurrent pass on the
 * same model gets a private arena instead (freed on release), so a model stays safe to share
 * between threads. Nested acquires on one thread (a model calling an op that takes scratch) use
 * gc_arena_mark / gc_arena_rewind on the arena already held. */
#ifndef GC_ARENA_H
#define GC_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

#include "geocorr.h"

typedef struct gc_arena_spill gc_arena_spill;

typedef struct gc_arena {
    void *(*alloc)(size_t nbytes); /* the backend's memory (gc_backend_i.alloc / .free) */
    void (*free)(void *p);
    char *block;                   /* [cap] */
    size_t cap, used, high;        /* bytes: block size, in use now (as if contiguous), most in use this pass */
    gc_arena_spill *spill;         /* buffers of takes past the block, newest first */
    gc_arena_spill *spare;         /* spills given back this pass, kept for reuse until release */
    size_t spill_bytes, spare_bytes; /* their sizes, summed */
    atomic_flag busy;              /* held by a forward pass */
} gc_arena;

/* An empty arena on the given allocator (no memory until the first take). */
void gc_arena_init(gc_arena *a, void *(*alloc)(size_t), void (*free_fn)(void *));
void gc_arena_free(gc_arena *a);
/* Drop the block (memory held between passes); the next pass grows it again. */
void gc_arena_trim(gc_arena *a);

/* `shared` if no other pass holds it, else `local` initialised on the same allocator. Pair with
 * gc_arena_release(returned arena, shared). */
gc_arena *gc_arena_acquire(gc_arena *shared, gc_arena *local);
void gc_arena_release(gc_arena *a, gc_arena *shared);

/* nbytes, 64-byte aligned; NULL (GC_ERR_NOMEM message set) on failure. */
void *gc_arena_take(gc_arena *a, size_t nbytes);
/* n floats (count overflow-checked). */
float *gc_arena_floats(gc_arena *a, int64_t n);
size_t gc_arena_mark(const gc_arena *a);
/* Give back everything taken since `mark`. */
void gc_arena_rewind(gc_arena *a, size_t mark);

#endif
