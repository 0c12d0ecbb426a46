#!/usr/bin/env bash
# scripts/fetch-data.sh against a loopback HTTP server serving stand-in archives made from the mini
# datasets of the fixtures (minidata/, ap10k_build/raw) under the real manifest's names (--base-url):
# unpublished sums refused without --trust-first-download, recorded with it; SPair-71k and PF-Pascal
# unpacked into exactly the layout the readers use (geocorr extract --status reads them); macOS litter
# dropped, pair lists put in place, archives removed, a rerun downloads nothing, a killed run's
# unpacking leftovers removed, a foreign folder under the final name left alone; AP-10K through
# `geocorr ap10k-build`.
. "$(dirname "$0")/testlib.sh"
FD="$REPO/scripts/fetch-data.sh"
export FETCH_RETRY_DELAY=0
MINI="$FIXTURES/minidata/data"
SRV=$T/srv
mkdir -p "$SRV/archives"
start_server "$SRV"
zipdir() { # ZIP BASEDIR ENTRY... (python's zipfile: no zip binary needed)
    python3 - "$@" <<'PY'
import os, sys, zipfile
out, base, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(out, "w") as z:
    for e in entries:
        for dp, dn, fn in os.walk(os.path.join(base, e)):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                z.write(p, os.path.relpath(p, base))
PY
}
status_ok() { # DATASET ROOT: the readers load the unpacked tree
    "$GEOCORR" extract --status --dataset "$1" --root "$2" --cache "$T/nocache" >"$T/status" 2>&1 || { cat "$T/status"; return 1; }
    grep -q "^all: 0/" "$T/status"
}

# SPair-71k
tar -czf "$SRV/archives/SPair-71k.tar.gz" -C "$MINI" SPair-71k
D=$T/datasets
rc=0
bash "$FD" --base-url "$URL" spair "$D" >"$T/o1" 2>&1 || rc=$?
cat "$T/o1"
check "an archive without a published sum is refused by default" [ $rc = 1 ]
contains "$T/o1" "archives/SPair-71k.tar.gz: no SHA-256 is published for this file"
check "nothing unpacked" [ ! -e "$D/SPair-71k" ]
mkdir -p "$D/.unpack.left-by-a-killed-run/SPair-71k"
bash "$FD" --base-url "$URL" --trust-first-download spair "$D" >"$T/o2" 2>&1 || fail "spair: $(cat "$T/o2")"
cat "$T/o2"
check "SPair-71k unpacked exactly" diff -r -x .fetch-data "$MINI/SPair-71k" "$D/SPair-71k"
check "the archive's sum is recorded" grep -qx "$(sha256 "$SRV/archives/SPair-71k.tar.gz")  archives/SPair-71k.tar.gz" "$D/.fetch/recorded.sha256"
check "the archive is removed after unpacking" [ ! -e "$D/archives" ]
check "a killed run's unpacking folder is removed" [ -z "$(ls -d "$D"/.unpack.* 2>/dev/null)" ]
check "geocorr reads the SPair-71k layout" status_ok spair "$D/SPair-71k"
: >"$T/server.log"
bash "$FD" --base-url "$URL" spair "$D" >"$T/o3" 2>&1 || fail "spair rerun: $(cat "$T/o3")"
check "a rerun downloads nothing" [ ! -s "$T/server.log" ]

# a folder under the final name that fetch-data did not make is left alone
mkdir -p "$T/other/SPair-71k"
rc=0
bash "$FD" --base-url "$URL" --trust-first-download spair "$T/other" >"$T/o4" 2>&1 || rc=$?
check "a foreign SPair-71k folder is an error" [ $rc = 1 ]
contains "$T/o4" "$T/other/SPair-71k exists but was not unpacked by fetch-data"

# an archive that is not the expected one
mkdir -p "$T/wrong/x"
echo hi >"$T/wrong/x/readme"
tar -czf "$SRV/archives/SPair-71k.tar.gz" -C "$T/wrong" x
rc=0
bash "$FD" --base-url "$URL" --trust-first-download spair "$T/wrongdest" >"$T/o5" 2>&1 || rc=$?
check "an archive with another layout is an error" [ $rc = 1 ]
contains "$T/o5" "SPair-71k/JPEGImages: missing after unpacking (not the expected archive?)"
check "... and leaves nothing under the final name" [ ! -e "$T/wrongdest/SPair-71k" ] && [ -z "$(ls -d "$T/wrongdest"/.unpack.* 2>/dev/null)" ]

# PF-Pascal: the zip without the pair lists (fetched separately), with macOS litter
mkdir -p "$T/pf/PF-dataset-PASCAL" "$T/pf/__MACOSX/PF-dataset-PASCAL"
cp -r "$MINI/PF-dataset-PASCAL/JPEGImages" "$MINI/PF-dataset-PASCAL/Annotations" "$T/pf/PF-dataset-PASCAL/"
echo junk >"$T/pf/__MACOSX/PF-dataset-PASCAL/._x"
echo junk >"$T/pf/PF-dataset-PASCAL/Annotations/.DS_Store"
zipdir "$SRV/archives/PF-dataset-PASCAL.zip" "$T/pf" PF-dataset-PASCAL __MACOSX
for s in test val train; do cp "$MINI/PF-dataset-PASCAL/test_pairs_pf_pascal.csv" "$SRV/archives/${s}_pairs_pf_pascal.csv"; done
bash "$FD" --base-url "$URL" --trust-first-download pfpascal "$D" >"$T/o6" 2>&1 || fail "pfpascal: $(cat "$T/o6")"
cat "$T/o6"
check "PF-Pascal unpacked with its test pair list" diff -r -x .fetch-data -x val_pairs_pf_pascal.csv -x train_pairs_pf_pascal.csv \
    "$MINI/PF-dataset-PASCAL" "$D/PF-dataset-PASCAL"
check "the val and train pair lists are in place" cmp -s "$SRV/archives/train_pairs_pf_pascal.csv" "$D/PF-dataset-PASCAL/train_pairs_pf_pascal.csv"
check "no macOS litter" [ ! -e "$D/__MACOSX" ] && [ -z "$(find "$D/PF-dataset-PASCAL" -name .DS_Store)" ]
check "geocorr reads the PF-Pascal layout" status_ok pfpascal "$D/PF-dataset-PASCAL"
check "the SPair record is kept next to PF-Pascal's" [ "$(wc -l <"$D/.fetch/recorded.sha256")" = 5 ]

# AP-10K: the raw release -> geocorr ap10k-build
mkdir -p "$T/ap"
cp -r "$FIXTURES/ap10k_build/raw" "$T/ap/ap-10k"
zipdir "$SRV/archives/ap-10k.zip" "$T/ap" ap-10k
bash "$FD" --base-url "$URL" --trust-first-download ap10k "$D" >"$T/o7" 2>&1 || fail "ap10k: $(cat "$T/o7")"
cat "$T/o7"
for sub in ImageAnnotation JPEGImages PairAnnotation; do check "ap-10k/$sub built" [ -d "$D/ap-10k/$sub" ]; done
check "the built tree has the fixture's files" diff <(cd "$FIXTURES/ap10k_build/expected" && find . -type f | sort) <(cd "$D/ap-10k" && find . -type f | sort)
check "geocorr reads the AP-10K layout" status_ok ap10k "$D/ap-10k"
check "the raw release and the archive are removed" [ ! -e "$D/ap-10k-raw" ] && [ ! -e "$D/archives" ]
echo "all fetch-data checks passed"
