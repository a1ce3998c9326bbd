#!/usr/bin/env bash
# Ctrl-C in a terminal: scripts/run runs as the terminal's foreground job (a
# pseudo-terminal here), Ctrl-C sends SIGINT to it and to the services at once;
# it must stop all three and exit 0 ("parley: stopping"), not mistake the
# services' own exit for a crash.
. "$(dirname "$0")/lib.sh"

s_ports
rc="$(env PARLEY_NO_BUILD=1 PARLEY_BUILD_DIR="$PARLEY_BUILD_DIR" PARLEY_DATA_DIR="$H_TMP/data" \
  PARLEY_MQTT_PORT="$MQTT_PORT" PARLEY_KEYSERVER_PORT="$KS_PORT" PARLEY_MEDIA_PORT="$MEDIA_PORT" \
  PARLEY_WS_PORT="$WS_PORT" python3 "$(dirname "$0")/pty_ctrl_c.py" "$RUN_LOG" "$S_BANNER_WAIT" "$PARLEY_SOURCE_DIR/scripts/run")" ||
  s_fail "the Ctrl-C driver failed (status $?)"
h_assert_eq "$rc" 0 "exit status after Ctrl-C"
out="$(tr -d '\r' <"$RUN_LOG")"
h_assert_contains "$out" "parley: stopping" "Ctrl-C message"
h_assert_not_contains "$out" "not running" "Ctrl-C is not a failure"
mosq="$(s_child_pid mosquitto)" ks="$(s_child_pid keyserver)" media="$(s_child_pid media)"
[ -n "$mosq" ] && [ -n "$ks" ] && [ -n "$media" ] || s_fail "banner lacks the pids"
for p in "$mosq" "$ks" "$media"; do s_gone "$p" || s_fail "pid $p still runs after Ctrl-C"; done
for p in "$MQTT_PORT" "$WS_PORT" "$KS_PORT" "$MEDIA_PORT"; do
  h_wait_for 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$p)" || s_fail "port $p still open after Ctrl-C"
done
h_pass
