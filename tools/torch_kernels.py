#!/usr/bin/python3
"""One line naming the kernels Debian's PyTorch 1.13 runs here (for bench/compare.sh): its BLAS (the
OpenBLAS core it picked from the CPU-model table, as loaded in this process), oneDNN's version and
ATen's vectorisation level. Usage: /usr/bin/python3 tools/torch_kernels.py"""
import ctypes

import torch


def blas_cores():
    torch.ones(8, 8) @ torch.ones(8, 8)  # make sure the BLAS is loaded
    cores = []
    for path in sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l and ".so" in l}):
        try:
            f = ctypes.CDLL(path).openblas_get_corename
            f.restype = ctypes.c_char_p
            cores.append(f"OpenBLAS {f().decode()}")
        except (OSError, AttributeError):
            pass
    return sorted(set(cores)) or ["BLAS: not OpenBLAS"]


cfg = [l.strip("- ").strip() for l in torch.__config__.show().splitlines()]
extra = [l for l in cfg if l.startswith("Intel(R) MKL-DNN") or l.startswith("CPU capability usage")]
print(f"torch {torch.__version__}: GEMM {', '.join(blas_cores())}; {'; '.join(extra)}")
