#!/usr/bin/env bash
# tls_refusal.sh - a client refuses a server whose certificate does not
# match (issue 14, item 1): a certificate for another host name (signed by
# the trusted CA), a certificate from a CA the client does not trust, and
# the test CA against the system trust store. The keyserver and the media
# gateway over HTTPS and the broker over mqtts://, ssl:// and wss:// are
# each refused with a
# "TLS: ..." line naming the reason and exit code 2 (docs/client.md), fast
# (not after --timeout), and nothing reaches the servers: no registration,
# no media file, no CONNECT in the broker's log. `send` connects before it
# queues (fail fast, docs/client.md), so a message refused for TLS is not in
# the outbox either. The sentinel: the same commands against the good
# certificate then work, and the sentinel is the first and only message bob
# gets (the refused ones were never queued).
. "$(dirname "$0")/../lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/tls/lib.sh"

t_ca good
t_ca evil
t_cert good good localhost 127.0.0.1
t_cert wrongname good parley.invalid        # trusted CA, another host name
t_cert untrusted evil localhost 127.0.0.1   # right name, a CA nobody trusts
CA="$H_TMP/ca-good/ca.crt"
GOOD=$(h_port) WRONG=$(h_port) UNTRUSTED=$(h_port) WS_WRONG=$(h_port)
h_start_mosquitto "$(t_listener "$GOOD" mqtt good)
$(t_listener "$WRONG" mqtt wrongname)
$(t_listener "$UNTRUSTED" mqtt untrusted)
$(t_listener "$WS_WRONG" websockets wrongname)"
for p in "$GOOD" "$WRONG" "$UNTRUSTED" "$WS_WRONG"; do h_wait_port "$p"; done
t_https_ks good; KS_GOOD=$T_KS_PORT
t_https_ks wrongname; KS_WRONG=$T_KS_PORT
t_https_ks untrusted; KS_UNTRUSTED=$T_KS_PORT
t_https_media wrongname; MEDIA_WRONG=$T_MEDIA_PORT
export PARLEY_CA_FILE="$CA"
export PARLEY_KEYSERVER_URL="https://localhost:$KS_GOOD"

# expect_tls_refusal WHAT PATTERN CMD... - CMD exits 2 with one "TLS: " line
# holding PATTERN, and well before its own --timeout.
expect_tls_refusal() {
  local what="$1" pattern="$2"; shift 2
  local start=$SECONDS
  t_run "$H_TMP/out" "$H_TMP/err" "$@"
  [ "$T_RC" = 2 ] || h_fail "$what: exit $T_RC, expected 2: $(cat "$H_TMP/err" "$H_TMP/out")"
  h_assert_contains "$(cat "$H_TMP/err")" "TLS: " "$what"
  h_assert_contains "$(cat "$H_TMP/err")" "$pattern" "$what"
  [ $((SECONDS - start)) -lt 30 ] || h_fail "$what: took $((SECONDS - start)) s (the command's --timeout is 60)"
  h_log "$what: refused: $(head -n 1 "$H_TMP/err")"
}

# ---- the keyserver over HTTPS ------------------------------------------------
expect_tls_refusal "init, keyserver certificate for another name" \
  "no alternative certificate subject name matches target host name 'localhost'" \
  "$H_PARLEY" --home "$(h_home alice)" --keyserver "https://localhost:$KS_WRONG" init alice
expect_tls_refusal "init, keyserver certificate from an untrusted CA" \
  "unable to get local issuer certificate" \
  "$H_PARLEY" --home "$(h_home alice)" --keyserver "https://localhost:$KS_UNTRUSTED" init alice
expect_tls_refusal "init, the test CA is not in the system trust store" \
  "SSL certificate problem" \
  env PARLEY_CA_FILE= "$H_PARLEY" --home "$(h_home alice)" init alice
h_assert_eq "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://localhost:$KS_GOOD/v1/identity/alice")" \
  404 "alice after the refused registrations"
h_user alice   # the sentinel: the same registration with the right certificate
h_user bob
h_assert_eq "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://localhost:$KS_GOOD/v1/identity/alice")" \
  200 "alice registered with the right certificate"

# ---- the broker over mqtts://, ssl://, wss:// --------------------------------
export PARLEY_MQTT_URL="mqtts://localhost:$GOOD"
c_listen bob bob --count 1 --timeout 120
expect_tls_refusal "send, broker certificate for another name (mqtts://)" \
  "no alternative certificate subject name matches target host name 'localhost'" \
  "$H_PARLEY" --home "$(h_home alice)" --mqtt "mqtts://localhost:$WRONG" send bob "one" --timeout 60
expect_tls_refusal "send, broker certificate from an untrusted CA (ssl://)" \
  "unable to get local issuer certificate" \
  "$H_PARLEY" --home "$(h_home alice)" --mqtt "ssl://127.0.0.1:$UNTRUSTED" send bob "two" --timeout 60
expect_tls_refusal "send, WebSocket certificate for another name (wss://)" \
  "no alternative certificate subject name matches target host name '127.0.0.1'" \
  "$H_PARLEY" --home "$(h_home alice)" --mqtt "wss://127.0.0.1:$WS_WRONG" send bob "three" --timeout 60
expect_tls_refusal "send, the test CA is not in the system trust store" \
  "(trusted CAs: the system store)" \
  env PARLEY_CA_FILE= "$H_PARLEY" --home "$(h_home alice)" send bob "four" --timeout 60
expect_tls_refusal "listen, broker certificate for another name" \
  "no alternative certificate subject name matches" \
  "$H_PARLEY" --home "$(h_home alice)" --mqtt "mqtts://localhost:$WRONG" listen --timeout 60
# Nothing reached the broker: it never saw a CONNECT from alice (bob's is there).
grep -q "as bob\." "$H_TMP/mosquitto.log" || h_fail "no CONNECT from bob in the broker's log"
! grep -q "as alice\." "$H_TMP/mosquitto.log" || h_fail "alice reached the broker through a refused certificate"
# The media gateway over HTTPS: refused before the upload (nothing stored, nothing queued).
# send-file connects to the (good) broker first, like send (fail fast), so
# this comes after the check that no refused broker connection got through.
head -c 1000 /dev/urandom >"$H_TMP/file.bin"
expect_tls_refusal "send-file, media gateway certificate for another name" \
  "no alternative certificate subject name matches target host name 'localhost'" \
  "$H_PARLEY" --home "$(h_home alice)" --media "https://localhost:$MEDIA_WRONG" send-file bob "$H_TMP/file.bin"
[ -z "$(find "$H_TMP/media" -type f)" ] || h_fail "the media gateway stored something: $(find "$H_TMP/media" -type f)"
out="$(c_parley alice status)"
h_assert_contains "$out" "outbox:    0 message(s)" "the refused messages were never queued (fail fast)"

# The sentinel: with the right certificate the send goes through, and it is
# the chat's first message: nothing refused earlier was stored or sent later.
out="$(c_parley alice send bob "sentinel" --timeout 60)" || h_fail "send with the right certificate: $out"
h_assert_contains "$out" "seq 1" "the sentinel is the first message (nothing refused was queued)"
wait "$C_LISTEN_PID" 2>/dev/null || true
h_wait_for 30 test "$(c_count "$H_TMP/bob.out" '"type":"message"')" -ge 1 ||
  h_fail "bob got: $(cat "$H_TMP/bob.out")"
h_assert_eq "$(c_messages "$H_TMP/bob.out")" "1 alice sentinel" \
  "bob gets the sentinel only: the refused messages were never queued"
h_pass
