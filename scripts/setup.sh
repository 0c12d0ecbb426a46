#!/usr/bin/env bash
# Fresh machine: install the Debian packages, build geocorr, install it into ./dist and run the main
# job (a demo match when weights are present in ./models; otherwise the self-check on the fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/dist" >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
export PATH="$PWD/dist/bin:$PATH"
geocorr --version
