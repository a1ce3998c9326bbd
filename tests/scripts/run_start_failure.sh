#!/usr/bin/env bash
# A service that fails to start: scripts/run prints no banner, says which
# service failed and why (its last line), stops what it had started and exits 1.
. "$(dirname "$0")/lib.sh"

s_ports
# 1. The keyserver cannot bind: its port is taken by a socket that is bound but
#    not listening, which the port check before starting cannot see (like a
#    port taken between the check and the start). mosquitto has started by then
#    and must be stopped again.
h_bg bound python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); print("bound", flush=True); time.sleep(3600)' "$KS_PORT"
h_wait_for 20 grep -q bound "$H_TMP/bound.log" || h_fail "could not bind $KS_PORT"
s_run
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status when the keyserver cannot start"
out="$(cat "$RUN_LOG")"
h_assert_not_contains "$out" "Parley is running" "failed start"
line="$(grep "^parley: not running: " "$RUN_LOG" || true)"
h_assert_contains "$line" "keyserver (pid " "reason names the service"
h_assert_contains "$line" "exited with status" "reason"
h_assert_contains "$line" "before listening on 127.0.0.1:$KS_PORT" "reason"
# The keyserver's own last line is quoted (whatever its wording, it is there).
last="$(grep -v '^[[:space:]]*$' "$H_TMP/data/logs/keyserver.log" | tail -n 1)"
[ -n "$last" ] || s_fail "the keyserver printed nothing"
h_assert_contains "$line" "$last" "reason quotes the keyserver"
# mosquitto had started and listened; it is stopped again.
h_assert_contains "$(cat "$H_TMP/data/logs/mosquitto.log")" "Opening ipv4 listen socket on port $MQTT_PORT" "mosquitto started"
h_wait_for 20 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT)" || s_fail "mosquitto still listens after the failure"
! pgrep -f -- "-c $H_TMP/data/mosquitto.conf" >/dev/null || s_fail "mosquitto still runs after the failure"

# 2. mosquitto cannot start: PARLEY_BIND is not an address of this machine
#    (192.0.2.1 is TEST-NET-1). The port check passes; the bind fails.
s_run PARLEY_BIND=192.0.2.1
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status when mosquitto cannot start"
line="$(grep "^parley: not running: " "$RUN_LOG" || true)"
h_assert_contains "$line" "mosquitto (pid " "reason names the service"
h_assert_contains "$line" "before listening on 192.0.2.1:$MQTT_PORT" "reason"
h_assert_contains "$line" "Cannot assign requested address" "reason quotes mosquitto"
h_assert_not_contains "$(cat "$RUN_LOG")" "Parley is running" "failed start"
h_pass
