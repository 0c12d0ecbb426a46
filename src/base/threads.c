/* One thread count for OpenMP (oneDNN's GEMMs run inside geocorr's own parallel loops). Every parallel loop in geocorr partitions work so that
 * each output element is computed by exactly one thread in a fixed order: results do not depend on
 * the thread count. */
#include <omp.h>
#include <stdlib.h>

#include "base/base.h"

static int g_threads = 0;

void gc_set_threads(int n) {
    if (n <= 0) {
        const char *e = getenv("GEOCORR_THREADS");
        n = e ? atoi(e) : 0;
    }
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
}

int gc_get_threads(void) {
    if (g_threads == 0) gc_set_threads(0);
    return g_threads;
}

int gc_threads(void) { return gc_get_threads(); }
