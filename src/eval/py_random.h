/* CPython 3's `random` module bit for bit, as far as the AP-10K benchmark builder uses it
 * (TRACE.md §9): `seed(n)` (init_by_array with the 32-bit words of n), `random()`, `getrandbits(k)`,
 * `_randbelow(n)`, `shuffle(x)` and `sample(population, k)` of CPython 3.11 (Lib/random.py,
 * Modules/_randommodule.c). The generator is the same MT19937 as numpy's legacy one (np_random.h);
 * only the seeding and the derived draws differ. */
#ifndef GC_EVAL_PY_RANDOM_H
#define GC_EVAL_PY_RANDOM_H

#include <stdint.h>

#include "base/base.h"
#include "data/np_random.h"

typedef gc_np_random gc_py_random;

/* random.seed(n) for a non-negative integer n < 2**64. */
void gc_py_random_seed(gc_py_random *r, uint64_t n);
/* random.random(): 53-bit float from two draws. */
double gc_py_random_random(gc_py_random *r);
/* random.getrandbits(k), 1 <= k <= 64 (words least significant first, as CPython). */
uint64_t gc_py_random_getrandbits(gc_py_random *r, int k);
/* random._randbelow(n), n >= 1: rejection sampling on getrandbits(n.bit_length()). */
uint64_t gc_py_random_randbelow(gc_py_random *r, uint64_t n);
/* random.shuffle(x) on x[n]. */
void gc_py_random_shuffle(gc_py_random *r, int64_t *x, int64_t n);
/* random.sample(range(n), k) into out[k]: the indices of the chosen population elements, in the
 * order sample returns them (0 <= k <= n). */
gc_status gc_py_random_sample(gc_py_random *r, int64_t n, int64_t k, int64_t *out);

#endif
