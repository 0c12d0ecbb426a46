#!/usr/bin/env bash
# geocorr vs PyTorch 1.13 (Debian python3-torch, tools/) vs ONNX Runtime 1.30 (onnxruntime-node from
# npm, installed here into the build folder; never a dependency of geocorr), same shapes, same
# threads, tools alternating round by round; min and median of the rounds. Also the machine's SGEMM
# peak over every library present (bench_sgemm) and the kernels each side runs. Writes
# bench/results/compare.txt; --scaling writes bench/results/scaling.txt (geocorr at 1 and N threads).
#
# Usage: bash bench/compare.sh [--threads N] [--rounds R] [--scaling] [--build DIR]
#   defaults: all cores, 3 rounds, build/ (configured Release and built if needed)
# Takes ~20 min on a quiet 2-core machine (3 rounds); --scaling ~4 min.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
threads=$(nproc) rounds=3 scaling=0 build="$root/build"
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scaling) scaling=1; shift ;;
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
fixtures=${GEOCORR_FIXTURES:-$root/../shared/fixtures}
py=/usr/bin/python3
work="$build/compare"
mkdir -p "$work" "$root/bench/results"
unset OPENBLAS_CORETYPE GEOCORR_THREADS OMP_NUM_THREADS # as shipped: no tuning variables

# ---- build, ONNX Runtime, ONNX models, a DINOv2 folder ------------------------------------------
if [ ! -x "$build/geocorr" ] || [ ! -x "$build/bench/bench_sgemm" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target geocorr bench_sgemm bench_dinov2 bench_sd bench_pipeline >/dev/null
fi
if [ ! -d "$work/ort/node_modules/onnxruntime-node" ]; then
  # --ignore-scripts: the package's install script only fetches GPU providers; the CPU build is in the tarball
  npm install --prefix "$work/ort" --no-audit --no-fund --ignore-scripts onnxruntime-node@1.30.0 >/dev/null
fi
cp "$here/ort_run.js" "$work/ort/"
[ -f "$work/dinov2_840.onnx" ] && [ -f "$work/vae_512.onnx" ] || "$py" "$root/tools/export_onnx.py" "$work" 2>/dev/null
if [ ! -f "$work/dinov2-base/model.safetensors" ]; then
  mkdir -p "$work/dinov2-base"
  "$build/geocorr" synth-weights --manifest "$fixtures/dinov2_vitb14.weights_manifest.json" \
    --out "$work/dinov2-base/model.safetensors"
  cp "$fixtures/dinov2_vitb14.config.json" "$work/dinov2-base/config.json"
fi

# ---- helpers ------------------------------------------------------------------------------------
num() { sed -n "s/$1/\\1/p" | head -1; }               # first capture of a sed pattern
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[1], a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else printf "-" }'; }
G="$build/bench" ORT="node $work/ort/ort_run.js"
declare -A T # T[key] = "t1 t2 ..." seconds per round

ort() { # $1 model name, $2 key: T[o_KEY], T[o_KEY_cpu] (best of 2 after a first call), T[o_KEY_first...]
  local out
  out=$($ORT "$work/$1.onnx" "$1" "$threads" 2 2>&1)
  T[o_$2]+=" $(echo "$out" | num '.* run \([0-9.]*\) s.*')"; T[o_$2_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
  T[o_$2_first]+=" $(echo "$out" | num '^ort first call \([0-9.]*\) s.*')"
  T[o_$2_first_cpu]+=" $(echo "$out" | num '^ort first call .* first_cpu \([0-9.]*\) s.*')"
}

run_round() { # T[key] wall seconds, T[key_cpu] process CPU seconds (all threads)
  local out t
  for side in g:"$G/bench_dinov2" t:"$py $root/tools/torch_dinov2_bench.py"; do
    out=$(${side#*:} --threads "$threads" 2>&1)
    T[${side%%:*}_dino]+=" $(echo "$out" | num '.*forward \([0-9.]*\) s.*')"
    T[${side%%:*}_dino_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
    T[${side%%:*}_dino_first]+=" $(echo "$out" | num '^  first call: \([0-9.]*\) s wall.*')"
    T[${side%%:*}_dino_first_cpu]+=" $(echo "$out" | num '^  first call: .* \([0-9.]*\) s CPU.*')"
  done
  ort dinov2_840 dino
  t=$( { /usr/bin/time -f "%e %U %S" "$build/geocorr" features --dinov2 "$work/dinov2-base" --dino-only \
         --image "$fixtures/images/antelope.jpg" --out "$work/dino.safetensors" --threads "$threads" >/dev/null; } 2>&1 | tail -1)
  T[g_dino_proc]+=" $(echo "$t" | cut -d' ' -f1)"; T[g_dino_proc_cpu]+=" $(echo "$t" | awk '{print $2 + $3}')"
  for side in g:geocorr:"env GEOCORR_THREADS=$threads $G/bench_sd" t:torch:"$py $root/tools/bench_sd_torch.py $threads"; do
    local key=${side%%:*} rest=${side#*:}
    out=$(${rest#*:} 2>&1)
    for k in vae:vae_encoder_512 unet:unet_to_block7_64; do
      for v in "" _cpu _first _first_cpu; do
        T[${key}_${k%%:*}$v]+=" $(echo "$out" | num "^${rest%%:*} ${k#*:}$v \([0-9.]*\)$")"
      done
    done
    # the pipeline's 4 crops as one UNet batch (geocorr only; upstream's slide_forward runs them one by one)
    [ "$key" = t ] || for v in "" _cpu; do
      T[g_unet4$v]+=" $(echo "$out" | num "^geocorr unet_to_block7_64_x4$v \([0-9.]*\)$")"
    done
  done
  ort vae_512 vae
  out=$("$G/bench_pipeline" "$threads" 2>&1) # one image twice: the first (fresh process) and the next
  for k in clip:'CLIP image tower' text:'text encoder (U, once)' cap:'implicit captioner' image:'total (text encoder + one image)'; do
    T[g_${k%%:*}_first]+=" $(echo "$out" | num "^  ${k#*:} *\([0-9.]*\) s .*")"
    T[g_${k%%:*}]+=" $(echo "$out" | num "^  ${k#*:} *[0-9.]* s *\([0-9.]*\) s .*")"
  done
  T[g_image_first_cpu]+=" $(echo "$out" | num '^  total (text encoder + one image).*one image: \([0-9.]*\) \/.*')"
  T[g_image_cpu]+=" $(echo "$out" | num '^  total (text encoder + one image).*one image: [0-9.]* \/ \([0-9.]*\) s CPU.*')"
  T[g_rss]+=" $(echo "$out" | num '^  peak RSS \([0-9]*\) MiB')"
  out=$("$py" "$root/tools/bench_pipeline_torch.py" "$threads" 2>&1)
  for k in clip:'CLIP image tower (4 crops)' text:'text encoder (U, once)' cap:'implicit captioner (4 crops)'; do
    T[t_${k%%:*}]+=" $(echo "$out" | num "^  ${k#*:} *\([0-9.]*\) s wall.*")"
    T[t_${k%%:*}_cpu]+=" $(echo "$out" | num "^  ${k#*:} *[0-9.]* s wall *\([0-9.]*\) s CPU.*")"
  done
}

header() {
  echo "# bash bench/compare.sh --threads $threads --rounds $rounds   ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# geocorr $("$build/geocorr" --version --verbose | sed -n 2p)"
  echo "# PyTorch: $("$py" "$root/tools/torch_kernels.py" 2>/dev/null)"
  echo "# ONNX Runtime: onnxruntime-node $(node -e "console.log(require('$work/ort/node_modules/onnxruntime-node').env.versions.common)"), CPU execution provider (MLAS), graph optimisations all"
}

sgemm_peak() { # $1 threads, $2 extra flag (--cpu or empty): every library and forced OpenBLAS core,
                # $rounds interleaved rounds, best of each
  local out="" best ours
  for r in $(seq "$rounds"); do
    out+=$("$G/bench_sgemm" --threads "$1" $2 | grep '^sgemm')$'\n'
    for core in SkylakeX Cooperlake Haswell; do
      out+=$("$G/bench_sgemm" --threads "$1" $2 --openblas-core "$core" | grep '^sgemm')$'\n'
    done
  done
  out=$(echo "$out" | grep '^sgemm' | awk '{v = $(NF-1); $(NF-1) = ""; $NF = ""; k = $0; if (v > b[k]) b[k] = v; if (!(k in o)) o[k] = n++}
    END {for (k in o) print o[k] "\t" k "\t" b[k]}' | sort -n | cut -f2- | awk -F'\t' '{printf "%-72s %7.1f GFLOP/s\n", $1, $2}')
  echo "$out" | sed 's/^/  /'
  best=$(echo "$out" | awk '!/^sgemm geocorr/ {v = $(NF-1); if (v > m) m = v} END {print m}')
  ours=$(echo "$out" | awk '/^sgemm geocorr/ {print $(NF-1)}')
  echo "  machine's best SGEMM (any library, any forced core): $best GFLOP/s; geocorr as shipped: $ours GFLOP/s = $(awk -v a="$ours" -v b="$best" 'BEGIN {printf "%.0f%%", 100 * a / b}')"
}

row() { # label geocorr-key torch-key ort-key
  local g t o
  g=$(echo "${T[$2]:-}" | stats); t=$([ -n "$3" ] && echo "${T[$3]:-}" | stats || echo "- -")
  o=$([ -n "$4" ] && echo "${T[$4]:-}" | stats || echo "- -")
  printf "  %-44s %6s %6s   %6s %6s   %6s %6s   %7s %7s\n" "$1" ${g} ${t} ${o} \
    "$(ratio "${t%% *}" "${g%% *}")" "$(ratio "${o%% *}" "${g%% *}")"
}

if [ "$scaling" = 1 ]; then
  {
    header
    echo "# thread scaling of geocorr (wall seconds, min of $rounds)"
    for n in 1 "$threads"; do
      for r in $(seq "$rounds"); do
        T[d$n]+=" $("$G/bench_dinov2" --threads "$n" | num '.*forward \([0-9.]*\) s.*')"
        T[v$n]+=" $(GEOCORR_THREADS=$n "$G/bench_sd" | num '^geocorr vae_encoder_512 \([0-9.]*\)$')"
      done
    done
    for k in d v; do
      a=$(echo "${T[${k}1]}" | stats); b=$(echo "${T[$k$threads]}" | stats)
      printf "  %-28s 1 thread %6.2f s   %d threads %6.2f s   speed-up %s\n" \
        "$([ $k = d ] && echo 'DINOv2 ViT-B/14 840^2' || echo 'VAE encoder 512^2')" "${a%% *}" "$threads" "${b%% *}" \
        "$(ratio "${a%% *}" "${b%% *}")"
    done
    echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$root/bench/results/scaling.txt"
  exit 0
fi

{
  header
  echo "# SGEMM peak of the machine, 2048^3, best of $rounds interleaved rounds per library: $threads threads (wall)"
  sgemm_peak "$threads" ""
  echo "# the same per core: 1 thread, GFLOP per CPU second (steadier than wall time when the machine is shared)"
  sgemm_peak 1 --cpu
} | tee "$root/bench/results/compare.txt"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  run_round
done
{
  echo "# stage timings, wall seconds, $threads threads, min and median of $rounds alternating rounds;"
  echo "# every side: a first call, then the best of the calls after it (bench/bench_util.h)"
  printf "  %-44s %13s   %13s   %13s   %7s %7s\n" "" "geocorr" "PyTorch 1.13" "ORT 1.30" "PT/gc" "ORT/gc"
  printf "  %-44s %6s %6s   %6s %6s   %6s %6s\n" "" min med min med min med
  for sfx in "" _cpu; do
    [ -z "$sfx" ] || echo "# the same in process CPU seconds over all threads (wait-free work; steadier on a shared machine)"
    row "DINOv2 ViT-B/14 840^2 forward" g_dino$sfx t_dino$sfx o_dino$sfx
    row "  first call" g_dino_first$sfx t_dino_first$sfx o_dino_first$sfx
    row "DINOv2 whole process (features --dino-only)" g_dino_proc$sfx "" o_dino$sfx
    row "VAE encoder 512^2" g_vae$sfx t_vae$sfx o_vae$sfx
    row "  first call" g_vae_first$sfx t_vae_first$sfx o_vae_first$sfx
    row "UNet to output block 7, 64^2" g_unet$sfx t_unet$sfx ""
    row "  first call" g_unet_first$sfx t_unet_first$sfx ""
    # PyTorch: 4 single-crop calls (upstream's slide_forward), geocorr: the pipeline's batch of 4
    T[t_unet4$sfx]=""
    for u in ${T[t_unet$sfx]}; do T[t_unet4$sfx]+=" $(echo "4 * $u" | bc)"; done
    row "UNet, 4 crops (geocorr: one batch)" g_unet4$sfx t_unet4$sfx ""
    [ -n "$sfx" ] || row "CLIP ViT-L/14-336, 4 crops" g_clip t_clip ""
    [ -n "$sfx" ] || row "  first image" g_clip_first t_clip ""
    # The whole image from the stage timings of the same shapes (text encoder once, 4 crops of CLIP,
    # captioner, VAE and UNet, DINOv2 once), both sides the same way: steady state (an image in a run
    # over a dataset) and the first image of a process (first calls of VAE, UNet, DINOv2).
    # geocorr's CLIP, text encoder and captioner: bench_pipeline's first and next image (wall only, so
    # in CPU seconds the whole image is geocorr's measured one against PyTorch's stage sums); PyTorch's:
    # tools/bench_pipeline_torch.py's sums over the 4 crops, for both.
    for i in $(seq "$rounds"); do
      f() { echo "${T[$1]}" | cut -d' ' -f$((i + 1)); }
      for k in g t; do
        [ -z "$sfx" ] || [ $k = t ] || continue
        other="$(f ${k}_text$sfx) + $(f ${k}_clip$sfx) + $(f ${k}_cap$sfx)"
        first="$other"
        [ $k = t ] || first="$(f g_text_first) + $(f g_clip_first) + $(f g_cap_first)"
        T[${k}_steady$sfx]+=" $(echo "$other + 4 * ($(f ${k}_vae$sfx) + $(f ${k}_unet$sfx)) + $(f ${k}_dino$sfx)" | bc)"
        T[${k}_cold$sfx]+=" $(echo "$first + $(f ${k}_vae_first$sfx) + 3 * $(f ${k}_vae$sfx) + $(f ${k}_unet_first$sfx) + 3 * $(f ${k}_unet$sfx) + $(f ${k}_dino_first$sfx)" | bc)"
      done
    done
    if [ -z "$sfx" ]; then
      row "whole image, stage sums, next image" g_steady t_steady ""
      row "whole image, stage sums, first image" g_cold t_cold ""
    fi
    row "whole image, geocorr measured, next image" g_image$sfx t_steady$sfx ""
    row "whole image, geocorr measured, first image" g_image_first$sfx t_cold$sfx ""
  done
  echo "  geocorr peak RSS of the whole-image run: $(echo "${T[g_rss]}" | stats | cut -d' ' -f2) MiB"
  echo "# DINOv2 whole process = geocorr features --dinov2 DIR --dino-only on antelope.jpg (load, decode, canvas,"
  echo "# forward, write), against ORT's session.run alone. Same random-weight models of the same shapes on each side."
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$root/bench/results/compare.txt"
