#!/usr/bin/env bash
# Issue 18 on a systemd-booted Debian 12: mosquitto.service (installed and
# started by the mosquitto package) holds the MQTT port. scripts/run recognises
# it as the service's main process (systemctl show -p MainPID), stops and
# disables it with "systemctl disable --now mosquitto.service", says so, and
# brings the stack up. There is no systemd in CI: a stand-in systemctl on PATH
# answers for a broker started as mosquitto.service starts it, and does what
# systemd does on "disable --now" (SIGTERM to the main process). Its config file
# is not the one PARLEY_SYSTEM_MOSQUITTO_CONF names, so only the systemd answer
# can identify it.
. "$(dirname "$0")/lib.sh"

s_ports
conf="$H_TMP/etc/mosquitto/mosquitto.conf"
s_debian_conf "$conf" "$MQTT_PORT"
s_start_packaged_broker "$conf" "$MQTT_PORT"

mkdir -p "$H_TMP/bin"
cat >"$H_TMP/bin/systemctl" <<SH
#!/bin/bash
# Stand-in for systemd's systemctl: mosquitto.service's main pid is $BROKER_PID.
echo "\$*" >>"$H_TMP/systemctl.calls"
case "\$*" in
  "show -p MainPID --value mosquitto.service")
    if [ -d /proc/$BROKER_PID ]; then echo $BROKER_PID; else echo 0; fi ;;
  "disable --now mosquitto.service")
    echo "Removed \"/etc/systemd/system/multi-user.target.wants/mosquitto.service\"."
    kill -TERM $BROKER_PID
    for i in \$(seq 300); do [ -d /proc/$BROKER_PID ] || exit 0; sleep 0.1; done
    exit 1 ;;
  *) echo "systemctl stand-in: unexpected: \$*" >&2; exit 1 ;;
esac
SH
if [ "$S_ROOT" = 0 ]; then
  # This user cannot become root, and the broker runs as this user: a stand-in
  # sudo runs the stand-in systemctl as is (scripts/run uses sudo for systemctl
  # when not root).
  printf '#!/bin/sh\nexec "$@"\n' >"$H_TMP/bin/sudo"
  chmod 755 "$H_TMP/bin/sudo"
fi
chmod 755 "$H_TMP/bin/systemctl" "$H_TMP/bin"
# Created by this user: the stand-in may run as root (sudo) and only appends.
: >"$H_TMP/systemctl.calls"

s_run PATH="$H_TMP/bin:$PATH" PARLEY_SYSTEM_MOSQUITTO_CONF=/nonexistent/mosquitto.conf
s_wait_banner
out="$(cat "$RUN_LOG")"
h_assert_contains "$out" "port $MQTT_PORT is held by Debian's mosquitto.service" "the stop line"
h_assert_contains "$out" "systemctl disable --now mosquitto.service (undo: systemctl enable --now mosquitto.service)" "the stop line"
calls="$(cat "$H_TMP/systemctl.calls")"
h_assert_contains "$calls" "disable --now mosquitto.service" "systemctl calls"
[ ! -d "/proc/$BROKER_PID" ] || s_fail "mosquitto.service's broker (pid $BROKER_PID) still runs"
mosq="$(s_child_pid mosquitto)"
ss -ltnpH "sport = :$MQTT_PORT" | grep -q "pid=$mosq," || s_fail "port $MQTT_PORT is not held by scripts/run's mosquitto"

kill -TERM "$RUN_PID"
s_wait_exit
h_assert_eq "$RUN_RC" 0 "exit status after SIGTERM"

# Second run: the service is stopped now; systemctl is asked nothing more
# than who holds the port (nobody), and nothing is stopped.
: >"$H_TMP/systemctl.calls"
s_run PATH="$H_TMP/bin:$PATH"
s_wait_banner
h_assert_not_contains "$(cat "$RUN_LOG")" "held by" "second run"
h_assert_not_contains "$(cat "$H_TMP/systemctl.calls")" "disable" "second run"
kill -TERM "$RUN_PID"
s_wait_exit
h_assert_eq "$RUN_RC" 0 "exit status after SIGTERM"
h_pass
