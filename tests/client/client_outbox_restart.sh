#!/usr/bin/env bash
# The outbox survives a broker crash: the broker is killed with SIGKILL while
# alice is sending and restarted; every message is eventually stored and
# reaches bob's application exactly once. A send started while the broker is
# down fails at once (exit 2) and queues nothing, so it never arrives.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

c_listen bob bob --timeout 400
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob.out" '"synced"'

send() { "$H_PARLEY" --home "$(h_home alice)" send bob "$@"; }

# Alice sends messages 1-5 one after another in the background; the broker is
# killed (SIGKILL) once bob has seen message 2, i.e. while she is sending.
(
  for i in 1 2 3 4 5; do
    set +e
    send "crash test $i" --timeout 120 >>"$H_TMP/sends.log" 2>&1
    echo "$i $?" >>"$H_TMP/rcs"
    set -e
  done
) &
SENDER=$!
H_PIDS+=("$SENDER")
c_wait_line 120 "$H_TMP/bob.out" '"seq":2,'
kill -KILL "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true

# While the broker is down, a send fails at once (exit 2, docs/client.md) and
# queues nothing: the message is not sent later behind the user's back.
outbox_n() { c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"])'; }
before="$(outbox_n)"
for i in 6 7; do
  set +e
  send "refused $i" --timeout 300 >>"$H_TMP/sends.log" 2>&1; rc=$?
  set -e
  h_assert_eq "$rc" 2 "exit code of a send while the broker is down"
done
h_assert_eq "$(outbox_n)" "$before" "sends refused while the broker is down are not queued"

h_restart_mosquitto
wait "$SENDER" || true
# Expected at bob: every send of 1-5 but those refused at once (exit 2), and 8-10.
expected="$( (awk '$2 != 2 {print $1}' "$H_TMP/rcs"; echo 8; echo 9; echo 10) | sed 's/^/crash test /' | sort -V)"
N="$(wc -l <<<"$expected")"
h_log "sends 1-5: $(tr '\n' ' ' <"$H_TMP/rcs"); expecting $N messages"
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

bob_has_all() { [ "$(c_count "$H_TMP/bob.out" '"type":"message"')" -ge "$N" ]; }
h_wait_for 300 bob_has_all ||
  h_fail "bob got $(c_count "$H_TMP/bob.out" '"type":"message"') of $N messages"
kill -TERM "$BOB_PID"; wait "$BOB_PID" 2>/dev/null || true
# Exactly once each, whatever was retried.
texts="$(c_field "$H_TMP/bob.out" text | grep 'crash test' | sort -V)"
h_assert_eq "$texts" "$expected" "messages at bob"

# A later connection brings no duplicates.
c_listen bob bob2 --timeout 6
wait "$C_LISTEN_PID" || true
h_assert_eq "$(c_count "$H_TMP/bob2.out" '"type":"message"')" 0 "duplicates after reconnect"
h_pass
