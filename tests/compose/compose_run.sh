#!/usr/bin/env bash
# compose_run.sh - the compose stack's own configuration files, run on real
# processes with only addresses and paths rewritten (no Docker engine here):
#   - three nats-server from docker/nats.conf form one cluster;
#   - three mosquitto nodes from docker/mosquitto.conf, each started by
#     docker/broker-start.sh with its PARLEY_NODE_ID, join that NATS cluster
#     under that id (on one SQLite store instead of MongoDB) and report
#     healthy on the metrics port the compose health check and HAProxy use;
#     broker-start.sh refuses a hostile node id;
#   - HAProxy from docker/haproxy.cfg in front: a client's CONNECT through
#     it reaches a node, the keyserver and media gateway answer through it,
#     its own /healthz answers.
# The rewrite is checked too: every line it does not rewrite stays as is.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
src="$PARLEY_SOURCE_DIR"
command -v nats-server >/dev/null || h_fail "nats-server missing"
command -v haproxy >/dev/null || h_fail "haproxy missing"

# ---- NATS: docker/nats.conf with loopback ports
declare -a NP CP MP
for i in 1 2 3; do NP[i]="$(h_port)" CP[i]="$(h_port)" MP[i]="$(h_port)"; done
for i in 1 2 3; do
  sed -e "s|^listen: 0.0.0.0:4222|listen: 127.0.0.1:${NP[i]}|" \
      -e "s|^http: 0.0.0.0:8222|http: 127.0.0.1:${MP[i]}|" \
      -e "s|^  listen: 0.0.0.0:6222|  listen: 127.0.0.1:${CP[i]}|" \
      -e "s|nats-route://nats1:6222|nats-route://127.0.0.1:${CP[1]}|" \
      -e "s|nats-route://nats2:6222|nats-route://127.0.0.1:${CP[2]}|" \
      -e "s|nats-route://nats3:6222|nats-route://127.0.0.1:${CP[3]}|" \
      "$src/docker/nats.conf" >"$H_TMP/nats$i.conf"
  [ "$(diff "$src/docker/nats.conf" "$H_TMP/nats$i.conf" | grep -c '^>')" = 6 ] ||
    h_fail "nats.conf: the rewrite did not find the 6 lines it rewrites"
  PARLEY_NATS_NAME="nats$i" h_bg "nats$i" nats-server -c "$H_TMP/nats$i.conf"
done
# as h_nats_routes_ge, on these monitoring ports
routes_ge() {
  local r
  r="$(curl -s --max-time 2 "http://127.0.0.1:${MP[$1]}/routez" | sed -n 's/.*"num_routes": *\([0-9]*\).*/\1/p')"
  [ -n "$r" ] && [ "$r" -ge "$2" ]
}
for i in 1 2 3; do
  h_wait_for 30 routes_ge "$i" 2 || h_fail "nats$i did not join the cluster"
  h_assert_contains "$(curl -s "http://127.0.0.1:${MP[i]}/varz")" "\"server_name\": \"nats$i\"" "nats$i name"
done

# ---- broker nodes: docker/mosquitto.conf through docker/broker-start.sh
p_user alice bob
declare -a BP BM BW
for i in 1 2 3; do
  BP[i]="$(h_port)" BM[i]="$(h_port)" BW[i]="$(h_port)"
  d="$H_TMP/node$i"
  mkdir -p "$d/data"
  sed -e "s|^listener 1883 0.0.0.0$|listener ${BP[i]} 127.0.0.1|" \
      -e "s|^listener 8083 0.0.0.0$|listener ${BW[i]} 127.0.0.1|" \
      -e "s|/var/lib/parley/mosquitto/|$d/data/|g" \
      -e "s|^plugin /usr/local/lib/parley/parley_plugin.so$|plugin $H_PLUGIN|" \
      -e "s|^plugin_opt_store .*|plugin_opt_store $H_STORE|" \
      -e "s|nats://nats1:4222|nats://127.0.0.1:${NP[1]}|; s|nats://nats2:4222|nats://127.0.0.1:${NP[2]}|; s|nats://nats3:4222|nats://127.0.0.1:${NP[3]}|" \
      -e "s|^plugin_opt_metrics_listen 0.0.0.0:9883$|plugin_opt_metrics_listen 127.0.0.1:${BM[i]}|" \
      "$src/docker/mosquitto.conf" >"$d/mosquitto.conf"
  [ "$(diff "$src/docker/mosquitto.conf" "$d/mosquitto.conf" | grep -c "^>")" = 9 ] ||
    h_fail "mosquitto.conf: the rewrite did not find the 9 lines it rewrites: $(diff "$src/docker/mosquitto.conf" "$d/mosquitto.conf")"
  # appended for the test: log subscriptions (the sentinel of the MQTT check)
  echo "log_type subscribe" >>"$d/mosquitto.conf"
  if [ "$(id -u)" = 0 ]; then echo "user root" >>"$d/mosquitto.conf"; fi
  h_bg "node$i" env PARLEY_NODE_ID="node$i" PARLEY_BROKER_CONF="$d/mosquitto.conf" \
    PARLEY_BROKER_CONF_OUT="$d/node.conf" PARLEY_MOSQUITTO="$H_MOSQUITTO" "${H_MOSQ_ENV[@]}" \
    sh "$src/docker/broker-start.sh"
done
rc=0
out="$(PARLEY_NODE_ID='x/y
plugin_opt_store sqlite:/tmp/evil' PARLEY_BROKER_CONF="$H_TMP/node1/mosquitto.conf" \
  PARLEY_BROKER_CONF_OUT="$H_TMP/evil.conf" PARLEY_MOSQUITTO=false sh "$src/docker/broker-start.sh" 2>&1)" || rc=$?
h_assert_eq "$rc" 2 "broker-start.sh with a hostile PARLEY_NODE_ID"
h_assert_contains "$out" "PARLEY_NODE_ID must be" "broker-start.sh message"
[ ! -e "$H_TMP/evil.conf" ] || h_fail "broker-start.sh wrote a config for a hostile id"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz")" = 200 ]; }
for i in 1 2 3; do
  h_wait_port "${BP[i]}" 30
  h_wait_for 30 healthy "${BM[i]}" || h_fail "node$i: /healthz not 200"
  h_wait_for 30 grep -q "cluster: node node$i connected to NATS" "$H_TMP/node$i.log" ||
    h_fail "node$i (id from docker/nodes/node$i) did not join the bus"
done

# ---- HTTP services with the compose flags, HAProxy from docker/haproxy.cfg
h_start_keyserver --max-conns-per-ip 0 --rate-limit 0
h_start_media --max-conns-per-ip 0
HM="$(h_port)" HK="$(h_port)" HD="$(h_port)" HH="$(h_port)" HW="$(h_port)"
# maxconn: two sockets per client need an open-file limit this machine may
# not grant (the compose service raises it with ulimits).
sed -e "s|^    maxconn 100000$|    maxconn 1000|" \
    -e "s|^    bind :1883$|    bind 127.0.0.1:$HM|" \
    -e "s|^    bind :8081$|    bind 127.0.0.1:$HK|" \
    -e "s|^    bind :8082$|    bind 127.0.0.1:$HD|" \
    -e "s|^    bind :8083$|    bind 127.0.0.1:$HW|" \
    -e "s|broker1:8083 check port 9883|127.0.0.1:${BW[1]} check port ${BM[1]}|" \
    -e "s|broker2:8083 check port 9883|127.0.0.1:${BW[2]} check port ${BM[2]}|" \
    -e "s|broker3:8083 check port 9883|127.0.0.1:${BW[3]} check port ${BM[3]}|" \
    -e "s|^    bind 127.0.0.1:8404$|    bind 127.0.0.1:$HH|" \
    -e "s|broker1:1883 check port 9883|127.0.0.1:${BP[1]} check port ${BM[1]}|" \
    -e "s|broker2:1883 check port 9883|127.0.0.1:${BP[2]} check port ${BM[2]}|" \
    -e "s|broker3:1883 check port 9883|127.0.0.1:${BP[3]} check port ${BM[3]}|" \
    -e "s|keyserver:8081|127.0.0.1:$H_KS_PORT|" \
    -e "s|media:8082|127.0.0.1:$H_MEDIA_PORT|" \
    "$src/docker/haproxy.cfg" >"$H_TMP/haproxy.cfg"
[ "$(diff "$src/docker/haproxy.cfg" "$H_TMP/haproxy.cfg" | grep -c '^>')" = 14 ] ||
  h_fail "haproxy.cfg: the rewrite did not find the 14 lines it rewrites"
h_bg haproxy haproxy -db -f "$H_TMP/haproxy.cfg"
h_wait_port "$HM"
h_wait_for 20 healthy "$HH" || h_fail "HAProxy's own /healthz"
h_wait_for 30 healthy "$HK" || h_fail "keyserver /healthz through HAProxy"
h_wait_for 30 healthy "$HD" || h_fail "media /healthz through HAProxy"

# An MQTT session through HAProxy: alice subscribes (active once the node
# that got her CONNECT logs the subscription), sends, gets STORED.
H_MQTT_PORT="$HM"
: >"$H_TMP/s.out"
# shellcheck disable=SC2046
timeout 65 stdbuf -oL mosquitto_sub $(p_auth alice alice.viaproxy) -q 1 -F %x -C 1 -W 60 \
  -t parley/u/alice/receipts >"$H_TMP/s.out" 2>"$H_TMP/s.err" &
H_PIDS+=($!)
P_PID_s=$! P_COUNT_s=1
h_wait_for 30 grep -q "alice.viaproxy 1 parley/u/alice/receipts" "$H_TMP"/node?.log ||
  h_fail "alice's subscription through HAProxy: $(cat "$H_TMP/s.err")"
node="$(grep -l "alice.viaproxy 1 parley/u/alice/receipts" "$H_TMP"/node?.log | head -1)"
h_log "alice's CONNECT through HAProxy went to $(basename "$node" .log)"
p_env "$H_TMP/m" m1 --body hello
p_pub alice alice.pub parley/u/bob/inbox "$H_TMP/m" || h_fail "publish through HAProxy"
p_wait_sub s
h_assert_eq "$(p_decode receipt s | p_json_field status)" stored "a message through HAProxy"

# MQTT over WebSocket through HAProxy's 8083 to a node's websockets listener
# (Debian's python3-paho-mqtt): authenticated by the plugin there.
out="$(/usr/bin/python3 - "$HW" "$(p_token alice alice.ws)" <<'PY'
import sys, threading
import paho.mqtt.client as mqtt
port, password = int(sys.argv[1]), sys.argv[2]
res, done = {}, threading.Event()
c = mqtt.Client(client_id="alice.ws", transport="websockets", protocol=mqtt.MQTTv311)
c.username_pw_set("alice", password)
def on_connect(cl, ud, flags, rc):
    res["rc"] = rc
    if rc == 0:
        cl.subscribe("parley/u/alice/receipts", 1)
    else:
        done.set()
def on_subscribe(cl, ud, mid, granted):
    res["granted"] = list(granted)
    done.set()
c.on_connect, c.on_subscribe = on_connect, on_subscribe
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
done.wait(30)
c.loop_stop()
print("rc", res.get("rc"), "granted", res.get("granted"))
PY
)" || h_fail "MQTT over WebSocket through HAProxy: $out"
h_assert_eq "$out" "rc 0 granted [1]" "MQTT over WebSocket through HAProxy"
h_pass
