#!/usr/bin/env bash
# A retry after a broker restart (docs/protocol.md, "Sending a message"):
# the plugin keeps no retry map across restarts, the store recognises
# (sender, client_msg_id). The retry gets STORED with the original seq and
# server id and is not delivered again; the next message follows without a
# gap.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob
h_start_mosquitto

p_sub bob1 bob bob-1 1 parley/u/bob/inbox
p_sub al1 alice alice-r 1 parley/u/alice/receipts
p_env "$H_TMP/m1" m1 --body "first"
p_env "$H_TMP/m2" m2 --body "second"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
p_wait_sub bob1
p_wait_sub al1
p_decode receipt al1 >"$H_TMP/first.json"
h_assert_eq "$(p_json_field status <"$H_TMP/first.json")" stored "m1 stored"

kill -KILL "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true
h_restart_mosquitto

# bob's first delivery after the restart must be m2: a re-delivered m1 would
# come first (deliveries follow the commit order).
p_sub bob2 bob bob-2 1 parley/u/bob/inbox
p_sub al2 alice alice-r2 2 parley/u/alice/receipts
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
h_wait_for 20 p_lines_ge "$H_TMP/al2.out" 1 || h_fail "no receipt for the retry"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m2"
p_wait_sub bob2
p_wait_sub al2
p_decode envelope bob2 >"$H_TMP/bob.json"
p_decode receipt al2 >"$H_TMP/after.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob.json")" m2 "the retry is not delivered again"
h_assert_eq "$(p_json_field seq <"$H_TMP/bob.json")" 2 "m2 follows m1 without a gap"
retry="$(sed -n 1p "$H_TMP/after.json")"
h_assert_eq "$(p_json_field status <<<"$retry")/$(p_json_field client_msg_id <<<"$retry")" stored/m1 "retry answered STORED"
h_assert_eq "$(p_json_field seq <<<"$retry")/$(p_json_field server_id <<<"$retry")" \
  "$(p_json_field seq <"$H_TMP/first.json")/$(p_json_field server_id <"$H_TMP/first.json")" "original seq and server id"
h_assert_eq "$(p_sql "select count(*) from messages where client_msg_id='m1'")" 1 "m1 stored once"
h_pass
