#!/usr/bin/python3
"""Reference side of bench/bench_ckpt.sh: writes a state-dict checkpoint of N float32 tensors of M
elements with Debian's torch (1.13) and times torch.load on it (best of 3).

usage: /usr/bin/python3 tools/ckpt_bench.py OUT.pth N M"""
import sys, time

import torch

out, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
sd = {f"model.blocks.{i}.weight": torch.randn(m) for i in range(n)}
torch.save(sd, out)
best = min((lambda t0: (torch.load(out), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(f"torch.load (torch {torch.__version__}): {best:.3f} s")
