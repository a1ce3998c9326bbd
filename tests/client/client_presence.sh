#!/usr/bin/env bash
# Presence and typing through real mosquitto + plugin: bob watches alice's
# presence (retained, parley/presence/alice) and receives her typing events
# (parley/u/bob/typing, QoS 0, never stored).
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

c_listen bob bob --presence alice --timeout 120
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob.out" '"synced"'

# Alice comes online (a listener holds her connection): bob sees it.
c_listen alice alice --timeout 120
ALICE_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob.out" '"type":"presence","user":"alice","online":true'

# Alice types, then stops (one-shot commands beside her listener).
c_parley alice typing bob >/dev/null || h_fail "typing failed"
c_wait_line 60 "$H_TMP/bob.out" '"type":"typing","user":"alice","chat_id":"d:alice:bob","typing":true'
c_parley alice typing bob --stop >/dev/null || h_fail "typing --stop failed"
c_wait_line 60 "$H_TMP/bob.out" '"type":"typing","user":"alice","chat_id":"d:alice:bob","typing":false'

# Order: online before the typing event.
first_online="$(grep -n '"type":"presence","user":"alice","online":true' "$H_TMP/bob.out" | head -1 | cut -d: -f1)"
first_typing="$(grep -n '"type":"typing"' "$H_TMP/bob.out" | head -1 | cut -d: -f1)"
[ "$first_online" -lt "$first_typing" ] || h_fail "typing before online: $(cat "$H_TMP/bob.out")"

# Alice's last connection ends: bob sees her offline.
kill -TERM "$ALICE_PID"
wait "$ALICE_PID" 2>/dev/null || true
c_wait_line 60 "$H_TMP/bob.out" '"type":"presence","user":"alice","online":false'
last="$(grep '"type":"presence"' "$H_TMP/bob.out" | tail -1)"
h_assert_contains "$last" '"online":false' "alice's last presence"

# Typing is never stored: nothing in bob's history or chat list.
h_assert_eq "$(c_count "$H_TMP/bob.out" '"type":"message"')" 0 "no messages from typing"

# Bad input: usage errors.
set +e
c_parley alice typing "not a user!" >/dev/null 2>"$H_TMP/err.txt"; rc=$?
set -e
h_assert_eq "$rc" 1 "exit code of an invalid typing recipient"
kill -TERM "$BOB_PID"
wait "$BOB_PID" 2>/dev/null || true
set +e
c_parley bob listen --presence "bad user!" --timeout 1 >/dev/null 2>"$H_TMP/err2.txt"; rc=$?
set -e
h_assert_eq "$rc" 1 "exit code of an invalid --presence list"
h_pass
