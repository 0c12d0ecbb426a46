#!/usr/bin/env bash
# Debian packages geocorr needs to build and test (run as root, or with sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config clang libclang-rt-dev \
  libdnnl-dev libcjson-dev libcmocka-dev libturbojpeg0-dev libjpeg62-turbo-dev libstb-dev \
  libzip-dev zlib1g-dev libmatio-dev libpng-dev >/dev/null
