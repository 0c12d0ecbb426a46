#!/usr/bin/env bash
# Debian packages geocorr needs to build and test (run as root, or with sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config clang libclang-rt-dev \
  libdnnl-dev liblapack-dev libblas-dev libcjson-dev libcmocka-dev libturbojpeg0-dev libjpeg62-turbo-dev libstb-dev \
  libzip-dev zlib1g-dev libmatio-dev libpng-dev libmicrohttpd-dev \
  curl unzip python3 bsdutils chromium >/dev/null
# liblapack-dev, libblas-dev: dsyevr + double CBLAS of the pose test's co-PCA (any Debian alternative).
# curl, unzip: scripts/fetch-models.sh and fetch-data.sh; python3: the loopback HTTP server of their
# tests (tools/fetch_test_server.py) and the clients of the geocorr serve tests. docs/architecture.md,
# "Scripts and data files". bsdutils: script(1), which gives a test command a pseudo-terminal (the
# progress bar). libmicrohttpd-dev: the HTTP server of `geocorr serve` (the binary only); chromium: its
# browser test (tests/serve/test_serve_browser.py, headless). docs/serve.md.
