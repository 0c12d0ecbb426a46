#!/usr/bin/env bash
# The feature pipeline with real-shaped models (bench_pipeline) and the same-shaped PyTorch models
# (tools/bench_pipeline_torch.py), same thread count. Usage: bench_pipeline.sh BUILD_BENCH_DIR [threads]
build=$1; threads=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
"$build/bench_pipeline" "$threads"
echo
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 "$here/../tools/bench_pipeline_torch.py" "$threads"
else
  echo "PyTorch not available: no comparison"
fi
