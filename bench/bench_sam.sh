#!/usr/bin/env bash
# SAM image encoders (ViT-B, ViT-H) at 1024x1024: geocorr (generated weights of the real shapes) vs
# PyTorch 1.13 running upstream segment_anything's ImageEncoderViT (Debian's /usr/bin/python3), both
# with the same thread count, one model after the other. The upstream checkout is not part of
# geocorr: pass its path (or set SAM_REPO); without it the PyTorch side is skipped.
# Usage: bench_sam.sh BUILD_BENCH_DIR [THREADS] [SAM_REPO] [MODELS]   (MODELS default "b h")
set -eu
build=$1; threads=${2:-2}; repo=${3:-${SAM_REPO:-}}; models=${4:-b h}
here=$(cd "$(dirname "$0")" && pwd)
for m in $models; do
  g=$("$build/bench_sam" --model "$m" --threads "$threads")
  echo "$g"
  if [ -z "$repo" ]; then echo "(no segment-anything checkout given: PyTorch side skipped)"; continue; fi
  t=$(/usr/bin/python3 "$here/../tools/bench_sam_torch.py" --sam-repo "$repo" --model "$m" --threads "$threads")
  echo "$t"
  gs=$(echo "$g" | sed -n 's/.*forward \([0-9.]*\) s.*/\1/p' | head -1)
  ts=$(echo "$t" | sed -n 's/.*forward \([0-9.]*\) s.*/\1/p' | head -1)
  gc=$(echo "$g" | sed -n 's/.* cpu \([0-9.]*\) s.*/\1/p' | head -1)
  tc=$(echo "$t" | sed -n 's/.* cpu \([0-9.]*\) s.*/\1/p' | head -1)
  gm=$(echo "$g" | sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' | head -1)
  tm=$(echo "$t" | sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' | head -1)
  awk -v m="$m" -v g="$gs" -v t="$ts" -v gc="$gc" -v tc="$tc" -v gm="$gm" -v tm="$tm" 'BEGIN {
    printf "ViT-%s speed-up vs PyTorch: %.2fx wall (%.2f s vs %.2f s), %.2fx cpu time (%.2f s vs %.2f s); peak RSS %d vs %d MiB\n",
      toupper(m), t / g, g, t, tc / gc, gc, tc, gm, tm }'
done
