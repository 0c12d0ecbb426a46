/* numpy's legacy RandomState, only as far as the reference's test sampling uses it:
 * `np.random.seed(s)` (MT19937 init_genrand) and `np.random.choice(n, k)` with replacement, i.e.
 * `randint(0, n, k)` by masked rejection sampling on 32-bit draws (numpy's
 * random_bounded_uint64_fill with use_masked=1), so sampled pair lists reproduce bit for bit. */
#ifndef GC_DATA_NP_RANDOM_H
#define GC_DATA_NP_RANDOM_H

#include <stdint.h>

typedef struct {
    uint32_t mt[624]; /* MT19937 state */
    int pos;          /* next word of mt to temper */
} gc_np_random;

void gc_np_random_seed(gc_np_random *r, uint32_t seed);
uint32_t gc_np_random_u32(gc_np_random *r);
/* k draws of np.random.choice(n, k) (n >= 1) into out[k]. */
void gc_np_random_choice(gc_np_random *r, int64_t n, int64_t k, int64_t *out);

#endif
