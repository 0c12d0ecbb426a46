#!/usr/bin/env bash
# geocorr's decode + canvas timings next to Pillow's for the same operations (Pillow: Debian python3-pil).
# Usage: bench_preprocess.sh BUILD_BENCH_DIR
here=$(cd "$(dirname "$0")" && pwd)
fx=${GEOCORR_FIXTURES:-${GEOCORR_FIXTURES_DEFAULT:-$here/../../shared/fixtures}}
GEOCORR_FIXTURES=$fx "$1/bench_preprocess"
echo
/usr/bin/python3 "$here/../tools/bench_preprocess_pillow.py" "$fx" || echo "(Pillow not available: no comparison)"
