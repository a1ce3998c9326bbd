#!/usr/bin/env bash
# A service that dies after the stack is up: scripts/run says which one and how
# it ended, stops the others and exits 1 (it used to keep waiting, or exit 0).
. "$(dirname "$0")/lib.sh"

s_ports
s_run
s_wait_banner
mosq="$(s_child_pid mosquitto)" ks="$(s_child_pid keyserver)" media="$(s_child_pid media)"
[ -n "$mosq" ] && [ -n "$ks" ] && [ -n "$media" ] || s_fail "banner lacks the pids"
kill -KILL "$media"
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status after the media gateway died"
line="$(grep "^parley: not running: " "$RUN_LOG" || true)"
h_assert_contains "$line" "media (pid $media) was killed by signal 9 (SIGKILL) after listening on 127.0.0.1:$MEDIA_PORT" "reason"
s_gone "$mosq" || s_fail "mosquitto (pid $mosq) still runs"
s_gone "$ks" || s_fail "keyserver (pid $ks) still runs"

# The same for a service that exits by itself (status 0 is no excuse).
s_run
s_wait_banner
ks="$(s_child_pid keyserver)" mosq="$(s_child_pid mosquitto)" media="$(s_child_pid media)"
kill -TERM "$ks"     # the keyserver stops cleanly on SIGTERM: exit status 0
s_wait_exit
h_assert_eq "$RUN_RC" 1 "exit status after the keyserver exited"
h_assert_contains "$(grep "^parley: not running: " "$RUN_LOG" || true)" "keyserver (pid $ks) exited with status 0 after listening on 127.0.0.1:$KS_PORT" "reason"
s_gone "$mosq" || s_fail "mosquitto (pid $mosq) still runs"
s_gone "$media" || s_fail "media gateway (pid $media) still runs"
h_pass
