"""Shared by the PyTorch benchmark scripts: time a forward pass like geocorr's benches do."""
import resource
import time

import torch


def timed(fn, runs):
    """Best wall and CPU seconds of `runs` calls of fn() under no_grad, and the peak RSS in MiB."""
    best = best_cpu = float("inf")
    with torch.no_grad():
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
