#!/usr/bin/env bash
# geocorr's matching and pose alignment (bench_match) next to the reference's operations in PyTorch.
build=$1
here=$(cd "$(dirname "$0")" && pwd)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench_match"
/usr/bin/python3 "$here/../tools/bench_match_torch.py" 2 || echo "(PyTorch comparison unavailable)"
