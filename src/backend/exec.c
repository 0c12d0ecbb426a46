/* A model's execution context: its backend and its scratch arena. */
#include "backend/backend.h"
#include "base/base.h"

gc_exec *gc_exec_new(const gc_backend_i *be) {
    gc_exec *ex = gc_alloc(sizeof *ex);
    if (!ex) return NULL;
    ex->be = be;
    gc_arena_init(&ex->arena, be->alloc, be->free);
    atomic_init(&ex->refs, 1);
    return ex;
}

void gc_exec_free(gc_exec *ex) {
    if (!ex || atomic_fetch_sub(&ex->refs, 1) > 1) return;
    gc_arena_free(&ex->arena);
    gc_free(ex);
}

void gc_exec_share(gc_exec **slot, gc_exec *shared) {
    atomic_fetch_add(&shared->refs, 1);
    gc_exec_free(*slot);
    *slot = shared;
}
