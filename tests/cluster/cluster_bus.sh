#!/usr/bin/env bash
# The bus between broker nodes (docs/cluster.md): three nats-server in a
# cluster and three mosquitto nodes with the plugin on one SQLite store.
# Every node's bus connects (log line and $SYS/parley/cluster/connected);
# a frame node 1 publishes on a user's subject reaches exactly the nodes
# that watch that user (nodes with a connection of that user), user ids
# with '.' included; after the user's last connection on a node ends, that
# node no longer receives it. The frames are the debug payload of
# plugin_opt_cluster_debug: a node publishes one on a user's subject when
# the user's first connection there starts, and a node that receives one
# logs it. A node id used twice is reported.
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"

p_user admin bob carol dot.user
c_start_cluster 3 "plugin_opt_cluster_debug 1
plugin_opt_metrics_interval 1"

# Every bus is connected: the metric says so on each node.
for i in 1 2 3; do
  c_on "$i"
  p_wait_metric cluster/connected 1
  p_wait_metric cluster/subscriptions 2   # parley.all and parley.node.node$i
done

# got USER FROM NODE - payloads for USER from node FROM that NODE logged.
got() { p_grep_count "cluster debug: test payload for user $1 from node $2:" "$H_TMP/node$3.log"; }
got_ge() { [ "$(got "$1" "$2" "$3")" -ge "$4" ]; }

# bob and dot.user are connected to node 3 (kept open), carol to node 2.
c_on 3
p_sub bob3 bob bob-n3 1 parley/u/bob/inbox
p_sub dot3 dot.user dot-n3 1 parley/u/dot.user/inbox
c_on 2
p_sub carol2 carol carol-n2 1 parley/u/carol/inbox

# bob, dot.user and carol connect to node 1: node 1 publishes on
# parley.u.bob, parley.u.dot%2Euser and parley.u.carol.
c_on 1
p_pub bob bob-n1 parley/u/bob/typing /dev/null
p_pub dot.user dot-n1 parley/u/dot.user/typing /dev/null
p_pub carol carol-n1 parley/u/carol/typing /dev/null
h_wait_for 10 got_ge bob node1 3 1 || h_fail "node 3 did not receive bob's payload from node 1"
h_wait_for 10 got_ge dot.user node1 3 1 || h_fail "node 3 did not receive dot.user's payload"
h_wait_for 10 got_ge carol node1 2 1 || h_fail "node 2 did not receive carol's payload"
# carol's payload (published last) reached node 2, so bob's and dot.user's
# would have too, had node 2 subscribed them: it did not (nobody watches them
# there); and node 3 does not watch carol.
h_assert_eq "$(got bob node1 2)" 0 "bob's payload on node 2"
h_assert_eq "$(got dot.user node1 2)" 0 "dot.user's payload on node 2"
h_assert_eq "$(got carol node1 3)" 0 "carol's payload on node 3"
h_assert_eq "$(got bob node1 1)$(got carol node1 1)" 00 "node 1 hears its own payloads"

# bob's connection on node 3 ends: node 3 unsubscribes parley.u.bob. bob
# connects to node 1 again, then dot.user (still watched on node 3): node 3
# gets dot.user's second payload but not bob's.
kill "$P_PID_bob3"; wait "$P_PID_bob3" 2>/dev/null || true
h_wait_for 20 grep -q "Client bob.bob-n3 .*disconnect\|Socket error on client bob.bob-n3\|Client bob.bob-n3 closed" "$H_TMP/node3.log" ||
  h_fail "bob-n3 did not disconnect"
c_on 1
p_pub bob bob-n1b parley/u/bob/typing /dev/null
p_pub dot.user dot-n1b parley/u/dot.user/typing /dev/null
h_wait_for 10 got_ge dot.user node1 3 2 || h_fail "node 3 did not receive dot.user's second payload"
h_assert_eq "$(got bob node1 3)" 1 "bob's payloads on node 3 after bob left it"

# The counters: node 1 published, node 3 received.
c_on 1
p_wait_metric cluster/messages_out 5
c_on 3
p_wait_metric cluster/messages_in 3

# A fourth node configured with node 1's id: node 1 says so (its heartbeat,
# sent when it connects, reaches node 1).
h_start_node 4 "plugin_opt_node_id node1"
h_wait_for 20 grep -q "another node uses node id node1" "$H_TMP/node1.log" ||
  h_fail "node 1 did not notice a second node1"
h_pass
