#!/usr/bin/env bash
# The outbox survives a broker crash: the broker is killed with SIGKILL while
# alice is sending and restarted; every message is eventually stored and
# reaches bob's application exactly once.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

N=10
h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

c_listen bob bob --count "$N" --timeout 400
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob.out" '"synced"'

send() { "$H_PARLEY" --home "$(h_home alice)" send bob "$@"; }

# Alice sends messages 1-5 one after another in the background; the broker is
# killed (SIGKILL) once bob has seen message 2, i.e. while she is sending.
(
  for i in 1 2 3 4 5; do
    send "crash test $i" --timeout 120 >>"$H_TMP/sends.log" 2>&1 || true
  done
) &
SENDER=$!
H_PIDS+=("$SENDER")
c_wait_line 120 "$H_TMP/bob.out" '"seq":2,'
kill -KILL "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true

# While the broker is down, sends time out (exit 3) and stay in the outbox.
for i in 6 7; do
  set +e
  send "crash test $i" --timeout 2 >>"$H_TMP/sends.log" 2>&1; rc=$?
  set -e
  h_assert_eq "$rc" 3 "exit code of a send while the broker is down"
done
h_assert_contains "$(c_parley alice status --json)" '"outbox":' "status"
[ "$(c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"])')" -ge 2 ] ||
  h_fail "messages 6 and 7 are not in the outbox"

h_restart_mosquitto
wait "$SENDER" || true
for i in 8 9 10; do
  send "crash test $i" --timeout 120 >>"$H_TMP/sends.log" 2>&1 || h_fail "send $i after the restart failed"
done

# Drain alice's outbox: each connection republishes what is not stored yet.
for attempt in $(seq 1 30); do
  out="$(c_parley alice status --json)"
  grep -q '"outbox":0' <<<"$out" && break
  c_parley alice listen --timeout 4 >/dev/null 2>&1 || true
done
h_assert_contains "$(c_parley alice status --json)" '"outbox":0' "alice's outbox after the restart"

wait "$BOB_PID" || h_fail "bob got $(c_count "$H_TMP/bob.out" '"type":"message"') of $N messages"
# Exactly once each, whatever was retried.
texts="$(c_field "$H_TMP/bob.out" text | grep 'crash test' | sort -V)"
h_assert_eq "$texts" "$(for i in $(seq 1 "$N"); do echo "crash test $i"; done)" "messages at bob"

# A later connection brings no duplicates.
c_listen bob bob2 --timeout 6
wait "$C_LISTEN_PID" || true
h_assert_eq "$(c_count "$H_TMP/bob2.out" '"type":"message"')" 0 "duplicates after reconnect"
h_pass
