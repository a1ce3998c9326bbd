#!/usr/bin/env bash
# HAProxy in front of the nodes (docs/cluster.md, "Load balancing"): TCP
# mode, hashing on the MQTT CONNECT username. Both connections of a user
# land on the same node (seen in the nodes' logs), users spread over more
# than one node, and when a user's node dies the user's next connection
# goes to another node (correctness never depends on the hash).
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"

users=(u1 u2 u3 u4 u5 u6 u7 u8 first.last)
p_user admin "${users[@]}"
c_start_cluster 3
h_start_haproxy
c_via_haproxy

# c_connect USER CID - one connection through HAProxy (a typing event to the
# user's own topic, which the plugin drops).
c_connect() {
  # shellcheck disable=SC2046
  timeout 20 mosquitto_pub $(p_auth "$1" "$2") -q 1 -t "parley/u/$1/typing" -f /dev/null
}

declare -A node_of
for u in "${users[@]}"; do
  c_connect "$u" "$u.a" || h_fail "$u.a could not connect through HAProxy"
  c_connect "$u" "$u.b" || h_fail "$u.b could not connect through HAProxy"
  a="$(c_node_of "$u.a")" b="$(c_node_of "$u.b")"
  [ -n "$a" ] && [ "${a// /}" = "$a" ] || h_fail "$u.a is on node(s) '$a'"
  h_assert_eq "$b" "$a" "node of $u's second connection"
  node_of[$u]="$a"
  h_log "$u -> node $a"
done
spread="$(printf '%s\n' "${node_of[@]}" | sort -u | wc -l)"
[ "$spread" -ge 2 ] || h_fail "every user hashed to one node"

# The node of u1 dies: u1's next connection goes to another node once
# HAProxy's health check (1 s) has seen it down.
dead="${node_of[u1]}"
kill -KILL "${H_NODE_PIDS[dead]}"
h_wait_for 20 c_connect u1 u1.c || h_fail "u1 could not connect after node $dead died"
c="$(c_node_of u1.c)"
[ -n "$c" ] && [ "$c" != "$dead" ] || h_fail "u1.c is on node '$c' (node $dead is dead)"
h_log "after node $dead died: u1 -> node $c"
h_pass
