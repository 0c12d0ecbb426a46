/* Shared by the benchmark executables: process CPU time, peak RSS and fixture paths. */
#ifndef GC_BENCH_UTIL_H
#define GC_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* Process CPU seconds (user + system): on a shared machine wall time also counts other people's work. */
static inline double bench_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static inline double bench_peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* GEOCORR_FIXTURES (or the build default) / name, in one of 4 rotating buffers. */
static inline const char *bench_fixture(const char *name) {
    static char buf[4][1024];
    static int k;
    const char *d = getenv("GEOCORR_FIXTURES");
    if (!d) d = getenv("GEOCORR_FIXTURES_DEFAULT");
    if (!d) d = "../shared/fixtures";
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", d, name);
    return buf[k];
}

#endif
