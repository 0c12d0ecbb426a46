#!/usr/bin/env bash
# The test command: builds geocorr (Release) and runs the whole suite, then builds the ASan+UBSan
# configuration and runs the whole suite again under the sanitizers.
# Fixtures are read in place from ../shared/fixtures (override with GEOCORR_FIXTURES).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGEOCORR_SANITIZE=ON -DGEOCORR_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   GEOCORR_SANITIZED=1 ctest --output-on-failure -j"$jobs")
