#!/usr/bin/env bash
# Download a benchmark and unpack it into the layout `geocorr eval --root` reads (docs/eval.md,
# src/eval/dataset.c): DEST/SPair-71k, DEST/PF-dataset-PASCAL or DEST/ap-10k (built from the raw release
# by `geocorr ap10k-build`). Archives are checked as data/datasets.manifest says (scripts/lib/fetch.sh),
# unpacked into a temporary folder inside DEST and moved into place whole, so an interrupted run never
# leaves a half-unpacked dataset under its final name.
set -euo pipefail
FETCH_PROG=fetch-data
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/fetch.sh"
. "$here/lib/geocorr-bin.sh"
FETCH_MANIFEST="$here/../data/datasets.manifest"

fetch_usage() {
    cat <<USAGE
usage: scripts/fetch-data.sh [--manifest FILE] [--base-url URL] [--trust-first-download] [--keep-archives]
                             spair|pfpascal|ap10k DEST

  spair     DEST/SPair-71k            (SPair-71k.tar.gz, ~1.2 GB download)
  pfpascal  DEST/PF-dataset-PASCAL    (PF-dataset-PASCAL.zip + the train/val/test pair lists)
  ap10k     DEST/ap-10k               (ap-10k.zip -> geocorr ap10k-build; GEOCORR=path/to/geocorr)
DEST is any folder (scripts/reproduce.sh uses datasets/); not the source tree's data/, which
`cmake --install` copies. No publisher lists checksums for
these archives: the first download needs --trust-first-download, which records the SHA-256 in
DEST/.fetch/recorded.sha256 (later fetches into DEST are checked against it). --base-url URL fetches
every archive from URL/archives/<name> instead. Archives are removed after unpacking unless
--keep-archives.
USAGE
}

fetch_options "$@"
keep=0 args=()
for a in ${FETCH_ARGS[@]+"${FETCH_ARGS[@]}"}; do
    case $a in
        --keep-archives) keep=1 ;;
        --*) fetch_usage >&2; fetch_die "unknown option $a" ;;
        *) args+=("$a") ;;
    esac
done
[ ${#args[@]} = 2 ] || { fetch_usage >&2; exit 2; }
[ -z "$FETCH_ONLY" ] || fetch_die "--only does not apply: name one dataset"
dataset=${args[0]} FETCH_DEST=${args[1]}
case $dataset in spair|pfpascal|ap10k) ;; *) fetch_usage >&2; fetch_die "unknown dataset '$dataset'" ;; esac
fetch_need_tools tar unzip
A="$FETCH_DEST/archives"

# A folder fetch-data unpacked holds this marker; anything else under the name is not touched.
marker=.fetch-data
unpacked() { # FOLDER: 0 when fetch-data finished it
    [ -f "$1/$marker" ] && return 0
    [ -e "$1" ] && fetch_die "$1 exists but was not unpacked by fetch-data (no $1/$marker): remove it or choose another DEST"
    return 1
}
require() { # FOLDER ENTRY...: the archive gave the expected layout
    local d=$1 e
    shift
    for e in "$@"; do [ -e "$d/$e" ] || fetch_die "$d/$e: missing after unpacking (not the expected archive?)"; done
}
place() { # UNPACKED FINAL: mark and move into place in one rename
    echo "$dataset $(date -u +%Y-%m-%dT%H:%MZ)" >"$1/$marker"
    mv -T "$1" "$2"
    echo "unpacked $2"
}
tmp=""
scratch() { tmp=$(mktemp -d "$FETCH_DEST/.unpack.XXXXXX"); }
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

fetch_lock
rm -rf "$FETCH_DEST"/.unpack.* # what a killed run was unpacking (no other run holds the lock)
case $dataset in
spair)
    if ! unpacked "$FETCH_DEST/SPair-71k"; then
        fetch_all "$FETCH_MANIFEST" spair
        scratch
        tar -xzf "$A/SPair-71k.tar.gz" -C "$tmp"
        require "$tmp/SPair-71k" JPEGImages ImageAnnotation PairAnnotation/test
        place "$tmp/SPair-71k" "$FETCH_DEST/SPair-71k"
        [ $keep = 1 ] || rm -f "$A/SPair-71k.tar.gz"
    fi
    root="$FETCH_DEST/SPair-71k" ;;
pfpascal)
    if ! unpacked "$FETCH_DEST/PF-dataset-PASCAL"; then
        fetch_all "$FETCH_MANIFEST" pfpascal
        scratch
        unzip -q "$A/PF-dataset-PASCAL.zip" -d "$tmp"
        rm -rf "$tmp/__MACOSX" # macOS zip litter (the authors' script removes it too)
        find "$tmp" -name .DS_Store -delete
        require "$tmp/PF-dataset-PASCAL" JPEGImages Annotations
        for s in test val train; do cp "$A/${s}_pairs_pf_pascal.csv" "$tmp/PF-dataset-PASCAL/"; done
        place "$tmp/PF-dataset-PASCAL" "$FETCH_DEST/PF-dataset-PASCAL"
        [ $keep = 1 ] || rm -f "$A/PF-dataset-PASCAL.zip" "$A"/{test,val,train}_pairs_pf_pascal.csv
    fi
    root="$FETCH_DEST/PF-dataset-PASCAL" ;;
ap10k)
    root="$FETCH_DEST/ap-10k"
    if [ -n "$(ls -A "$root" 2>/dev/null)" ]; then
        echo "have $root (built by geocorr ap10k-build, which writes it whole or not at all)"
    else
        if ! unpacked "$FETCH_DEST/ap-10k-raw"; then
            fetch_all "$FETCH_MANIFEST" ap10k
            scratch
            unzip -q "$A/ap-10k.zip" -d "$tmp"
            require "$tmp/ap-10k" annotations/ap10k-train-split1.json annotations/ap10k-val-split1.json \
                annotations/ap10k-test-split1.json data
            place "$tmp/ap-10k" "$FETCH_DEST/ap-10k-raw"
        fi
        geocorr_bin
        echo "$GEOCORR ap10k-build --raw $FETCH_DEST/ap-10k-raw --out $root"
        "$GEOCORR" ap10k-build --raw "$FETCH_DEST/ap-10k-raw" --out "$root" ||
            fetch_die "geocorr ap10k-build failed (see above); the raw release stays in $FETCH_DEST/ap-10k-raw"
        [ $keep = 1 ] || rm -rf "$A/ap-10k.zip" "$FETCH_DEST/ap-10k-raw"
    fi ;;
esac
rmdir "$A" 2>/dev/null || true
echo "done: geocorr eval --dataset $dataset --root $root ..."
