#!/usr/bin/env bash
# One training step (real post-processor, four 3968x60x60 maps, fwd + bwd + AdamW): geocorr vs
# PyTorch 1.13 (tools/torch_train_step_bench.py, Debian's /usr/bin/python3), same thread count, and
# the reference SPair schedule (2 epochs x 53,339 steps) extrapolated to hours.
# Usage: bench_train_step.sh BUILD_BENCH_DIR [THREADS]
set -eu
build=$1; threads=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
g=$("$build/bench_train_step" --threads "$threads")
echo "$g"
t=$(/usr/bin/python3 "$here/../tools/torch_train_step_bench.py" --threads "$threads")
echo "$t"
gs=$(echo "$g" | sed -n 's/^geocorr train step \([0-9.]*\) s.*/\1/p')
ts=$(echo "$t" | sed -n 's/^torch train step \([0-9.]*\) s.*/\1/p')
awk -v g="$gs" -v t="$ts" 'BEGIN { printf "speed-up vs PyTorch: %.2fx (%.2f s vs %.2f s per step)\n", t / g, g, t;
  printf "SPair schedule (106,678 steps): geocorr %.1f h, PyTorch %.1f h (feature I/O not included)\n", g * 106678 / 3600, t * 106678 / 3600 }'
