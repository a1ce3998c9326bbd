#!/usr/bin/env bash
# ./scripts/run --nodes 3 (README, "Try a three-node cluster"): three
# nats-server in one cluster, three broker nodes on one SQLite store whose
# buses connect to NATS, HAProxy on the MQTT port in front; a registered
# user connects through HAProxy; SIGTERM stops everything, exit 0.
. "$(dirname "$0")/lib.sh"

# s_port_base N - a port p with p .. p+N-1 free and not in $USED or the
# service ports.
s_port_base() {
  local p i ok
  while :; do
    p=$((20000 + RANDOM % 40000)) ok=1
    for ((i = 0; i < $1; i++)); do
      s_listening $((p + i)) && ok=0
      case " $MQTT_PORT $KS_PORT $MEDIA_PORT ${USED:-} " in *" $((p + i)) "*) ok=0 ;; esac
    done
    [ "$ok" = 1 ] && { echo "$p"; return; }
  done
}

s_ports
NODE_BASE="$(s_port_base 3)"; USED="$(seq -s ' ' "$NODE_BASE" $((NODE_BASE + 2)))"
NATS_BASE="$(s_port_base 3)"; USED+=" $(seq -s ' ' "$NATS_BASE" $((NATS_BASE + 2)))"
ROUTE_BASE="$(s_port_base 3)"
: >"$RUN_LOG"
env PARLEY_NO_BUILD=1 PARLEY_BUILD_DIR="$PARLEY_BUILD_DIR" PARLEY_DATA_DIR="$H_TMP/data" \
  PARLEY_MQTT_PORT="$MQTT_PORT" PARLEY_KEYSERVER_PORT="$KS_PORT" PARLEY_MEDIA_PORT="$MEDIA_PORT" \
  PARLEY_NODE_PORT="$NODE_BASE" PARLEY_NATS_PORT="$NATS_BASE" PARLEY_NATS_CLUSTER_PORT="$ROUTE_BASE" \
  "$PARLEY_SOURCE_DIR/scripts/run" --nodes 3 >"$RUN_LOG" 2>&1 &
RUN_PID=$!
s_wait_banner
out="$(cat "$RUN_LOG")"
h_assert_contains "$out" "(HAProxy, pid " "banner names HAProxy"
for i in 1 2 3; do
  h_assert_contains "$out" "node$i         mqtt://127.0.0.1:$((NODE_BASE + i - 1))" "banner names node $i"
  h_wait_for 20 grep -q "cluster: node node$i connected to NATS" "$H_TMP/data/logs/node$i.log" ||
    s_fail "node $i's bus did not connect"
  s_listening $((NATS_BASE + i - 1)) || s_fail "NATS server $i does not listen"
done
grep -q "plugin_opt_store sqlite:$H_TMP/data/parley.db" "$H_TMP/data/node3/mosquitto.conf" ||
  s_fail "node 3 is not on the one store"

# A user connects through HAProxy and lands on one of the nodes.
ptool keygen "$H_TMP/keys-alice" && ptool register "sqlite:$H_TMP/data/parley.db" alice "$H_TMP/keys-alice" ||
  s_fail "cannot register alice"
tok="$(ptool token "$H_TMP/keys-alice" alice alice.t1 3600)"
h_wait_for 20 timeout 10 mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -i alice.t1 -u alice -P "$tok" \
  -q 1 -t parley/u/alice/typing -f /dev/null || s_fail "alice cannot connect through HAProxy"
h_wait_for 10 bash -c "cat '$H_TMP'/data/logs/node*.log | grep -q 'New client connected from .* as alice.t1 '" ||
  s_fail "alice's connection is in no node's log"

kill -TERM "$RUN_PID"
s_wait_exit
h_assert_eq "$RUN_RC" 0 "exit status after SIGTERM"
for p in "$MQTT_PORT" "$NODE_BASE" "$NATS_BASE"; do
  h_wait_for 20 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$p)" || s_fail "port $p still listens after the stop"
done
h_pass
