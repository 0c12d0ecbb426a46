# Sourced by the shell tests of the scripts/ tools (tests/scripts/test_*.sh, run by CTest): temp folder,
# fixtures, the loopback HTTP server (tools/fetch_test_server.py), assertions.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIXTURES=${GEOCORR_FIXTURES:-${GEOCORR_FIXTURES_DEFAULT:-$REPO/../shared/fixtures}}
export GEOCORR=${GEOCORR_BIN:-$REPO/build/geocorr}
mkdir -p "${GEOCORR_TMP:-/tmp}"
T=$(mktemp -d "${GEOCORR_TMP:-/tmp}/$(basename "$0" .sh).XXXXXX")
SERVER_PID=""
cleanup() { [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
# on success the temp folder goes; after a failure it stays for a look
trap 'rc=$?; cleanup; [ $rc != 0 ] || rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # DESCRIPTION COMMAND...: run, fail the test when it fails
    local what=$1
    shift
    "$@" || fail "$what"
    echo "ok: $what"
}
contains() { grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "$1 lacks: $2"; }; }

# start_server ROOT [--drop PATH:BYTES ...]: serves ROOT on a free loopback port -> $URL, log $T/server.log
start_server() {
    local root=$1 i
    shift
    cleanup
    rm -f "$T/port"
    : >"$T/server.log"
    python3 "$REPO/tools/fetch_test_server.py" "$root" --port-file "$T/port" --log "$T/server.log" "$@" &
    SERVER_PID=$!
    for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
    [ -s "$T/port" ] || fail "the test HTTP server did not start"
    URL="http://127.0.0.1:$(cat "$T/port")"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
