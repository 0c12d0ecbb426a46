#!/usr/bin/env bash
# Fresh machine: install the Debian packages, build geocorr, install it into ./dist and run the main
# job — match points between two images, told left from right — writing out/demo.json and
# out/demo.png.
#
# Weights: the real DINOv2 ViT-B/14 is used when models/dinov2-base/ holds it (scripts/fetch-models.sh --only dinov2
# models downloads it where a network is reachable). Without it the job runs with the reference
# fixtures' tiny random-weight DINOv2 (../shared/fixtures), which exercises the whole path but gives
# meaningless matches. Override the pair with GEOCORR_SRC / GEOCORR_TGT and the points with
# GEOCORR_POINTS ("x1,y1;x2,y2" in source pixels).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/dist" >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
export PATH="$PWD/dist/bin:$PATH"
geocorr --version

fixtures=${GEOCORR_FIXTURES:-../shared/fixtures}
models=${GEOCORR_MODELS:-models}
mkdir -p out
if [ -f "$models/dinov2-base/model.safetensors" ]; then
  dinov2="$models/dinov2-base"
else
  echo "setup: no $models/dinov2-base/model.safetensors (run scripts/fetch-models.sh --only dinov2 $models with a network);" \
       "running the main job with the fixtures' tiny random-weight DINOv2" >&2
  dinov2=out/dinov2-tiny
  mkdir -p "$dinov2"
  cp "$fixtures/dinov2_tiny.config.json" "$dinov2/config.json"
  cp "$fixtures/dinov2_tiny.model.safetensors" "$dinov2/model.safetensors"
fi
src=${GEOCORR_SRC:-$fixtures/images/pose_template/cat_black_left.png}
tgt=${GEOCORR_TGT:-$fixtures/images/pose_template/cat_orange_right.png}
points=${GEOCORR_POINTS:-"320,110;300,420;250,390;90,300"}
geocorr match "$src" "$tgt" --dinov2 "$dinov2" --points "$points" --category cat \
  --out out/demo.json --picture out/demo.png
echo "setup: matches in out/demo.json, picture in out/demo.png"
