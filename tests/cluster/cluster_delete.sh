#!/usr/bin/env bash
# Delete for everyone and expiry across broker nodes (docs/broker-plugin.md,
# "Delete for everyone", "Message expiry"): a message stored through node 1
# is deleted by a request to node 2 (direct chat and a group created on
# node 1, with the deleter's only connection on node 2), a member's request
# on node 2 is refused as on one node, and a sync on node 1 returns the
# tombstones. Both nodes run the periodic expiry on the shared store: a
# message with ttl_s 2 is deleted, and neither node logs a failed expiry.
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol
c_start_cluster 2 "plugin_opt_expire_interval_s 1"

expect() {
  local f="$H_TMP/$1.json"
  h_assert_eq "$(p_json_field status <"$f")/$(p_json_field error <"$f")" "$2/${3:-}" \
    "response $1: $(cat "$f")"
}
kind_of() { p_sql "select kind || ':' || ifnull(deleted_by, '') from messages where client_msg_id = '$1'"; }

# Through node 1: a direct message, a group with a message of bob's, and a
# message that expires after 2 s.
c_on 1
p_env "$H_TMP/m1" m1 --body "to be deleted"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
G="$(g_create alice team bob carol)"
p_env "$H_TMP/g1" g1 --body "bob in the group"
p_pub bob bob-1 "$(g_topic "$G")" "$H_TMP/g1"
p_env "$H_TMP/e1" e1 --body "short" --ttl 2
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/e1"
h_wait_for 20 p_sql_eq "select count(*) from messages where client_msg_id in ('m1', 'g1')" 2 ||
  h_fail "messages not stored"
g1="$(p_sql "select seq from messages where client_msg_id = 'g1'")"

# Through node 2: carol (a member) may not delete bob's message; alice (the
# owner) and the sender may.
c_on 2
p_request carol carol-2 c_g1 delete c_g1 "$G" "$g1"
expect c_g1 403 forbidden
p_request alice alice-2 a_m1 delete a_m1 d:alice:bob 1
expect a_m1 0
p_request alice alice-2 a_g1 delete a_g1 "$G" "$g1"
expect a_g1 0
h_assert_eq "$(kind_of m1)" "3:alice" "m1 is a tombstone"
h_assert_eq "$(kind_of g1)" "3:alice" "g1 is a tombstone"

# Node 1 returns the tombstones on sync.
c_on 1
p_request bob bob-1 s_d sync s_d d:alice:bob
grep -q '"client_msg_id":"m1","body":"","body_len":0,"media_id":"","ttl_s":0,"kind":3' "$H_TMP/s_d.json" ||
  h_fail "sync on node 1: $(cat "$H_TMP/s_d.json")"
p_request bob bob-1 s_g sync s_g "$G"
grep -q '"deleted_by":"alice"' "$H_TMP/s_g.json" || h_fail "group sync on node 1: $(cat "$H_TMP/s_g.json")"

# Both nodes expire; the row goes, and no node failed at it.
h_wait_for 60 p_sql_eq "select count(*) from messages where client_msg_id = 'e1'" 0 ||
  h_fail "e1 still stored after its ttl"
h_assert_eq "$(cat "$H_TMP"/node*.log | grep -c 'message expiry failed' || true)" 0 "no failed expiry"
h_pass
