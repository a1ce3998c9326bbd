#!/usr/bin/env bash
# tls_session.sh - a CLI session end to end over TLS (issue 14, item 1):
# mosquitto + plugin with an MQTT-over-TLS and a WebSocket-over-TLS
# listener, the keyserver and the media gateway serving HTTPS, all with a
# server certificate for localhost / 127.0.0.1 from a test CA that only
# --cafile / PARLEY_CA_FILE trusts. openssl s_client and curl check the
# endpoints as third-party clients; then two users register over HTTPS,
# send text over mqtts:// and wss://, and a file through the HTTPS gateway.
. "$(dirname "$0")/../lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/tls/lib.sh"

t_ca good
t_cert good good localhost 127.0.0.1
CA="$H_TMP/ca-good/ca.crt"
MQTTS=$(h_port) WSS=$(h_port)
h_start_mosquitto "$(t_listener "$MQTTS" mqtt good)
$(t_listener "$WSS" websockets good)"
h_wait_port "$MQTTS"
h_wait_port "$WSS"
t_https_ks good
t_https_media good

# ---- the endpoints, seen by third-party clients ------------------------------
for port in "$MQTTS" "$T_KS_PORT" "$T_MEDIA_PORT"; do
  out="$(timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
    -CAfile "$CA" -verify_hostname localhost -verify_return_error </dev/null 2>&1)" ||
    h_fail "openssl s_client refused port $port: $out"
  h_assert_contains "$out" "Verify return code: 0 (ok)" "openssl s_client on port $port"
done
h_assert_eq "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://localhost:$T_KS_PORT/healthz")" \
  200 "curl: keyserver /healthz over HTTPS"
h_assert_eq "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$T_MEDIA_PORT/healthz")" \
  200 "curl: media gateway /healthz over HTTPS"
# Only TLS on those ports: plain HTTP gets no HTTP answer.
code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$T_KS_PORT/healthz" 2>/dev/null || true)"
[ "$code" != 200 ] || h_fail "the HTTPS keyserver answered plain HTTP"
h_log "openssl s_client and curl verify all three TLS endpoints; plain HTTP gets no answer"

# ---- a session: register over HTTPS, messages over mqtts:// and wss:// -------
export PARLEY_CA_FILE="$CA"
export PARLEY_KEYSERVER_URL="https://localhost:$T_KS_PORT"
export PARLEY_MEDIA_URL="https://localhost:$T_MEDIA_PORT"
export PARLEY_MQTT_URL="mqtts://localhost:$MQTTS"
h_user alice
h_user bob
h_assert_eq "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://localhost:$T_KS_PORT/v1/identity/bob")" \
  200 "bob's identity, registered over HTTPS"
h_log "alice and bob registered over HTTPS"

c_listen bob bob --count 3 --timeout 90
out="$(c_parley alice send bob "hello over mqtts")" || h_fail "send over mqtts:// failed: $out"
h_assert_contains "$out" "stored d:alice:bob seq 1" "send over mqtts://"
# The same over ssl:// and over WebSocket over TLS, with --cafile instead of the variable.
out="$(PARLEY_CA_FILE= c_parley alice --mqtt "ssl://127.0.0.1:$MQTTS" --cafile "$CA" send bob "hello over ssl")" ||
  h_fail "send over ssl:// failed: $out"
h_assert_contains "$out" "seq 2" "send over ssl://"
head -c 200000 /dev/urandom >"$H_TMP/file.bin"
out="$(c_parley alice --mqtt "wss://localhost:$WSS" send-file bob "$H_TMP/file.bin")" ||
  h_fail "send-file over wss:// and HTTPS failed: $out"
h_assert_contains "$out" "seq 3" "send-file over wss://"
h_wait_for 60 test "$(c_count "$H_TMP/bob.out" '"type":"message"')" -ge 3 ||
  h_fail "bob got $(c_count "$H_TMP/bob.out" '"type":"message"') of 3 messages: $(cat "$H_TMP/bob.out")"
h_assert_eq "$(c_messages "$H_TMP/bob.out" | head -n 2)" "1 alice hello over mqtts
2 alice hello over ssl" "bob's messages over mqtts"
media_id="$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    if o.get("type")=="message" and "media" in o: print(o["media"]["media_id"])' "$H_TMP/bob.out")"
[ -n "$media_id" ] || h_fail "no media reference in bob's messages: $(cat "$H_TMP/bob.out")"
out="$(c_parley bob fetch "$media_id" --out "$H_TMP/got.bin")" || h_fail "fetch over HTTPS failed: $out"
cmp -s "$H_TMP/file.bin" "$H_TMP/got.bin" || h_fail "the file fetched over HTTPS differs"
h_log "bob got two texts over mqtts:// and a file over wss:// + HTTPS"

# bob answers over WebSocket over TLS; alice listens over ssl://.
export PARLEY_MQTT_URL="ssl://localhost:$MQTTS"
c_listen alice alice --count 1 --timeout 60
out="$(c_parley bob --mqtt "wss://127.0.0.1:$WSS/mqtt" send alice "hi alice, over wss")" ||
  h_fail "send over wss:// failed: $out"
h_assert_contains "$out" "stored d:alice:bob seq 4" "send over wss://"
wait "$C_LISTEN_PID" || h_fail "alice's listener over ssl:// failed: $(cat "$H_TMP/alice.log")"
h_assert_eq "$(c_messages "$H_TMP/alice.out")" "4 bob hi alice, over wss" "alice's message over ssl://"
h_log "alice got bob's answer (sent over wss://) over ssl://"
h_pass
