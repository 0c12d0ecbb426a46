#!/usr/bin/env bash
# PyTorch checkpoint reader: `geocorr inspect` (open: zip directory, CRC-32 of every record, pickle,
# views, flattening) and `geocorr convert` (plus writing safetensors) on a 400 MB state dict, against
# torch.load of the same file (tools/ckpt_bench.py, Debian torch). Best of 3, wall clock, this machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${GEOCORR_BIN:?GEOCORR_BIN not set (run through cmake --build build --target bench)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=100; m=1000000
echo "checkpoint: $n float32 tensors of $m elements ($((n * m * 4 / 1000000)) MB), torch.save zip format"
/usr/bin/python3 "$here/../tools/ckpt_bench.py" "$tmp/sd.pth" $n $m
best() { # best wall time of 3 runs of "$@"
  local b=""
  for _ in 1 2 3; do
    local t0=$(date +%s.%N); "$@" >/dev/null; local t1=$(date +%s.%N)
    b=$(echo "$t0 $t1 $b" | awk '{d=$2-$1; if ($3 == "" || d < $3) print d; else print $3}')
  done
  printf "%.3f" "$b"
}
echo "geocorr inspect: $(best "$bin" inspect "$tmp/sd.pth") s"
echo "geocorr convert: $(best "$bin" convert "$tmp/sd.pth" "$tmp/sd.safetensors") s (incl. writing 400 MB)"
