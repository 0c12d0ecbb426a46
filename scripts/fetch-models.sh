#!/usr/bin/env bash
# Download the pretrained weights geocorr uses from HuggingFace (needs a network).
# Usage: scripts/fetch-models.sh [DEST]   (default: models/)
# DINOv2 ViT-B/14 (GeoAware-SC's DINO branch): DEST/dinov2-base/{config.json,model.safetensors}
# from https://huggingface.co/facebook/dinov2-base; use with `geocorr features --dinov2 DEST/dinov2-base`.
set -euo pipefail
dest=${1:-models}
base=https://huggingface.co

fetch() { # repo file out
    local url="$base/$1/resolve/main/$2" out=$3
    if [ -s "$out" ]; then echo "have $out"; return; fi
    echo "fetching $url"
    if command -v curl >/dev/null; then
        curl -fL --retry 3 -o "$out.part" "$url"
    elif command -v wget >/dev/null; then
        wget -O "$out.part" "$url"
    else
        echo "need curl or wget" >&2; exit 1
    fi
    mv "$out.part" "$out"
}

mkdir -p "$dest/dinov2-base"
fetch facebook/dinov2-base config.json "$dest/dinov2-base/config.json"
fetch facebook/dinov2-base model.safetensors "$dest/dinov2-base/model.safetensors"
echo "done: geocorr features --dinov2 $dest/dinov2-base --image IMG --out FEAT.safetensors"
