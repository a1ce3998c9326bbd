#!/usr/bin/env bash
# bench/groups.sh - group fan-out: one sender, N members all online (each its
# own authenticated connection subscribed to the group's inbox); for each
# message, the time until every member has it. The same N subscriptions and
# payload size on bare mosquitto (no plugin, anonymous) are the baseline.
# Runs alternate (bare, parley, bare, parley, ...). Writes the "Groups"
# section of docs/benchmarks.md (between <!-- groups:begin --> and
# <!-- groups:end -->).
#
#   bench/groups.sh                        # build, run, write the doc
#   bench/groups.sh --quick --no-doc       # a short try
#
# Options:
#   --build-dir DIR   build tree (default: $PARLEY_BUILD_DIR or <repo>/build-bench)
#   --no-build        use the build tree as it is
#   --members N       group size (default 1024)
#   --messages M      messages per run (default 50)
#   --payload BYTES   body size (default 100)
#   --rounds R        runs of each configuration (default 2)
#   --quick           members 128, messages 20, rounds 1
#   --no-doc          print the section instead of writing docs/benchmarks.md
#   --keep            keep the scratch directory
#
# Nothing here is a test; nothing asserts a speed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
DO_BUILD=1 MEMBERS=1024 MESSAGES=50 PAYLOAD=100 ROUNDS=2 WRITE_DOC=1 KEEP=0
CMDLINE="bench/groups.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$(cd "$2" && pwd)"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --members) MEMBERS="$2"; shift ;;
    --messages) MESSAGES="$2"; shift ;;
    --payload) PAYLOAD="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --quick) MEMBERS=128 MESSAGES=20 ROUNDS=1 ;;
    *) bench_common_opt "$1" ;;
  esac
  shift
done

BENCH_STOP_TRIES=0 # wait for the broker as long as it takes
bench_init groups.sh parley-groupbench
GB="$BUILD/bench/groups/groupbench"
PLUGIN="$BUILD/broker-plugin/parley_plugin.so"

[ "$DO_BUILD" = 0 ] || bench_build groupbench parley_plugin
[ -x "$GB" ] || die "no $GB (build it, or drop --no-build)"
[ -f "$PLUGIN" ] || die "no $PLUGIN (build it, or drop --no-build)"

# N members + the broker's side of each connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((MEMBERS + 64)) ] || die "open-file limit $(ulimit -n) too low for $MEMBERS members"


# start_broker bare|parley - a fresh broker (and store) on a free port.
start_broker() {
  local cfg="$1"
  bench_next_run "$cfg"
  # Identical broker settings for both; the plugin run adds only the plugin.
  { bench_broker_conf "$PORT"; echo "max_queued_messages 10000"; } >"$RUN_DIR/mosquitto.conf"
  if [ "$cfg" = parley ]; then
    "$GB" setup "sqlite:$RUN_DIR/parley.db" "$MEMBERS" >"$RUN_DIR/setup.log" 2>&1 ||
      { cat "$RUN_DIR/setup.log" >&2; die "setup failed"; }
    if [ "$(id -u)" = 0 ]; then chmod a+x "$TMP"; chmod a+rwx "$RUN_DIR" "$RUN_DIR"/parley.db*; fi
    # Store, then forward: the wake connection (bench_wake_conf).
    { bench_plugin_conf "$PLUGIN" "sqlite:$RUN_DIR/parley.db"
      echo "plugin_opt_max_group_size $MEMBERS"
      bench_wake_conf "$RUN_DIR"; } >>"$RUN_DIR/mosquitto.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$RUN_DIR/mosquitto.conf"
  else
    echo "allow_anonymous true" >>"$RUN_DIR/mosquitto.conf"
  fi
  bench_start_broker "$RUN_DIR" || die "$cfg broker did not start"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in bare parley; do
    start_broker "$cfg"
    extra=()
    [ "$cfg" = bare ] && extra=(--bare)
    out="$("$GB" run --port "$PORT" --members "$MEMBERS" --messages "$MESSAGES" --payload "$PAYLOAD" \
      "${extra[@]}" 2>"$RUN_DIR/run.log")" || { cat "$RUN_DIR/run.log" "$RUN_DIR/mosquitto.log" >&2; die "$cfg run failed"; }
    stop_broker
    echo "$out" >>"$RESULTS"
    log "round $r $cfg: $out"
  done
done

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
SECTION="$(python3 - "$RESULTS" "$CMDLINE" "$(nproc)" "$(uname -r)" "$("$MOSQUITTO" -h 2>/dev/null | head -n1 | awk '{print $3}')" "$LOAD_BEFORE" "$LOAD_AFTER" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cmd, cpus, kernel, mver, load0, load1 = sys.argv[2:8]
def med(mode, key):
    v = [r[key] for r in rows if r["mode"] == mode]
    return statistics.median(v) if v else 0
def ms(us): return "%.2f" % (us / 1000.0)
r0 = rows[0]
out = []
out.append("## Groups: fan-out\n")
out.append("One sender, a group of %d members all online (each member its own connection, QoS 1 "
           "subscription to the group's inbox), %d messages of %d body bytes sent one at a time; "
           "for each message, the time from the publish until the last member's connection has it. "
           "Baseline: bare mosquitto (no plugin, anonymous) with the same %d subscriptions on one "
           "topic and the same payload size. Median of %d run(s) per configuration, alternated." %
           (r0["members"], r0["messages"], r0["payload"], r0["members"],
            len([r for r in rows if r["mode"] == "bare"])))
out.append("")
out.append("| | all members have it, p50 | p99 | max | one delivery, p50 | one delivery, p99 | connect %d clients |" % r0["members"])
out.append("|---|---|---|---|---|---|---|")
for mode, label in (("bare", "bare mosquitto"), ("parley", "mosquitto + Parley plugin")):
    out.append("| %s | %s ms | %s ms | %s ms | %s ms | %s ms | %d ms |" % (
        label, ms(med(mode, "all_p50_us")), ms(med(mode, "all_p99_us")), ms(med(mode, "all_max_us")),
        ms(med(mode, "delivery_p50_us")), ms(med(mode, "delivery_p99_us")), med(mode, "connect_ms")))
out.append("")
out.append("The plugin's share per message: envelope decode, membership check, stamping and "
           "re-encoding once, queueing the store write, and one MOSQ_ACL_READ membership lookup "
           "(two hash-map lookups) per member at delivery; the fan-out itself is mosquitto's.")
out.append("Machine: %s CPU(s) shared with other work (load average %s before, %s after), Linux %s, "
           "mosquitto %s; the benchmark client (one thread polling every connection), broker and "
           "store on the same host (loopback), so the figures include the client's own time to "
           "read %d sockets." % (cpus, load0, load1, kernel, mver, r0["members"]))
def spread(mode):
    v = [r["all_p50_us"] for r in rows if r["mode"] == mode]
    return max(v) - min(v) if v else 0
diff = med("parley", "all_p50_us") - med("bare", "all_p50_us")
noise = max(spread("bare"), spread("parley"))
if len([r for r in rows if r["mode"] == "bare"]) > 1 and abs(diff) <= noise:
    out.append("The p50 difference (%s ms) is within the spread between runs of one configuration "
               "(%s ms): at this load the plugin's cost does not show; repeat on an idle machine "
               "for a finer comparison." % (ms(diff), ms(noise)))
else:
    out.append("The plugin adds %s ms at p50 (%.0f%%; spread between runs of one configuration: %s ms)."
               % (ms(diff), 100.0 * diff / max(1, med("bare", "all_p50_us")), ms(noise)))
out.append("")
out.append("Command: `%s`" % cmd)
print("\n".join(out))
PY
)"

if [ "$WRITE_DOC" = 1 ]; then
  DOC="$ROOT/docs/benchmarks.md"
  grep -q '<!-- groups:begin -->' "$DOC" || die "no <!-- groups:begin --> marker in $DOC"
  python3 - "$DOC" "$SECTION" <<'PY'
import sys, re
doc, sec = sys.argv[1], sys.argv[2]
s = open(doc).read()
s = re.sub(r"<!-- groups:begin -->.*?<!-- groups:end -->",
           lambda m: "<!-- groups:begin -->\n" + sec + "\n<!-- groups:end -->", s, flags=re.S)
open(doc, "w").write(s)
PY
  log "wrote the Groups section of docs/benchmarks.md"
else
  echo "$SECTION"
fi
