#!/usr/bin/env bash
# bench/broker.sh - the broker benchmarks: bare mosquitto against mosquitto with
# the Parley plugin, runs alternated (bare, parley, bare, parley, ...) so that
# drifting machine load hits both alike. Writes the "Broker" section of
# docs/benchmarks.md (between <!-- broker:begin --> and <!-- broker:end -->;
# the notes between <!-- broker:notes:begin/end --> are kept).
#
#   bench/broker.sh                      # build, run everything, write the doc
#   bench/broker.sh --quick --no-doc     # a short run to try the script
#   bench/broker.sh --profile-only       # only the perf profile of the plugin
#
# Options:
#   --build-dir DIR   build tree (default: $PARLEY_BUILD_DIR or <repo>/build-bench)
#   --no-build        use the build tree as it is
#   --rounds N        runs of each configuration per measurement (default 3)
#   --duration S      measured seconds per flow run (default 10; 2 s warmup)
#   --pairs N         sender/receiver pairs (default 8)
#   --idle-clients N  idle connections for the memory/connect-rate runs (default 10000)
#   --no-profile      skip the perf profile of the plugin's hot path
#   --profile-only    run only the profile (printed; the doc is left alone)
#   --quick           rounds 1, duration 3, idle clients 1000
#   --no-doc          print the section instead of writing docs/benchmarks.md
#   --keep            keep the scratch directory (logs, JSON results, profile)
#
# Each measurement is one parley-loadgen run against a freshly started broker
# (fresh SQLite store for the plugin). Raw results: one JSON line per run in
# $TMP/results.jsonl. Nothing here is a test; nothing asserts a speed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
DO_BUILD=1 ROUNDS=3 DURATION=10 WARMUP=2 PAIRS=8 IDLE=10000 PROFILE=1 PROFILE_ONLY=0
WRITE_DOC=1 KEEP=0 PAYLOAD=100
CMDLINE="bench/broker.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$(cd "$2" && pwd)"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --pairs) PAIRS="$2"; shift ;;
    --idle-clients) IDLE="$2"; shift ;;
    --no-profile) PROFILE=0 ;;
    --profile-only) PROFILE_ONLY=1 WRITE_DOC=0 ;;
    --quick) ROUNDS=1 DURATION=3 IDLE=1000 ;;
    *) bench_common_opt "$1" ;;
  esac
  shift
done

bench_init broker.sh parley-bench
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"
PLUGIN="$BUILD/broker-plugin/parley_plugin.so"

[ "$DO_BUILD" = 0 ] || bench_build parley-loadgen parley_plugin
[ -x "$LOADGEN" ] || die "no $LOADGEN (build it, or drop --no-build)"
[ -f "$PLUGIN" ] || die "no $PLUGIN (build it, or drop --no-build)"

# Ten thousand connections need ten thousand descriptors on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE + 100)) ]; then
  die "open-file limit $NOFILE is below $IDLE idle clients (raise ulimit -Hn)"
fi

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# start_broker bare|parley USERS - a fresh broker (and store) on a free port.
# Sets BROKER_PID, PORT, RUN_DIR.
start_broker() {
  local cfg="$1" users="$2"
  bench_next_run "$cfg"
  # Identical broker settings for both; the plugin run adds only the plugin.
  bench_broker_conf "$PORT" false >"$RUN_DIR/mosquitto.conf"
  if [ "$cfg" = parley ]; then
    "$LOADGEN" register --store "sqlite:$RUN_DIR/parley.db" --users "$users" \
      >>"$RUN_DIR/register.log" 2>&1 || { cat "$RUN_DIR/register.log" >&2; die "register failed"; }
    # Started as root, mosquitto drops to its own user: let it use the store.
    if [ "$(id -u)" = 0 ]; then chmod a+x "$TMP"; chmod a+rwx "$RUN_DIR" "$RUN_DIR"/parley.db*; fi
    bench_plugin_conf "$PLUGIN" "sqlite:$RUN_DIR/parley.db" >>"$RUN_DIR/mosquitto.conf"
  else
    echo "allow_anonymous true" >>"$RUN_DIR/mosquitto.conf"
  fi
  bench_start_broker "$RUN_DIR" || die "$cfg broker did not start"
  RUN_BROKER_TID=$BROKER_PID   # the broker's main thread, where every callback runs
}

# record TAG CFG JSON CPU_S - append one result line.
record() {
  python3 - "$1" "$2" "$4" "$(load_avg)" "$3" >>"$RESULTS" <<'PY'
import json, sys
tag, cfg, cpu, load, line = sys.argv[1:6]
try:
    r = json.loads(line)
except ValueError:
    r = {"ok": False, "error": "no JSON from parley-loadgen: " + line[:200]}
print(json.dumps({"tag": tag, "cfg": cfg, "broker_cpu_s": float(cpu), "load": load, "r": r}))
PY
}

# flow TAG CFG ARGS... - one flow run against a fresh broker.
flow() {
  local tag="$1" cfg="$2"; shift 2
  start_broker "$cfg" $((2 * PAIRS))
  local c0 c1 out
  c0="$(cpu_ticks "$BROKER_PID")"
  out="$("$LOADGEN" flow --port "$PORT" --broker "$cfg" --pairs "$PAIRS" --payload "$PAYLOAD" \
    --warmup "$WARMUP" --duration "$DURATION" "$@" 2>>"$RUN_DIR/loadgen.log" || true)"
  c1="$(cpu_ticks "$BROKER_PID")"
  stop_broker
  record "$tag" "$cfg" "$out" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print (b-a)/100}')"
  log "$tag $cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin)["r"]; print("throughput", d.get("throughput"), "p99_us", d.get("latency",{}).get("p99_us"), "lost", d.get("lost"), d.get("error",""))')"
}

# idle CFG - connection rate and memory with $IDLE idle clients.
idle() {
  local cfg="$1"
  start_broker "$cfg" "$IDLE"
  local out
  # 4 threads x 8 connects in flight: below mosquitto's listen backlog (100),
  # so no SYN is dropped and retried a second later.
  out="$("$LOADGEN" idle --port "$PORT" --broker "$cfg" --clients "$IDLE" --threads 4 \
    --connect-window 8 --hold 3 --broker-pid "$BROKER_PID" 2>>"$RUN_DIR/loadgen.log" || true)"
  stop_broker
  record idle "$cfg" "$out" 0
  log "idle $cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin)["r"]; print("connected", d.get("connected"), "rate", d.get("connect_rate"), "rss_kb", d.get("broker_rss_kb"), d.get("error",""))')"
}

# profile RATE - where the broker's CPU goes, bare and with the plugin, at
# one rate both sustain: `perf record` samples every thread of the broker
# process in one run, `perf stat` counts the broker thread's system calls
# in a second (its tracepoint would slow the first). $TMP/profile-*.txt.
profile() {
  local rate="$1" cfg secs=$((WARMUP + DURATION)) pass
  command -v perf >/dev/null || { log "no perf: profile skipped"; return 0; }
  for cfg in bare parley; do
    for pass in record stat; do
      start_broker "$cfg" $((2 * PAIRS))
      if [ "$pass" = record ]; then
        perf record -e cpu-clock -F 1000 -g -p "$BROKER_PID" -o "$TMP/perf-$cfg.data" \
          -- sleep "$secs" >"$TMP/perf-$cfg.log" 2>&1 &
      else
        perf stat -e raw_syscalls:sys_enter -e context-switches -t "$BROKER_PID" \
          -o "$TMP/perfstat-$cfg.txt" -- sleep "$secs" >/dev/null 2>&1 &
      fi
      local perf_pid=$!
      "$LOADGEN" flow --port "$PORT" --broker "$cfg" --pairs "$PAIRS" --payload "$PAYLOAD" \
        --warmup 0 --duration "$secs" --rate "$rate" --drain 1 \
        >"$TMP/profile-$pass-$cfg.json" 2>>"$RUN_DIR/loadgen.log" || true
      wait "$perf_pid" || true
      echo "$BROKER_PID" >"$TMP/profile-$pass-$cfg.pid"
      stop_broker
    done
    local r=(perf report -i "$TMP/perf-$cfg.data" --stdio -g none)
    "${r[@]}" --no-children --sort pid,dso --percent-limit 0.3 >"$TMP/profile-$cfg-threads.txt" 2>/dev/null || true
    "${r[@]}" --no-children --tid "$(cat "$TMP/profile-record-$cfg.pid")" --sort dso,symbol \
      --percent-limit 0.8 >"$TMP/profile-$cfg-main.txt" 2>/dev/null || true
    "${r[@]}" --children --tid "$(cat "$TMP/profile-record-$cfg.pid")" --sort symbol \
      --percent-limit 2 >"$TMP/profile-$cfg-children.txt" 2>/dev/null || true
  done
  log "profile: $TMP/profile-*.txt"
}

MACHINE="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
LOAD_BEFORE="$(load_avg)"
# How long a durable commit takes where the store lives (one fsync'd 4 KiB write).
FSYNC_MS="$(dd if=/dev/zero of="$TMP/fsync-probe" bs=4k count=100 oflag=dsync 2>&1 |
  awk '/copied/ {printf "%.2f", $(NF-3) * 1000 / 100}')"
rm -f "$TMP/fsync-probe"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
log "machine: $MACHINE; load before: $LOAD_BEFORE"
: >"$RESULTS"

HALF=0 SLOW_HALF=2000
if [ "$PROFILE_ONLY" = 0 ]; then
  # 1. Maximum throughput, QoS 1 and QoS 0, 100-byte envelopes.
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in bare parley; do flow max-q1 "$cfg" --qos 1; done
  done
  for cfg in bare parley; do flow max-q0 "$cfg" --qos 0; done
  # What the `stored` receipts cost: the same load with no receipt subscriber.
  flow max-q1-norcpt parley --qos 1 --no-receipts
  # 2. Latency at half of bare's maximum QoS 1 rate (median of the bare runs).
  HALF="$(python3 - "$RESULTS" <<'PY'
import json, statistics, sys
v = [json.loads(l) for l in open(sys.argv[1])]
t = [x["r"].get("throughput", 0) for x in v if x["tag"] == "max-q1" and x["cfg"] == "bare"]
print(int(statistics.median(t) / 2) if t else 0)
PY
)"
  [ "$HALF" -gt 0 ] || die "bare throughput unknown"
  log "half of bare's max rate: $HALF msg/s"
  # A rate both configurations sustain: half of the slower one's maximum.
  SLOW_HALF="$(python3 - "$RESULTS" <<'PY'
import json, statistics, sys
v = [json.loads(l) for l in open(sys.argv[1])]
t = [statistics.median(ts) for ts in
     ([x["r"].get("throughput", 0) for x in v if x["tag"] == "max-q1" and x["cfg"] == c]
      for c in ("bare", "parley")) if ts]
print(int(min(t) / 2) if t and min(t) > 0 else 2000)
PY
)"
  log "half of the slower configuration's max rate: $SLOW_HALF msg/s"
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in bare parley; do flow half-q1 "$cfg" --qos 1 --rate "$HALF"; done
    for cfg in bare parley; do flow slowhalf-q1 "$cfg" --qos 1 --rate "$SLOW_HALF"; done
  done
  # 3. Idle connections: connection rate and memory.
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in bare parley; do idle "$cfg"; done
  done
fi
if [ "$PROFILE" = 1 ] || [ "$PROFILE_ONLY" = 1 ]; then
  profile "${SLOW_HALF:-2000}"
fi
LOAD_AFTER="$(load_avg)"
log "load after: $LOAD_AFTER"
cp "$RESULTS" "$TMP/results-final.jsonl"

# The section, from the JSON lines.
SECTION="$TMP/section.md"
python3 - "$RESULTS" "$TMP" "$STARTED" "$MACHINE" "$LOAD_BEFORE" "$LOAD_AFTER" "$CMDLINE" \
  "$("$MOSQUITTO" -h 2>/dev/null | head -n1 || true)" "$PAIRS" "$DURATION" "$WARMUP" "$IDLE" \
  "$PROFILE_ONLY" "$FSYNC_MS" "$(df -T "$TMP" | awk 'NR==2 {print $2}')" >"$SECTION" <<'PY'
import json, os, statistics, sys
(results, tmp, started, machine, load0, load1, cmd, mosq, pairs, dur, warm, idle,
 profile_only, fsync_ms, fstype) = sys.argv[1:16]
runs = [json.loads(l) for l in open(results)]

def pick(tag, cfg):
    return [x for x in runs if x["tag"] == tag and x["cfg"] == cfg]

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def get(x, *path):
    for p in path:
        if not isinstance(x, dict) or p not in x:
            return None
        x = x[p]
    return x

def num(v, fmt="{:,.0f}"):
    return "n/a" if v is None else fmt.format(v)

def ms(us):
    return "n/a" if us is None else ("{:.2f} ms".format(us / 1000) if us < 10000 else "{:.0f} ms".format(us / 1000))

def each(rs, *path, f=lambda v: num(v)):
    return ", ".join(f(get(x["r"], *path)) for x in rs) or "n/a"

def ok(rs):
    return rs and all(get(x["r"], "ok") and not get(x["r"], "error") for x in rs)

def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b

def verdict(v, good):
    return "n/a" if v is None else ("met" if good(v) else "**missed**")

out = []
w = out.append
if profile_only != "1":
    b1, p1 = pick("max-q1", "bare"), pick("max-q1", "parley")
    b0, p0 = pick("max-q0", "bare"), pick("max-q0", "parley")
    bh, ph = pick("half-q1", "bare"), pick("half-q1", "parley")
    bi, pi = pick("idle", "bare"), pick("idle", "parley")
    thr_b, thr_p = med(get(x["r"], "throughput") for x in b1), med(get(x["r"], "throughput") for x in p1)
    q0_b, q0_p = med(get(x["r"], "throughput") for x in b0), med(get(x["r"], "throughput") for x in p0)
    rate = get(bh[0]["r"], "target_rate") if bh else None
    p99_b, p99_p = med(get(x["r"], "latency", "p99_us") for x in bh), med(get(x["r"], "latency", "p99_us") for x in ph)
    p50_b, p50_p = med(get(x["r"], "latency", "p50_us") for x in bh), med(get(x["r"], "latency", "p50_us") for x in ph)
    p999_b, p999_p = med(get(x["r"], "latency", "p999_us") for x in bh), med(get(x["r"], "latency", "p999_us") for x in ph)
    st50, st99 = med(get(x["r"], "stored_latency", "p50_us") for x in ph), med(get(x["r"], "stored_latency", "p99_us") for x in ph)
    stm50, stm99 = med(get(x["r"], "stored_latency", "p50_us") for x in p1), med(get(x["r"], "stored_latency", "p99_us") for x in p1)
    rss_b, rss_p = med(get(x["r"], "broker_rss_kb") for x in bi), med(get(x["r"], "broker_rss_kb") for x in pi)
    hwm_b, hwm_p = med(get(x["r"], "broker_hwm_kb") for x in bi), med(get(x["r"], "broker_hwm_kb") for x in pi)
    pc_b, pc_p = med(get(x["r"], "broker_kb_per_client") for x in bi), med(get(x["r"], "broker_kb_per_client") for x in pi)
    cr_b, cr_p = med(get(x["r"], "connect_rate") for x in bi), med(get(x["r"], "connect_rate") for x in pi)
    def cpu_per_msg(rs):
        v = [x["broker_cpu_s"] * 1e6 / (get(x["r"], "sent") or 1) for x in rs if get(x["r"], "sent")]
        return med(v)
    cpm_b, cpm_p = cpu_per_msg(b1), cpu_per_msg(p1)
    def client_cpu(rs):
        return med(get(x["r"], "client_cpu_s") * 1e6 / get(x["r"], "sent") for x in rs
                   if get(x["r"], "sent") and get(x["r"], "client_cpu_s") is not None)
    ccpu_b, ccpu_p = client_cpu(b1), client_cpu(p1)
    cph_b, cph_p = cpu_per_msg(bh), cpu_per_msg(ph)

    w("Measured {} on {}. Load average (1/5/15 min) {} before and {} after the run.".format(started, machine, load0, load1))
    w("")
    w("Command: `{}` ({}; {} sender/receiver pairs, {} s measured after {} s warmup per run, "
      "{} idle clients; every run against a freshly started broker, the plugin with a fresh SQLite store; "
      "configurations alternated bare, parley, bare, parley). The store is SQLite (WAL, synchronous=FULL, "
      "the default) on {}, where one fsync'd 4 KiB write takes {} ms.".format(cmd.strip(), mosq or "mosquitto", pairs, dur, warm, idle, fstype, fsync_ms or "n/a"))
    w("")
    w("| measure | bare mosquitto | with the Parley plugin | plugin / bare | target |")
    w("|---|---:|---:|---:|---|")
    r = ratio(thr_p, thr_b)
    w("| throughput, QoS 1, 100-byte envelopes (msg/s delivered, median) | {} | {} | {} | >= 0.70x: {} |".format(
        num(thr_b), num(thr_p), num(r, "{:.2f}x"), verdict(r, lambda v: v >= 0.7)))
    w("| broker CPU per message at that load (µs) | {} | {} | {} | |".format(
        num(cpm_b, "{:.1f}"), num(cpm_p, "{:.1f}"), num(ratio(cpm_p, cpm_b), "{:.2f}x")))
    w("| load generator CPU per message at that load (µs, both ends) | {} | {} | | |".format(
        num(ccpu_b, "{:.1f}"), num(ccpu_p, "{:.1f}")))
    w("| throughput, QoS 0 (msg/s, one run each) | {} | {} | {} | |".format(num(q0_b), num(q0_p), num(ratio(q0_p, q0_b), "{:.2f}x")))
    r = ratio(p99_p, p99_b)
    w("| p99 publish-to-delivery latency at {} msg/s (half of bare's max), QoS 1 | {} | {} | {} | <= 2x: {} |".format(
        num(rate), ms(p99_b), ms(p99_p), num(r, "{:.2f}x"), verdict(r, lambda v: v <= 2.0)))
    w("| p50 / p99.9 latency at that rate | {} / {} | {} / {} | | |".format(ms(p50_b), ms(p999_b), ms(p50_p), ms(p999_p)))
    w("| broker CPU per message at that rate (µs) | {} | {} | {} | |".format(
        num(cph_b, "{:.1f}"), num(cph_p, "{:.1f}"), num(ratio(cph_p, cph_b), "{:.2f}x")))
    w("| publish to `stored` receipt, p50 / p99, at {} msg/s | | {} / {} | | p99 < 150 ms: {} |".format(
        num(rate), ms(st50), ms(st99), verdict(st99, lambda v: v < 150000)))
    bs, ps = pick("slowhalf-q1", "bare"), pick("slowhalf-q1", "parley")
    if bs or ps:
        srate = get((bs or ps)[0]["r"], "target_rate")
        s99b, s99p = med(get(x["r"], "latency", "p99_us") for x in bs), med(get(x["r"], "latency", "p99_us") for x in ps)
        s50b, s50p = med(get(x["r"], "latency", "p50_us") for x in bs), med(get(x["r"], "latency", "p50_us") for x in ps)
        ss50, ss99 = med(get(x["r"], "stored_latency", "p50_us") for x in ps), med(get(x["r"], "stored_latency", "p99_us") for x in ps)
        w("| p50 / p99 latency at {} msg/s (half of the slower configuration's max) | {} / {} | {} / {} | {} (p99) | |".format(
            num(srate), ms(s50b), ms(s99b), ms(s50p), ms(s99p), num(ratio(s99p, s99b), "{:.2f}x")))
        w("| publish to `stored` receipt, p50 / p99, at {} msg/s | | {} / {} | | p99 < 150 ms: {} |".format(
            num(srate), ms(ss50), ms(ss99), verdict(ss99, lambda v: v < 150000)))
    w("| publish to `stored` receipt, p50 / p99, at maximum throughput | | {} / {} | | |".format(ms(stm50), ms(stm99)))
    nr = pick("max-q1-norcpt", "parley")
    if nr:
        thr_nr = med(get(x["r"], "throughput") for x in nr)
        w("| throughput, QoS 1, plugin, nobody subscribed to receipts (msg/s, one run) | | {} | {} | |".format(
            num(thr_nr), num(ratio(thr_nr, thr_b), "{:.2f}x")))
    w("| broker memory with {} idle clients, VmRSS (VmHWM) | {} MiB ({} MiB) | {} MiB ({} MiB) | {} | |".format(
        idle, num(rss_b and rss_b / 1024, "{:.1f}"), num(hwm_b and hwm_b / 1024, "{:.1f}"),
        num(rss_p and rss_p / 1024, "{:.1f}"), num(hwm_p and hwm_p / 1024, "{:.1f}"), num(ratio(rss_p, rss_b), "{:.2f}x")))
    w("| memory per idle client (VmRSS growth / clients) | {} KiB | {} KiB | {} | |".format(
        num(pc_b, "{:.1f}"), num(pc_p, "{:.1f}"), num(ratio(pc_p, pc_b), "{:.2f}x")))
    w("| connection setup (CONNECT to CONNACK, connects/s; plugin: tokens verified/s) | {} | {} | {} | |".format(
        num(cr_b), num(cr_p), num(ratio(cr_p, cr_b), "{:.2f}x")))
    w("")
    w("Every run (bare | parley):")
    w("")
    w("- max throughput QoS 1 (msg/s): {} | {}".format(each(b1, "throughput"), each(p1, "throughput")))
    w("- p99 at {} msg/s: {} | {}".format(num(rate), each(bh, "latency", "p99_us", f=ms), each(ph, "latency", "p99_us", f=ms)))
    if bs or ps:
        w("- p99 at {} msg/s: {} | {}".format(num(srate), each(bs, "latency", "p99_us", f=ms), each(ps, "latency", "p99_us", f=ms)))
    w("- stored receipt p99 at {} msg/s: {}; at max: {}".format(num(rate), each(ph, "stored_latency", "p99_us", f=ms), each(p1, "stored_latency", "p99_us", f=ms)))
    w("- connects/s: {} | {}; VmRSS KiB: {} | {}".format(each(bi, "connect_rate"), each(pi, "connect_rate"), each(bi, "broker_rss_kb"), each(pi, "broker_rss_kb")))
    lost = [(x["tag"], x["cfg"], get(x["r"], "lost")) for x in runs if get(x["r"], "lost")]
    errs = [(x["tag"], x["cfg"], get(x["r"], "error")) for x in runs if get(x["r"], "error") or not get(x["r"], "ok")]
    if lost:
        w("- messages lost: " + "; ".join("{} {}: {}".format(*l) for l in lost))
    if errs:
        w("- runs with errors: " + "; ".join("{} {}: {}".format(*e) for e in errs))
    w("- machine load average during each run: " + "; ".join("{} {} {}".format(x["tag"], x["cfg"], x["load"].split()[0]) for x in runs))
    w("")
def perf_stat(cfg):
    """(syscalls, context switches) of the broker thread, or None."""
    f = os.path.join(tmp, "perfstat-%s.txt" % cfg)
    if not os.path.exists(f):
        return None
    sc = cs = None
    for line in open(f):
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "raw_syscalls:sys_enter":
            sc = int(parts[0].replace(",", ""))
        if len(parts) >= 2 and parts[1] == "context-switches":
            cs = int(parts[0].replace(",", ""))
    return sc, cs

def report_lines(name, limit):
    f = os.path.join(tmp, name)
    if not os.path.exists(f):
        return []
    rows = [l.rstrip() for l in open(f) if l.strip() and not l.startswith("#")]
    return rows[:limit]

def load_json(name):
    f = os.path.join(tmp, name)
    try:
        return json.load(open(f))
    except (OSError, ValueError):
        return None

def cpu_by_thread_dso(cfg):
    """{(role, dso): µs per message} from the pid,dso report (cpu-clock: event count = ns)."""
    f = os.path.join(tmp, "profile-%s-threads.txt" % cfg)
    run = load_json("profile-record-%s.json" % cfg)
    try:
        main = open(os.path.join(tmp, "profile-record-%s.pid" % cfg)).read().strip()
    except OSError:
        return None
    if not os.path.exists(f) or not run or not run.get("sent"):
        return None
    total_ns, rows = None, {}
    for line in open(f):
        if line.startswith("# Event count"):
            total_ns = int(line.split(":")[1].strip())
        elif line.strip() and not line.startswith("#"):
            parts = line.split()
            pct, pid, dso = float(parts[0].rstrip("%")), parts[1].split(":")[0], parts[2]
            role = "broker thread" if pid == main else "other threads (plugin writer, ...)"
            dso = {"[kernel.kallsyms]": "kernel", "libc.so.6": "libc"}.get(dso, dso.split(".so")[0])
            key = (role, dso)
            rows[key] = rows.get(key, 0) + pct
    if not total_ns:
        return None
    return {k: v / 100 * total_ns / 1000 / run["sent"] for k, v in rows.items()}

prof = {cfg: cpu_by_thread_dso(cfg) for cfg in ("bare", "parley")}
if any(prof.values()):
    rate = get(load_json("profile-record-parley.json") or load_json("profile-record-bare.json") or {}, "target_rate")
    w("### Where the broker's time goes")
    w("")
    w("`perf record -e cpu-clock -g` on the whole broker process (every thread) while parley-loadgen "
      "sends QoS 1 at {} msg/s, a rate both configurations sustain; a second run under `perf stat` counts "
      "the broker thread's system calls. Every plugin callback runs on the broker's main thread; "
      "the SQLite writer has its own thread. CPU time per message delivered, by thread and binary:".format(num(rate)))
    w("")
    w("| thread | binary | bare (µs/msg) | parley (µs/msg) |")
    w("|---|---|---:|---:|")
    keys = sorted(set(k for d in prof.values() if d for k in d),
                  key=lambda k: (k[0] != "broker thread", -max((prof[c] or {}).get(k, 0) for c in prof)))
    for role in ("broker thread", "other threads (plugin writer, ...)"):
        small = {"bare": 0.0, "parley": 0.0}
        for k in keys:
            if k[0] != role:
                continue
            vals = {c: (prof[c] or {}).get(k, 0) for c in prof}
            if max(vals.values()) < 0.5:
                for c in vals:
                    small[c] += vals[c]
                continue
            w("| {} | {} | {:.1f} | {:.1f} |".format(role, k[1], vals["bare"], vals["parley"]))
        if max(small.values()) > 0:
            w("| {} | (others) | {:.1f} | {:.1f} |".format(role, small["bare"], small["parley"]))
        tot = {c: sum(v for k, v in (prof[c] or {}).items() if k[0] == role) for c in prof}
        w("| **{}** | **total** | **{:.1f}** | **{:.1f}** |".format(role, tot["bare"], tot["parley"]))
    st = {cfg: perf_stat(cfg) for cfg in ("bare", "parley")}
    sent = {cfg: get(load_json("profile-stat-%s.json" % cfg) or {}, "sent") for cfg in ("bare", "parley")}
    def per(cfg, i):
        v = st.get(cfg)
        return None if not v or v[i] is None or not sent.get(cfg) else v[i] / sent[cfg]
    w("| broker thread | system calls per message | {} | {} |".format(num(per("bare", 0), "{:.1f}"), num(per("parley", 0), "{:.1f}")))
    w("| broker thread | context switches per message | {} | {} |".format(num(per("bare", 1), "{:.2f}"), num(per("parley", 1), "{:.2f}")))
    w("")
    for cfg in ("parley", "bare"):
        rows = report_lines("profile-%s-main.txt" % cfg, 20)
        if rows:
            w("{}: the broker thread's top symbols (self time, share of the process's samples):".format(cfg))
            w("")
            w("```")
            out.extend(rows)
            w("```")
            w("")
print("\n".join(out))
PY

if [ "$WRITE_DOC" = 0 ]; then
  cat "$SECTION"
  exit 0
fi
DOC="$ROOT/docs/benchmarks.md"
python3 - "$DOC" "$SECTION" <<'PY'
import os, sys
doc, section = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
B, E = "<!-- broker:begin -->", "<!-- broker:end -->"
NB, NE = "<!-- broker:notes:begin -->", "<!-- broker:notes:end -->"
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\nMeasured figures for Parley's components; each section names the command that reproduces it.\n"
notes = NB + "\n" + NE
if B in text and E in text:
    head, rest = text.split(B, 1)
    old, tail = rest.split(E, 1)
    if NB in old and NE in old:
        notes = NB + old.split(NB, 1)[1].split(NE, 1)[0] + NE
else:
    head, tail = text.rstrip("\n") + "\n\n", "\n"
new = head + B + "\n## Broker\n\n" + section + "\n\n" + notes + "\n" + E + tail
open(doc, "w").write(new)
PY
log "wrote the Broker section of $DOC"
