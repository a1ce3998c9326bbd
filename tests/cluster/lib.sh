# shellcheck shell=bash
# tests/cluster/lib.sh - helpers for the cluster tests (docs/cluster.md):
# three nats-server in a cluster, broker nodes on one SQLite store, HAProxy;
# on top of tests/plugin/lib.sh (users straight into the store, clients are
# mosquitto_pub / mosquitto_sub).
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

# c_on I - aim the p_* client helpers at node I (its port and its log).
c_on() { H_MQTT_PORT="${H_NODE_PORTS[$1]}"; P_MOSQ_LOG="$H_TMP/node$1.log"; }
# c_via_haproxy - aim them at HAProxy (SUBSCRIBE lines are then looked for in
# every node's log).
c_via_haproxy() { H_MQTT_PORT="$H_HAPROXY_PORT"; P_MOSQ_LOG="$H_TMP/node*.log"; }

# c_start_cluster NODES [EXTRA_CONF_LINES] - 3 nats-server, NODES broker nodes.
c_start_cluster() {
  local i
  h_start_nats_cluster 3
  for ((i = 1; i <= $1; i++)); do h_start_node "$i" "${2:-}"; done
  for ((i = 1; i <= $1; i++)); do
    h_wait_for 20 grep -q "cluster: node node$i connected to NATS" "$H_TMP/node$i.log" ||
      h_fail "node $i did not connect to NATS"
  done
}

# c_presence_state NAME - the state of the last Presence in $H_TMP/NAME.out.
c_presence_state() { p_decode presence "$1" | tail -n 1 | p_json_field state; }

# c_node_of CLIENT_ID - the node whose log has CLIENT_ID's connection.
c_node_of() {
  grep -l "New client connected from .* as $1 " "$H_TMP"/node*.log 2>/dev/null |
    sed -E 's/.*node([0-9]+)\.log/\1/' | tr '\n' ' ' | sed 's/ $//' || true
}

# c_nats_of I - the index of the nats-server node I's bus is connected to now.
c_nats_of() {
  local port j
  port="$(grep -oE "node$1 (re)?connected to NATS nats://127.0.0.1:[0-9]+" "$H_TMP/node$1.log" |
    tail -n 1 | grep -oE '[0-9]+$')"
  for j in "${!H_NATS_PORTS[@]}"; do [ "${H_NATS_PORTS[j]}" = "$port" ] && echo "$j"; done
  return 0
}
