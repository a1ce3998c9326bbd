#!/usr/bin/env bash
# Linked devices across broker nodes (docs/protocol.md "Devices"): alice's
# primary p1 is on node 1, her laptop on node 2, bob on node 2.
#  - a direct message alice sends through node 1 reaches bob and her own
#    laptop on node 2, stamped sender_device p1;
#  - her READ on node 1 reaches her laptop's receipts on node 2 (by = alice);
#  - removing the laptop closes its connection on node 2 (each node
#    refreshes its own key cache) and node 2 refuses its reconnect.
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"
command -v devtool >/dev/null || h_fail "devtool not built ($PARLEY_BUILD_DIR/tests/devtool)"

p_user alice bob
ptool keygen "$H_TMP/keys-lap" || h_fail keygen
A="$H_TMP/keys-alice" LAP="$H_TMP/keys-lap"
devtool store-list "$H_STORE" alice 1 "$A" p1="$A" lap="$LAP" || h_fail "alice's list"
c_start_cluster 2

# d_sub NAME CLIENT_ID COUNT TOPIC - a subscriber of alice's laptop on the current node
d_sub() {
  local name="$1" cid="$2" count="$3" topic="$4"
  local before; before="$(p_grep_count "Received SUBSCRIBE from $cid\$" "$P_MOSQ_LOG")"
  : >"$H_TMP/$name.out"
  timeout 70 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "$cid" -u alice \
    -P "$(devtool token "$LAP" alice "$cid" mqtt)" -q 1 -F %x -C "$count" -W 60 -t "$topic" \
    >"$H_TMP/$name.out" 2>"$H_TMP/$name.err" &
  H_PIDS+=($!)
  eval "P_PID_$name=$! P_COUNT_$name=$count"
  h_wait_for 20 p_count_gt "Received SUBSCRIBE from $cid\$" "$P_MOSQ_LOG" "$before" ||
    h_fail "subscription of $cid did not start: $(cat "$H_TMP/$name.err")"
}

c_on 2
d_sub lapin alice.lap 1 parley/u/alice/inbox
p_sub bobin bob bob.b1 1 parley/u/bob/inbox
c_on 1
p_sub p1rc alice alice.p1-r 1 parley/u/alice/receipts
p_env "$H_TMP/m1.env" m1 --body across --own-devices-version 1
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m1.env" || h_fail "publish on node 1"
p_wait_sub bobin
p_wait_sub lapin
p_wait_sub p1rc
h_assert_contains "$(p_decode envelope lapin)" '"sender_device":"p1"' "own copy on node 2"
h_assert_contains "$(p_decode envelope bobin)" '"sender_device":"p1"' "bob's copy on node 2"

c_on 2
d_sub laprc alice.lap-r 1 parley/u/alice/receipts
c_on 1
p_request alice alice.p1 ack1 ack a1 d:alice:bob 1 read
p_wait_sub laprc
lr="$(p_decode receipt laprc)"
h_assert_contains "$lr" '"status":"read"' "own READ on node 2"
h_assert_contains "$lr" '"by":"alice"' "by alice on node 2"

c_on 2
d_sub lapgone alice.lap 1 parley/u/alice/typing
tok="$(devtool token "$LAP" alice alice.lap mqtt)"
devtool store-list "$H_STORE" alice 2 "$A" p1="$A" || h_fail "alice's list v2"
h_wait_for 20 bash -c "! kill -0 $P_PID_lapgone" || h_fail "the removed laptop stayed on node 2"
grep -q "closing connection of client alice.lap: device removed" "$H_TMP/node2.log" ||
  h_fail "node 2 logged no device removal"
p_expect_refused alice alice.lap "$tok" "the removed laptop's reconnect to node 2"
h_pass
