/* The scratch arena (src/backend/arena.c) on a counting allocator: LIFO takes, the block of the
 * high-water mark after a growing pass, spills reused within a pass (no fresh pages for a layer
 * that takes the sizes the last one gave back), the footprint bound of that reuse, private arenas
 * for concurrent passes, and nothing left held after free. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "backend/arena.h"

static size_t g_live, g_peak, g_allocs; /* bytes held now, most held at once, allocations made */

typedef struct {
    size_t n;
    max_align_t pad; /* keeps the returned pointer aligned */
} hdr;

static void *count_alloc(size_t n) {
    hdr *h = malloc(sizeof(hdr) + n);
    if (!h) return NULL;
    h->n = n;
    g_live += n;
    g_peak = g_live > g_peak ? g_live : g_peak;
    g_allocs++;
    return h + 1;
}

static void count_free(void *p) {
    if (!p) return;
    hdr *h = (hdr *)p - 1;
    g_live -= h->n;
    free(h);
}

static void reset_counts(void) { g_live = g_peak = g_allocs = 0; }

/* One "pass": an activation held throughout, and two layers that each take a work map and a smaller
 * scratch and give both back. */
static void layer_pass(gc_arena *a, void **first) {
    assert_non_null(gc_arena_take(a, 5000));
    for (int layer = 0; layer < 2; layer++) {
        size_t mark = gc_arena_mark(a);
        char *t = gc_arena_take(a, 1 << 20), *s = gc_arena_take(a, 100000);
        assert_non_null(t);
        assert_non_null(s);
        memset(t, layer, 1 << 20);
        memset(s, layer, 100000);
        if (first && layer == 0) *first = t;
        if (first && layer == 1) assert_ptr_equal(t, *first); /* the spill given back is taken again */
        gc_arena_rewind(a, mark);
    }
    gc_arena_rewind(a, 0);
}

static void test_growth_then_one_block(void **state) {
    (void)state;
    reset_counts();
    gc_arena shared, local, *a;
    gc_arena_init(&shared, count_alloc, count_free);
    void *first = NULL;
    a = gc_arena_acquire(&shared, &local);
    assert_ptr_equal(a, &shared);
    layer_pass(a, &first);
    /* first pass: three spills, each allocated once; the second layer reuses two */
    assert_int_equal(g_allocs, 3);
    gc_arena_release(a, &shared);
    assert_int_equal(g_live, 0); /* spares go at the end of the pass; the block comes with the next */
    size_t high = shared.high;
    assert_true(high >= 5000 + (1 << 20) + 100000);
    a = gc_arena_acquire(&shared, &local);
    layer_pass(a, NULL);
    gc_arena_release(a, &shared);
    assert_int_equal(g_allocs, 4); /* the block of the high-water mark, nothing else */
    assert_int_equal(g_live, high);
    gc_arena_free(&shared);
    assert_int_equal(g_live, 0);
}

static void test_spare_sizes(void **state) {
    (void)state;
    reset_counts();
    gc_arena a;
    gc_arena_init(&a, count_alloc, count_free);
    assert_non_null(gc_arena_take(&a, 64)); /* held: the pass never returns to empty */
    size_t m = gc_arena_mark(&a);
    void *p = gc_arena_take(&a, 1000);
    gc_arena_rewind(&a, m);
    assert_ptr_equal(gc_arena_take(&a, 600), p); /* 600..1000: the spare serves it */
    gc_arena_rewind(&a, m);
    void *q = gc_arena_take(&a, 400); /* less than half the spare: a buffer of its own, and the spare */
    assert_int_equal(g_allocs, 3);    /* goes (64 + 1000 + 400 would pass the high-water mark) */
    assert_int_equal(g_live, 64 + 400);
    gc_arena_rewind(&a, m);
    assert_ptr_equal(gc_arena_take(&a, 400), q);
    assert_int_equal(g_allocs, 3);
    gc_arena_rewind(&a, m);
    gc_arena_take(&a, 1000);
    void *b700 = gc_arena_take(&a, 700);
    gc_arena_rewind(&a, m);
    assert_ptr_equal(gc_arena_take(&a, 650), b700); /* both fit: the smaller one */
    /* back to empty mid-pass: the block of the high-water mark replaces the spares */
    gc_arena_rewind(&a, 0);
    assert_non_null(gc_arena_take(&a, 64));
    assert_int_equal(g_live, a.high);
    assert_int_equal(a.cap, a.high);
    gc_arena_free(&a);
    assert_int_equal(g_live, 0);
}

/* Sizes that keep growing: every take needs a new buffer, and the spares are let go so that the
 * arena never holds more than its high-water mark (the largest take here). */
static void test_footprint_bound(void **state) {
    (void)state;
    reset_counts();
    gc_arena a;
    gc_arena_init(&a, count_alloc, count_free);
    assert_non_null(gc_arena_take(&a, 64));
    for (size_t n = 1000; n <= 64000; n = n * 3 / 2) {
        size_t m = gc_arena_mark(&a);
        assert_non_null(gc_arena_take(&a, n));
        assert_true(g_live <= a.high);
        gc_arena_rewind(&a, m);
    }
    /* nested: a live outer buffer plus growing inner ones */
    size_t m0 = gc_arena_mark(&a);
    assert_non_null(gc_arena_take(&a, 5000));
    for (size_t n = 2000; n <= 200000; n *= 3) {
        size_t m = gc_arena_mark(&a);
        assert_non_null(gc_arena_take(&a, n));
        assert_true(g_live <= a.high);
        gc_arena_rewind(&a, m);
    }
    assert_true(g_peak <= a.high);
    gc_arena_rewind(&a, m0);
    gc_arena_free(&a);
    assert_int_equal(g_live, 0);
}

static void test_concurrent_pass_private(void **state) {
    (void)state;
    reset_counts();
    gc_arena shared, l1, l2;
    gc_arena_init(&shared, count_alloc, count_free);
    gc_arena *a = gc_arena_acquire(&shared, &l1), *b = gc_arena_acquire(&shared, &l2);
    assert_ptr_equal(a, &shared);
    assert_ptr_equal(b, &l2); /* held: the second pass gets a private arena */
    layer_pass(b, NULL);
    gc_arena_release(b, &shared);
    layer_pass(a, NULL);
    gc_arena_release(a, &shared);
    assert_int_equal(g_live, 0);
    assert_ptr_equal(gc_arena_acquire(&shared, &l1), &shared); /* free again */
    gc_arena_release(&shared, &shared);
    gc_arena_free(&shared);
    assert_int_equal(g_live, 0);
}

static void test_overflow_refused(void **state) {
    (void)state;
    gc_arena a;
    gc_arena_init(&a, count_alloc, count_free);
    assert_null(gc_arena_take(&a, SIZE_MAX - 8));
    assert_non_null(strstr(gc_last_error(), "scratch arena"));
    assert_null(gc_arena_floats(&a, INT64_MAX / 2));
    gc_arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_then_one_block), cmocka_unit_test(test_spare_sizes),
        cmocka_unit_test(test_footprint_bound), cmocka_unit_test(test_concurrent_pass_private),
        cmocka_unit_test(test_overflow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
