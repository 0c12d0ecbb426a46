# Shared by scripts/fetch-models.sh and scripts/fetch-data.sh (sourced, not run): the manifest, and
# downloads that resume when interrupted, are verified before they get their final name, and never
# leave a half-written or unverified file under that name.
#
# Manifest (data/models.manifest, data/datasets.manifest): one file per line, `#` starts a comment
# (the citation of each sum sits above its line):
#   NAME  PATH  CHECK  URL
# NAME groups files (--only NAME); PATH is where the file goes under DEST (relative, no `..`);
# URL is where it is published; CHECK says how a download is verified:
#   sha256:<64 hex>     the SHA-256 the publisher (or a citable source) lists for the file
#   gitblob:<40 hex>    the git blob id the publisher's repository lists for the file at the commit the
#                       URL names (SHA-1 of "blob <size>\0" followed by the content, what git computes)
#   unpublished[:sha256-prefix:<hex>]
#                       no full sum is published. Such a file is refused unless --trust-first-download
#                       is given, which records its SHA-256 in DEST/.fetch/recorded.sha256; later runs
#                       into DEST verify against the record. A prefix the publisher gives (a file name
#                       that embeds the first hex digits of the SHA-256) is checked every time.

fetch_die() { echo "$FETCH_PROG: $*" >&2; exit 1; }

fetch_need_tools() {
    local t
    for t in curl sha256sum sha1sum flock "$@"; do
        command -v "$t" >/dev/null || fetch_die "'$t' is needed (Debian: scripts/install-deps.sh installs it)"
    done
}

# fetch_manifest FILE ONLY: prints the selected entries (NAME PATH CHECK URL), one per line, after
# checking every line of FILE; ONLY is a comma-separated list of names ("" = all).
fetch_manifest() {
    local file=$1 only=$2 n=0 name path check url extra names=" " want
    [ -r "$file" ] || fetch_die "$file: manifest not found or not readable"
    while read -r name path check url extra; do
        n=$((n + 1))
        case $name in ''|'#'*) continue ;; esac
        [ -n "$url" ] && [ -z "$extra" ] || fetch_die "$file:$n: expected NAME PATH CHECK URL"
        case /$path/ in */../*|//*|*/./*) fetch_die "$file:$n: path '$path' must stay inside DEST" ;; esac
        case $check in
            sha256:*) [[ ${check#sha256:} =~ ^[0-9a-f]{64}$ ]] || fetch_die "$file:$n: '$check' is not sha256:<64 hex digits>" ;;
            gitblob:*) [[ ${check#gitblob:} =~ ^[0-9a-f]{40}$ ]] || fetch_die "$file:$n: '$check' is not gitblob:<40 hex digits>" ;;
            unpublished|unpublished:sha256-prefix:*)
                [ "$check" = unpublished ] || [[ ${check#unpublished:sha256-prefix:} =~ ^[0-9a-f]{1,63}$ ]] ||
                    fetch_die "$file:$n: '$check' is not unpublished:sha256-prefix:<hex digits>" ;;
            *) fetch_die "$file:$n: unknown check '$check' (sha256:, gitblob:, unpublished)" ;;
        esac
        case $url in http://*|https://*) ;; *) fetch_die "$file:$n: URL '$url' is not http(s)" ;; esac
        names="$names$name "
        case ",$only," in ,,|*",$name,"*) echo "$name $path $check $url" ;; esac
    done <"$file"
    for want in ${only//,/ }; do
        case $names in *" $want "*) ;; *) fetch_die "--only: no '$want' in $file (names:$(echo "$names" | tr ' ' '\n' | sort -u | tr '\n' ' '))" ;; esac
    done
}

fetch_sha256() { sha256sum "$1" | cut -d' ' -f1; }
fetch_gitblob() { { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -d' ' -f1; }

# fetch_verify FILE PATH CHECK: 0 when FILE (the download of PATH) passes CHECK. Prints why not.
# An unpublished sum is recorded here with --trust-first-download.
fetch_verify() {
    local file=$1 path=$2 check=$3 got want rec
    case $check in
        sha256:*)
            want=${check#sha256:} got=$(fetch_sha256 "$file")
            [ "$got" = "$want" ] || { echo "$FETCH_PROG: $path: SHA-256 mismatch: expected $want, got $got" >&2; return 1; } ;;
        gitblob:*)
            want=${check#gitblob:} got=$(fetch_gitblob "$file")
            [ "$got" = "$want" ] || { echo "$FETCH_PROG: $path: git blob id mismatch: expected $want, got $got" >&2; return 1; } ;;
        unpublished*)
            got=$(fetch_sha256 "$file") want=${check#unpublished:sha256-prefix:}
            if [ "$want" != "$check" ] && [ "${got#"$want"}" = "$got" ]; then
                echo "$FETCH_PROG: $path: SHA-256 mismatch: the published prefix is $want, got $got" >&2
                return 1
            fi
            rec=""
            [ ! -f "$FETCH_RECORD" ] || rec=$(awk -v p="$path" '$2 == p { r = $1 } END { print r }' "$FETCH_RECORD")
            if [ -n "$rec" ]; then
                [ "$got" = "$rec" ] || { echo "$FETCH_PROG: $path: SHA-256 mismatch: expected $rec (recorded in $FETCH_RECORD at the first download), got $got" >&2; return 1; }
            elif [ "$FETCH_TRUST" = 1 ]; then
                echo "$got  $path" >>"$FETCH_RECORD"
                echo "$FETCH_PROG: $path: no published SHA-256; recorded $got (trusted first download) in $FETCH_RECORD" >&2
            else
                echo "$FETCH_PROG: $path: no SHA-256 is published for this file, so the download (SHA-256 $got) cannot be verified; rerun with --trust-first-download to accept it and record its sum" >&2
                return 2
            fi ;;
    esac
}

# fetch_file PATH CHECK URL: DEST/PATH verified, downloading it when absent. The download goes to
# DEST/PATH.part, resumed from where an interrupted one stopped; it is renamed into place only after it
# passed CHECK, and removed when it failed it. An unverifiable download (unpublished sum, no
# --trust-first-download) stays as .part, complete, for the next run.
fetch_file() {
    local path=$1 check=$2 url=$3 out="$FETCH_DEST/$1" part="$FETCH_DEST/$1.part" try rc=0 code
    [ -n "$FETCH_BASE_URL" ] && url="${FETCH_BASE_URL%/}/$path"
    mkdir -p "$(dirname "$out")"
    if [ -f "$out" ]; then
        if fetch_verify "$out" "$path" "$check"; then echo "have $path (verified)"; return 0; fi
        echo "$FETCH_PROG: $path: the file in place fails its check; removed, fetching it again" >&2
        rm -f "$out"
    fi
    for try in 1 2 3 4 5; do
        [ -s "$part" ] && echo "resume $path from byte $(stat -c %s "$part") ($url)" || echo "fetch $path ($url)"
        rc=0
        code=$(curl --fail --location --silent --show-error --continue-at - --connect-timeout 30 \
                    --write-out '%{http_code}' --output "$part" "$url" 2>"$FETCH_DEST/.fetch/curl.err") || rc=$?
        # 416 (range not satisfiable) to a resumed request: the .part is already whole
        [ $rc = 22 ] && [ "$code" = 416 ] && [ -s "$part" ] && rc=0
        [ $rc = 0 ] && break
        echo "$FETCH_PROG: $path: download interrupted ($(tr -d '\n' <"$FETCH_DEST/.fetch/curl.err"); HTTP $code), attempt $try of 5" >&2
        [ $rc = 22 ] && break # an HTTP error (404, 403, ...): trying again will not help
        sleep "${FETCH_RETRY_DELAY:-5}"
    done
    [ $rc = 0 ] || { echo "$FETCH_PROG: $path: download failed (curl exit $rc); $part keeps what arrived, rerun to resume" >&2; return 1; }
    rc=0
    fetch_verify "$part" "$path" "$check" || rc=$?
    if [ $rc = 1 ]; then rm -f "$part"; echo "$FETCH_PROG: $path: removed the bad download" >&2; return 1; fi
    [ $rc = 0 ] || return 1
    sync "$part" 2>/dev/null || true
    mv -f "$part" "$out"
    echo "ok   $path"
}

# fetch_lock: one fetch at a time into FETCH_DEST (held until the script exits).
fetch_lock() {
    [ -z "${FETCH_LOCKED:-}" ] || return 0
    mkdir -p "$FETCH_DEST/.fetch" || fetch_die "$FETCH_DEST: cannot create the folder"
    FETCH_RECORD="$FETCH_DEST/.fetch/recorded.sha256"
    exec 9>>"$FETCH_DEST/.fetch/lock"
    flock -n 9 || fetch_die "$FETCH_DEST: another fetch into this folder is running"
    FETCH_LOCKED=1
}

# fetch_all MANIFEST ONLY: every selected file of the manifest into FETCH_DEST; non-zero when any failed.
fetch_all() {
    local entries name path check url failed=0
    entries=$(fetch_manifest "$1" "$2") || exit 1
    fetch_lock
    while read -r name path check url; do
        [ -n "$name" ] || continue
        fetch_file "$path" "$check" "$url" </dev/null || failed=$((failed + 1))
    done <<<"$entries"
    [ $failed = 0 ] || { echo "$FETCH_PROG: $failed file(s) failed (see above); rerun to retry" >&2; return 1; }
}

# fetch_options "$@": the options both scripts take; the other arguments land in FETCH_ARGS.
# Sets FETCH_ONLY, FETCH_MANIFEST (when given), FETCH_BASE_URL, FETCH_TRUST.
fetch_options() {
    FETCH_ONLY="" FETCH_BASE_URL="" FETCH_TRUST=0 FETCH_ARGS=()
    while [ $# -gt 0 ]; do
        case $1 in
            --only) [ $# -ge 2 ] || fetch_die "--only needs a list"; FETCH_ONLY=$2; shift ;;
            --only=*) FETCH_ONLY=${1#*=} ;;
            --manifest) [ $# -ge 2 ] || fetch_die "--manifest needs a file"; FETCH_MANIFEST=$2; shift ;;
            --manifest=*) FETCH_MANIFEST=${1#*=} ;;
            --base-url) [ $# -ge 2 ] || fetch_die "--base-url needs a URL"; FETCH_BASE_URL=$2; shift ;;
            --base-url=*) FETCH_BASE_URL=${1#*=} ;;
            --trust-first-download) FETCH_TRUST=1 ;;
            -h|--help) fetch_usage; exit 0 ;;
            --*) FETCH_ARGS+=("$1") ;;
            *) FETCH_ARGS+=("$1") ;;
        esac
        shift
    done
}
