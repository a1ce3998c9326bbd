#!/usr/bin/env bash
# ./scripts/run's client listeners (issue 14, items 1 and 2): without --tls,
# plain MQTT plus MQTT over WebSocket (a CLI session over the banner's ws://
# URL); with --tls, only TLS: MQTT over TLS, WebSocket over TLS, HTTPS
# keyserver and media gateway, with a local CA in the data directory that the
# banner names. The banner's "Try:" exports are used as printed; the CA is
# kept across restarts, so a client that trusts it keeps working.
. "$(dirname "$0")/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

s_ports
# ---- without --tls: MQTT and MQTT over WebSocket ----------------------------
s_run
s_wait_banner
banner="$(cat "$RUN_LOG")"
h_assert_contains "$banner" "MQTT broker     mqtt://127.0.0.1:$MQTT_PORT " "banner: MQTT"
h_assert_contains "$banner" "WebSocket       ws://127.0.0.1:$WS_PORT " "banner: WebSocket"
h_assert_not_contains "$banner" "CA certificate" "banner without --tls"
export PARLEY_MQTT_URL="ws://127.0.0.1:$WS_PORT" PARLEY_KEYSERVER_URL="http://127.0.0.1:$KS_PORT"
h_user alice
h_user bob
c_listen bob bob --count 1 --timeout 60
out="$(c_parley alice send bob "over the banner's ws:// URL")" || s_fail "send over ws://: $out"
wait "$C_LISTEN_PID" || s_fail "bob's listener over ws://: $(cat "$H_TMP/bob.log")"
h_assert_eq "$(c_messages "$H_TMP/bob.out")" "1 alice over the banner's ws:// URL" "message over ws://"
kill -TERM "$RUN_PID"
s_wait_exit
h_assert_eq "$RUN_RC" 0 "scripts/run after SIGTERM"
h_log "without --tls: mqtt:// and ws:// listeners, a session over ws://"

# ---- --tls: TLS on every client port, a local CA ------------------------------
S_RUN_ARGS=(--tls)
s_run
s_wait_banner
banner="$(cat "$RUN_LOG")"
ca="$H_TMP/data/tls/ca.crt"
h_assert_contains "$banner" "MQTT over TLS   mqtts://127.0.0.1:$MQTTS_PORT " "banner: mqtts"
h_assert_contains "$banner" "WebSocket TLS   wss://127.0.0.1:$WSS_PORT " "banner: wss"
h_assert_contains "$banner" "keyserver       https://127.0.0.1:$KS_PORT " "banner: keyserver"
h_assert_contains "$banner" "media gateway   https://127.0.0.1:$MEDIA_PORT " "banner: media"
h_assert_contains "$banner" "CA certificate  $ca " "banner: the CA file"
h_assert_contains "$banner" "export PARLEY_CA_FILE=$ca" "banner: the CA for clients"
# No plain-text listener for clients.
! s_listening "$MQTT_PORT" || s_fail "--tls: plain MQTT still on $MQTT_PORT"
! s_listening "$WS_PORT" || s_fail "--tls: plain WebSocket still on $WS_PORT"
for port in "$MQTTS_PORT" "$KS_PORT" "$MEDIA_PORT"; do
  out="$(timeout 30 openssl s_client -connect "127.0.0.1:$port" -CAfile "$ca" \
    -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1)" || s_fail "openssl s_client on $port: $out"
  h_assert_contains "$out" "Verify return code: 0 (ok)" "openssl s_client on $port"
done
# The banner's exports, as a user would paste them.
eval "$(sed -n 's/^Try: *\(export .*\)$/\1/p; s/^ *\(export PARLEY_CA_FILE=.*\)$/\1/p' "$RUN_LOG")"
h_assert_eq "$PARLEY_MQTT_URL" "mqtts://127.0.0.1:$MQTTS_PORT" "the banner's PARLEY_MQTT_URL"
h_assert_eq "$PARLEY_CA_FILE" "$ca" "the banner's PARLEY_CA_FILE"
c_listen bob bob2 --count 1 --timeout 60
out="$(c_parley alice send bob "over mqtts, from the banner")" || s_fail "send over mqtts://: $out"
wait "$C_LISTEN_PID" || s_fail "bob's listener over mqtts://: $(cat "$H_TMP/bob2.log")"
h_assert_eq "$(c_messages "$H_TMP/bob2.out")" "2 alice over mqtts, from the banner" "message over mqtts://"
out="$(c_parley alice safety-number carol 2>&1)" && s_fail "safety-number of an unknown user succeeded"
h_assert_contains "$out" "404" "an HTTPS keyserver answer (carol is unknown)"

# Restart: the CA is kept, the trusting client still connects (over wss://).
before="$(sha256sum <"$ca")"
kill -TERM "$RUN_PID"
s_wait_exit
s_run
s_wait_banner
h_assert_eq "$(sha256sum <"$ca")" "$before" "the local CA across restarts"
out="$(c_parley alice --mqtt "wss://localhost:$WSS_PORT" send bob "over wss after a restart")" ||
  s_fail "send over wss:// after a restart: $out"
h_assert_contains "$out" "seq 3" "send over wss:// after a restart"
h_pass
