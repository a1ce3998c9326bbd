#!/usr/bin/env bash
# bench/cluster.sh - the cluster's cost per message (docs/cluster.md): three
# nats-server in one cluster and broker nodes (mosquitto + plugin) on one
# SQLite store. parley-loadgen's senders connect to node 1; its recipients
# connect to node 1 (same node) or node 2 (cross node: every delivery crosses
# NATS). For each: publish-to-delivery and publish-to-STORED p50/p99 at a
# low rate, and the maximum throughput, with the nodes' CPU time per
# message. Baseline in the same run: one node without the bus. Then the
# aggregate maximum of 1, 2 and 3 nodes with the bus, one loadgen per node
# (its own users, senders and recipients on that node), run side by side.
# Rounds alternate the configurations. Writes the section between
# <!-- cluster:begin --> and <!-- cluster:end --> of docs/benchmarks.md (or
# prints it with --no-doc). Nothing here asserts a speed.
#
#   bench/cluster.sh [--build-dir DIR] [--rounds N] [--duration S] [--pairs N]
#                    [--low-rate R] [--parts max,low,agg] [--no-doc] [--keep]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
ROUNDS=2 DURATION=8 WARMUP=2 PAIRS=8 LOW=100 WRITE_DOC=1 KEEP=0 PARTS=max,low,agg
CMDLINE="bench/cluster.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) mkdir -p "$2"; BUILD="$(cd "$2" && pwd)"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --pairs) PAIRS="$2"; shift ;;
    --low-rate) LOW="$2"; shift ;;
    --parts) PARTS="$2"; shift ;;
    --no-doc) WRITE_DOC=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
. "$ROOT/scripts/lib/cluster.sh"
. "$ROOT/bench/lib.sh"

MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"
PLUGIN="$BUILD/broker-plugin/parley_plugin.so"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/parley-cluster-bench.XXXXXX")"
RESULTS="$TMP/results.jsonl"
PIDS=()

log() { echo "[cluster.sh] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_all
  if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
command -v nats-server >/dev/null || die "nats-server missing (apt-get install nats-server)"

log "building parley-loadgen and parley_plugin in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$TMP/cmake.log" 2>&1 ||
  { tail -n 30 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
cmake --build "$BUILD" --target parley-loadgen parley_plugin -j2 >>"$TMP/cmake.log" 2>&1 ||
  { tail -n 30 "$TMP/cmake.log" >&2; die "build failed"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start NODES BUS - NODES broker nodes on a fresh store; BUS=1: with three
# nats-server and the bus. Sets NODE_PORT[i], NODE_PID[i].
RUN_NO=0
start() {
  local nodes="$1" bus="$2" i urls="" routes="" np cp
  RUN_NO=$((RUN_NO + 1))
  RUN_DIR="$TMP/run-$RUN_NO"
  mkdir -p "$RUN_DIR"
  "$LOADGEN" register --store "sqlite:$RUN_DIR/parley.db" --users $((2 * PAIRS * 3)) \
    >"$RUN_DIR/register.log" 2>&1 || { cat "$RUN_DIR/register.log" >&2; die "register failed"; }
  if [ "$bus" = 1 ]; then
    declare -a nport cport
    for i in 1 2 3; do
      nport[i]="$(bench_free_port)" cport[i]="$(bench_free_port)"
      routes+="${routes:+,}nats-route://127.0.0.1:${cport[i]}"
      urls+="${urls:+,}nats://127.0.0.1:${nport[i]}"
    done
    for i in 1 2 3; do
      parley_nats_conf "nats$i" 127.0.0.1 "${nport[i]}" "${cport[i]}" "$routes" >"$RUN_DIR/nats$i.conf"
      nats-server -c "$RUN_DIR/nats$i.conf" >"$RUN_DIR/nats$i.log" 2>&1 &
      PIDS+=($!)
    done
    for i in 1 2 3; do bench_wait_port "${nport[i]}" || die "nats$i did not start"; done
  fi
  for ((i = 1; i <= nodes; i++)); do
    NODE_PORT[i]="$(bench_free_port)"
    cat >"$RUN_DIR/node$i.conf" <<CONF
per_listener_settings false
set_tcp_nodelay true
listener ${NODE_PORT[i]} 127.0.0.1
listener 0 $RUN_DIR/wake$i.sock
max_connections -1
persistence false
log_dest file $RUN_DIR/node$i.log
log_type error
log_type warning
log_type notice
allow_anonymous false
plugin $PLUGIN
plugin_opt_store sqlite:$RUN_DIR/parley.db
plugin_opt_wake_socket $RUN_DIR/wake$i.sock
plugin_opt_rate_messages 1000000
plugin_opt_rate_bytes 1099511627776
plugin_opt_rate_user_messages 1000000
plugin_opt_rate_user_bytes 1099511627776
CONF
    [ "$bus" = 1 ] && printf 'plugin_opt_cluster_nats %s\nplugin_opt_node_id node%d\n' "$urls" "$i" \
      >>"$RUN_DIR/node$i.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$RUN_DIR/node$i.conf"
    "$MOSQUITTO" -c "$RUN_DIR/node$i.conf" >>"$RUN_DIR/node$i.out" 2>&1 &
    NODE_PID[i]=$!
    PIDS+=($!)
    bench_wait_port "${NODE_PORT[i]}" || { cat "$RUN_DIR/node$i.log" >&2; die "node $i did not start"; }
  done
  if [ "$bus" = 1 ]; then
    for ((i = 1; i <= nodes; i++)); do
      for ((k = 0; k < 100; k++)); do grep -q "connected to NATS" "$RUN_DIR/node$i.log" && break; sleep 0.1; done
    done
  fi
  sleep 0.3 # the wake connections
}

# flow TAG CFG ARGS... - one loadgen run; CFG one|same|cross.
flow() {
  local tag="$1" cfg="$2" out t0=() t1=() i nodes=2 bus=1 sub; shift 2
  [ "$cfg" = one ] && nodes=1 bus=0
  start "$nodes" "$bus"
  sub="${NODE_PORT[1]}"
  [ "$cfg" = cross ] && sub="${NODE_PORT[2]}"
  for ((i = 1; i <= nodes; i++)); do t0[i]="$(cpu_ticks "${NODE_PID[i]}")"; done
  out="$("$LOADGEN" flow --port "${NODE_PORT[1]}" --sub-port "$sub" --broker parley --pairs "$PAIRS" \
    --qos 1 --warmup "$WARMUP" --duration "$DURATION" "$@" 2>>"$RUN_DIR/loadgen.log" || true)"
  local cpu=0
  for ((i = 1; i <= nodes; i++)); do t1[i]="$(cpu_ticks "${NODE_PID[i]}")"; cpu=$((cpu + t1[i] - t0[i])); done
  stop_all
  python3 - "$tag" "$cfg" "$out" "$cpu" "$(getconf CLK_TCK)" >>"$RESULTS" <<'PY'
import json, sys
tag, cfg, line, cpu, hz = sys.argv[1:6]
try:
    r = json.loads(line)
except ValueError:
    r = {"ok": False, "error": "no JSON from parley-loadgen: " + line[:200]}
r["broker_cpu_s"] = int(cpu) / int(hz)
print(json.dumps({"tag": tag, "cfg": cfg, "r": r}))
PY
  log "$tag $cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin)["r"]; print("throughput", d.get("throughput"), "p99_us", d.get("latency",{}).get("p99_us"), "cpu_s", d.get("broker_cpu_s"), d.get("error",""))')"
}

# agg TAG NODES - NODES nodes with the bus, one loadgen per node at once.
agg() {
  local tag="$1" nodes="$2" i cpu=0 t0=() pids=()
  start "$nodes" 1
  for ((i = 1; i <= nodes; i++)); do t0[i]="$(cpu_ticks "${NODE_PID[i]}")"; done
  for ((i = 1; i <= nodes; i++)); do
    "$LOADGEN" flow --port "${NODE_PORT[i]}" --broker parley --pairs "$PAIRS" \
      --base $(((i - 1) * 2 * PAIRS)) --qos 1 --warmup "$WARMUP" --duration "$DURATION" \
      >"$RUN_DIR/agg$i.json" 2>>"$RUN_DIR/loadgen.log" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  for ((i = 1; i <= nodes; i++)); do cpu=$((cpu + $(cpu_ticks "${NODE_PID[i]}") - t0[i])); done
  stop_all
  python3 - "$tag" "agg$nodes" "$cpu" "$(getconf CLK_TCK)" "$RUN_DIR" "$nodes" >>"$RESULTS" <<'PY'
import json, sys
tag, cfg, cpu, hz, d, n = sys.argv[1:7]
rs = []
for i in range(1, int(n) + 1):
    try:
        rs.append(json.loads(open("%s/agg%d.json" % (d, i)).read().strip().splitlines()[-1]))
    except (ValueError, IndexError, OSError):
        rs.append({"error": "no JSON from loadgen %d" % i})
r = {"throughput": sum(x.get("throughput", 0) or 0 for x in rs),
     "sent": sum(x.get("sent", 0) or 0 for x in rs),
     "broker_cpu_s": int(cpu) / int(hz),
     "error": "; ".join(x["error"] for x in rs if x.get("error"))}
print(json.dumps({"tag": tag, "cfg": cfg, "r": r}))
PY
  log "$tag agg$nodes: $(tail -n1 "$RESULTS")"
}

MACHINE="$(bench_machine)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$RESULTS"
CFGS=(one same cross)
part() { [[ ",$PARTS," == *",$1,"* ]]; }
for ((r = 1; r <= ROUNDS; r++)); do
  if part max; then for cfg in "${CFGS[@]}"; do flow max "$cfg"; done; fi
  if part low; then for cfg in "${CFGS[@]}"; do flow low "$cfg" --rate "$LOW"; done; fi
  if part agg; then for nodes in 1 2 3; do agg max "$nodes"; done; fi
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

SECTION="$TMP/section.md"
PYTHONPATH="$ROOT/bench" python3 - "$RESULTS" "$STARTED" "$MACHINE" "$LOAD_BEFORE" "$LOAD_AFTER" "$CMDLINE" "$PAIRS" \
  "$DURATION" "$WARMUP" "$LOW" >"$SECTION" <<'PY'
import json, statistics, sys
(results, started, machine, load0, load1, cmd, pairs, dur, warm, low) = sys.argv[1:11]
from benchrun import load, get, ms, n, med as med_of
runs = load(results)
def med(tag, cfg, *path):
    return med_of(runs, tag, cfg, *path)
def cpu_per_msg(tag, cfg):
    v = []
    for x in runs:
        if x["tag"] == tag and x["cfg"] == cfg:
            d, c = get(x["r"], "sent"), get(x["r"], "broker_cpu_s")
            if d and c is not None:
                v.append(c * 1e6 / d)
    return statistics.median(v) if v else None
us = lambda v: "n/a" if v is None else "{:.0f} µs".format(v)
names = {"one": "one node, no bus (baseline)", "same": "2 nodes + NATS, sender and recipient on node 1",
         "cross": "2 nodes + NATS, sender on node 1, recipient on node 2"}
w = print
w("Measured {} on {}; load average {} before, {} after.".format(started, machine, load0, load1))
w("")
w("Command: `{}` ({} sender/receiver pairs, QoS 1, 100-byte bodies, STORED receipts subscribed, "
  "{} s measured after {} s warmup per run, every run against fresh brokers, NATS servers and "
  "SQLite store, configurations alternated; medians of the runs). Broker CPU is the user+system "
  "time of every broker process during the whole run (NATS servers not counted), per message sent "
  "(warmup and drain included).".format(cmd.strip(), pairs, dur, warm))
w("")
w("| configuration | max throughput (msg/s) | broker CPU per message at max | deliver p50 / p99 at {} msg/s | STORED p50 / p99 at {} msg/s |".format(low, low))
w("|---|---:|---:|---:|---:|")
for c in ("one", "same", "cross"):
    w("| {} | {} | {} | {} / {} | {} / {} |".format(
        names[c], n(med("max", c, "throughput")), us(cpu_per_msg("max", c)),
        ms(med("low", c, "latency", "p50_us")), ms(med("low", c, "latency", "p99_us")),
        ms(med("low", c, "stored_latency", "p50_us")), ms(med("low", c, "stored_latency", "p99_us"))))
w("")
w("Aggregate maximum, one loadgen per node ({} pairs each, senders and recipients on that node), "
  "every node with the bus:".format(pairs))
w("")
w("| nodes | aggregate throughput (msg/s) | broker CPU per message |")
w("|---:|---:|---:|")
for k in (1, 2, 3):
    w("| {} | {} | {} |".format(k, n(med("max", "agg%d" % k, "throughput")), us(cpu_per_msg("max", "agg%d" % k))))
w("")
w("Every run (throughput msg/s; deliver p99; broker CPU s):")
w("")
for tag in ("max", "low"):
    for c in ("one", "same", "cross") + (("agg1", "agg2", "agg3") if tag == "max" else ()):
        rs = [x for x in runs if x["tag"] == tag and x["cfg"] == c]
        w("- {} {}: {}".format(tag, c, "; ".join("{} msg/s, {}, {:.2f} s{}".format(
            n(get(x["r"], "throughput")), ms(get(x["r"], "latency", "p99_us")),
            get(x["r"], "broker_cpu_s") or 0,
            " (error: {})".format(get(x["r"], "error")) if get(x["r"], "error") else "") for x in rs)))
PY

if [ "$WRITE_DOC" = 1 ]; then
  bench_write_section "$ROOT/docs/benchmarks.md" cluster "$SECTION" || die "cannot write the section"
  log "wrote $ROOT/docs/benchmarks.md"
else
  cat "$SECTION"
fi
