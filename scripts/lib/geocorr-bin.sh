# Sourced by the scripts that run geocorr: sets GEOCORR to the binary to use — $GEOCORR when set,
# else `geocorr` on PATH, else the build tree's build/geocorr.
geocorr_bin() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    if [ -n "${GEOCORR:-}" ]; then :
    elif command -v geocorr >/dev/null; then GEOCORR=$(command -v geocorr)
    elif [ -x "$root/build/geocorr" ]; then GEOCORR=$root/build/geocorr
    else GEOCORR=geocorr # reported when first run: build it (cmake --build build) or set GEOCORR
    fi
}
