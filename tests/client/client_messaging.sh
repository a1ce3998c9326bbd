#!/usr/bin/env bash
# Two users in two homes exchange end-to-end encrypted messages and receipts
# through real mosquitto + plugin + keyserver.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

# Both listen; alice sees receipts, bob acks delivered (then read below).
c_listen alice alice --timeout 120
ALICE_PID=$C_LISTEN_PID
c_listen bob bob --count 3 --timeout 90
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/alice.out" '"synced"'
c_wait_line 60 "$H_TMP/bob.out" '"synced"'

for i in 1 2 3; do
  out="$(c_parley alice send bob "hello bob $i" --timeout 60)" || h_fail "send $i failed: $out"
  h_assert_contains "$out" "stored d:alice:bob seq $i " "stored receipt of message $i"
done
wait "$BOB_PID" || h_fail "bob's listener did not get 3 messages"
got="$(c_messages "$H_TMP/bob.out")"
h_assert_eq "$got" "$(printf '1 alice hello bob 1\n2 alice hello bob 2\n3 alice hello bob 3')" "bob's messages"

# Alice gets a delivered receipt covering seq 3 (bob's listener acked each message).
c_wait_line 60 "$H_TMP/alice.out" '"status":"delivered","chat_id":"d:alice:bob","seq":3,"by":"bob"'

# Bob answers; alice's listener shows it decrypted.
c_parley bob send alice "hi alice, got them" --timeout 60 >/dev/null || h_fail "bob's reply failed"
c_wait_line 60 "$H_TMP/alice.out" '"text":"hi alice, got them"'
h_assert_contains "$(grep '"type":"message"' "$H_TMP/alice.out")" '"seq":4,"sender":"bob"' "reply seq"

# Bob reads the chat: alice gets a read receipt.
out="$(c_parley bob read alice --timeout 60)" || h_fail "read failed: $out"
h_assert_contains "$out" "read d:alice:bob up to 4" "read cursor (the chat's last message)"
c_wait_line 60 "$H_TMP/alice.out" '"status":"read","chat_id":"d:alice:bob","seq":4,"by":"bob"'

# Histories after a sync: both sides hold the whole conversation.
hist="$(c_parley bob history alice --timeout 60)" || h_fail "bob history failed"
h_assert_contains "$hist" "#1] alice: hello bob 1" "bob history"
h_assert_contains "$hist" "#4] bob: hi alice, got them" "bob history has his own message"
chats="$(c_parley alice chats --json --timeout 60)" || h_fail "chats failed"
h_assert_contains "$chats" '"chat_id":"d:alice:bob","name":"bob","last_seq":4' "alice's chat list"

# Bad input: a clear error, exit code 1, nothing queued.
set +e
c_parley alice send "not a user!" "x" >/dev/null 2>"$H_TMP/err.txt"; rc=$?
set -e
h_assert_eq "$rc" 1 "exit code of an invalid recipient"
h_assert_contains "$(cat "$H_TMP/err.txt")" "invalid recipient" "error message"
h_assert_contains "$(c_parley alice status --json)" '"outbox":0' "outbox empty"

kill "$ALICE_PID" 2>/dev/null || true
h_pass
