#!/usr/bin/env bash
# bench/connections.sh - idle authenticated connections on one node: how
# many, how fast, and what each one costs the broker in memory, against bare
# mosquitto in the same run. Writes the "Connections" section of
# docs/benchmarks.md (between <!-- connections:begin --> and
# <!-- connections:end -->).
#
#   bench/connections.sh                         # 100,000 connections, build, write the doc
#   bench/connections.sh --clients 10000 --no-doc
#
# Options:
#   --build-dir DIR   build tree (default: $PARLEY_BUILD_DIR or <repo>/build-bench)
#   --no-build        use the build tree as it is
#   --clients N       connections per run (default 100000)
#   --rounds N        runs of each configuration, alternated (default 1)
#   --threads N       parley-loadgen connector threads (default 4)
#   --window N        connects in flight per thread (default 8: 32 in all, below
#                     mosquitto's listen backlog of 100, so no SYN is dropped)
#   --hold S          idle seconds before the memory reading (default 5)
#   --source-addrs N  loopback source addresses (default: as many as the
#                     ephemeral port range needs for --clients)
#   --no-doc          print the section instead of writing docs/benchmarks.md
#   --keep            keep the scratch directory (configs, logs, JSON lines)
#
# Configurations, each against a freshly started broker on 127.0.0.1:
#   bare          mosquitto alone, anonymous CONNECTs (client id only)
#   bare+creds    mosquitto alone, CONNECTs carrying the same user id and a
#                 token-sized password as the Parley ones (mosquitto keeps both
#                 per connection: the fair baseline for memory)
#   parley        mosquitto + the plugin, every CONNECT a token verified against
#                 the user's key (users registered beforehand in a SQLite store),
#                 plugin_opt_token_cache = --clients (every token fits)
#   parley-nocache  the same with plugin_opt_token_cache 0
# Each run: connect every client (parley-loadgen idle: epoll connector, one
# socket per client), hold them idle, read the broker's VmRSS, then close them
# all at once and reconnect them with the same CONNECT (a reconnect storm: the
# same tokens). The file limit is raised for the broker and the load generator
# (root may raise the hard limit); client k binds 127.0.0.{2 + k % A} with A
# source addresses, enough that no address runs out of ephemeral ports.
# Nothing here is a test; nothing asserts a speed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
DO_BUILD=1 CLIENTS=100000 ROUNDS=1 THREADS=4 WINDOW=8 HOLD=5 WRITE_DOC=1 KEEP=0 SRC_ADDRS=0
CMDLINE="bench/connections.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$(cd "$2" && pwd)"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --clients) CLIENTS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --window) WINDOW="$2"; shift ;;
    --hold) HOLD="$2"; shift ;;
    --source-addrs) SRC_ADDRS="$2"; shift ;;
    *) bench_common_opt "$1" ;;
  esac
  shift
done

BENCH_STOP_TRIES=600 # a broker with many connections takes a while to stop
bench_init connections.sh parley-conn-bench
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"
PLUGIN="$BUILD/broker-plugin/parley_plugin.so"

[ "$DO_BUILD" = 0 ] || bench_build parley-loadgen parley_plugin
[ -x "$LOADGEN" ] || die "no $LOADGEN (build it, or drop --no-build)"
[ -f "$PLUGIN" ] || die "no $PLUGIN (build it, or drop --no-build)"

# One descriptor per connection on each side (the broker's and the load
# generator's are separate processes, each with its own limit), plus spares.
NEED=$((CLIENTS + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$NEED" ]; then
  # Raising the hard limit needs CAP_SYS_RESOURCE (root outside a container
  # that drops it).
  ulimit -Hn "$NEED" 2>/dev/null ||
    die "the open-file hard limit is $(ulimit -Hn) and cannot be raised to $NEED here (no CAP_SYS_RESOURCE?): use --clients $(($(ulimit -Hn) - 1024)) or less"
fi
ulimit -n "$NEED" 2>/dev/null || die "cannot raise the open-file limit to $NEED"
[ "$(cat /proc/sys/fs/nr_open)" -ge "$NEED" ] || die "fs.nr_open is below $NEED"

# Source addresses: each (source address, 127.0.0.1:port) pair has the
# ephemeral range's ports, with a tenth kept spare.
read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
PORTS=$((PORT_HI - PORT_LO + 1))
[ "$SRC_ADDRS" -gt 0 ] || SRC_ADDRS=$(((CLIENTS + PORTS * 9 / 10 - 1) / (PORTS * 9 / 10)))
[ "$SRC_ADDRS" -le 250 ] || die "$CLIENTS connections need more than 250 source addresses"
log "$CLIENTS clients, file limit $(ulimit -n), ephemeral ports $PORT_LO-$PORT_HI, $SRC_ADDRS source address(es)"

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# The users, registered once (deterministic benchmark keys); each parley run
# gets a copy of this store.
TEMPLATE="$TMP/users.db"
log "registering $CLIENTS users"
"$LOADGEN" register --store "sqlite:$TEMPLATE" --users "$CLIENTS" >"$TMP/register.log" 2>&1 ||
  { cat "$TMP/register.log" >&2; die "register failed"; }
# Spread the registrations one second apart, as a real user base's are: the
# plugin's key refresh re-reads every user changed in the 2 s before the
# newest change it has seen (auth.c, AUTH_REFRESH_OVERLAP_MS), which after a
# bulk registration right before the run would be thousands of users every
# 250 ms on the reader and broker threads, a cost of the benchmark's set-up,
# not of connections.
sqlite3 "$TEMPLATE" 'UPDATE users SET updated_at = rowid * 1000; PRAGMA wal_checkpoint(TRUNCATE);' \
  >/dev/null || die "cannot spread the registrations in $TEMPLATE"

RUN_NO=0
# run CFG - one configuration against a fresh broker; appends a JSON line.
run() {
  local cfg="$1" dir port out load0 load1 args=()
  RUN_NO=$((RUN_NO + 1))
  dir="$TMP/run-$RUN_NO-$cfg"
  mkdir -p "$dir"
  port="$(bench_free_port)"
  bench_broker_conf "$port" >"$dir/mosquitto.conf"
  case "$cfg" in
    parley|parley-nocache)
      cp "$TEMPLATE" "$dir/parley.db"
      if [ "$(id -u)" = 0 ]; then chmod a+x "$TMP"; chmod a+rwx "$dir" "$dir"/parley.db*; fi
      cat >>"$dir/mosquitto.conf" <<CONF
allow_anonymous false
plugin $PLUGIN
plugin_opt_store sqlite:$dir/parley.db
plugin_opt_token_cache $([ "$cfg" = parley ] && echo "$CLIENTS" || echo 0)
plugin_opt_max_connections_per_user 16
CONF
      args=(--broker parley) ;;
    bare) echo "allow_anonymous true" >>"$dir/mosquitto.conf"; args=(--broker bare) ;;
    bare+creds) echo "allow_anonymous true" >>"$dir/mosquitto.conf"; args=(--broker bare --credentials) ;;
  esac
  "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  BROKER_PID=$!
  bench_wait_port "$port" "$BROKER_PID" || { cat "$dir/mosquitto.log" >&2; die "$cfg broker did not start"; }
  sleep 1 # the plugin's start-up (the key cache) is over before the clock starts
  load0="$(load_avg)"
  out="$("$LOADGEN" idle --port "$port" "${args[@]}" --clients "$CLIENTS" --threads "$THREADS" \
    --connect-window "$WINDOW" --hold "$HOLD" --broker-pid "$BROKER_PID" \
    --source-addrs "$SRC_ADDRS" --reconnect 2>>"$dir/loadgen.log" || true)"
  load1="$(load_avg)"
  stop_broker
  python3 - "$cfg" "$load0" "$load1" "$out" >>"$RESULTS" <<'PY'
import json, sys
cfg, l0, l1, line = sys.argv[1:5]
try:
    r = json.loads(line)
except ValueError:
    r = {"ok": False, "error": "no JSON from parley-loadgen: " + line[:200]}
print(json.dumps({"cfg": cfg, "load_before": l0, "load_after": l1, "r": r}))
PY
  log "$cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin)["r"]; print("connected", d.get("connected"), "rate", d.get("connect_rate"), "reconnect", d.get("reconnect_rate"), "rss_kb", d.get("broker_rss_kb_before"), "->", d.get("broker_rss_kb"), d.get("error",""))')"
}

MACHINE="$(bench_machine), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
LOAD_BEFORE="$(load_avg)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in bare parley bare+creds parley-nocache; do run "$cfg"; done
done
LOAD_AFTER="$(load_avg)"

SECTION="$TMP/section.md"
python3 - "$RESULTS" "$STARTED" "$MACHINE" "$LOAD_BEFORE" "$LOAD_AFTER" "$CMDLINE" \
  "$("$MOSQUITTO" -h 2>/dev/null | head -n1 || true)" "$CLIENTS" "$SRC_ADDRS" "$THREADS" \
  "$WINDOW" "$HOLD" "$PORT_LO-$PORT_HI" >"$SECTION" <<'PY'
import json, statistics, sys
(results, started, machine, load0, load1, cmd, mosq, clients, srcs, threads, window, hold,
 ports) = sys.argv[1:14]
runs = [json.loads(l) for l in open(results)]
cfgs = ["bare", "bare+creds", "parley", "parley-nocache"]

def med(cfg, key):
    v = [x["r"].get(key) for x in runs if x["cfg"] == cfg and x["r"].get(key) is not None]
    return statistics.median(v) if v else None

def num(v, fmt="{:,.0f}"):
    return "n/a" if v is None else fmt.format(v)

def per_conn(cfg):
    v = [(x["r"]["broker_rss_kb"] - x["r"]["broker_rss_kb_before"]) * 1024 / x["r"]["connected"]
         for x in runs if x["cfg"] == cfg and x["r"].get("connected") and
         x["r"].get("broker_rss_kb", -1) > 0 and x["r"].get("broker_rss_kb_before", -1) > 0]
    return statistics.median(v) if v else None

def ratio(a, b):
    return None if a is None or not b else a / b

out = []
w = out.append
w("Measured {} on {}; load average {} before, {} after (1/5/15 min; the machine is shared with "
  "other engineers' builds and tests, so rates move with their load; per-run load averages "
  "below).".format(started, machine, load0, load1))
w("")
w("Command: `{}` ({}; {} connections per run, parley-loadgen `idle`: {} epoll threads, {} "
  "connects in flight per thread, {} s idle before the memory reading, {} loopback source "
  "addresses for an ephemeral port range of {}; every run against a freshly started broker; "
  "medians of the runs).".format(cmd, mosq or "mosquitto", num(int(clients)), threads, window,
                                   hold, srcs, ports))
w("")
w("| configuration | connected | connects/s (CONNECT to CONNACK) | broker CPU per connect | reconnect storm, connects/s (same tokens) | broker CPU per reconnect | broker VmRSS before | VmRSS with all connected | VmHWM | bytes per connection |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in cfgs:
    if not any(x["cfg"] == c for x in runs):
        continue
    w("| {} | {} | {} | {} µs | {} | {} µs | {} MiB | {} MiB | {} MiB | {} |".format(
        c, num(med(c, "connected")), num(med(c, "connect_rate")),
        num(med(c, "broker_cpu_us_per_connect"), "{:.0f}"), num(med(c, "reconnect_rate")),
        num(med(c, "broker_cpu_us_per_reconnect"), "{:.0f}"),
        num(None if med(c, "broker_rss_kb_before") is None else med(c, "broker_rss_kb_before") / 1024, "{:,.1f}"),
        num(None if med(c, "broker_rss_kb") is None else med(c, "broker_rss_kb") / 1024, "{:,.1f}"),
        num(None if med(c, "broker_hwm_kb") is None else med(c, "broker_hwm_kb") / 1024, "{:,.1f}"),
        num(per_conn(c))))
w("")
rss = med("parley", "broker_rss_kb")
rate_r = ratio(med("parley", "connect_rate"), med("bare", "connect_rate"))
rate_rc = ratio(med("parley", "connect_rate"), med("bare+creds", "connect_rate"))
storm_r = ratio(med("parley", "reconnect_rate"), med("bare", "reconnect_rate"))
mem_r = ratio(per_conn("parley"), per_conn("bare"))
mem_rc = ratio(per_conn("parley"), per_conn("bare+creds"))
GOAL = 100000
n = int(clients)
ok_all = all(x["r"].get("connected") == n for x in runs if x["cfg"] == "parley")
w("| goal | measured | verdict |")
w("|---|---|---|")
if n >= GOAL:
    w("| {} idle authenticated connections on one node | {} connected | {} |".format(
        num(GOAL), num(med("parley", "connected")), "met" if ok_all else "**missed**"))
else:
    w("| {} idle authenticated connections on one node | this run: {} of {} connected | "
      "**not measured at {}** (see below) |".format(num(GOAL), num(med("parley", "connected")),
                                                   num(n), num(GOAL)))
per, before = per_conn("parley"), med("parley", "broker_rss_kb_before")
est = None if per is None or before is None else (before * 1024 + GOAL * per) / 1048576
if n >= GOAL:
    w("| broker RSS <= 2 GB with them | {} MiB | {} |".format(
        num(None if rss is None else rss / 1024, "{:,.0f}"),
        "n/a" if rss is None else ("met" if rss <= 2 * 1024 * 1024 else "**missed**")))
else:
    w("| broker RSS <= 2 GB with them | {} MiB with {}; estimated {} MiB with {} (RSS before + {} "
      "x bytes per connection) | {} |".format(
          num(None if rss is None else rss / 1024, "{:,.0f}"), num(n),
          num(est, "{:,.0f}"), num(GOAL), num(GOAL),
          "n/a" if est is None else ("met (estimated)" if est <= 2048 else "**missed** (estimated)")))
w("| connection rate >= 0.85x bare | {} of bare ({} of bare+creds) | {} |".format(
    num(rate_r, "{:.2f}x"), num(rate_rc, "{:.2f}x"),
    "n/a" if rate_r is None else ("met" if rate_r >= 0.85 else "**missed**")))
cpu_r = ratio(med("bare", "broker_cpu_us_per_connect"), med("parley", "broker_cpu_us_per_connect"))
w("| the same as broker CPU per connect (bare / parley: the rate a broker thread of its own would reach, relative) | {} | {} |".format(
    num(cpu_r, "{:.2f}x"), "n/a" if cpu_r is None else ("met" if cpu_r >= 0.85 else "**missed**")))
w("| reconnect storm (same tokens), against bare | {} (CPU per reconnect: {} µs with the token cache, {} µs without, bare {} µs) | |".format(
    num(storm_r, "{:.2f}x"), num(med("parley", "broker_cpu_us_per_reconnect"), "{:.0f}"),
    num(med("parley-nocache", "broker_cpu_us_per_reconnect"), "{:.0f}"),
    num(med("bare", "broker_cpu_us_per_reconnect"), "{:.0f}")))
w("| memory per connection against bare | {} ({} against bare+creds) | |".format(
    num(mem_r, "{:.2f}x"), num(mem_rc, "{:.2f}x")))
w("")
w("Every run:")
w("")
for x in runs:
    r = x["r"]
    w("- {}: connected {}, {} connects/s ({} µs broker CPU each), reconnect {} connects/s ({} failed, {} µs each), VmRSS {} -> {} KiB, "
      "CONNACK p50/p99 {}/{} ms; load average {} before, {} after{}".format(
        x["cfg"], num(r.get("connected")), num(r.get("connect_rate")),
        num(r.get("broker_cpu_us_per_connect"), "{:.0f}"),
        num(r.get("reconnect_rate")), num(r.get("reconnect_failed")),
        num(r.get("broker_cpu_us_per_reconnect"), "{:.0f}"),
        num(r.get("broker_rss_kb_before")), num(r.get("broker_rss_kb")),
        num((r.get("connect_latency") or {}).get("p50_us", None) and r["connect_latency"]["p50_us"] / 1000, "{:.2f}"),
        num((r.get("connect_latency") or {}).get("p99_us", None) and r["connect_latency"]["p99_us"] / 1000, "{:.2f}"),
        x["load_before"], x["load_after"],
        "; error: " + r["error"] if r.get("error") else ""))
print("\n".join(out))
PY

if [ "$WRITE_DOC" = 0 ]; then
  cat "$SECTION"
  exit 0
fi
bench_write_section "$ROOT/docs/benchmarks.md" connections "$SECTION"
log "wrote the Connections section of docs/benchmarks.md"
