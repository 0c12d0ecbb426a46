#!/usr/bin/env bash
# scripts/reproduce.sh: --dry-run prints each recipe's exact chain (fetch -> extract (-> masks) (-> train)
# -> eval) with the reference's flags (REFERENCE.md §10 and the authors' configs), every geocorr step
# parses with this geocorr (a typo'd flag or one this build lacks would be "unexpected argument");
# --report prints the result table from a run's log, next to the published numbers.
. "$(dirname "$0")/testlib.sh"
R="$REPO/scripts/reproduce.sh"
S="$REPO/scripts"
G=$GEOCORR
opts=(--models M --data D --out O --threads 3)

expect() { # NAME: the dry run equals the expected chain (stdin)
    bash "$R" "$1" --dry-run "${opts[@]}" >"$T/$1.got" || fail "$1 --dry-run failed"
    diff -u - "$T/$1.got" || fail "$1: the chain differs from the reference recipe"
    echo "ok: $1 chain"
}
expect spair-zeroshot <<EOF2
# reproduce spair-zeroshot: SPair-71k test, zero-shot (SD+DINO, adaptive flip with SAM masks, window soft-argmax 11x11), per keypoint, bbox threshold
bash $S/fetch-models.sh --only dinov2,sd,clip,odise,sam M
bash $S/fetch-data.sh spair D
$G extract --dataset spair --root D/SPair-71k --split test --flip --cache cache/spair --models M --threads 3
$G extract --dataset spair --root D/SPair-71k --split test --flip --cache cache/spair --masks --sam M/sam_vit_h_4b8939.pth --threads 3
$G eval --dataset spair --root D/SPair-71k --split test --cache cache/spair --window 5 --align flip --geo --per-keypoint --threads 3 --json O/spair-zeroshot.json
EOF2
expect spair-supervised <<EOF2
# reproduce spair-supervised: SPair-71k test, supervised (best_856.PTH, window soft-argmax 15x15), per image, bbox threshold
bash $S/fetch-models.sh --only dinov2,sd,clip,odise,postproc-spair M
bash $S/fetch-data.sh spair D
$G extract --dataset spair --root D/SPair-71k --split test --cache cache/spair --models M --threads 3
$G eval --dataset spair --root D/SPair-71k --split test --cache cache/spair --postproc M/postproc/spair_best_856.PTH --window 7 --geo --per-image --threads 3 --json O/spair-supervised.json
EOF2
expect ap10k <<EOF2
# reproduce ap10k: AP-10K test, supervised (last.PTH, window soft-argmax 15x15), per image, bbox threshold
bash $S/fetch-models.sh --only dinov2,sd,clip,odise,postproc-ap10k M
bash $S/fetch-data.sh ap10k D
$G extract --dataset ap10k --root D/ap-10k --split test --subset intra-species --cache cache/ap10k --models M --threads 3
$G extract --dataset ap10k --root D/ap-10k --split test --subset cross-species --cache cache/ap10k --models M --threads 3
$G extract --dataset ap10k --root D/ap-10k --split test --subset cross-family --cache cache/ap10k --models M --threads 3
$G eval --dataset ap10k --root D/ap-10k --split test --subset intra-species --cache cache/ap10k --postproc M/postproc/ap10k_last.PTH --window 7 --geo --per-image --threads 3 --json O/ap10k-intra-species.json
$G eval --dataset ap10k --root D/ap-10k --split test --subset cross-species --cache cache/ap10k --postproc M/postproc/ap10k_last.PTH --window 7 --geo --per-image --threads 3 --json O/ap10k-cross-species.json
$G eval --dataset ap10k --root D/ap-10k --split test --subset cross-family --cache cache/ap10k --postproc M/postproc/ap10k_last.PTH --window 7 --geo --per-image --threads 3 --json O/ap10k-cross-family.json
EOF2
expect pfpascal <<EOF2
# reproduce pfpascal: PF-Pascal test, supervised (trained from last.PTH as train_pascal.yaml), per image, image threshold
bash $S/fetch-models.sh --only dinov2,sd,clip,odise,postproc-ap10k M
bash $S/fetch-data.sh pfpascal D
$G extract --dataset pfpascal --root D/PF-dataset-PASCAL --split trn --cache cache/pfpascal --models M --threads 3
$G extract --dataset pfpascal --root D/PF-dataset-PASCAL --split val --cache cache/pfpascal --models M --threads 3
$G extract --dataset pfpascal --root D/PF-dataset-PASCAL --split test --cache cache/pfpascal --models M --threads 3
$G train --dataset pfpascal --root D/PF-dataset-PASCAL --cache cache/pfpascal --init M/postproc/ap10k_last.PTH --epochs 100 --schedule constant --val-every 5000 --out O/pfpascal-train --threads 3
$G eval --dataset pfpascal --root D/PF-dataset-PASCAL --split test --cache cache/pfpascal --postproc O/pfpascal-train/best.safetensors --window 7 --per-image --threads 3 --json O/pfpascal.json
EOF2

# Every geocorr step parses with this geocorr: run on a dataset root that does not exist, it must fail
# on that root, not on its options.
mkdir -p "$T/O" "$T/cache"
for n in spair-zeroshot spair-supervised ap10k pfpascal; do
    grep "^$G " "$T/$n.got" | while read -r line; do
        out=$(cd "$T" && eval "$line" 2>&1 || true)
        case $out in
            *"unexpected argument"*|*"unknown command"*|*"needs a value"*|*"must be"*) fail "$n: geocorr rejects the options of: $line: $out" ;;
            *"D/"*|*"missing"*) echo "ok: $n: options accepted: ${line#"$G "}" ;;
            *) fail "$n: unexpected outcome of: $line: $out" ;;
        esac
    done
done

rc=0
bash "$R" nosuchrecipe --dry-run >"$T/bad.out" 2>&1 || rc=$?
check "an unknown recipe is an error" [ $rc = 2 ]
contains "$T/bad.out" "reproduce: unknown recipe 'nosuchrecipe'"

# --report: the table from a run's log. The log holds a real `geocorr eval` output: predictions = the
# ground truth on the mini SPair test split (every PCK 100), so the parsed numbers are known.
python3 - "$FIXTURES/minidata/data/SPair-71k" "$T/pred.json" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
pairs = []
d = os.path.join(root, "PairAnnotation", "test")
for f in sorted(os.listdir(d)):
    p = json.load(open(os.path.join(d, f)))
    cat = p["category"]
    trg = json.load(open(os.path.join(root, "ImageAnnotation", cat, p["trg_imname"][:-4] + ".json")))
    pred = [trg["kps"].get(str(i)) for i in range(30)]
    pairs.append({"src": f"{cat}/{p['src_imname']}", "trg": f"{cat}/{p['trg_imname']}", "pred": pred})
json.dump({"frame": "pixels", "pairs": pairs}, open(out, "w"))
PY
mkdir -p "$T/o"
{
    echo "+ $G eval --dataset spair --root D/SPair-71k --split test --cache cache/spair --window 5 --align flip --geo --per-keypoint --json O/spair-zeroshot.json"
    "$G" eval --dataset spair --root "$FIXTURES/minidata/data/SPair-71k" --from-predictions "$T/pred.json" --geo --per-keypoint
} >"$T/o/spair-zeroshot.log" 2>&1 || { cat "$T/o/spair-zeroshot.log"; fail "geocorr eval on the ground truth"; }
bash "$R" spair-zeroshot --report --out "$T/o" >"$T/report" || fail "--report failed"
cat "$T/report"
contains "$T/report" "reproduce spair-zeroshot: SPair-71k test, zero-shot"
check "the geocorr row has the eval's overall numbers" grep -Eq "^  geocorr \(spair-zeroshot\) +100.00 +100.00 +100.00$" "$T/report"
check "the geo-aware row too" grep -Eq "^  geocorr \(spair-zeroshot\), geo-aware subset +100.00 +100.00 +100.00$" "$T/report"
check "next to the published numbers" grep -Eq "^  published \(Tab. 2 / Tab. 12\) +65.4 +49.1 +9.9$" "$T/report"
check "and the published geo-aware ones" grep -Eq "^  published, geo-aware subset +56.8 +39.5 +6.9$" "$T/report"
echo "all reproduce checks passed"
