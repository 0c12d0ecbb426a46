#!/usr/bin/env bash
# The installed geocorr as an outside program sees it: `cmake --install` into a fresh prefix; the shared
# library exports exactly the GC_API functions of geocorr.h (so every symbol is gc_-prefixed and every
# declared function exists); examples/match_pair.c compiled with `pkg-config --cflags --libs geocorr`
# alone runs against the installed library and prints what the build's match_pair prints (tiny DINOv2).
# usage: test_install.sh BUILD_DIR SOURCE_DIR BUILT_MATCH_PAIR   (ctest sets GEOCORR_TMP, GEOCORR_FIXTURES*)
set -euo pipefail
build=$1 src=$2 built=$3
fixtures=${GEOCORR_FIXTURES:-$GEOCORR_FIXTURES_DEFAULT}
tmp=${GEOCORR_TMP:-/tmp}/install_$$
rm -rf "$tmp" && mkdir -p "$tmp/dino"
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name geocorr.pc)
lib=$(find "$tmp/prefix" -name libgeocorr.so)
[ -n "$pc" ] && [ -n "$lib" ] || { echo "install lacks geocorr.pc or libgeocorr.so"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")

nm -D --defined-only "$lib" | awk '{print $3}' | sort > "$tmp/exported"
grep -oE '^GC_API [^(]*[ *]gc_[a-z0-9_]+\(' "$src/include/geocorr.h" | grep -oE 'gc_[a-z0-9_]+\($' | tr -d '(' | sort > "$tmp/declared"
echo "$(wc -l < "$tmp/exported") symbols exported, $(wc -l < "$tmp/declared") declared GC_API"
if grep -v '^gc_' "$tmp/exported"; then echo "FAIL: exported without the gc_ prefix (above)"; exit 1; fi
if grep -nE '^(const |void|int|gc_status|double|int64_t|float|char)[^;(]*[ *]gc_[a-z0-9_]+\(' "$src/include/geocorr.h"; then
  echo "FAIL: public declarations without GC_API (above): they would not be exported"; exit 1
fi
diff "$tmp/declared" "$tmp/exported" || { echo "FAIL: exports differ from the GC_API declarations (< declared, > exported)"; exit 1; }

flags=$(pkg-config --cflags --libs geocorr)
echo "pkg-config --cflags --libs geocorr: $flags"
cc -std=c11 -Wall -Werror "$src/examples/match_pair.c" -o "$tmp/match_pair" $flags

cp "$fixtures/dinov2_tiny.config.json" "$tmp/dino/config.json"
ln -s "$fixtures/dinov2_tiny.model.safetensors" "$tmp/dino/model.safetensors"
args=(--dinov2 "$tmp/dino" --dino-only --category cat "$fixtures/images/antelope.jpg" "$fixtures/images/unicorn.jpg" "120,200;700,180;400,500")
"$tmp/match_pair" "${args[@]}" > "$tmp/installed.json"
"$built" "${args[@]}" > "$tmp/built.json"
cmp "$tmp/installed.json" "$tmp/built.json" || { echo "FAIL: the installed library's matches differ"; exit 1; }
ldd "$tmp/match_pair" > "$tmp/ldd" # (not piped into grep -q: with pipefail, ldd's SIGPIPE would fail the check)
grep -q "$tmp/prefix" "$tmp/ldd" || { echo "FAIL: match_pair did not load the installed library"; exit 1; }
cat "$tmp/installed.json"
echo "installed library: exports, pkg-config build and matches as the build's"
