#!/usr/bin/env bash
# Reproduce a number of the paper from nothing: fetch the models and the benchmark, extract the feature
# cache (-> SAM masks -> training where the recipe has them), evaluate with the reference's flags
# (REFERENCE.md §10, the authors' configs/*.yaml) and print the result next to the published one.
# Every step is resumable: rerun after an interruption, or after the extraction ran elsewhere
# (`--shard i/N` on a cluster: docs/cluster.md). docs/reproduce.md has the recipes, disk and time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/geocorr-bin.sh"

usage() {
    cat <<USAGE
usage: scripts/reproduce.sh NAME [--dry-run | --report] [--models DIR] [--data DIR] [--cache DIR] [--out DIR]
                            [--threads N] [--trust-first-download]
NAME:
  spair-zeroshot    SPair-71k test, zero-shot SD+DINO, adaptive flip with SAM masks, 11x11 window
                    soft-argmax, per keypoint: published PCK@0.10 65.4 (configs/eval_zero_shot_spair.yaml
                    + --KPT_RESULT)
  spair-supervised  SPair-71k test, the authors' post-processor best_856.PTH, 15x15 window soft-argmax,
                    per image: published PCK@0.10 85.6 (configs/eval_spair.yaml)
  ap10k             AP-10K test (intra-species, cross-species, cross-family), the authors' AP-10K
                    post-processor last.PTH (configs/eval_ap10k.yaml)
  pfpascal          PF-Pascal: train from last.PTH as configs/train_pascal.yaml, then
                    configs/eval_pascal.yaml (the authors released no PF-Pascal checkpoint)
--dry-run prints the command chain and runs nothing; --report prints the table again from the log
of an earlier run (OUT/NAME.log). Defaults: --models models --data datasets
--cache cache/<dataset> --out results; GEOCORR=path/to/geocorr (default: PATH, else build/geocorr).
USAGE
}

name="" dry=0 report=0 models=models data=datasets cache="" out=results threads="" trust=()
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry=1 ;;
        --report) report=1 ;;
        --models|--data|--cache|--out|--threads)
            [ $# -ge 2 ] || { echo "reproduce: $1 needs a value" >&2; exit 2; }
            case $1 in --models) models=$2 ;; --data) data=$2 ;; --cache) cache=$2 ;; --out) out=$2 ;; --threads) threads=$2 ;; esac
            shift ;;
        --trust-first-download) trust=(--trust-first-download) ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; echo "reproduce: unknown option $1" >&2; exit 2 ;;
        *) [ -z "$name" ] || { usage >&2; exit 2; }; name=$1 ;;
    esac
    shift
done
geocorr_bin
T=()
[ -z "$threads" ] || T=(--threads "$threads")

# ---- the recipes ----------------------------------------------------------------------------------
steps=()         # the chain, one command per entry (words separated by \x1f)
step() { local IFS=$'\x1f'; steps+=("$*"); }
case $name in
spair-zeroshot|spair-supervised)
    ds=spair root="$data/SPair-71k" cache=${cache:-cache/spair}
    if [ "$name" = spair-zeroshot ]; then
        only=dinov2,sd,clip,odise,sam flip=(--flip)
        title="SPair-71k test, zero-shot (SD+DINO, adaptive flip with SAM masks, window soft-argmax 11x11), per keypoint, bbox threshold"
        pub_where="Tab. 2 / Tab. 12" pub=(65.4 49.1 9.9) pub_geo=(56.8 39.5 6.9)
        eval_flags=(--window 5 --align flip --geo --per-keypoint)
    else
        only=dinov2,sd,clip,odise,postproc-spair flip=()
        title="SPair-71k test, supervised (best_856.PTH, window soft-argmax 15x15), per image, bbox threshold"
        pub_where="Tab. 9, README" pub=(85.6 75.3 22.0) pub_geo=()
        eval_flags=(--postproc "$models/postproc/spair_best_856.PTH" --window 7 --geo --per-image)
    fi
    step bash "$here/fetch-models.sh" --only "$only" ${trust[@]+"${trust[@]}"} "$models"
    step bash "$here/fetch-data.sh" ${trust[@]+"${trust[@]}"} spair "$data"
    step "$GEOCORR" extract --dataset spair --root "$root" --split test ${flip[@]+"${flip[@]}"} --cache "$cache" --models "$models" ${T[@]+"${T[@]}"}
    if [ "$name" = spair-zeroshot ]; then
        step "$GEOCORR" extract --dataset spair --root "$root" --split test --flip --cache "$cache" --masks --sam "$models/sam_vit_h_4b8939.pth" ${T[@]+"${T[@]}"}
    fi
    evals=("test|$name")
    ;;
ap10k)
    ds=ap10k root="$data/ap-10k" cache=${cache:-cache/ap10k}
    title="AP-10K test, supervised (last.PTH, window soft-argmax 15x15), per image, bbox threshold"
    pub_where="Tab. 3 (an image in the supplied paper text: no number)" pub=() pub_geo=()
    eval_flags=(--postproc "$models/postproc/ap10k_last.PTH" --window 7 --geo --per-image)
    step bash "$here/fetch-models.sh" --only dinov2,sd,clip,odise,postproc-ap10k ${trust[@]+"${trust[@]}"} "$models"
    step bash "$here/fetch-data.sh" ${trust[@]+"${trust[@]}"} ap10k "$data"
    evals=()
    for sub in intra-species cross-species cross-family; do
        step "$GEOCORR" extract --dataset ap10k --root "$root" --split test --subset "$sub" --cache "$cache" --models "$models" ${T[@]+"${T[@]}"}
        evals+=("test|ap10k-$sub|--subset|$sub")
    done
    ;;
pfpascal)
    ds=pfpascal root="$data/PF-dataset-PASCAL" cache=${cache:-cache/pfpascal}
    title="PF-Pascal test, supervised (trained from last.PTH as train_pascal.yaml), per image, image threshold"
    pub_where="Tab. 3 (an image in the supplied paper text: no number)" pub=() pub_geo=()
    run="$out/pfpascal-train"
    eval_flags=(--postproc "$run/best.safetensors" --window 7 --per-image)
    step bash "$here/fetch-models.sh" --only dinov2,sd,clip,odise,postproc-ap10k ${trust[@]+"${trust[@]}"} "$models"
    step bash "$here/fetch-data.sh" ${trust[@]+"${trust[@]}"} pfpascal "$data"
    for split in trn val test; do
        step "$GEOCORR" extract --dataset pfpascal --root "$root" --split "$split" --cache "$cache" --models "$models" ${T[@]+"${T[@]}"}
    done
    # configs/train_pascal.yaml: LOAD last.PTH, EPOCH 100, DENSE_OBJ 1, no PAIR_AUGMENT, no scheduler,
    # TEST_SAMPLE 0; validation every EVAL_EPOCH = 5000 steps (pck_train.py default), best kept
    step "$GEOCORR" train --dataset pfpascal --root "$root" --cache "$cache" --init "$models/postproc/ap10k_last.PTH" \
        --epochs 100 --schedule constant --val-every 5000 --out "$run" ${T[@]+"${T[@]}"}
    evals=("test|pfpascal")
    ;;
"") usage >&2; exit 2 ;;
*) usage >&2; echo "reproduce: unknown recipe '$name'" >&2; exit 2 ;;
esac
for e in "${evals[@]}"; do
    IFS='|' read -r split tag extra <<<"$e"
    IFS='|' read -r -a extra_args <<<"${extra:-}"
    step "$GEOCORR" eval --dataset "$ds" --root "$root" --split "$split" ${extra_args[@]+"${extra_args[@]}"} --cache "$cache" \
        "${eval_flags[@]}" ${T[@]+"${T[@]}"} --json "$out/$tag.json"
done

show() { # the command as a shell line (words quoted only where they need it)
    local IFS=$'\x1f' w x line=""
    read -r -a w <<<"$1"
    for x in "${w[@]}"; do
        [[ $x =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]] || x=$(printf '%q' "$x")
        line+="${line:+ }$x"
    done
    echo "$line"
}
if [ $dry = 1 ]; then
    echo "# reproduce $name: $title"
    for s in "${steps[@]}"; do show "$s"; done
    exit 0
fi

log="$out/$name.log"
# ---- run ------------------------------------------------------------------------------------------
if [ $report = 0 ]; then
command -v "$GEOCORR" >/dev/null || { echo "reproduce: geocorr not found: build it (cmake --build build) or set GEOCORR" >&2; exit 1; }
mkdir -p "$out"
: >"$log"
for s in "${steps[@]}"; do
    IFS=$'\x1f' read -r -a w <<<"$s"
    echo "+ $(show "$s")" | tee -a "$log"
    if [ "${w[1]}" = extract ]; then
        # a cache completed elsewhere (cluster shards) needs no model loading: --status says so (with
        # --masks it counts the mask files too)
        st=$("$GEOCORR" extract --status "${w[@]:2}" 2>/dev/null | grep '^all: ' || true)
        if [[ $st == *"(complete)"* ]]; then echo "  cache complete: $st" | tee -a "$log"; continue; fi
    fi
    "${w[@]}" 2>&1 | tee -a "$log"
done
fi
[ -f "$log" ] || { echo "reproduce: $log: no log of a run of $name" >&2; exit 1; }

# ---- the table ------------------------------------------------------------------------------------
row() { printf '  %-46s %9s %9s %9s\n' "$@"; }
echo
echo "reproduce $name: $title"
if [ $ds = pfpascal ]; then row "" "PCK@0.10" "PCK@0.05" "PCK@0.15"; else row "" "PCK@0.10" "PCK@0.05" "PCK@0.01"; fi
for e in "${evals[@]}"; do
    IFS='|' read -r split tag extra <<<"$e"
    # eval's text table: the first "overall" row is the main convention, the second the geo-aware subset
    mapfile -t ov < <(awk -v t="$tag.json" '/^\+ /{f = index($0, t) > 0} f && $1 == "overall" {print $2, $3, $4}' "$log")
    read -r a b c <<<"${ov[0]:-- - -}"
    row "geocorr ($tag)" "$a" "$b" "$c"
    if [ -n "${ov[1]:-}" ]; then read -r a b c <<<"${ov[1]}"; row "geocorr ($tag), geo-aware subset" "$a" "$b" "$c"; fi
done
if [ ${#pub[@]} = 3 ]; then row "published ($pub_where)" "${pub[@]}"; else echo "  published: $pub_where"; fi
[ ${#pub_geo[@]} != 3 ] || row "published, geo-aware subset" "${pub_geo[@]}"
echo "(full reports: $out/*.json; log: $log)"
