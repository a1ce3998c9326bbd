#!/usr/bin/env bash
# Messages across broker nodes (docs/cluster.md, "Deliveries across nodes"):
# three nats-server and three mosquitto nodes with the plugin on one SQLite
# store; clients are mosquitto_pub / mosquitto_sub.
#  - 1:1: alice sends through node 1, bob receives on node 3; alice's
#    STORED receipt reaches her connection on node 2; bob's ack on node 3
#    sends DELIVERED to alice on node 2; bob's typing on node 3 reaches
#    alice on node 1.
#  - two senders on two nodes writing into one chat: the store holds
#    1..2N with no gap and no duplicate, and both recipients receive every
#    message of the other exactly once, in seq order.
#  - a retry published to another node gets the original seq and is
#    stored once.
#  - a group whose members sit on three nodes: one send reaches all; a
#    member removed on node 1 receives nothing sent afterwards through
#    node 2 (a member on the removed member's node receives it first).
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"
# Subscribers wait for all their messages at most this long (a bound against a
# hang, not a timing assertion): three brokers and three NATS servers under the
# sanitizers on a loaded 2-core machine took over 60 s for 40 messages.
export P_SUB_WAIT=180

p_user admin alice bob carol dave erin
c_start_cluster 3 "plugin_opt_metrics_interval 1
plugin_opt_rate_messages 1000
plugin_opt_rate_user_messages 1000"
D="d:alice:bob"

# ---- 1:1 across nodes ----------------------------------------------------------
c_on 3
p_sub bob_in bob bob-in 1 parley/u/bob/inbox
c_on 2
p_sub alice_rc alice alice-rc 2 parley/u/alice/receipts
c_on 1
p_sub alice_ty alice alice-ty 1 parley/u/alice/typing
p_env "$H_TMP/m1" x-1 --body hello
p_pub alice alice-p parley/u/bob/inbox "$H_TMP/m1" || h_fail "publish on node 1"
p_wait_sub bob_in
p_decode envelope bob_in >"$H_TMP/bob_in.json"
h_assert_eq "$(p_json_field seq <"$H_TMP/bob_in.json")" 1 "seq of the message on node 3"
h_assert_eq "$(p_json_field sender <"$H_TMP/bob_in.json")" alice "sender on node 3"
h_assert_eq "$(p_json_field body <"$H_TMP/bob_in.json")" hello "body on node 3"
c_on 3
p_request bob bob-q ack1 ack a1 "$D" 1 delivered
h_assert_eq "$(p_json_field status <"$H_TMP/ack1.json")" 0 "bob's ack on node 3 (the seq came from node 1)"
p_wait_sub alice_rc
p_decode receipt alice_rc >"$H_TMP/alice_rc.json"
h_assert_eq "$(p_json_field status <"$H_TMP/alice_rc.json" | tr '\n' ' ')" "stored delivered " \
  "alice's receipts on node 2"
ptool typing --on >"$H_TMP/typ"
p_pub bob bob-p parley/u/alice/typing "$H_TMP/typ" || h_fail "typing on node 3"
p_wait_sub alice_ty
h_assert_eq "$(p_decode typing alice_ty | p_json_field user)" bob "typing relayed from node 3 to node 1"

# erin is offline while alice writes to her through node 1 (a chat node 3
# has never seen); erin connects to node 3, syncs and acks: node 3 takes the
# chat's last seq from the store's answer.
c_on 1
p_env "$H_TMP/e1" e-1 --body "while you were away"
p_pub alice alice-p parley/u/erin/inbox "$H_TMP/e1" || h_fail "publish to offline erin"
h_wait_for 20 p_sql_eq "SELECT count(*) FROM messages WHERE chat_id='d:alice:erin'" 1 ||
  h_fail "alice's message to erin not stored"
c_on 3
p_request erin erin-q esync sync s1 d:alice:erin 0
h_assert_eq "$(p_seqs "$H_TMP/esync.json")" "1 " "erin's sync on node 3"
p_request erin erin-q eack ack a2 d:alice:erin 1 read
h_assert_eq "$(p_json_field status <"$H_TMP/eack.json")" 0 "erin's ack on node 3 of a chat only node 1 wrote"

# ---- two senders on two nodes into one chat -------------------------------------
N=40
c_on 1
p_sub alice_all alice alice-all "$N" parley/u/alice/inbox
c_on 2
p_sub bob_all bob bob-all "$N" parley/u/bob/inbox
for ((i = 1; i <= N; i++)); do
  p_env "$H_TMP/a$i" "a-$i" --body "from alice $i"
  p_env "$H_TMP/b$i" "b-$i" --body "from bob $i"
done
send_all() { # USER CID TARGET PREFIX NODE
  local i
  c_on "$5"
  for ((i = 1; i <= N; i++)); do p_pub "$1" "$2" "parley/u/$3/inbox" "$H_TMP/$4$i" || return 1; done
}
send_all alice alice-s bob a 1 &
sa=$!
send_all bob bob-s alice b 2 &
sb=$!
wait "$sa" || h_fail "alice's sends on node 1"
wait "$sb" || h_fail "bob's sends on node 2"
total=$((2 * N + 1))
h_wait_for 30 p_sql_eq "SELECT count(*) FROM messages WHERE chat_id='$D'" "$total" ||
  h_fail "the store holds $(p_sql "SELECT count(*) FROM messages WHERE chat_id='$D'") of $total"
h_assert_eq "$(p_sql "SELECT count(DISTINCT seq) || ':' || min(seq) || ':' || max(seq) FROM messages WHERE chat_id='$D'")" \
  "$total:1:$total" "seqs of the chat (no gap, no duplicate)"
p_wait_sub alice_all
p_wait_sub bob_all
for who in alice bob; do
  p_decode envelope "${who}_all" >"$H_TMP/${who}_all.json"
  seqs="$(p_json_field seq <"$H_TMP/${who}_all.json" | tr '\n' ' ')"
  sorted="$(p_json_field seq <"$H_TMP/${who}_all.json" | sort -n | uniq | tr '\n' ' ')"
  h_assert_eq "$seqs" "$sorted" "$who received each message once, in seq order"
done
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/alice_all.json" | sort -t- -k2 -n | tr '\n' ' ')" \
  "$(for ((i = 1; i <= N; i++)); do printf 'b-%d ' "$i"; done)" "alice got all of bob's"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob_all.json" | sort -t- -k2 -n | tr '\n' ' ')" \
  "$(for ((i = 1; i <= N; i++)); do printf 'a-%d ' "$i"; done)" "bob got all of alice's"

# ---- a retry through another node -----------------------------------------------
orig="$(p_sql "SELECT seq || ' ' || server_id FROM messages WHERE sender='alice' AND client_msg_id='a-7'")"
c_on 3
p_sub alice_rc3 alice alice-rc3 1 parley/u/alice/receipts
p_pub alice alice-r parley/u/bob/inbox "$H_TMP/a7" || h_fail "retry on node 3"
p_wait_sub alice_rc3
p_decode receipt alice_rc3 >"$H_TMP/retry.json"
h_assert_eq "$(p_json_field status <"$H_TMP/retry.json")" stored "retry answered"
h_assert_eq "$(p_json_field seq <"$H_TMP/retry.json") $(p_json_field server_id <"$H_TMP/retry.json")" \
  "$orig" "the retry on node 3 got the original seq and server id"
h_assert_eq "$(p_sql "SELECT count(*) FROM messages WHERE sender='alice' AND client_msg_id='a-7'")" 1 \
  "the retry is stored once"

# ---- a group across three nodes ---------------------------------------------------
c_on 1
G="$(g_create alice team carol dave erin)"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "bad group id '$G'"
IN="$(g_topic "$G")"
# carol on node 2, dave and erin on node 3 (their subscriptions stay open).
# dave: g-1, the removal on his own inbox, then the sentinel; carol and
# erin: g-1, the removal (on the group topic), g-2.
c_on 2
p_sub carol carol carol-g 3 "$IN"
c_on 3
p_sub dave dave dave-g 3 "$IN" parley/u/dave/inbox
p_sub erin erin erin-g 3 "$IN"
c_on 1
p_env "$H_TMP/g1" g-1 --body "to everyone"
p_pub alice alice-g "$IN" "$H_TMP/g1" || h_fail "group send on node 1"
h_wait_for 20 p_lines_ge "$H_TMP/carol.out" 1 || h_fail "carol (node 2) did not get the group message"
h_wait_for 20 p_lines_ge "$H_TMP/erin.out" 1 || h_fail "erin (node 3) did not get the group message"
h_wait_for 20 p_lines_ge "$H_TMP/dave.out" 1 || h_fail "dave (node 3) did not get the group message"
# alice removes dave through node 1; dave is told on his own inbox (node 3).
g_req alice rm_dave remove r1 "$G" dave
g_expect rm_dave 0
h_wait_for 20 p_lines_ge "$H_TMP/dave.out" 2 || h_fail "dave was not told of his removal"
# carol sends through node 2 after the removal: erin (node 3) gets it.
c_on 2
p_env "$H_TMP/g2" g-2 --body "after dave left"
p_pub carol carol-p "$IN" "$H_TMP/g2" || h_fail "group send on node 2"
p_wait_sub erin
p_wait_sub carol
chat_ids() { g_decode "$1" envelope | p_json_field client_msg_id | grep -v '^sys-' | tr '\n' ' '; }
h_assert_eq "$(chat_ids erin)" "g-1 g-2 " "erin's group messages (node 3)"
h_assert_eq "$(chat_ids carol)" "g-1 g-2 " "carol's group messages (node 2)"
# node 3 has published g-2 to its subscribers (erin has it): a message to
# dave's own inbox sent now arrives after g-2 would have on his connection.
c_on 1
p_env "$H_TMP/s1" sentinel-1 --body sentinel
p_pub alice alice-p parley/u/dave/inbox "$H_TMP/s1" || h_fail "sentinel"
p_wait_sub dave
h_assert_eq "$(g_decode dave envelope | p_json_field client_msg_id | sed 's/^sys-.*/sys/' | tr '\n' ' ')" \
  "g-1 sys sentinel-1 " "the removed member on node 3: nothing sent after the removal (and the notice once, on his inbox)"
h_assert_eq "$(p_sql "SELECT count(*) FROM members WHERE chat_id='$G' AND user_id='dave'")" 0 "dave left the store's members"

# The counters: deliveries crossed the bus, none was malformed.
c_on 3
p_wait_metric cluster/deliveries_in 3
h_assert_eq "$(p_metric cluster/deliveries_malformed)" 0 "malformed deliveries on node 3"
h_pass
