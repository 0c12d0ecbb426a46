#!/usr/bin/env bash
# DINOv2 ViT-B/14 at 840x840: geocorr (manifest weights) vs PyTorch 1.13 (same-shaped ViT, Debian's
# /usr/bin/python3), both with the same thread count. Usage: bench_dinov2.sh BUILD_BENCH_DIR [THREADS]
set -eu
build=$1; threads=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/speedup.sh"
g=$("$build/bench_dinov2" --threads "$threads")
echo "$g"
t=$(/usr/bin/python3 "$here/../tools/torch_dinov2_bench.py" --threads "$threads")
echo "$t"
speedup "" "$g" "$t"
