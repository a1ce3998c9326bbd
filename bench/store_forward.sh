#!/usr/bin/env bash
# bench/store_forward.sh - one broker node: publish-to-delivery and
# publish-to-STORED latency (p50/p99) at a low load and at half load, and the
# maximum throughput, for three configurations in the same run, alternated:
#   bare    mosquitto without the plugin
#   prev    the previous plugin (deliver at once, store afterwards, receipts at
#           the idle tick), built from git (--prev REV, default: the merge
#           base of HEAD and main) in a scratch worktree
#   parley  this tree's plugin (store, then forward; the loop woken by the
#           plugin's wake connection), SQLite synchronous=FULL (the default:
#           every commit waits for fsync)
#   normal  the same plugin on sqlite:...?synchronous=normal (WAL commits
#           survive a crash of the process, not of the machine)
# Writes the section between <!-- stf:begin --> and <!-- stf:end --> of
# docs/benchmarks.md (or prints it with --no-doc). Nothing here asserts a speed.
#
#   bench/store_forward.sh [--build-dir DIR] [--prev REV] [--rounds N]
#                          [--duration S] [--pairs N] [--low-rate R] [--no-doc] [--keep]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
PREV="" ROUNDS=2 DURATION=8 WARMUP=2 PAIRS=8 LOW=100 WRITE_DOC=1 KEEP=0 PAYLOAD=100
CMDLINE="bench/store_forward.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) mkdir -p "$2"; BUILD="$(cd "$2" && pwd)"; shift ;;
    --prev) PREV="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --pairs) PAIRS="$2"; shift ;;
    --low-rate) LOW="$2"; shift ;;
    *) bench_common_opt "$1" ;;
  esac
  shift
done
[ -n "$PREV" ] || PREV="$(git -C "$ROOT" merge-base HEAD main)"
PREV_SHORT="$(git -C "$ROOT" rev-parse --short "$PREV")"

bench_init store_forward.sh parley-stf
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"

bench_build parley-loadgen parley_plugin
# Its own loadgen too: it registers users in the store schema that plugin reads.
bench_build_prev "$PREV" parley_plugin parley-loadgen
declare -A PLUGIN=([parley]="$BUILD/broker-plugin/parley_plugin.so" [normal]="$BUILD/broker-plugin/parley_plugin.so"
                   [prev]="$TMP/prev-build/broker-plugin/parley_plugin.so")


# start_broker bare|prev|parley - a fresh broker (and store) on a free port.
start_broker() {
  local cfg="$1"
  bench_next_run "$cfg"
  bench_broker_conf "$PORT" >"$RUN_DIR/mosquitto.conf" # the same for all
  if [ "$cfg" = bare ]; then
    echo "allow_anonymous true" >>"$RUN_DIR/mosquitto.conf"
  else
    local reg="$LOADGEN"
    [ "$cfg" = prev ] && reg="$TMP/prev-build/bench/loadgen/parley-loadgen"
    "$reg" register --store "sqlite:$RUN_DIR/parley.db" --users $((2 * PAIRS)) \
      >>"$RUN_DIR/register.log" 2>&1 || { cat "$RUN_DIR/register.log" >&2; die "register failed"; }
    bench_plugin_conf "${PLUGIN[$cfg]}" \
      "sqlite:$RUN_DIR/parley.db$([ "$cfg" = normal ] && echo '?synchronous=normal')" \
      >>"$RUN_DIR/mosquitto.conf"
    # The new plugin wakes the loop through a unix socket listener; the old
    # one has no such option (it would refuse it), so only parley gets it.
    [ "$cfg" = parley ] || [ "$cfg" = normal ] && bench_wake_conf "$RUN_DIR" >>"$RUN_DIR/mosquitto.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$RUN_DIR/mosquitto.conf"
  fi
  bench_start_broker "$RUN_DIR" || die "$cfg broker did not start"
}

# flow TAG CFG ARGS... - one parley-loadgen flow run against a fresh broker.
flow() {
  local tag="$1" cfg="$2" kind=parley out; shift 2
  [ "$cfg" = bare ] && kind=bare
  start_broker "$cfg"
  sleep 0.3   # let the wake connection come up
  out="$("$LOADGEN" flow --port "$PORT" --broker "$kind" --pairs "$PAIRS" --payload "$PAYLOAD" \
    --qos 1 --warmup "$WARMUP" --duration "$DURATION" "$@" 2>>"$RUN_DIR/loadgen.log" || true)"
  stop_broker
  python3 - "$tag" "$cfg" "$out" >>"$RESULTS" <<'PY'
import json, sys
tag, cfg, line = sys.argv[1:4]
try:
    r = json.loads(line)
except ValueError:
    r = {"ok": False, "error": "no JSON from parley-loadgen: " + line[:200]}
print(json.dumps({"tag": tag, "cfg": cfg, "r": r}))
PY
  log "$tag $cfg: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin)["r"]; print("throughput", d.get("throughput"), "p99_us", d.get("latency",{}).get("p99_us"), "stored_p99_us", (d.get("stored_latency") or {}).get("p99_us"), d.get("error",""))')"
}

MACHINE="$(bench_machine)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$RESULTS"
CFGS=(bare prev parley normal)
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in "${CFGS[@]}"; do flow max "$cfg"; done
done
HALF="$(python3 - "$RESULTS" <<'PY'
import json, statistics, sys
v = [json.loads(l) for l in open(sys.argv[1])]
t = [statistics.median(ts) for ts in
     ([x["r"].get("throughput", 0) for x in v if x["tag"] == "max" and x["cfg"] == c]
      for c in ("bare", "prev", "parley", "normal")) if ts]
print(int(min(t) / 2) if t and min(t) > 0 else 1000)
PY
)"
log "half load (half of the slowest configuration's maximum): $HALF msg/s"
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in "${CFGS[@]}"; do flow low "$cfg" --rate "$LOW"; done
  for cfg in "${CFGS[@]}"; do flow half "$cfg" --rate "$HALF"; done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

SECTION="$TMP/section.md"
PYTHONPATH="$ROOT/bench" python3 - "$RESULTS" "$STARTED" "$MACHINE" "$LOAD_BEFORE" "$LOAD_AFTER" "$CMDLINE" "$PREV_SHORT" \
  "$PAIRS" "$DURATION" "$WARMUP" "$LOW" "$HALF" >"$SECTION" <<'PY'
import json, statistics, sys
(results, started, machine, load0, load1, cmd, prev, pairs, dur, warm, low, half) = sys.argv[1:13]
from benchrun import load, get, ms, n, med as med_of
runs = load(results)
def med(tag, cfg, *path):
    return med_of(runs, tag, cfg, *path)
names = {"bare": "bare mosquitto", "prev": "previous plugin ({}: deliver, then store)".format(prev),
         "parley": "this plugin (store, then forward; woken loop), SQLite synchronous=FULL",
         "normal": "this plugin, SQLite synchronous=NORMAL"}
w = print
w("Measured {} on {}; load average {} before, {} after.".format(started, machine, load0, load1))
w("")
w("Command: `{}` ({} sender/receiver pairs, QoS 1, 100-byte bodies, {} s measured after {} s "
  "warmup per run, every run against a freshly started broker and a fresh SQLite store, "
  "configurations alternated; medians of the runs).".format(cmd.strip(), pairs, dur, warm))
w("")
w("| configuration | max throughput (msg/s) | deliver p50 / p99 at {} msg/s | STORED p50 / p99 at {} msg/s | deliver p50 / p99 at {} msg/s (half load) | STORED p50 / p99 at {} msg/s |".format(low, low, n(float(half)), n(float(half))))
w("|---|---:|---:|---:|---:|---:|")
for c in ("bare", "prev", "parley", "normal"):
    st = lambda tag, p: "—" if c == "bare" else ms(med(tag, c, "stored_latency", p))
    w("| {} | {} | {} / {} | {} / {} | {} / {} | {} / {} |".format(
        names[c], n(med("max", c, "throughput")),
        ms(med("low", c, "latency", "p50_us")), ms(med("low", c, "latency", "p99_us")),
        st("low", "p50_us"), st("low", "p99_us"),
        ms(med("half", c, "latency", "p50_us")), ms(med("half", c, "latency", "p99_us")),
        st("half", "p50_us"), st("half", "p99_us")))
w("")
w("Every run (throughput msg/s; deliver p99; STORED p99):")
w("")
for tag in ("max", "low", "half"):
    for c in ("bare", "prev", "parley", "normal"):
        rs = [x for x in runs if x["tag"] == tag and x["cfg"] == c]
        w("- {} {}: {}".format(tag, c, "; ".join("{} msg/s, {}, {}{}".format(
            n(get(x["r"], "throughput")), ms(get(x["r"], "latency", "p99_us")),
            ms(get(x["r"], "stored_latency", "p99_us")),
            " (error: {})".format(get(x["r"], "error")) if get(x["r"], "error") else "") for x in rs)))
PY

if [ "$WRITE_DOC" = 1 ]; then
  bench_write_section "$ROOT/docs/benchmarks.md" stf "$SECTION" || die "cannot write the section"
  log "wrote $ROOT/docs/benchmarks.md"
else
  cat "$SECTION"
fi
