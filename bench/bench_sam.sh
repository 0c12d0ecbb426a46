#!/usr/bin/env bash
# SAM image encoders (ViT-B, ViT-H) at 1024x1024: geocorr (generated weights of the real shapes) vs
# PyTorch 1.13 running upstream segment_anything's ImageEncoderViT (Debian's /usr/bin/python3), both
# with the same thread count, one model after the other. The upstream checkout is not part of
# geocorr: pass its path (or set SAM_REPO); without it the PyTorch side is skipped.
# Usage: bench_sam.sh BUILD_BENCH_DIR [THREADS] [SAM_REPO] [MODELS]   (MODELS default "b h")
set -eu
build=$1; threads=${2:-2}; repo=${3:-${SAM_REPO:-}}; models=${4:-b h}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/speedup.sh"
for m in $models; do
  g=$("$build/bench_sam" --model "$m" --threads "$threads")
  echo "$g"
  if [ -z "$repo" ]; then echo "(no segment-anything checkout given: PyTorch side skipped)"; continue; fi
  t=$(/usr/bin/python3 "$here/../tools/bench_sam_torch.py" --sam-repo "$repo" --model "$m" --threads "$threads")
  echo "$t"
  speedup "ViT-$(echo "$m" | tr a-z A-Z) " "$g" "$t"
done
