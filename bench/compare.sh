#!/usr/bin/env bash
# geocorr vs PyTorch 1.13 (Debian python3-torch, tools/) vs ONNX Runtime 1.30 (onnxruntime-node from
# npm, installed here into the build folder; never a dependency of geocorr), same shapes, same
# threads, tools alternating round by round; min and median of the rounds. Also the machine's SGEMM
# peak over every library present (bench_sgemm) and the kernels each side runs. Writes
# bench/results/compare.txt; --scaling writes bench/results/scaling.txt (geocorr at 1 and N threads).
#
# Usage: bash bench/compare.sh [--threads N] [--rounds R] [--scaling] [--build DIR]
#   defaults: all cores, 3 rounds, build/ (configured Release and built if needed)
# Takes ~15 min on a quiet 2-core machine (3 rounds); --scaling ~3 min.
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

run_round() { # T[key] wall seconds, T[key_cpu] process CPU seconds (all threads)
  local out t
  out=$("$G/bench_dinov2" --threads "$threads" 2>&1)
  T[g_dino]+=" $(echo "$out" | num '.*forward \([0-9.]*\) s.*')"; T[g_dino_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
  out=$("$py" "$root/tools/torch_dinov2_bench.py" --threads "$threads" 2>&1)
  T[t_dino]+=" $(echo "$out" | num '.*forward \([0-9.]*\) s.*')"; T[t_dino_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
  out=$($ORT "$work/dinov2_840.onnx" dinov2_840 "$threads" 1 2>&1)
  T[o_dino]+=" $(echo "$out" | num '.* run \([0-9.]*\) s.*')"; T[o_dino_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
  t=$( { /usr/bin/time -f "%e %U %S" "$build/geocorr" features --dinov2 "$work/dinov2-base" --dino-only \
         --image "$fixtures/images/antelope.jpg" --out "$work/dino.safetensors" --threads "$threads" >/dev/null; } 2>&1 | tail -1)
  T[g_dino_proc]+=" $(echo "$t" | cut -d' ' -f1)"; T[g_dino_proc_cpu]+=" $(echo "$t" | awk '{print $2 + $3}')"
  out=$(GEOCORR_THREADS=$threads "$G/bench_sd" 2>&1)
  for k in vae:vae_encoder_512 unet:unet_to_block7_64; do
    T[g_${k%%:*}]+=" $(echo "$out" | num "^geocorr ${k#*:} \([0-9.]*\)$")"
    T[g_${k%%:*}_cpu]+=" $(echo "$out" | num "^geocorr ${k#*:}_cpu \([0-9.]*\)$")"
  done
  out=$("$py" "$root/tools/bench_sd_torch.py" "$threads" 2>&1)
  for k in vae:vae_encoder_512 unet:unet_to_block7_64; do
    T[t_${k%%:*}]+=" $(echo "$out" | num "^torch ${k#*:} \([0-9.]*\)$")"
    T[t_${k%%:*}_cpu]+=" $(echo "$out" | num "^torch ${k#*:}_cpu \([0-9.]*\)$")"
  done
  out=$($ORT "$work/vae_512.onnx" vae_512 "$threads" 1 2>&1)
  T[o_vae]+=" $(echo "$out" | num '.* run \([0-9.]*\) s.*')"; T[o_vae_cpu]+=" $(echo "$out" | num '.* cpu \([0-9.]*\) s.*')"
  out=$("$G/bench_pipeline" "$threads" 2>&1)
  T[g_clip]+=" $(echo "$out" | num '^  CLIP image tower *\([0-9.]*\) s.*')"
  T[g_text]+=" $(echo "$out" | num '^  text encoder (U, once) *\([0-9.]*\) s.*')"
  T[g_cap]+=" $(echo "$out" | num '^  implicit captioner *\([0-9.]*\) s.*')"
  T[g_image]+=" $(echo "$out" | num '^  total (text encoder + one image) *\([0-9.]*\) s.*')"
  T[g_image_cpu]+=" $(echo "$out" | num '^  total (text encoder + one image).*one image: \([0-9.]*\) s CPU.*')"
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
  echo "# stage timings, wall seconds, $threads threads, min and median of $rounds alternating rounds"
  printf "  %-44s %13s   %13s   %13s   %7s %7s\n" "" "geocorr" "PyTorch 1.13" "ORT 1.30" "PT/gc" "ORT/gc"
  printf "  %-44s %6s %6s   %6s %6s   %6s %6s\n" "" min med min med min med
  row "DINOv2 ViT-B/14 840^2 forward" g_dino t_dino o_dino
  row "DINOv2 whole process (features --dino-only)" g_dino_proc "" o_dino
  row "VAE encoder 512^2" g_vae t_vae o_vae
  row "UNet to output block 7, 64^2" g_unet t_unet ""
  row "CLIP ViT-L/14-336, 4 crops" g_clip t_clip ""
  # PyTorch's whole image: the stage timings of the same shapes (text encoder once, 4 crops of CLIP,
  # captioner, VAE and UNet, DINOv2 once). geocorr's the same way from its own stage runs too: on a
  # loaded machine a minutes-long whole run cannot dodge the load the way short stage runs can.
  for sfx in "" _cpu; do
    for i in $(seq "$rounds"); do
      f() { echo "${T[$1$sfx]}" | cut -d' ' -f$((i + 1)); }
      T[t_image$sfx]+=" $(echo "$(f t_text) + $(f t_clip) + $(f t_cap) + 4 * ($(f t_vae) + $(f t_unet)) + $(f t_dino)" | bc)"
      [ -n "$sfx" ] || T[g_stages]+=" $(echo "$(f g_text) + $(f g_clip) + $(f g_cap) + 4 * ($(f g_vae) + $(f g_unet)) + $(f g_dino)" | bc)"
    done
  done
  row "whole image (SD + DINO; PyTorch: stage sum)" g_image t_image ""
  row "whole image, stage sum on both sides" g_stages t_image ""
  echo "# the same in process CPU seconds over all threads (wait-free work; steadier on a shared machine)"
  row "DINOv2 ViT-B/14 840^2 forward" g_dino_cpu t_dino_cpu o_dino_cpu
  row "DINOv2 whole process (features --dino-only)" g_dino_proc_cpu "" o_dino_cpu
  row "VAE encoder 512^2" g_vae_cpu t_vae_cpu o_vae_cpu
  row "UNet to output block 7, 64^2" g_unet_cpu t_unet_cpu ""
  row "whole image (SD + DINO; PyTorch: stage sum)" g_image_cpu t_image_cpu ""
  echo "  geocorr peak RSS of the whole-image run: $(echo "${T[g_rss]}" | stats | cut -d' ' -f2) MiB"
  echo "# DINOv2 whole process = geocorr features --dinov2 DIR --dino-only on antelope.jpg (load, decode, canvas,"
  echo "# forward, write), against ORT's session.run alone. Same random-weight models of the same shapes on each side."
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$root/bench/results/compare.txt"
