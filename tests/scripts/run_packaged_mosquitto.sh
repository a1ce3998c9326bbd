#!/usr/bin/env bash
# Issue 18: Debian's packaged broker (/usr/sbin/mosquitto -c
# /etc/mosquitto/mosquitto.conf, as mosquitto.service and /etc/init.d/mosquitto
# start it) already holds the MQTT port. Without systemd (this test's case, and
# containers'), scripts/run stops it with SIGTERM, says so, and brings the stack
# up on that port; the banner comes only once all three services listen; SIGTERM
# (what Ctrl-C leads to) stops everything and exits 0.
. "$(dirname "$0")/lib.sh"

s_ports
conf="$H_TMP/etc/mosquitto/mosquitto.conf"
s_debian_conf "$conf" "$MQTT_PORT"
s_start_packaged_broker "$conf" "$MQTT_PORT"

s_run PARLEY_SYSTEM_MOSQUITTO_CONF="$conf"
s_wait_banner
# The banner means every service listens already: no waiting here.
for p in "$MQTT_PORT" "$KS_PORT" "$MEDIA_PORT"; do
  s_listening "$p" || s_fail "banner printed but nothing listens on $p"
done
out="$(cat "$RUN_LOG")"
h_assert_contains "$out" "is held by Debian's packaged mosquitto (pid $BROKER_PID: /usr/sbin/mosquitto -c $conf" "the stop line"
h_assert_contains "$out" "stopping it with SIGTERM" "the stop line"
[ ! -d "/proc/$BROKER_PID" ] || s_fail "the packaged broker (pid $BROKER_PID) still runs"

# The port is now Parley's broker (plugin loaded: anonymous clients refused),
# a child of scripts/run.
mosq="$(s_child_pid mosquitto)"
[ -n "$mosq" ] && [ "$(ps -o ppid= -p "$mosq" | tr -d ' ')" = "$RUN_PID" ] || s_fail "mosquitto pid $mosq is not a child of scripts/run"
ss -ltnpH "sport = :$MQTT_PORT" | grep -q "pid=$mosq," || s_fail "port $MQTT_PORT is not held by scripts/run's mosquitto"
if mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t x -m y -q 1 >"$H_TMP/anon.log" 2>&1; then
  s_fail "anonymous publish accepted: this is not Parley's broker"
fi
h_assert_contains "$(cat "$H_TMP/anon.log")" "not authori" "anonymous publish"
curl -fsS "http://127.0.0.1:$KS_PORT/healthz" >/dev/null || s_fail "keyserver /healthz failed"

# Stop as Ctrl-C would: exit 0, every service gone, ports free.
ks="$(s_child_pid keyserver)" media="$(s_child_pid media)"
kill -TERM "$RUN_PID"
s_wait_exit
h_assert_eq "$RUN_RC" 0 "exit status after SIGTERM"
for p in "$mosq" "$ks" "$media"; do s_gone "$p" || s_fail "pid $p still runs after scripts/run stopped"; done
h_assert_contains "$(cat "$RUN_LOG")" "parley: stopping" "stop message"
h_pass
