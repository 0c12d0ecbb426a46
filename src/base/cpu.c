/* What the running CPU can do, read once from cpuid. geocorr's own loops are built for the portable
 * x86-64 baseline and, where marked GC_CLONES, also for x86-64-v3 (AVX2) and -v4 (AVX-512): the
 * dynamic loader picks one version per function when the library loads (GCC target_clones, ifunc).
 * Hand-written kernels (the AVX-512 attention) dispatch on gc_cpu_level(). */
#include <stdatomic.h>

#include "base/base.h"

static atomic_int g_limit = 4;

static int detect(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return 4;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) return 3;
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt")) return 2;
    return 1;
#else
    return 0;
#endif
}

int gc_cpu_level(void) {
    static atomic_int level = -1;
    int l = atomic_load(&level);
    if (l < 0) atomic_store(&level, l = detect());
    int lim = atomic_load(&g_limit);
    return l < lim ? l : lim;
}

void gc_cpu_limit(int level) { atomic_store(&g_limit, level); }

const char *gc_cpu_loops_isa(void) {
#if GC_HAVE_CLONES
    static const char *const names[] = {"portable C", "x86-64 (SSE2)", "x86-64 (SSE2)", "x86-64-v3 (AVX2)",
                                        "x86-64-v4 (AVX-512)"};
    int l = detect(); /* the loader's choice does not follow gc_cpu_limit */
    return names[l < 0 ? 0 : l > 4 ? 4 : l];
#else
    return "x86-64 baseline (built without function multiversioning)";
#endif
}
