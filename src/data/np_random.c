#include "data/np_random.h"

void gc_np_random_seed(gc_np_random *r, uint32_t seed) {
    r->mt[0] = seed;
    for (int i = 1; i < 624; i++) r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->pos = 624;
}

static void regenerate(gc_np_random *r) {
    uint32_t *mt = r->mt;
    for (int i = 0; i < 624; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[(i + 1) % 624] & 0x7fffffffu);
        mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    r->pos = 0;
}

uint32_t gc_np_random_u32(gc_np_random *r) {
    if (r->pos >= 624) regenerate(r);
    uint32_t y = r->mt[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

void gc_np_random_choice(gc_np_random *r, int64_t n, int64_t k, int64_t *out) {
    uint64_t rng = (uint64_t)(n - 1);
    if (rng == 0) {
        for (int64_t i = 0; i < k; i++) out[i] = 0;
        return;
    }
    uint64_t mask = rng;
    mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16, mask |= mask >> 32;
    for (int64_t i = 0; i < k; i++) {
        uint64_t v;
        if (rng <= 0xffffffffu) {
            do v = gc_np_random_u32(r) & mask; while (v > rng);
        } else { /* 64-bit draws: two words, high first (numpy's mt19937_next64) */
            do {
                uint64_t hi = gc_np_random_u32(r), lo = gc_np_random_u32(r);
                v = ((hi << 32) | lo) & mask;
            } while (v > rng);
        }
        out[i] = (int64_t)v;
    }
}
