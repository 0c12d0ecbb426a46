#!/usr/bin/env bash
# Runs every benchmark (bench/bench_*.sh scripts and built bench_* executables) and writes each
# one's report to bench/results/<name>.txt. Usage: run_all.sh BUILD_BENCH_DIR RESULTS_DIR
set -u
build=$1; results=$2
mkdir -p "$results"
here=$(cd "$(dirname "$0")" && pwd)
for s in "$here"/bench_*.sh; do
  [ -e "$s" ] || continue
  n=$(basename "$s" .sh)
  echo "== $n"; bash "$s" "$build" 2>&1 | tee "$results/$n.txt"
done
for b in "$build"/bench_*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  n=$(basename "$b")
  [ -e "$here/$n.sh" ] && continue
  echo "== $n"; "$b" 2>&1 | tee "$results/$n.txt"
done
