#!/usr/bin/env bash
# Cluster-wide presence (docs/cluster.md, "Presence"): three nats-server,
# three broker nodes on one store, heartbeat 500 ms. A user online on any
# node is ONLINE on every node's retained parley/presence/{user}; leaving
# one node while connected to another shows no OFFLINE; after kill -9 of
# the nats-server a node's bus uses, the bus reconnects to another and
# presence still crosses nodes; a node that hangs (SIGSTOP) has its users
# OFFLINE everywhere within the documented bound (3 heartbeats + the 500 ms
# sweep) and ONLINE again when it resumes; a node that stops cleanly says
# so and its users go OFFLINE at once.
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"

HB=500
BOUND_MS=$((3 * HB + 500))
export P_SUB_WAIT=120
p_user admin alice bob carol dave erin
c_start_cluster 3 "plugin_opt_cluster_debug 1
plugin_opt_cluster_heartbeat_ms $HB
plugin_opt_metrics_interval 1"

# 1. alice connects to node 1; carol, on node 2, sees her ONLINE.
c_on 2
p_sub w_alice carol carol-w1 1 parley/presence/alice
c_on 1
p_sub al1 alice alice-1 1 parley/u/alice/inbox
p_wait_sub w_alice
h_assert_eq "$(c_presence_state w_alice)" online "alice on node 1, seen on node 2"
# Retained on node 3 too, for a watcher that comes later.
c_on 3
p_sub late3 bob bob-late 1 parley/presence/alice
p_wait_sub late3
h_assert_eq "$(c_presence_state late3)" online "alice's retained presence on node 3"

# 2. alice connects to node 2 as well, then leaves node 1: still online.
#    Then she leaves node 2 (OFFLINE) and comes back on node 3 (ONLINE).
#    bob, on node 3, must see exactly online, offline, online.
c_on 3
p_sub w3 bob bob-w3 3 parley/presence/alice
c_on 2
p_sub al2 alice alice-2 1 parley/u/alice/inbox
h_wait_for 10 grep -q "cluster debug: presence of alice on node node2: on" "$H_TMP/node3.log" ||
  h_fail "node 3 did not hear alice arrive on node 2"
kill "$P_PID_al1"; wait "$P_PID_al1" 2>/dev/null || true
h_wait_for 10 grep -q "cluster debug: presence of alice on node node1: off" "$H_TMP/node3.log" ||
  h_fail "node 3 did not hear alice leave node 1"
kill "$P_PID_al2"; wait "$P_PID_al2" 2>/dev/null || true
h_wait_for 10 grep -q "cluster debug: presence of alice on node node2: off" "$H_TMP/node3.log" ||
  h_fail "node 3 did not hear alice leave node 2"
c_on 3
p_sub al3 alice alice-3 1 parley/u/alice/inbox
p_wait_sub w3
p_decode presence w3 >"$H_TMP/w3.json"
h_assert_eq "$(p_json_field state <"$H_TMP/w3.json" | tr '\n' ' ')" "online offline online " \
  "alice's presence on node 3"

# 3. kill -9 the nats-server node 1's bus is connected to: it reconnects to
#    another one, and presence still crosses nodes (dave on node 1, seen on
#    node 2).
n="$(c_nats_of 1)"
[ -n "$n" ] || h_fail "cannot tell which nats-server node 1 uses"
kill -KILL "${H_NATS_PIDS[n]}"
h_wait_for 20 grep -q "cluster: node node1 reconnected to NATS" "$H_TMP/node1.log" ||
  h_fail "node 1 did not reconnect after nats$n died"
[ "$(c_nats_of 1)" != "$n" ] || h_fail "node 1 reconnected to the dead nats$n"
h_wait_for 10 grep -q "cluster: resync after reconnect" "$H_TMP/node1.log" ||
  h_fail "node 1 ran no resync after the reconnect"
h_log "node 1 moved from nats$n to nats$(c_nats_of 1)"
c_on 1
p_wait_metric cluster/reconnects 1
c_on 2
p_sub w_dave carol carol-wd 1 parley/presence/dave
c_on 1
p_sub dv1 dave dave-1 1 parley/u/dave/inbox
p_wait_sub w_dave
h_assert_eq "$(c_presence_state w_dave)" online "dave on node 1 after the reconnect, seen on node 2"

# 4. Node 1 hangs (SIGSTOP): dave shows OFFLINE on node 2 within the bound,
#    and ONLINE again once node 1 resumes.
c_on 2
p_sub w_dave2 carol carol-wd2 3 parley/presence/dave   # retained online, offline, online
h_wait_for 10 p_lines_ge "$H_TMP/w_dave2.out" 1 || h_fail "no retained presence of dave on node 2"
t0="$(date +%s%N)"
kill -STOP "${H_NODE_PIDS[1]}"
h_wait_for 20 p_lines_ge "$H_TMP/w_dave2.out" 2 || { kill -CONT "${H_NODE_PIDS[1]}"; h_fail "dave never went offline"; }
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "${H_NODE_PIDS[1]}"
h_log "dave OFFLINE on node 2 ${ms} ms after node 1 stopped (bound ${BOUND_MS} ms)"
# A heartbeat was sent at most one interval before the stop: expiry comes
# 2 to 3 intervals after it (plus the sweep); 1 s of slack for the watcher.
[ "$ms" -ge $((2 * HB - 100)) ] || h_fail "dave offline after only $ms ms: not the heartbeat expiry"
[ "$ms" -le $((BOUND_MS + 1000)) ] || h_fail "dave offline after $ms ms, beyond the bound $BOUND_MS ms"
p_wait_sub w_dave2
h_assert_eq "$(p_decode presence w_dave2 | p_json_field state | tr '\n' ' ')" "online offline online " \
  "dave's presence on node 2 across node 1's stop"

# 5. Node 3 stops cleanly with erin on it: the others drop node 3's users at
#    once (NODE_LEFT), not after the expiry.
c_on 3
p_sub er3 erin erin-3 1 parley/u/erin/inbox
c_on 2
p_sub w_erin carol carol-we 2 parley/presence/erin   # retained online, offline
h_wait_for 10 p_lines_ge "$H_TMP/w_erin.out" 1 || h_fail "no presence of erin on node 2"
kill -TERM "${H_NODE_PIDS[3]}"
p_wait_sub w_erin
h_assert_eq "$(p_decode presence w_erin | p_json_field state | tr '\n' ' ')" "online offline " \
  "erin's presence on node 2 after node 3 stopped"
grep -q "cluster: node node3 left" "$H_TMP/node2.log" || h_fail "node 2 did not hear node 3 leave"
h_pass
