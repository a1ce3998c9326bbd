#!/usr/bin/env bash
# A port scripts/run wants is held by something that is not Debian's packaged
# broker: it refuses at once with one line per port naming the holder and the
# variable to change, exits 1, starts nothing and leaves the holder alone.
. "$(dirname "$0")/lib.sh"

# listen PORT - a plain TCP listener on 127.0.0.1:PORT (pid in LAST).
listen() {
  h_bg "listener-$1" python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(3600)' "$1"
  LAST=$H_LAST_PID
  h_wait_port "$1"
}

s_ports
# The media port right above the keyserver port (when free), as with the
# defaults 8081/8082: the suggested keyserver port must skip it.
if python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$((KS_PORT + 1))" 2>/dev/null &&
   [ "$((KS_PORT + 1))" != "$MQTT_PORT" ]; then
  MEDIA_PORT=$((KS_PORT + 1))
fi
# 1. Another mosquitto (not /usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf)
#    on the MQTT port, and an unrelated server on the keyserver port.
H_MQTT_PORT="$MQTT_PORT" h_start_bare_mosquitto
other=$H_MOSQ_PID
listen "$KS_PORT"; ks_holder=$LAST
s_run
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status when ports are taken"
out="$(cat "$RUN_LOG")"
mqtt_line="$(grep "^parley: cannot start the MQTT broker" "$RUN_LOG" || true)"
ks_line="$(grep "^parley: cannot start the keyserver" "$RUN_LOG" || true)"
[ "$(grep -c "^parley: cannot start" "$RUN_LOG")" = 2 ] || s_fail "expected exactly two refusal lines"
h_assert_contains "$mqtt_line" "port $MQTT_PORT (PARLEY_MQTT_PORT) is in use by pid $other: $H_MOSQUITTO -c $H_TMP/bare.conf" "MQTT refusal"
h_assert_contains "$mqtt_line" "or choose another port, e.g. PARLEY_MQTT_PORT=" "MQTT refusal"
h_assert_contains "$mqtt_line" "mosquitto.service" "MQTT refusal names the packaged service"
grep -qE "port $KS_PORT \(PARLEY_KEYSERVER_PORT\) is in use by pid $ks_holder: [^ ]*python3 -c import socket" <<<"$ks_line" ||
  s_fail "keyserver refusal does not name the python3 holder"
suggested="$(sed -n 's/.*e\.g\. PARLEY_KEYSERVER_PORT=\([0-9]*\) .*/\1/p' <<<"$ks_line")"
[ -n "$suggested" ] && [ "$suggested" != "$MEDIA_PORT" ] && [ "$suggested" != "$MQTT_PORT" ] &&
  [ "$suggested" != "$KS_PORT" ] || s_fail "suggested keyserver port '$suggested' is not another free port"
# One line per port and nothing else (no service was started to print anything).
h_assert_eq "$(grep -c . "$RUN_LOG")" 2 "lines printed by the refused run"
h_assert_not_contains "$out" "Parley is running" "refused run"
h_assert_not_contains "$out" "held by" "nothing was stopped"
kill -0 "$other" && kill -0 "$ks_holder" || s_fail "a holder was stopped"
[ ! -e "$H_TMP/data/logs/mosquitto.log" ] || s_fail "scripts/run started a service although it refused"

# 2. Only the media port taken (on the wildcard address): named too.
kill "$other" "$ks_holder"
h_wait_for 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT)" || h_fail "old broker still listens"
h_bg media-holder python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); time.sleep(3600)' "$MEDIA_PORT"
media_holder=$H_LAST_PID
h_wait_port "$MEDIA_PORT"
s_run
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status when the media port is taken"
h_assert_eq "$(grep -c . "$RUN_LOG")" 1 "lines printed by the refused run"
h_assert_contains "$(cat "$RUN_LOG")" "cannot start the media gateway on 127.0.0.1:$MEDIA_PORT: port $MEDIA_PORT (PARLEY_MEDIA_PORT) is in use by pid $media_holder" "media refusal"
kill -0 "$media_holder" || s_fail "the media port holder was stopped"
h_pass
