"""Shared by the PyTorch benchmark scripts: time a forward pass like geocorr's benches do."""
import resource
import time

import torch


def timed(fn, runs):
    """geocorr's protocol (bench/bench_util.h): one first call of fn() under no_grad, then `runs` more.
    Returns (best wall, best CPU seconds of the calls after the first, peak RSS in MiB, (first wall,
    first CPU seconds))."""
    best = best_cpu = float("inf")
    first = None
    with torch.no_grad():
        for r in range(runs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            t, c = time.perf_counter() - t0, time.process_time() - c0
            if r == 0:
                first = (t, c)
                continue
            best, best_cpu = min(best, t), min(best_cpu, c)
    return best, best_cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, first
