#!/usr/bin/env bash
# scripts/fetch-models.sh against a loopback HTTP server serving stand-in files at the real manifest's
# paths, checked the way the real manifest checks each (sha256, gitblob, unpublished + sha256 prefix):
# the complete layout (the DINOv2 stand-in is the tiny fixture model, which `geocorr features --models`
# then finds and runs); a corrupted download refused, named with both sums, and removed; a corrupted
# file in place replaced; an interrupted download resumed (a truncated .part, and a connection dropped
# mid-file); an unpublished sum refused without --trust-first-download, recorded with it and enforced
# afterwards; --only; malformed manifests.
. "$(dirname "$0")/testlib.sh"
FM="$REPO/scripts/fetch-models.sh"
export FETCH_RETRY_DELAY=0
SRV=$T/srv
mkdir -p "$SRV/up"
start_server "$SRV" --drop up/sam_vit_h_4b8939.pth:70000

# Invert the byte at offset $2 of file $1: a write of a fixed byte leaves the file unchanged when the random
# stand-in already holds that byte there (1 run in 256).
flip_byte() {
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
gitblob() { python3 -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); print(hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest())' "$1"; }
MAN=$T/models.manifest
: >"$MAN"
grep -v '^#' "$REPO/data/models.manifest" | grep . | while read -r name path check url; do
    f="$SRV/up/$path"
    mkdir -p "$(dirname "$f")"
    if [ "$name" = dinov2 ]; then cp "$FIXTURES/dinov2_tiny.model.safetensors" "$f"
    else head -c $((150000 + RANDOM)) /dev/urandom >"$f"; fi
    case $check in
        sha256:*) c=sha256:$(sha256 "$f") ;;
        gitblob:*) c=gitblob:$(gitblob "$f") ;;
        unpublished:sha256-prefix:*) c=unpublished:sha256-prefix:$(sha256 "$f" | cut -c1-8) ;;
        unpublished) c=unpublished ;;
    esac
    echo "# stand-in for $url" >>"$MAN"
    echo "$name $path $c $URL/up/$path" >>"$MAN"
done
paths=$(grep -v '^#' "$MAN" | awk '{print $2}')
[ "$(echo "$paths" | wc -l)" = 7 ] || fail "expected the 7 files of the recipe in data/models.manifest"

# The manifest's names are where geocorr looks (src/pipeline/features.c lists them; SAM and the
# post-processors are given by path).
for p in dinov2-base v1-5-pruned-emaonly.safetensors clip-vit-large-patch14-336 odise_label_coco_50e-b67d2efc.pth; do
    check "data/models.manifest uses '$p', a name geocorr features --models looks for" \
        grep -q "\"$p\"" "$REPO/src/pipeline/features.c"
    check "data/models.manifest has '$p'" grep -q "^[a-z0-9-]* $p[/ ]" "$REPO/data/models.manifest"
done

# 1. Everything, with a truncated .part left by an interrupted run and a connection dropped mid-file.
D=$T/models
mkdir -p "$D/dinov2-base"
sd="$SRV/up/v1-5-pruned-emaonly.safetensors"
half=$(( $(stat -c %s "$sd") / 2 ))
head -c $half "$sd" >"$D/v1-5-pruned-emaonly.safetensors.part"
rc=0
bash "$FM" --manifest "$MAN" "$D" >"$T/out1" 2>&1 || rc=$?
cat "$T/out1"
check "without --trust-first-download the run fails (the ODISE sum is unpublished)" [ $rc = 1 ]
contains "$T/out1" "odise_label_coco_50e-b67d2efc.pth: no SHA-256 is published for this file"
contains "$T/out1" "rerun with --trust-first-download"
check "the unverified ODISE download is not under its final name" [ ! -e "$D/odise_label_coco_50e-b67d2efc.pth" ]
check "... but kept whole as .part for the next run" cmp -s "$SRV/up/odise_label_coco_50e-b67d2efc.pth" "$D/odise_label_coco_50e-b67d2efc.pth.part"
check "the truncated .part was resumed from its end" grep -qx "/up/v1-5-pruned-emaonly.safetensors $half $(( $(stat -c %s "$sd") - half ))" "$T/server.log"
check "the dropped download was resumed at byte 70000" grep -qx "/up/sam_vit_h_4b8939.pth 70000 $(( $(stat -c %s "$SRV/up/sam_vit_h_4b8939.pth") - 70000 ))" "$T/server.log"
contains "$T/out1" "resume v1-5-pruned-emaonly.safetensors from byte $half"

rc=0
bash "$FM" --manifest "$MAN" --trust-first-download "$D" >"$T/out2" 2>&1 || rc=$?
cat "$T/out2"
check "with --trust-first-download the fetch completes" [ $rc = 0 ]
check "the whole .part was taken as complete (HTTP 416, nothing sent again)" \
    grep -qx "/up/odise_label_coco_50e-b67d2efc.pth $(stat -c %s "$SRV/up/odise_label_coco_50e-b67d2efc.pth") 0" "$T/server.log"
check "the trusted sum is recorded" grep -qx "$(sha256 "$SRV/up/odise_label_coco_50e-b67d2efc.pth")  odise_label_coco_50e-b67d2efc.pth" "$D/.fetch/recorded.sha256"
for p in $paths; do check "$p in place, byte-identical" cmp -s "$SRV/up/$p" "$D/$p"; done
check "no .part left" [ -z "$(find "$D" -name '*.part')" ]
check "the layout is complete: 7 files + the record" [ "$(find "$D" -type f ! -path '*/.fetch/*' | wc -l)" = 7 ]

# geocorr finds the DINOv2 of the fetched folder through --models (the tiny fixture model)
check "geocorr features --models finds dinov2-base/" "$GEOCORR" features --models "$D" --dino-only \
    --image "$FIXTURES/images/antelope.jpg" --out "$T/feat.safetensors"

# 2. A rerun verifies and downloads nothing.
: >"$T/server.log"
bash "$FM" --manifest "$MAN" "$D" >"$T/out3" 2>&1 || fail "rerun failed: $(cat "$T/out3")"
check "a rerun downloads nothing" [ ! -s "$T/server.log" ]
contains "$T/out3" "have odise_label_coco_50e-b67d2efc.pth (verified)"

# 3. A file in place that fails its check is replaced; a corrupted download is refused and removed.
printf 'X' | dd of="$D/sam_vit_h_4b8939.pth" bs=1 seek=1000 conv=notrunc 2>/dev/null
good=$(sha256 "$SRV/up/postproc/spair_best_856.PTH")
cp "$SRV/up/postproc/spair_best_856.PTH" "$T/orig.PTH"
head -c 5000 /dev/urandom >>"$SRV/up/postproc/spair_best_856.PTH"
rm "$D/postproc/spair_best_856.PTH"
rc=0
bash "$FM" --manifest "$MAN" "$D" >"$T/out4" 2>&1 || rc=$?
cat "$T/out4"
check "a corrupted download fails the run" [ $rc = 1 ]
contains "$T/out4" "postproc/spair_best_856.PTH: git blob id mismatch: expected $(gitblob "$T/orig.PTH"), got $(gitblob "$SRV/up/postproc/spair_best_856.PTH")"
contains "$T/out4" "postproc/spair_best_856.PTH: removed the bad download"
check "the bad download is gone" [ ! -e "$D/postproc/spair_best_856.PTH" ] && [ ! -e "$D/postproc/spair_best_856.PTH.part" ]
contains "$T/out4" "sam_vit_h_4b8939.pth: SHA-256 mismatch: expected $(sha256 "$SRV/up/sam_vit_h_4b8939.pth"), got "
contains "$T/out4" "sam_vit_h_4b8939.pth: the file in place fails its check; removed, fetching it again"
check "the corrupted SAM file was fetched again" cmp -s "$SRV/up/sam_vit_h_4b8939.pth" "$D/sam_vit_h_4b8939.pth"
[ "$good" != "$(sha256 "$SRV/up/postproc/spair_best_856.PTH")" ] || fail "test setup: corruption did not change the file"

# 4. The prefix of an unpublished sum is checked; a recorded (first-download) sum is enforced afterwards.
rm "$D/odise_label_coco_50e-b67d2efc.pth"
flip_byte "$SRV/up/odise_label_coco_50e-b67d2efc.pth" 7
rc=0
bash "$FM" --manifest "$MAN" --trust-first-download --only odise "$D" >"$T/out5" 2>&1 || rc=$?
cat "$T/out5"
check "a download whose SHA-256 lacks the published prefix is refused" [ $rc = 1 ]
contains "$T/out5" "odise_label_coco_50e-b67d2efc.pth: SHA-256 mismatch: the published prefix is $(grep ' odise_label' "$MAN" | cut -d' ' -f3 | cut -d: -f3), got $(sha256 "$SRV/up/odise_label_coco_50e-b67d2efc.pth")"
check "... and removed" [ ! -e "$D/odise_label_coco_50e-b67d2efc.pth" ] && [ ! -e "$D/odise_label_coco_50e-b67d2efc.pth.part" ]
echo "odise plain.bin unpublished $URL/up/odise_label_coco_50e-b67d2efc.pth" >"$T/plain.manifest"
bash "$FM" --manifest "$T/plain.manifest" --trust-first-download "$T/plain" >"$T/out5b" 2>&1 || fail "trusted first download: $(cat "$T/out5b")"
first=$(sha256 "$T/plain/plain.bin")
flip_byte "$SRV/up/odise_label_coco_50e-b67d2efc.pth" 9
rm "$T/plain/plain.bin"
rc=0
bash "$FM" --manifest "$T/plain.manifest" --trust-first-download "$T/plain" >"$T/out5c" 2>&1 || rc=$?
cat "$T/out5c"
check "a later download that differs from the recorded sum is refused, even with --trust-first-download" [ $rc = 1 ]
contains "$T/out5c" "plain.bin: SHA-256 mismatch: expected $first (recorded in $T/plain/.fetch/recorded.sha256 at the first download), got $(sha256 "$SRV/up/odise_label_coco_50e-b67d2efc.pth")"
check "... and removed" [ ! -e "$T/plain/plain.bin" ] && [ ! -e "$T/plain/plain.bin.part" ]

# 5. --only, --base-url and bad manifests.
E=$T/only
bash "$FM" --manifest "$MAN" --only dinov2,clip "$E" >"$T/out6" 2>&1 || fail "--only: $(cat "$T/out6")"
check "--only fetches the named files only" [ "$(find "$E" -type f ! -path '*/.fetch/*' | wc -l)" = 2 ]
check "--only dinov2,clip" [ -f "$E/dinov2-base/model.safetensors" ] && [ -f "$E/clip-vit-large-patch14-336/model.safetensors" ]
rc=0
bash "$FM" --manifest "$MAN" --only dino "$E" >"$T/out7" 2>&1 || rc=$?
check "an unknown --only name is an error" [ $rc = 1 ]
contains "$T/out7" "--only: no 'dino' in $MAN (names: clip dinov2 odise postproc-ap10k postproc-spair sam sd )"
mkdir -p "$SRV/mirror/dinov2-base"
cp "$SRV/up/dinov2-base/model.safetensors" "$SRV/mirror/dinov2-base/"
bash "$FM" --only dinov2 --base-url "$URL/mirror/" "$T/real" >"$T/out8" 2>&1 && fail "the real DINOv2 sum accepted a stand-in"
contains "$T/out8" "dinov2-base/model.safetensors: SHA-256 mismatch: expected d73036b56966966d07975d696bde331762f37297e2f095de8cea0040c3aa0841, got $(sha256 "$FIXTURES/dinov2_tiny.model.safetensors")"
check "--base-url fetched from the mirror's path" grep -q "^/mirror/dinov2-base/model.safetensors 0 " "$T/server.log"
for bad in "dinov2 ../x sha256:$good $URL/x" "dinov2 x sha256:abc $URL/x" "dinov2 x md5:abc $URL/x" "dinov2 x unpublished ftp://x" "dinov2 x"; do
    echo "$bad" >"$T/bad.manifest"
    rc=0
    bash "$FM" --manifest "$T/bad.manifest" "$T/bad" >"$T/out9" 2>&1 || rc=$?
    [ $rc = 1 ] && grep -q "bad.manifest:1: " "$T/out9" || fail "malformed manifest line accepted: $bad"
    echo "ok: refused '$bad': $(cat "$T/out9")"
done
echo "all fetch-models checks passed"
