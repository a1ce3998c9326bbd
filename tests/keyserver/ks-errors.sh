#!/usr/bin/env bash
# Errors are JSON (issue 11, item 3), against the real keyserver:
#  - a control character in the path, percent-encoded (%00, %01, %0A, %1F,
#    %7F) or raw, is refused with 400 invalid_path before routing: an id is
#    never silently truncated at a decoded NUL, and nothing is registered;
#  - every error the keyserver itself produces is application/json with
#    "error" and "message";
#  - the replies libmicrohttpd 0.9.75 hard-codes before the keyserver sees
#    the request (docs/protocol.md "Replies the HTTP library sends") are
#    exactly as documented, close the connection, and leave the server up.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"
PROBE="$PARLEY_SOURCE_DIR/tests/media/http_probe.py"

h_start_keyserver --rate-limit 0
ks_user alice
ta="$(ks_token alice)"

# --- control characters in path ids
kstool keygen "$(ks_keydir bob)" || h_fail keygen
reg="$(ks_body reg-bob kstool register-body "$(ks_keydir bob)" bob)"
for esc in %00 %01 %0A %0d %1F %7F; do
  ks_req PUT "/v1/identity/bob${esc}evil" "$reg"
  ks_expect 400 invalid_path
  ks_req GET "/v1/identity/alice${esc}"
  ks_expect 400 invalid_path
  ks_req GET "/v2/keys/alice${esc}x" "" "$ta"
  ks_expect 400 invalid_path
done
ks_req GET /v1/identity/bob
ks_expect 404 unknown_user            # the truncated id was not registered
ks_req GET "/v1/identity/alice%2e"     # other escapes still decode ("alice.")
ks_expect 404 unknown_user
ks_req GET "/v1/identity/%61lice"
ks_expect 200
# a raw control byte (curl cannot send one)
out="$(printf 'GET /v1/identity/ali\001ce HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
  python3 "$PROBE" raw 127.0.0.1 "$H_KS_PORT")"
h_assert_contains "$out" "HTTP/1.1 400 " "raw control byte"
h_assert_contains "$out" '"error":"invalid_path"' "raw control byte"

# --- everything the keyserver answers as an error is JSON
check_json() {
  h_assert_contains "$KS_HEADERS" "Content-Type: application/json" "$1: content type"
  [ "$(jq -r '(.error|type) + " " + (.message|type)' <<<"$KS_BODY")" = "string string" ] ||
    h_fail "$1: not a JSON error: $KS_BODY"
}
printf '{' >"$H_TMP/bad.json"
ks_req GET /nothing;                         check_json "404"
ks_req DELETE /v2/keys "" "$ta";              check_json "405"
ks_req GET /v2/keys;                          check_json "401"
ks_req PUT /v1/identity/bob "$H_TMP/bad.json"; check_json "400 invalid_json"
ks_req GET "/v1/identity/a%00";               check_json "400 invalid_path"
ks_req GET "/v2/keys/bad!id" "" "$ta";        check_json "400 invalid_user_id"
ks_req GET /v2/keys/nobody "" "$ta";          check_json "404 unknown_user"

# --- what libmicrohttpd answers itself (documented residue)
mhd_reply() { # NAME REQUEST STATUS - the documented status, Connection: close, server alive
  local out
  out="$(printf '%s' "$2" | python3 "$PROBE" raw 127.0.0.1 "$H_KS_PORT")"
  h_assert_contains "$(head -n1 <<<"$out")" "HTTP/1.1 $3" "$1: status"
  h_assert_contains "$out" "Connection: close" "$1: connection closed"
  ks_req GET /healthz
  ks_expect 200
}
mhd_reply "malformed Content-Length" \
  $'PUT /v1/identity/bob HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}' 400
mhd_reply "Content-Length beyond 2^64" \
  $'PUT /v1/identity/bob HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n' 413
mhd_reply "malformed chunk" \
  $'PUT /v1/identity/bob HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n0\r\n\r\n' 400
mhd_reply "header too large" \
  "GET /healthz HTTP/1.1"$'\r\n'"X-Big: $(head -c 70000 /dev/zero | tr '\0' a)"$'\r\n\r\n' 431
mhd_reply "header line without colon" $'GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n' 400
mhd_reply "HTTP/2.0 request line" $'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n' 505
h_pass
