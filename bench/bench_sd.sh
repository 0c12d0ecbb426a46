#!/usr/bin/env bash
# SD-1.5 branch: geocorr (bench_sd) vs an SD-1.5-shaped PyTorch model (tools/bench_sd_torch.py, Debian
# torch 1.13), same threads; wall and process-CPU seconds (on shared cores the wall time is mostly
# queueing). Usage: bench_sd.sh BUILD_BENCH_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
threads=${GEOCORR_THREADS:-$(nproc)}
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), threads $threads"
g=$(GEOCORR_THREADS=$threads "$1/bench_sd")
t=$(/usr/bin/python3 "$here/../tools/bench_sd_torch.py" "$threads")
echo "$g"; echo "$t"
for s in vae_encoder_512 vae_encoder_512_cpu unet_to_block7_64 unet_to_block7_64_cpu peak_rss_mb; do
  a=$(echo "$g" | awk -v s=$s '$2==s{print $3}'); b=$(echo "$t" | awk -v s=$s '$2==s{print $3}')
  echo "$s: geocorr $a, torch $b, torch/geocorr $(awk -v a=$a -v b=$b 'BEGIN{printf "%.2f", b/a}')"
done
