#!/usr/bin/env bash
# test_compose_config.sh - the production compose stack stays valid and true
# to the code (no Docker engine here: what can be checked without one):
#   1. `docker-compose config -q` accepts docker-compose.yml, and the check
#      really catches errors (a broken copy fails);
#   2. the shape: three broker nodes, three NATS servers, three mongod of
#      replica set rs0 initiated by the compose file, MinIO, keyserver,
#      media gateway, HAProxy; a health check on every long-running
#      service; only HAProxy publishes 1883/8083/8081/8082 (8083: the nodes'
#      websockets listeners);
#   3. the broker nodes: each has its own PARLEY_NODE_ID (its
#      plugin_opt_node_id, docker/broker-start.sh) and data volume, the
#      shared config lists every NATS service and a
#      store URI naming every mongod of rs0, the same URI as the services';
#   4. every --flag the compose file passes and every plugin_opt_* key of
#      docker/mosquitto.conf exists in the code; the plugin path and
#      docker/broker-start.sh are where docker/Dockerfile installs them;
#   5. docker/haproxy.cfg passes `haproxy -c`, sends MQTT to broker1..3 and
#      hashes on the CONNECT username with scripts/lib/cluster.sh's rules;
#   6. docker/nats.conf passes `nats-server -t` for each server name and
#      routes to the three NATS services.
# compose_run.sh then runs these configuration files on real processes.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"

src="$PARLEY_SOURCE_DIR"
compose_file="$src/docker-compose.yml"
PY=/usr/bin/python3 # Debian's python: python3-yaml comes with docker-compose
command -v docker-compose >/dev/null || h_fail "docker-compose is not installed (scripts/lib/deps.sh)"

# 1. valid, and the validation has teeth
out="$(cd "$src" && docker-compose -f "$compose_file" config -q 2>&1)" ||
  h_fail "docker-compose config rejected docker-compose.yml: $out"
cp "$compose_file" "$H_TMP/broken.yml"
printf '  bogus:\n    image: [not, a, string]\n' >>"$H_TMP/broken.yml"
if (cd "$src" && docker-compose -f "$H_TMP/broken.yml" config -q) >"$H_TMP/broken.log" 2>&1; then
  h_fail "docker-compose config accepted a broken file"
fi

# 2. + 3. the shape, from the resolved configuration
(cd "$src" && docker-compose -f "$compose_file" config) >"$H_TMP/resolved.yml" ||
  h_fail "docker-compose config"
out="$("$PY" - "$H_TMP/resolved.yml" "$src" <<'PYEOF' 2>&1
import re, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
src = sys.argv[2]
svc = cfg["services"]
def fail(msg):
    sys.exit(msg)
want = ["mongo1", "mongo2", "mongo3", "minio", "minio-init", "nats1", "nats2", "nats3",
        "broker1", "broker2", "broker3", "keyserver", "media", "haproxy"]
for s in want:
    if s not in svc:
        fail(f"service {s} missing")
for s in svc:
    if s not in want:
        fail(f"unexpected service {s} (update this test and docs/operations.md)")
for s, d in svc.items():
    if s != "minio-init" and "healthcheck" not in d:
        fail(f"service {s} has no healthcheck")
# published ports: HAProxy 1883, 8081, 8082; MinIO console on loopback only
def port(p):  # (host_ip, published) of either form docker-compose prints
    if isinstance(p, dict):
        return p.get("host_ip", ""), str(p.get("published"))
    parts = str(p).split("/")[0].split(":")
    return (parts[0] if len(parts) == 3 else ""), parts[-2]
for s, d in svc.items():
    for p in d.get("ports", []):
        ip, pub = port(p)
        if s == "minio" and ip == "127.0.0.1":
            continue
        if s != "haproxy":
            fail(f"service {s} publishes {pub}: only haproxy may")
hp = {port(p)[1] for p in svc["haproxy"]["ports"]}
if hp != {"1883", "8083", "8081", "8082"}:
    fail(f"haproxy publishes {sorted(hp)}, expected 1883 8083 8081 8082")
# 8083 is the nodes' websockets listener
if not re.search(r"^listener 8083 0\.0\.0\.0\nprotocol websockets$", conf_ws := open(f"{src}/docker/mosquitto.conf").read(), re.M):
    fail("docker/mosquitto.conf has no websockets listener on 8083")
# MongoDB: three members of rs0, initiated by mongo1's health check
for m in ("mongo1", "mongo2", "mongo3"):
    if svc[m]["command"][:3] != ["mongod", "--replSet", "rs0"]:
        fail(f"{m} is not a member of rs0: {svc[m]['command']}")
init = " ".join(svc["mongo1"]["healthcheck"]["test"])
for m in ("mongo1", "mongo2", "mongo3"):
    if f"host: '{m}:27017'" not in init:
        fail(f"mongo1's health check does not initiate rs0 with {m}")
if "rs.initiate" not in init:
    fail("no rs.initiate")
uri = "mongodb://mongo1:27017,mongo2:27017,mongo3:27017/parley?replicaSet=rs0"
for s in ("keyserver", "media"):
    cmd = svc[s]["command"]
    if cmd[cmd.index("--store") + 1] != uri:
        fail(f"{s} does not use the replica set URI {uri}")
conf = open(f"{src}/docker/mosquitto.conf").read()
if f"plugin_opt_store {uri}\n" not in conf:
    fail("docker/mosquitto.conf does not use the replica set URI")
m = re.search(r"^plugin_opt_cluster_nats (\S+)$", conf, re.M)
if not m or sorted(m.group(1).split(",")) != [f"nats://nats{i}:4222" for i in (1, 2, 3)]:
    fail("docker/mosquitto.conf: plugin_opt_cluster_nats must list nats1..3:4222")
if len(re.findall(r"^plugin_opt_node_id ", conf, re.M)) != 1:
    fail("docker/mosquitto.conf needs exactly one plugin_opt_node_id line (broker-start.sh)")
# brokers: started by broker-start.sh with their own node id and volume
ids, vols_seen = set(), set()
for i in (1, 2, 3):
    b = svc[f"broker{i}"]
    if b["command"] != ["parley-broker-start"]:
        fail(f"broker{i} command {b['command']}")
    ids.add(b["environment"].get("PARLEY_NODE_ID"))
    vols = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in b["volumes"]]
    vols_seen.update(v.split(":")[0] for v in vols)
    if b["environment"].get("PARLEY_LOG_LEVEL") is None:
        fail(f"broker{i} does not pass PARLEY_LOG_LEVEL")
    for dep in ("mongo1", "nats1", "nats2", "nats3"):
        if dep not in b["depends_on"]:
            fail(f"broker{i} does not depend on {dep}")
if len(ids) != 3 or None in ids:
    fail(f"node ids are not distinct: {ids}")
if len(vols_seen) != 3:
    fail(f"broker volumes are shared: {vols_seen}")
for i in (1, 2, 3):
    if svc[f"nats{i}"]["environment"]["PARLEY_NATS_NAME"] != f"nats{i}":
        fail(f"nats{i} has the wrong server name")
print("shape ok")
PYEOF
)" || h_fail "compose shape: $out"

# 4. flags and options exist in the code
check_flags() {  # check_flags SERVICE MAIN_C
  local svc="$1" main="$2" flag
  [ -f "$main" ] || h_fail "$main missing"
  # The service's command block: lines "- --flag" up to the next key.
  for flag in $(awk -v svc="  $svc:" '
      $0 == svc {on = 1; next}
      on && /^  [a-z]/ {on = 0}
      on && /^      - --/ {sub(/^      - --/, ""); print}' "$compose_file"); do
    grep -q "{\"$flag\"," "$main" || h_fail "compose passes --$flag to $svc, but $main has no such option"
  done
}
check_flags keyserver "$src/keyserver/main.c"
check_flags media "$src/media-gateway/main.c"
for f in "$src/docker/mosquitto.conf"; do
  for key in $(sed -n 's/^plugin_opt_\([a-z_]*\).*/\1/p' "$f"); do
    grep -q "\"$key\"" "$src/broker-plugin/config.c" ||
      h_fail "$f sets plugin_opt_$key, unknown to broker-plugin/config.c"
  done
done
plugin="$(sed -n 's/^plugin \(.*\)$/\1/p' "$src/docker/mosquitto.conf")"
[ -n "$plugin" ] || h_fail "docker/mosquitto.conf loads no plugin"
grep -q "parley_plugin.so $plugin\$" "$src/docker/Dockerfile" ||
  h_fail "docker/Dockerfile does not install the plugin at $plugin"
grep -q "^COPY docker/broker-start.sh /usr/local/bin/parley-broker-start\$" "$src/docker/Dockerfile" ||
  h_fail "docker/Dockerfile does not install docker/broker-start.sh as parley-broker-start"

# 5. HAProxy
hcfg="$src/docker/haproxy.cfg"
haproxy -c -f "$hcfg" >"$H_TMP/haproxy-c.log" 2>&1 || h_fail "haproxy -c: $(cat "$H_TMP/haproxy-c.log")"
grep -q ALERT "$H_TMP/haproxy-c.log" && h_fail "haproxy -c alerts: $(cat "$H_TMP/haproxy-c.log")"
for i in 1 2 3; do
  grep -Eq "^    server node$i broker$i:1883 check" "$hcfg" || h_fail "haproxy.cfg does not send MQTT to broker$i"
done
# The username-hash rules, as scripts/lib/cluster.sh generates them.
. "$src/scripts/lib/cluster.sh"
parley_haproxy_cfg 127.0.0.1:1 127.0.0.1:2 >"$H_TMP/ref.cfg"
grep -E '^    (tcp-request (inspect-delay|content)|balance|hash-type)' "$H_TMP/ref.cfg" >"$H_TMP/ref.rules"
while IFS= read -r rule; do
  grep -qxF -- "$rule" "$hcfg" || h_fail "haproxy.cfg lacks the cluster rule: $rule"
done <"$H_TMP/ref.rules"

# 6. NATS
for i in 1 2 3; do
  out="$(PARLEY_NATS_NAME="nats$i" nats-server -t -c "$src/docker/nats.conf" 2>&1)" ||
    h_fail "nats-server -t (nats$i): $out"
  grep -q "nats-route://nats$i:6222" "$src/docker/nats.conf" || h_fail "nats.conf has no route to nats$i"
done
if nats-server -t -c "$src/docker/nats.conf" >/dev/null 2>&1; then
  h_fail "nats-server -t accepts nats.conf without PARLEY_NATS_NAME: the check has no teeth"
fi
h_pass
