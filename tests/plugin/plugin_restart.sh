#!/usr/bin/env bash
# Durability across a broker crash: alice sends while the broker is killed
# with SIGKILL; after a restart, every message alice got a STORED receipt for
# is returned by sync with the same seq and server id; sequence numbers go on
# above the stored ones; a retry of a stored message is stored once and gets
# its original seq and server id back.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

N=60
p_user alice bob
h_start_mosquitto

p_sub al_rc alice alice-r "$N" parley/u/alice/receipts
for ((i = 1; i <= N; i++)); do p_env "$H_TMP/m$i" "m$i" --body "message $i"; done
(
  for ((i = 1; i <= N; i++)); do
    p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m$i" >/dev/null 2>&1 || true
  done
) &
sender=$!
H_PIDS+=("$sender")
h_wait_for 180 p_lines_ge "$H_TMP/al_rc.out" 5 || h_fail "no STORED receipts before the crash"
kill -KILL "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true
kill "$sender" 2>/dev/null || true
wait "$sender" 2>/dev/null || true
# The receipt subscriber would keep trying to reconnect: stop it (its output
# is line-buffered, so every receipt it got is in the file).
kill "$P_PID_al_rc" 2>/dev/null || true
wait "$P_PID_al_rc" 2>/dev/null || true
p_decode receipt al_rc | grep '"status":"stored"' >"$H_TMP/stored.json" || true
seen="$(wc -l <"$H_TMP/stored.json")"
h_log "alice saw $seen STORED receipts before the crash"
[ "$seen" -ge 5 ] || h_fail "too few receipts: $seen"

h_restart_mosquitto
p_request bob bob-1 all sync s1 d:alice:bob 0 500
h_assert_eq "$(p_json_field status <"$H_TMP/all.json")" 0 "sync after restart"
# Every acknowledged message is there with the same seq and server id.
while read -r line; do
  id="$(p_json_field client_msg_id <<<"$line")"
  seq="$(p_json_field seq <<<"$line")"
  sid="$(p_json_field server_id <<<"$line")"
  grep -qF "\"server_id\":\"$sid\",\"chat_id\":\"d:alice:bob\",\"seq\":$seq,\"sender\":\"alice\"" "$H_TMP/all.json" ||
    h_fail "message $id (seq $seq, $sid) acknowledged as stored but missing after restart"
done <"$H_TMP/stored.json"
# The synced sequence has no duplicates and is ascending.
seqs="$(p_seqs "$H_TMP/all.json")"
h_assert_eq "$seqs" "$(tr ' ' '\n' <<<"$seqs" | grep . | sort -n -u | tr '\n' ' ')" "ascending, unique seqs"
last="$(grep -o '"last_seq":[0-9]*' "$H_TMP/all.json" | cut -d: -f2)"

# New messages continue above the stored seqs; a retry of m1 is stored once.
# A second retry is then answered from the broker's retry map, with the
# original seq and server id too.
p_sub al_rc2 alice alice-r 3 parley/u/alice/receipts
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
p_env "$H_TMP/after" after --body "after restart"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/after"
h_wait_for 120 p_lines_ge "$H_TMP/al_rc2.out" 2 || h_fail "no receipts after restart"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
p_wait_sub al_rc2
p_decode receipt al_rc2 >"$H_TMP/after.json"
first="$(grep '"client_msg_id":"m1"' "$H_TMP/stored.json" | head -1)"
retry="$(grep '"client_msg_id":"m1"' "$H_TMP/after.json" | sed -n 1p)"
retry2="$(grep '"client_msg_id":"m1"' "$H_TMP/after.json" | sed -n 2p)"
h_assert_eq "$(p_json_field seq <<<"$retry2")/$(p_json_field server_id <<<"$retry2")" \
  "$(p_json_field seq <<<"$first")/$(p_json_field server_id <<<"$first")" "second retry after restart"
h_assert_eq "$(p_json_field status <<<"$retry")" stored "retry of m1 after restart"
h_assert_eq "$(p_json_field seq <<<"$retry")" "$(p_json_field seq <<<"$first")" "retry keeps m1's seq"
h_assert_eq "$(p_json_field server_id <<<"$retry")" "$(p_json_field server_id <<<"$first")" "retry keeps m1's server id"
new_seq="$(grep '"client_msg_id":"after"' "$H_TMP/after.json" | p_json_field seq)"
[ "$new_seq" -gt "$last" ] || h_fail "seq after restart ($new_seq) not above the stored last seq ($last)"
h_assert_eq "$(p_sql "select count(*) from messages where client_msg_id='m1'")" 1 "m1 stored once"
h_pass
