#!/usr/bin/env bash
# The recipient is offline: messages sent while it is away arrive after it
# reconnects, in order, exactly once - from its persistent session and, past
# the broker's small per-session queue, from the store by cursor (sync).
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

H_MAX_QUEUED=2   # the broker queues 2 messages per offline session; the rest come from sync
h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

# Bob connects once (creating his persistent session), then goes away.
c_listen bob bob0 --timeout 120
c_wait_line 60 "$H_TMP/bob0.out" '"synced"'
kill -TERM "$C_LISTEN_PID"
wait "$C_LISTEN_PID" 2>/dev/null || true

for i in 1 2 3 4 5 6; do
  c_parley alice send bob "while away $i" --timeout 60 >/dev/null || h_fail "send $i failed"
done

# Bob comes back: six messages, in order, once.
c_listen bob bob1 --count 6 --timeout 90
wait "$C_LISTEN_PID" || h_fail "bob did not receive 6 messages: $(cat "$H_TMP/bob1.out")"
got="$(c_messages "$H_TMP/bob1.out")"
want="$(for i in 1 2 3 4 5 6; do echo "$i alice while away $i"; done)"
h_assert_eq "$got" "$want" "messages after reconnect"

# Reconnecting again delivers nothing twice (queued copies are dropped as
# duplicates of what sync already delivered).
c_listen bob bob2 --timeout 6
wait "$C_LISTEN_PID" || true
h_assert_eq "$(c_count "$H_TMP/bob2.out" '"type":"message"')" 0 "messages delivered twice"

# A message while bob is online again arrives live, with the next seq.
c_listen bob bob3 --count 1 --timeout 90
c_wait_line 60 "$H_TMP/bob3.out" '"synced"'
c_parley alice send bob "back online" --timeout 60 >/dev/null || h_fail "send failed"
wait "$C_LISTEN_PID" || h_fail "live message missing"
h_assert_eq "$(c_messages "$H_TMP/bob3.out")" "7 alice back online" "live message"

# The local history holds all seven, once each.
hist="$(c_parley bob history alice --offline)"
h_assert_eq "$(grep -c 'alice: ' <<<"$hist")" 7 "history size"
h_pass
