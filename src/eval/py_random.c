#include <math.h>
#include <string.h>

#include "eval/py_random.h"

void gc_py_random_seed(gc_py_random *r, uint64_t n) {
    /* random_seed(): the key is abs(n) as 32-bit words, least significant first, at least one */
    uint32_t key[2] = {(uint32_t)n, (uint32_t)(n >> 32)};
    int len = key[1] ? 2 : 1;
    /* init_by_array (mt19937ar.c) */
    gc_np_random_seed(r, 19650218u);
    uint32_t *mt = r->mt;
    int i = 1, j = 0;
    for (int k = 624 > len ? 624 : len; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= 624) mt[0] = mt[623], i = 1;
        if (j >= len) j = 0;
    }
    for (int k = 623; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) mt[0] = mt[623], i = 1;
    }
    mt[0] = 0x80000000u;
    r->pos = 624;
}

double gc_py_random_random(gc_py_random *r) {
    uint32_t a = gc_np_random_u32(r) >> 5, b = gc_np_random_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

uint64_t gc_py_random_getrandbits(gc_py_random *r, int k) {
    if (k <= 32) return gc_np_random_u32(r) >> (32 - k);
    uint64_t lo = gc_np_random_u32(r), hi = gc_np_random_u32(r) >> (64 - k);
    return lo | hi << 32;
}

uint64_t gc_py_random_randbelow(gc_py_random *r, uint64_t n) {
    int k = 0;
    while (k < 64 && (n >> k)) k++;
    uint64_t v = gc_py_random_getrandbits(r, k);
    while (v >= n) v = gc_py_random_getrandbits(r, k);
    return v;
}

void gc_py_random_shuffle(gc_py_random *r, int64_t *x, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gc_py_random_randbelow(r, (uint64_t)i + 1);
        int64_t t = x[i];
        x[i] = x[j], x[j] = t;
    }
}

gc_status gc_py_random_sample(gc_py_random *r, int64_t n, int64_t k, int64_t *out) {
    if (k < 0 || k > n) return gc_errorf(GC_ERR_ARG, "sample: %lld elements asked of %lld", (long long)k, (long long)n);
    int64_t setsize = 21;
    /* 4 ** ceil(log(3k, 4)), with CPython's floating-point log (math.log(x, base) = log(x) / log(base)) */
    if (k > 5) setsize += (int64_t)pow(4.0, ceil(log(3.0 * (double)k) / log(4.0)));
    if (n <= setsize) { /* pool: the unchosen indices, the last one moved into each vacancy */
        int64_t *pool = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof(int64_t));
        if (!pool) return GC_ERR_NOMEM;
        for (int64_t i = 0; i < n; i++) pool[i] = i;
        for (int64_t i = 0; i < k; i++) {
            int64_t j = (int64_t)gc_py_random_randbelow(r, (uint64_t)(n - i));
            out[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
        gc_free(pool);
        return GC_OK;
    }
    /* selected set: redraw an index until it is new */
    uint8_t *seen = gc_calloc((size_t)n / 8 + 1, 1);
    if (!seen) return GC_ERR_NOMEM;
    for (int64_t i = 0; i < k; i++) {
        int64_t j = (int64_t)gc_py_random_randbelow(r, (uint64_t)n);
        while (seen[j >> 3] >> (j & 7) & 1) j = (int64_t)gc_py_random_randbelow(r, (uint64_t)n);
        seen[j >> 3] |= (uint8_t)(1u << (j & 7));
        out[i] = j;
    }
    gc_free(seen);
    return GC_OK;
}
