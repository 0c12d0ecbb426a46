/* Shared by the benchmark executables: process CPU time, peak RSS and fixture paths. */
#ifndef GC_BENCH_UTIL_H
#define GC_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

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

/* The protocol of every timed pass here and on the PyTorch / ONNX Runtime sides (tools/bench_timing.py,
 * bench/ort_run.js): one first call, whose buffers are new memory (page faults, arenas growing), then
 * `runs` more; the best of those is the steady state (a user's second image onwards). */
typedef struct {
    double first, first_cpu; /* seconds: wall, process CPU */
    double best, best_cpu;   /* best of the calls after the first */
} bench_times;

static inline double bench_wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* fn(ctx) returns 0 on success; the first failure is returned. */
static inline int bench_time_calls(int (*fn)(void *), void *ctx, int runs, bench_times *t) {
    *t = (bench_times){0, 0, 1e30, 1e30};
    for (int r = 0; r <= runs; r++) {
        double w0 = bench_wall_seconds(), c0 = bench_cpu_seconds();
        int e = fn(ctx);
        if (e) return e;
        double w = bench_wall_seconds() - w0, c = bench_cpu_seconds() - c0;
        if (r == 0) {
            t->first = w, t->first_cpu = c;
            continue;
        }
        t->best = w < t->best ? w : t->best;
        t->best_cpu = c < t->best_cpu ? c : t->best_cpu;
    }
    return 0;
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
