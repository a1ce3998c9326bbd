#!/usr/bin/env bash
# Store, then forward (docs/protocol.md, "Sending a message"): nothing is
# delivered before it is durable. While an external sqlite3 process holds the
# store's write lock (BEGIN EXCLUSIVE), a send cannot commit: the recipient
# receives nothing and the sender gets REJECTED store_failed once the
# writer's busy timeout (5 s) runs out. After the lock is released, a retry
# with the same client_msg_id is stored and delivered exactly once, and the
# chat's seqs have no gap.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
command -v sqlite3 >/dev/null || h_fail "sqlite3 missing (package sqlite3)"

p_user alice bob
h_start_mosquitto

# bob expects exactly m0, m1 (once) and the sentinel m2; alice expects
# STORED m0, REJECTED m1, STORED m1, STORED m2.
p_sub bob_in bob bob-1 3 parley/u/bob/inbox
p_sub al_rc alice alice-r 4 parley/u/alice/receipts
for m in m0 m1 m2; do p_env "$H_TMP/$m" "$m" --body "body of $m"; done
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m0"
h_wait_for 20 p_lines_ge "$H_TMP/al_rc.out" 1 || h_fail "no STORED receipt for m0"
h_wait_for 20 p_lines_ge "$H_TMP/bob_in.out" 1 || h_fail "m0 not delivered"

# Take the write lock and hold it until told to commit.
mkfifo "$H_TMP/lock.in"
sqlite3 "$P_DB" <"$H_TMP/lock.in" >"$H_TMP/lock.out" 2>&1 &
LOCK_PID=$!
H_PIDS+=("$LOCK_PID")
exec 3>"$H_TMP/lock.in"
printf 'BEGIN EXCLUSIVE;\nSELECT '"'"'locked'"'"';\n' >&3
h_wait_for 20 grep -q locked "$H_TMP/lock.out" || h_fail "could not lock the store: $(cat "$H_TMP/lock.out")"

p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
h_wait_for 30 p_lines_ge "$H_TMP/al_rc.out" 2 || h_fail "no receipt for m1 while the store was locked"
p_decode receipt al_rc >"$H_TMP/locked.json"
h_assert_eq "$(sed -n 2p "$H_TMP/locked.json" | p_json_field status)" rejected "m1 refused while locked"
h_assert_eq "$(sed -n 2p "$H_TMP/locked.json" | p_json_field error)" store_failed "m1's error"
h_assert_eq "$(sed -n 2p "$H_TMP/locked.json" | p_json_field client_msg_id)" m1 "m1's receipt"
# The refusal came after the commit failed: had m1 been delivered before
# its commit, bob would hold it now (deliveries precede receipts).
h_assert_eq "$(wc -l <"$H_TMP/bob_in.out")" 1 "bob got only m0 while the store was locked"
h_assert_eq "$(p_sql "select count(*) from messages where client_msg_id='m1'")" 0 "m1 not stored"

# Release the lock; the retry of m1 is stored and delivered once, then m2.
printf 'COMMIT;\n' >&3
exec 3>&-
wait "$LOCK_PID" 2>/dev/null || true
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
h_wait_for 30 p_lines_ge "$H_TMP/al_rc.out" 3 || h_fail "no receipt for the retry of m1"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m2"
p_wait_sub bob_in
p_wait_sub al_rc

p_decode envelope bob_in >"$H_TMP/bob.json"
p_decode receipt al_rc >"$H_TMP/alice.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob.json" | tr '\n' ' ')" "m0 m1 m2 " "bob's deliveries: m1 once"
h_assert_eq "$(p_json_field seq <"$H_TMP/bob.json" | tr '\n' ' ')" "1 2 3 " "gapless seqs"
h_assert_eq "$(p_json_field status <"$H_TMP/alice.json" | tr '\n' ' ')" "stored rejected stored stored " "alice's receipts"
h_assert_eq "$(sed -n 3p "$H_TMP/alice.json" | p_json_field seq)" 2 "m1 stored as seq 2"
h_assert_eq "$(sed -n 3p "$H_TMP/alice.json" | p_json_field server_id)" \
  "$(sed -n 2p "$H_TMP/bob.json" | p_json_field server_id)" "the STORED server id is the delivered one"
h_assert_eq "$(p_sql "select count(*) from messages where client_msg_id='m1'")" 1 "m1 stored once"
h_pass
