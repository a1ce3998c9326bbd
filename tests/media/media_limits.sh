#!/usr/bin/env bash
# Media gateway limits and failures on the filesystem backend: uploads over
# --max-size (declared and chunked) get 413 and leave no blob and no record;
# an upload cut off midway leaves nothing; empty and malformed uploads 400;
# an upload exactly at the limit is accepted.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"

LIMIT=1048576
h_start_media --max-size "$LIMIT"
DIR="$H_TMP/media"
m_user alice

nothing_left() {
  h_assert_eq "$(m_files "$DIR")" 0 "$1: no blob or temporary file"
  h_assert_eq "$(m_rows)" 0 "$1: no media record"
}

head -c $((2 * LIMIT)) /dev/urandom >"$H_TMP/big.bin"
head -c "$LIMIT" /dev/urandom >"$H_TMP/exact.bin"

# --- declared too large: refused from Content-Length, before the body
# (Expect: 100-continue makes curl wait for the verdict before sending the body,
# so an early refusal is read reliably instead of racing the connection close.)
EXPECT=(-H 'Expect: 100-continue')
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" "${EXPECT[@]}" --data-binary @"$H_TMP/big.bin")" 413 "Content-Length over the limit"
h_assert_contains "$(cat "$H_TMP/body")" '"error":"too_large"'
nothing_left "declared too large"

# the client library reports the refusal clearly
if "$MTOOL" upload "$H_MEDIA_URL" "$TOKEN_alice" "$H_TMP/big.bin" 2>"$H_TMP/err"; then h_fail "client upload over the limit passed"; fi
h_assert_contains "$(cat "$H_TMP/err")" "HTTP 413 too_large"
nothing_left "client upload too large"

# --- chunked body crossing the limit: stopped when it crosses
code="$(m_http POST /v1/media "$TOKEN_alice" -H 'Transfer-Encoding: chunked' --data-binary @"$H_TMP/big.bin")"
h_assert_eq "$code" 413 "chunked over the limit"
h_assert_contains "$(cat "$H_TMP/body")" '"error":"too_large"'
nothing_left "chunked too large"

# --- cut off midway: headers promise 600000 bytes, 300000 arrive, then the
# client vanishes. The gateway must discard the partial upload.
python3 - "$H_MEDIA_PORT" "$TOKEN_alice" <<'PY'
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: 600000\r\n\r\n" % token).encode())
s.sendall(b"\x01" * 300000)
time.sleep(0.5)
s.close()
PY
h_wait_for 60 grep -q "cut off after" "$H_TMP/media.log" || h_fail "gateway did not notice the cut-off upload"
nothing_left "cut off (raw socket)"

# the same with a real client killed mid-body: curl trickles the body; once the
# gateway reports the upload active, curl is killed.
curl -sS -o /dev/null --limit-rate 20K -H "Authorization: Bearer $TOKEN_alice" \
  --data-binary @"$H_TMP/exact.bin" "$H_MEDIA_URL/v1/media" 2>/dev/null &
curl_pid=$!
active() { curl -sS "$H_MEDIA_URL/metrics" | grep -qF 'parley_media_active_uploads{backend="file"} 1'; }
h_wait_for 60 active || h_fail "the trickled upload never became active"
kill -KILL "$curl_pid"; wait "$curl_pid" 2>/dev/null || true
h_wait_for 60 test "$(grep -c "cut off after" "$H_TMP/media.log")" -ge 2 ||
  h_fail "gateway did not notice the killed curl"
nothing_left "cut off (curl killed)"

# --- broken chunked framing and a garbage request: refused, gateway unharmed
python3 - "$H_MEDIA_PORT" "$TOKEN_alice" <<'PY'
import socket, sys
port, token = int(sys.argv[1]), sys.argv[2]
for req in [("POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Transfer-Encoding: chunked\r\n\r\nZZZZ\r\nabc\r\n0\r\n\r\n" % token).encode(),
            b"\x00\x01GARBAGE / HTTP/9.9\r\n" + b"X" * 100000 + b"\r\n\r\n"]:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    try:
        s.sendall(req)
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
h_assert_eq "$(m_http GET /healthz '')" 200 "gateway alive after malformed requests"
nothing_left "malformed framing"

# --- empty and malformed
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary '')" 400 "empty upload"
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" "${EXPECT[@]}" -H "Content-Type: $(printf 'a%.0s' {1..200})" --data-binary @"$H_TMP/exact.bin")" 400 "bad Content-Type"
nothing_left "empty/malformed"

# --- exactly at the limit: accepted, content type kept
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" -H 'Content-Type: image/jpeg' --data-binary @"$H_TMP/exact.bin")" 201 "upload at the limit"
body="$(cat "$H_TMP/body")"
h_assert_contains "$body" "\"size\":$LIMIT"
h_assert_contains "$body" '"content_type":"image/jpeg"'
h_assert_contains "$body" "\"sha256\":\"$(sha256sum <"$H_TMP/exact.bin" | cut -d' ' -f1)\""
h_assert_eq "$(m_rows)" 1 "one record"
h_assert_eq "$(find "$DIR" -maxdepth 1 -type f | wc -l)" 1 "one blob"
id="$(sed -n 's/.*"media_id":"\([^"]*\)".*/\1/p' "$H_TMP/body")"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_alice")" 200 "download"
cmp -s "$H_TMP/body" "$H_TMP/exact.bin" || h_fail "downloaded bytes differ"
h_assert_contains "$(cat "$H_TMP/headers")" "Content-Type: image/jpeg"

h_assert_eq "$(m_http GET /metrics '')" 200 "metrics"
h_assert_contains "$(cat "$H_TMP/body")" 'parley_media_errors_total{backend="file",code="bad_request"} 2'
h_assert_contains "$(cat "$H_TMP/body")" 'parley_media_errors_total{backend="file",code="too_large"} 3'

# --- SIGTERM during an upload: the gateway stops (bounded) and keeps nothing of it
rows=$(m_rows); blobs=$(find "$DIR" -maxdepth 1 -type f | wc -l)
curl -sS -o /dev/null --limit-rate 20K -H "Authorization: Bearer $TOKEN_alice" \
  --data-binary @"$H_TMP/exact.bin" "$H_MEDIA_URL/v1/media" 2>/dev/null &
curl_pid=$!
h_wait_for 60 active || h_fail "the upload before SIGTERM never became active"
kill -TERM "$H_MEDIA_PID"
h_wait_for 60 bash -c "! kill -0 $H_MEDIA_PID 2>/dev/null" || h_fail "gateway did not stop on SIGTERM"
kill -KILL "$curl_pid" 2>/dev/null || true; wait "$curl_pid" 2>/dev/null || true
h_assert_eq "$(m_rows)" "$rows" "no record from the interrupted upload"
h_assert_eq "$(find "$DIR" -type f | wc -l)" "$blobs" "no blob or temporary file from the interrupted upload"
h_start_media --max-size "$LIMIT"

# --- a restart sweeps temporary files left by a crash
touch "$DIR/.tmp/$id.crashed"
kill -KILL "$H_MEDIA_PID"
h_start_media --max-size "$LIMIT"
h_assert_eq "$(find "$DIR/.tmp" -type f | wc -l)" 0 "stale temporary files removed at start"
h_assert_eq "$(m_http GET "/v1/media/$id" "$TOKEN_alice")" 200 "committed media survive a restart"

h_pass
