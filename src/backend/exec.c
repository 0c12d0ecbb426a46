/* A model's execution context: its backend and its scratch arena. */
#include "backend/backend.h"
#include "base/base.h"

gc_exec *gc_exec_new(const gc_backend_i *be) {
    gc_exec *ex = gc_alloc(sizeof *ex);
    if (!ex) return NULL;
    ex->be = be;
    gc_arena_init(&ex->arena, be->alloc, be->free);
    return ex;
}

void gc_exec_free(gc_exec *ex) {
    if (!ex) return;
    gc_arena_free(&ex->arena);
    gc_free(ex);
}
