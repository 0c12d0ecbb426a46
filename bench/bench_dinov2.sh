#!/usr/bin/env bash
# DINOv2 ViT-B/14 at 840x840: geocorr (manifest weights) vs PyTorch 1.13 (same-shaped ViT, Debian's
# /usr/bin/python3), both with the same thread count. Usage: bench_dinov2.sh BUILD_BENCH_DIR [THREADS]
set -eu
build=$1; threads=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
g=$("$build/bench_dinov2" --threads "$threads")
echo "$g"
t=$(/usr/bin/python3 "$here/../tools/torch_dinov2_bench.py" --threads "$threads")
echo "$t"
# wall-clock and CPU-time ratios (the machine is shared: CPU time is the steadier of the two)
gs=$(echo "$g" | sed -n 's/.*forward \([0-9.]*\) s.*/\1/p' | head -1)
ts=$(echo "$t" | sed -n 's/.*forward \([0-9.]*\) s.*/\1/p' | head -1)
gc=$(echo "$g" | sed -n 's/.* cpu \([0-9.]*\) s.*/\1/p' | head -1)
tc=$(echo "$t" | sed -n 's/.* cpu \([0-9.]*\) s.*/\1/p' | head -1)
awk -v g="$gs" -v t="$ts" -v gc="$gc" -v tc="$tc" 'BEGIN {
  printf "speed-up vs PyTorch: %.2fx wall (%.2f s vs %.2f s), %.2fx cpu time (%.2f s vs %.2f s)\n", t / g, g, t, tc / gc, gc, tc }'
