#!/usr/bin/env bash
# Media gateway errors (issue 11, item 3), against the real process:
#  - Range values of 20 and more digits: a first position past the end is
#    416 with Content-Range "bytes */size"; a huge last position is clamped
#    (206 of the rest); a huge suffix is the whole object (206); a last
#    position below the first is ignored (200), per RFC 9110 14.1.2/14.4;
#  - a control character in the path (%00, %01, %1F, %7F, raw) is 400
#    invalid_path, never a truncated id;
#  - every error of the gateway's own is JSON; the replies libmicrohttpd
#    0.9.75 hard-codes (docs/protocol.md) are exactly as documented.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"
PROBE="$PARLEY_SOURCE_DIR/tests/media/http_probe.py"

h_start_media
m_user alice
head -c 1000 /dev/urandom >"$H_TMP/obj.bin"
code="$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/obj.bin")"
h_assert_eq "$code" 201 upload
id="$(jq -r .media_id "$H_TMP/body")"
DL="/v1/media/$id/download"

range() { # RANGE STATUS [CONTENT_RANGE] [BYTES]
  local code
  code="$(m_http GET "$DL" "$TOKEN_alice" -H "Range: $1")"
  h_assert_eq "$code" "$2" "Range: $1"
  if [ -n "${3:-}" ]; then
    h_assert_contains "$(cat "$H_TMP/headers")" "Content-Range: $3" "Range: $1"
  fi
  if [ -n "${4:-}" ]; then h_assert_eq "$(stat -c %s "$H_TMP/body")" "$4" "Range: $1 length"; fi
}
range "bytes=99999999999999999999-" 416 "bytes */1000"
range "bytes=18446744073709551616-" 416 "bytes */1000"        # 2^64
range "bytes=000000000000000000000000000010-19" 206 "bytes 10-19/1000" 10
range "bytes=0-99999999999999999999" 206 "bytes 0-999/1000" 1000
range "bytes=990-18446744073709551616" 206 "bytes 990-999/1000" 10
range "bytes=-99999999999999999999" 206 "bytes 0-999/1000" 1000
range "bytes=99999999999999999999-5" 200 "" 1000                # last < first: ignored
h_assert_contains "$(m_http GET "$DL" "$TOKEN_alice" -H 'Range: bytes=99999999999999999999-' >/dev/null; cat "$H_TMP/body")" \
  '"error":"range_not_satisfiable"'
cmp -s "$H_TMP/obj.bin" <(curl -sS -H "Authorization: Bearer $TOKEN_alice" \
  -H 'Range: bytes=0-99999999999999999999' "$H_MEDIA_URL$DL") || h_fail "clamped range content"

# control characters in the path
for esc in %00 %01 %0a %1F %7F; do
  for p in "/v1/media/$id$esc" "/v1/media/${id}${esc}/download" "/v1/media/$esc$id"; do
    code="$(m_http GET "$p" "$TOKEN_alice")"
    h_assert_eq "$code" 400 "GET $p"
    h_assert_contains "$(cat "$H_TMP/body")" '"error":"invalid_path"' "GET $p"
  done
  code="$(m_http DELETE "/v1/media/$id$esc" "$TOKEN_alice")"
  h_assert_eq "$code" 400 "DELETE with $esc"
done
h_assert_eq "$(m_rows)" 1 "nothing deleted through a truncated id"
out="$(printf 'GET /v1/media/%s\001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$id" |
  python3 "$PROBE" raw 127.0.0.1 "$H_MEDIA_PORT")"
h_assert_contains "$out" "HTTP/1.1 400 " "raw control byte"
h_assert_contains "$out" '"error":"invalid_path"' "raw control byte"

# the gateway's own errors are JSON
json_error() { # LABEL STATUS CURL-ARGS...
  local label="$1" want="$2" code; shift 2
  code="$(m_http "$@")"
  h_assert_eq "$code" "$want" "$label"
  h_assert_contains "$(cat "$H_TMP/headers")" "Content-Type: application/json" "$label"
  [ "$(jq -r '(.error|type) + " " + (.message|type)' "$H_TMP/body")" = "string string" ] ||
    h_fail "$label: not a JSON error: $(cat "$H_TMP/body")"
}
json_error "404 route" 404 GET /nothing "$TOKEN_alice"
json_error "405" 405 PUT /v1/media "$TOKEN_alice"
json_error "401" 401 GET "/v1/media/$id" ""
json_error "404 media" 404 GET /v1/media/AAAAAAAAAAAAAAAAAAAAAA "$TOKEN_alice"
json_error "400 path" 400 GET "/v1/media/a%00" "$TOKEN_alice"
json_error "411" 411 POST /v1/media "$TOKEN_alice" -H 'Content-Length:'
json_error "416" 416 GET "$DL" "$TOKEN_alice" -H 'Range: bytes=5000-'

# what libmicrohttpd answers itself (documented residue)
mhd_reply() { # NAME REQUEST STATUS
  local out
  out="$(printf '%s' "$2" | python3 "$PROBE" raw 127.0.0.1 "$H_MEDIA_PORT")"
  h_assert_contains "$(head -n1 <<<"$out")" "HTTP/1.1 $3" "$1: status"
  h_assert_contains "$out" "Connection: close" "$1: connection closed"
  h_assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' "$H_MEDIA_URL/healthz")" 200 "$1: alive"
}
mhd_reply "malformed Content-Length" \
  $'POST /v1/media HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n' 400
mhd_reply "malformed chunk" \
  $'POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '"$TOKEN_alice"$'\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n0\r\n\r\n' 400
mhd_reply "header too large" \
  "GET /healthz HTTP/1.1"$'\r\n'"X-Big: $(head -c 300000 /dev/zero | tr '\0' a)"$'\r\n\r\n' 431
mhd_reply "HTTP/2.0 request line" $'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n' 505
h_assert_eq "$(m_rows)" 1 "no stray upload"
h_pass
