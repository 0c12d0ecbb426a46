#include "backend/arena.h"

#include <stdlib.h>

#include "base/base.h"

struct gc_arena_spill {
    void *p;
    size_t pos;  /* where the buffer would have been in the block */
    size_t size; /* bytes of p */
    gc_arena_spill *next;
};

static void free_spares(gc_arena *a) {
    gc_arena_spill **list = &a->spare;
    a->spare_bytes = 0;
    while (*list) {
        gc_arena_spill *s = *list;
        *list = s->next;
        a->free(s->p);
        free(s);
    }
}

void gc_arena_init(gc_arena *a, void *(*alloc)(size_t), void (*free_fn)(void *)) {
    *a = (gc_arena){.alloc = alloc, .free = free_fn};
    atomic_flag_clear(&a->busy);
}

/* Spills given back keep their pages for the rest of the pass (the spare list): a growing pass
 * re-takes buffers of the same sizes layer after layer, and freeing them made every layer fault
 * its scratch in afresh (the kernel's page clearing was half the CPU of a first VAE pass). */
void gc_arena_rewind(gc_arena *a, size_t mark) {
    while (a->spill && a->spill->pos >= mark) {
        gc_arena_spill *s = a->spill;
        a->spill = s->next;
        s->next = a->spare;
        a->spare = s;
        a->spill_bytes -= s->size;
        a->spare_bytes += s->size;
    }
    a->used = GC_MIN(a->used, mark);
}

/* A spare for a take of nbytes: the smallest one of nbytes to 2 * nbytes (a much larger buffer is
 * kept for the take it was made for), unlinked; NULL if none. Before the caller allocates anew,
 * spares are freed, newest first, until live spills + spares + the new buffer fit in `room` (the
 * pass's high-water mark): reuse keeps a pass's footprint at that mark, give or take the unused
 * part of reused buffers (each less than its take). */
static gc_arena_spill *spare_fit(gc_arena *a, size_t nbytes, size_t room) {
    gc_arena_spill **best = NULL;
    for (gc_arena_spill **s = &a->spare; *s; s = &(*s)->next)
        if ((*s)->size >= nbytes && (*s)->size / 2 <= nbytes && (!best || (*s)->size < (*best)->size)) best = s;
    if (best) {
        gc_arena_spill *s = *best;
        *best = s->next;
        a->spare_bytes -= s->size;
        return s;
    }
    while (a->spare && a->spill_bytes + a->spare_bytes + nbytes > room) {
        gc_arena_spill *s = a->spare;
        a->spare = s->next;
        a->spare_bytes -= s->size;
        a->free(s->p);
        free(s);
    }
    return NULL;
}

void gc_arena_trim(gc_arena *a) {
    gc_arena_rewind(a, 0);
    free_spares(a);
    if (a->block) a->free(a->block);
    a->block = NULL;
    a->cap = a->high = 0;
}

void gc_arena_free(gc_arena *a) {
    if (a->alloc) gc_arena_trim(a);
}

size_t gc_arena_mark(const gc_arena *a) { return a->used; }

void *gc_arena_take(gc_arena *a, size_t nbytes) {
    size_t pos = (a->used + 63) & ~(size_t)63;
    if (pos < a->used || nbytes > SIZE_MAX - pos - 63) {
        gc_errorf(GC_ERR_NOMEM, "scratch arena: %zu bytes overflow the address space", nbytes);
        return NULL;
    }
    size_t end = pos + nbytes;
    /* the first take of a pass allocates the block that held the last pass's high-water mark */
    if (!a->block && a->high > 0 && a->used == 0) {
        free_spares(a); /* nothing is live: the block replaces them */
        if ((a->block = a->alloc(a->high))) a->cap = a->high;
    }
    void *p;
    if (end <= a->cap) {
        p = a->block + pos;
    } else {
        gc_arena_spill *s = spare_fit(a, nbytes, GC_MAX(a->high, end));
        if (!s) {
            s = malloc(sizeof *s);
            p = s ? a->alloc(nbytes) : NULL;
            if (!p) {
                free(s);
                gc_errorf(GC_ERR_NOMEM, "scratch arena: out of memory for %zu bytes", nbytes);
                return NULL;
            }
            *s = (gc_arena_spill){.p = p, .size = nbytes};
        }
        p = s->p;
        s->pos = pos;
        a->spill_bytes += s->size;
        s->next = a->spill;
        a->spill = s;
    }
    a->used = end;
    a->high = GC_MAX(a->high, end);
    return p;
}

float *gc_arena_floats(gc_arena *a, int64_t n) {
    int64_t bytes;
    if (!gc_mul_ok(n, (int64_t)sizeof(float), &bytes)) {
        gc_errorf(GC_ERR_NOMEM, "scratch arena: %lld floats overflow", (long long)n);
        return NULL;
    }
    return gc_arena_take(a, (size_t)bytes);
}

gc_arena *gc_arena_acquire(gc_arena *shared, gc_arena *local) {
    if (!atomic_flag_test_and_set(&shared->busy)) return shared;
    gc_arena_init(local, shared->alloc, shared->free);
    return local;
}

void gc_arena_release(gc_arena *a, gc_arena *shared) {
    gc_arena_rewind(a, 0);
    free_spares(a);
    if (a != shared) {
        gc_arena_free(a);
        return;
    }
    /* spilled this pass: the next pass gets one block of the high-water mark (allocated by its
     * first take, so a trimmed or idle arena holds nothing) */
    if (a->high > a->cap && a->block) {
        a->free(a->block);
        a->block = NULL;
        a->cap = 0;
    }
    atomic_flag_clear(&shared->busy);
}
