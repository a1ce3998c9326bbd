# shellcheck shell=bash
# tests/keyserver/ks_lib.sh - helpers for the keyserver integration tests.
# Source after tests/lib/harness.sh.

command -v jq >/dev/null || h_fail "jq is required (scripts/lib/deps.sh installs it)"
command -v kstool >/dev/null || h_fail "kstool not built ($PARLEY_BUILD_DIR/tests/kstool)"

# ks_req METHOD PATH [BODY_FILE] [TOKEN] - one request; sets KS_STATUS, KS_BODY
# and KS_HEADERS. BODY_FILE "" means no body. KS_IFACE=127.0.0.N sends it
# from another loopback address (another client IP for the rate limiter).
ks_req() {
  local method="$1" path="$2" body="${3:-}" token="${4:-}"
  local args=(-sS -X "$method" -o "$H_TMP/resp.body" -D "$H_TMP/resp.headers" -w '%{http_code}'
    --max-time 60)
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  [ -n "${KS_IFACE:-}" ] && args+=(--interface "$KS_IFACE")
  KS_STATUS="$(curl "${args[@]}" "$H_KS_URL$path")" || h_fail "curl $method $path failed"
  KS_BODY="$(cat "$H_TMP/resp.body")"
  KS_HEADERS="$(cat "$H_TMP/resp.headers")"
}

# ks_expect STATUS [ERROR_CODE] - the last response had STATUS (and error code).
ks_expect() {
  [ "$KS_STATUS" = "$1" ] || h_fail "expected HTTP $1, got $KS_STATUS: $KS_BODY"
  if [ -n "${2:-}" ]; then
    local code; code="$(jq -r .error <<<"$KS_BODY")"
    [ "$code" = "$2" ] || h_fail "expected error '$2', got '$code': $KS_BODY"
    [ "$(jq -r '.message | type' <<<"$KS_BODY")" = string ] || h_fail "no message: $KS_BODY"
  fi
}

# ks_json FILTER - jq -r FILTER of the last response body.
ks_json() { jq -r "$1" <<<"$KS_BODY"; }

# ks_body NAME CMD... - run CMD (a kstool call), its stdout into $H_TMP/NAME.json;
# prints the file name.
ks_body() {
  local name="$1"; shift
  "$@" >"$H_TMP/$name.json" || h_fail "$* failed"
  echo "$H_TMP/$name.json"
}

# ks_user NAME - keys in $H_TMP/keys-NAME, registered; sets nothing.
ks_keydir() { echo "$H_TMP/keys-$1"; }
ks_user() {
  kstool keygen "$(ks_keydir "$1")" || h_fail "keygen $1"
  ks_req PUT "/v1/identity/$1" "$(ks_body "reg-$1" kstool register-body "$(ks_keydir "$1")" "$1")"
  ks_expect 201
}

# ks_token NAME [CLIENT_ID] [TTL] - print a token for NAME.
ks_token() { kstool token "$(ks_keydir "$1")" "$1" "${2:-keyserver}" ${3:+"$3"}; }
