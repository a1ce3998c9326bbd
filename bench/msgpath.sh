#!/usr/bin/env bash
# bench/msgpath.sh - the message path of one broker node (issue 16): maximum
# throughput at QoS 1 (STORED receipts subscribed, as every client does) and
# QoS 0, broker CPU per message, and publish->deliver latency at half of the
# plugin's own maximum, against bare mosquitto in the same run. With --prev
# REV (default: the merge base of HEAD and main) the plugin of that revision
# runs too, so a change is measured against what it replaced.
#
#   bench/msgpath.sh [--build-dir DIR] [--prev REV | --no-prev] [--rounds N]
#                    [--duration S] [--pairs N] [--half RATE] [--no-doc] [--keep]
#
# --half RATE skips the maximum runs and measures latency at RATE msg/s only
# (to compare one option's effect; the section's throughput rows stay empty).
#
# Configurations, alternated round by round:
#   bare    mosquitto without the plugin (anonymous)
#   prev    the plugin of --prev (built in a scratch worktree)
#   parley  this tree's plugin; the load generator sets
#           Envelope.coalesce_receipts as libparley does
# Each run is one parley-loadgen flow against a freshly started broker (and
# a fresh SQLite store, synchronous=FULL, the default). Recorded per run: the
# broker's CPU time (user + system of every thread, from /proc) per message
# sent, the STORED receipt packets per message, and the machine's 1-minute
# load average. After every latency run of a plugin the store's commit p99
# is probed where the store lives: 200 single-row WAL commits with
# synchronous=FULL (Python's sqlite3), the fsync the plugin pays per batch.
# Writes the section between <!-- msgpath:begin --> and <!-- msgpath:end -->
# of docs/benchmarks.md (or prints it with --no-doc). Nothing here asserts
# a speed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
PREV="" USE_PREV=1 HALF_GIVEN="" ROUNDS=3 DURATION=8 WARMUP=2 PAIRS=8 WRITE_DOC=1 KEEP=0 PAYLOAD=100
CMDLINE="bench/msgpath.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) mkdir -p "$2"; BUILD="$(cd "$2" && pwd)"; shift ;;
    --prev) PREV="$2"; shift ;;
    --no-prev) USE_PREV=0 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --pairs) PAIRS="$2"; shift ;;
    --half) HALF_GIVEN="$2"; shift ;;
    *) bench_common_opt "$1" ;;
  esac
  shift
done

bench_init msgpath.sh parley-msgpath
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"

bench_build parley-loadgen parley_plugin
declare -A PLUGIN=([parley]="$BUILD/broker-plugin/parley_plugin.so")
CFGS=(bare parley)
PREV_SHORT=""
if [ "$USE_PREV" = 1 ]; then
  [ -n "$PREV" ] || PREV="$(git -C "$ROOT" merge-base HEAD main)"
  PREV_SHORT="$(git -C "$ROOT" rev-parse --short "$PREV")"
  bench_build_prev "$PREV" parley_plugin
  PLUGIN[prev]="$TMP/prev-build/broker-plugin/parley_plugin.so"
  CFGS=(bare prev parley)
fi

# start_broker CFG - a fresh broker (and store) on a free port.
start_broker() {
  local cfg="$1"
  bench_next_run "$cfg"
  bench_broker_conf "$PORT" >"$RUN_DIR/mosquitto.conf"
  if [ "$cfg" = bare ]; then
    echo "allow_anonymous true" >>"$RUN_DIR/mosquitto.conf"
  else
    "$LOADGEN" register --store "sqlite:$RUN_DIR/parley.db" --users $((2 * PAIRS)) \
      >>"$RUN_DIR/register.log" 2>&1 || { cat "$RUN_DIR/register.log" >&2; die "register failed"; }
    MPORT="$(bench_free_port)"
    { bench_plugin_conf "${PLUGIN[$cfg]}" "sqlite:$RUN_DIR/parley.db${BENCH_STORE_QUERY:-}"; bench_wake_conf "$RUN_DIR"
      # The stage histograms (stages.c), scraped at the start and the end of
      # the measured window; a plugin without them just has none.
      printf 'plugin_opt_metrics_listen 127.0.0.1:%s\nplugin_opt_metrics_interval 1\n' "$MPORT"; } \
      >>"$RUN_DIR/mosquitto.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$RUN_DIR/mosquitto.conf"
  fi
  bench_start_broker "$RUN_DIR" || die "$cfg broker did not start"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# commit_p99 DIR - p99 (µs) of 200 single-row WAL commits, synchronous=FULL, in DIR.
commit_p99() {
  python3 - "$1/commit-probe.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
d = []
for i in range(200):
    t = time.perf_counter()
    db.execute("BEGIN")
    db.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 100,))
    db.execute("COMMIT")
    d.append((time.perf_counter() - t) * 1e6)
d.sort()
print("%.0f %.0f" % (d[len(d) // 2], d[int(len(d) * 0.99) - 1]))
PY
}

# flow TAG CFG ARGS... - one parley-loadgen flow run against a fresh broker.
flow() {
  local tag="$1" cfg="$2" kind=parley out c0 c1 probe="" load; shift 2
  [ "$cfg" = bare ] && kind=bare
  start_broker "$cfg"
  sleep 0.3   # let the wake connection come up
  c0="$(cpu_ticks "$BROKER_PID")"
  local scrape=""
  if [ "$cfg" != bare ]; then
    # The window's start: the snapshot of the second after the warmup.
    (sleep "$((WARMUP + 1))"; curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" \
      >"$RUN_DIR/stages-pre.txt" || true) &
    scrape=$!
  fi
  out="$("$LOADGEN" flow --port "$PORT" --broker "$kind" --pairs "$PAIRS" --payload "$PAYLOAD" \
    --warmup "$WARMUP" --duration "$DURATION" "$@" 2>>"$RUN_DIR/loadgen.log" || true)"
  c1="$(cpu_ticks "$BROKER_PID")"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  if [ -n "$scrape" ]; then
    wait "$scrape" || true
    sleep 1.2 # the next snapshot holds every message of the run
    curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" >"$RUN_DIR/stages-post.txt" || true
  fi
  stop_broker
  if [ "$tag" = half ] && [ "$cfg" != bare ]; then probe="$(commit_p99 "$RUN_DIR" || true)"; fi
  PYTHONPATH="$ROOT/bench" python3 - "$tag" "$cfg" "$out" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print (b-a)/100}')" "$load" "$probe" "$RUN_DIR" >>"$RESULTS" <<'PY'
import json, sys
from benchrun import stage_quantiles
tag, cfg, line, cpu, load, probe, run_dir = sys.argv[1:8]
try:
    r = json.loads(line)
except ValueError:
    r = {"ok": False, "error": "no JSON from parley-loadgen: " + line[:200]}
x = {"tag": tag, "cfg": cfg, "r": r, "broker_cpu_s": float(cpu), "load": float(load)}
if probe:
    x["commit_p50_us"], x["commit_p99_us"] = map(float, probe.split())
st = stage_quantiles(run_dir + "/stages-pre.txt", run_dir + "/stages-post.txt")
if st:
    x["stages"] = st
print(json.dumps(x))
PY
  log "$tag $cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; x=json.load(sys.stdin); d=x["r"]; print("throughput", d.get("throughput"), "p99_us", d.get("latency",{}).get("p99_us"), "cpu_us/msg %.1f" % (x["broker_cpu_s"]*1e6/max(1,d.get("sent") or 1)), "load", x["load"], "commit_p99_us", x.get("commit_p99_us"), " ".join("%s=%.0f/%.0f" % (k, v.get("p50", 0), v.get("p99", 0)) for k, v in x.get("stages", {}).items()), d.get("error",""))')"
}

MACHINE="$(bench_machine)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  [ -z "$HALF_GIVEN" ] || break
  for cfg in "${CFGS[@]}"; do flow max "$cfg" --qos 1; done
  for cfg in "${CFGS[@]}"; do flow max0 "$cfg" --qos 0; done
done
# Half of this plugin's own maximum: of its lowest QoS 1 run, the rate it
# reached every time (on a shared machine one run can reach twice another).
HALF="${HALF_GIVEN:-$(python3 - "$RESULTS" <<'PY'
import json, sys
v = [json.loads(l) for l in open(sys.argv[1])]
t = [x["r"].get("throughput", 0) for x in v if x["tag"] == "max" and x["cfg"] == "parley"]
print(int(min(t) / 2) if t and min(t) > 0 else 1000)
PY
)}"
log "half of the plugin's maximum: $HALF msg/s"
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in "${CFGS[@]}"; do flow half "$cfg" --qos 1 --rate "$HALF"; done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

SECTION="$TMP/section.md"
PYTHONPATH="$ROOT/bench" python3 - "$RESULTS" "$STARTED" "$MACHINE" "$LOAD_BEFORE" "$LOAD_AFTER" \
  "$CMDLINE" "$PREV_SHORT" "$PAIRS" "$DURATION" "$WARMUP" "$HALF" >"$SECTION" <<'PY'
import json, statistics, sys
(results, started, machine, load0, load1, cmd, prev, pairs, dur, warm, half) = sys.argv[1:12]
from benchrun import load, get, ms, n
runs = load(results)
cfgs = [c for c in ("bare", "prev", "parley") if any(x["cfg"] == c for x in runs)]
names = {"bare": "bare mosquitto", "prev": "plugin before ({})".format(prev),
         "parley": "plugin now (coalesced STORED)"}
def sel(tag, cfg):
    return [x for x in runs if x["tag"] == tag and x["cfg"] == cfg]
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def fig(tag, cfg, *path):
    return med(get(x["r"], *path) for x in sel(tag, cfg))
def cpu(tag, cfg):
    return med(x["broker_cpu_s"] * 1e6 / get(x["r"], "sent") for x in sel(tag, cfg) if get(x["r"], "sent"))
def pkts(tag, cfg):
    return med(get(x["r"], "stored_receipt_packets") / get(x["r"], "sent") for x in sel(tag, cfg)
               if get(x["r"], "sent") and get(x["r"], "stored_receipt_packets") is not None)
def ratio(a, b):
    return None if a is None or not b else a / b
def f1(v, fmt="{:.1f}"):
    return "n/a" if v is None else fmt.format(v)
w = print
w("Measured {} on {}; load average {} before, {} after.".format(started, machine, load0, load1))
w("")
w("Command: `{}` ({} sender/receiver pairs, 100-byte envelopes, STORED receipts subscribed, "
  "{} s measured after {} s warmup per run, every run against a freshly started broker and a "
  "fresh SQLite store (synchronous=FULL), configurations alternated; medians of the runs; "
  "broker CPU = user + system time of the broker process, every thread, per message sent).".format(
      cmd.strip(), pairs, dur, warm))
w("")
w("| configuration | QoS 1 msg/s | / bare | broker CPU µs/msg | STORED receipts per message | QoS 0 msg/s | / bare | broker CPU µs/msg (QoS 0) |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
tb, t0b = fig("max", "bare", "throughput"), fig("max0", "bare", "throughput")
for c in cfgs:
    t, t0 = fig("max", c, "throughput"), fig("max0", c, "throughput")
    w("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
        names[c], n(t), f1(ratio(t, tb), "{:.2f}x"), f1(cpu("max", c)),
        "—" if c == "bare" else f1(pkts("max", c), "{:.3f}"),
        n(t0), f1(ratio(t0, t0b), "{:.2f}x"), f1(cpu("max0", c))))
w("")
w("Latency at {} msg/s (half of this plugin's maximum in its lowest run), QoS 1, publish to delivery:".format(n(float(half))))
w("")
w("| configuration | p50 | p99 | STORED p99 | broker CPU µs/msg | store commit p50 / p99 (probe) | target: p99 <= 2 x bare p99 + commit p99 |")
w("|---|---:|---:|---:|---:|---:|---|")
b99 = fig("half", "bare", "latency", "p99_us")
for c in cfgs:
    p99 = fig("half", c, "latency", "p99_us")
    c50 = med(x.get("commit_p50_us") for x in sel("half", c))
    c99 = med(x.get("commit_p99_us") for x in sel("half", c))
    target = "" if c == "bare" or p99 is None or b99 is None or c99 is None else \
        "{} <= {}: {}".format(ms(p99), ms(2 * b99 + c99), "met" if p99 <= 2 * b99 + c99 else "**missed**")
    w("| {} | {} | {} | {} | {} | {} | {} |".format(
        names[c], ms(fig("half", c, "latency", "p50_us")), ms(p99),
        "—" if c == "bare" else ms(fig("half", c, "stored_latency", "p99_us")), f1(cpu("half", c)),
        "—" if c == "bare" else "{} / {}".format(ms(c50), ms(c99)), target))
stage_names = ("queue", "apply", "commit", "complete", "handoff", "total")
staged = [c for c in cfgs if any("stages" in x for x in sel("half", c))]
if staged:
    w("")
    w("Where a message's time goes inside the broker at that rate (the plugin's stage histograms, "
      "`parley_broker_message_stage_seconds`, scraped at the start and the end of each measured "
      "window; p50 / p99 in ms, medians of the runs; total = receipt to the tick that delivers it):")
    w("")
    w("| configuration | " + " | ".join(stage_names) + " | publish to delivery (loadgen) |")
    w("|---|" + "---:|" * (len(stage_names) + 1))
    for c in staged:
        def sq(stage, q):
            return med(x["stages"][stage].get(q) for x in sel("half", c)
                       if stage in x.get("stages", {}))
        w("| {} | {} | {} / {} |".format(names[c], " | ".join(
            "{:.2f} / {:.2f}".format(sq(s, "p50") / 1000, sq(s, "p99") / 1000)
            if sq(s, "p50") is not None else "n/a" for s in stage_names),
            ms(fig("half", c, "latency", "p50_us")), ms(fig("half", c, "latency", "p99_us"))))
w("")
w("Every run (msg/s; broker CPU µs/msg; deliver p99; 1-min load average at its end):")
w("")
for tag in ("max", "max0", "half"):
    for c in cfgs:
        w("- {} {}: {}".format(tag, c, "; ".join("{} msg/s, {} µs, {}, load {}{}".format(
            n(get(x["r"], "throughput")),
            f1(x["broker_cpu_s"] * 1e6 / get(x["r"], "sent") if get(x["r"], "sent") else None),
            ms(get(x["r"], "latency", "p99_us")), x["load"],
            " (error: {})".format(get(x["r"], "error")) if get(x["r"], "error") else "") for x in sel(tag, c))))
PY

if [ "$WRITE_DOC" = 1 ]; then
  bench_write_section "$ROOT/docs/benchmarks.md" msgpath "$SECTION" || die "cannot write the section"
  log "wrote $ROOT/docs/benchmarks.md"
else
  cat "$SECTION"
fi
