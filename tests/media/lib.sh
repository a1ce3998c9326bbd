# shellcheck shell=bash
# tests/media/lib.sh - helpers shared by the media tests (sourced after
# tests/lib/harness.sh).
MTOOL="$PARLEY_BUILD_DIR/tests/mtool"
[ -x "$MTOOL" ] || h_fail "mtool missing: build the mtool target"
command -v sqlite3 >/dev/null || h_fail "sqlite3 missing"

# m_user NAME - create NAME in the store; sets TOKEN_<NAME> (audience "media").
m_user() {
  "$MTOOL" user "$H_STORE" "$1" "$H_TMP/$1.key" || h_fail "mtool user $1"
  printf -v "TOKEN_$1" '%s' "$("$MTOOL" token "$H_TMP/$1.key" "$1")"
}

# m_http METHOD PATH TOKEN [CURL ARGS...] - request; prints "STATUS" and
# leaves the body in $H_TMP/body, headers in $H_TMP/headers.
m_http() {
  local method="$1" path="$2" token="$3"; shift 3
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  curl -sS -o "$H_TMP/body" -D "$H_TMP/headers" -w '%{http_code}' -X "$method" \
    "${auth[@]}" "$@" "$H_MEDIA_URL$path" || true
}

# m_field KEY LINE - value of KEY=VALUE in a mtool output line.
m_field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# m_rows - number of media records in the store.
m_rows() { sqlite3 "${H_STORE#sqlite:}" 'SELECT count(*) FROM media;'; }

# m_files DIR - number of files under DIR (committed and temporary).
m_files() { find "$1" -type f | wc -l; }

# m_plaintext PATH MIB - a file of MIB MiB of random bytes with a marker
# string repeated through it (so a leak of plaintext is greppable).
M_MARKER="PARLEY-PLAINTEXT-MARKER-7f3a"
m_plaintext() {
  python3 - "$1" "$2" "$M_MARKER" <<'PY'
import os, sys
path, mib, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
with open(path, "wb") as f:
    for _ in range(mib * 16):
        f.write(os.urandom(65536 - 200) + marker * 6 + b"\n" * (200 - 6 * len(marker)))
    f.write(b"tail" + marker)
PY
}

# m_fetch URL TOKEN SEND_LINE DEST - fetch (download, verify, decrypt) the
# medium described by a "mtool send" output line.
m_fetch() {
  "$MTOOL" fetch "$1" "$2" "$(m_field media_id "$3")" "$(m_field key "$3")" \
    "$(m_field sha256 "$3")" "$(m_field size "$3")" "$4"
}
