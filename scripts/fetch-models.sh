#!/usr/bin/env bash
# Download every model file of the GeoAware-SC recipe into DEST (default: models/), laid out as
# `geocorr features --models DEST` looks for them (docs/models.md), each verified against the sum
# pinned in data/models.manifest; interrupted downloads resume (scripts/lib/fetch.sh).
set -euo pipefail
FETCH_PROG=fetch-models
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/fetch.sh"
FETCH_MANIFEST="$here/../data/models.manifest"

fetch_usage() {
    cat <<USAGE
usage: scripts/fetch-models.sh [--only LIST] [--manifest FILE] [--base-url URL] [--trust-first-download] [DEST]

Downloads into DEST (default models/), verifying each file against data/models.manifest:
  dinov2          dinov2-base/model.safetensors            DINOv2 ViT-B/14 (HF facebook/dinov2-base)
  sd              v1-5-pruned-emaonly.safetensors          Stable Diffusion 1.5 (UNet, VAE, text encoder)
  clip            clip-vit-large-patch14-336/model.safetensors   CLIP ViT-L/14-336 image tower
  odise           odise_label_coco_50e-b67d2efc.pth        ODISE checkpoint (implicit captioner)
  postproc-spair  postproc/spair_best_856.PTH              the authors' SPair post-processor (85.6)
  postproc-ap10k  postproc/ap10k_last.PTH                  the authors' AP-10K pre-trained post-processor
  sam             sam_vit_h_4b8939.pth                     Segment Anything ViT-H (instance masks)
(about 9 GB, and the ODISE checkpoint, whose size is not published). --only dinov2,sd,... fetches those
names only. --manifest FILE and --base-url URL
(every file from URL/<path under DEST>, e.g. a mirror laid out like DEST) replace the defaults.
Files without a published SHA-256 (the manifest says which) are refused unless --trust-first-download,
which records their sum in DEST/.fetch/recorded.sha256 for later runs.
USAGE
}

fetch_options "$@"
[ ${#FETCH_ARGS[@]} -le 1 ] || { fetch_usage >&2; fetch_die "unexpected arguments: ${FETCH_ARGS[*]}"; }
case ${FETCH_ARGS[0]:-} in --*) fetch_usage >&2; fetch_die "unknown option ${FETCH_ARGS[0]}" ;; esac
FETCH_DEST=${FETCH_ARGS[0]:-models}
fetch_need_tools
fetch_all "$FETCH_MANIFEST" "$FETCH_ONLY"
echo "done: geocorr features --models $FETCH_DEST --image IMG --out FEAT.safetensors"
