#!/usr/bin/env bash
# bench/msgpath_profile.sh - where the broker's CPU goes per message, bare
# mosquitto against this tree's plugin, under the same parley-loadgen flow
# (docs/benchmarks.md, "Message path"). For each configuration two runs on a
# fresh broker: `perf record -e cpu-clock -g` of the whole broker process
# (CPU µs per message by thread and binary, the top symbols of each), then
# `perf stat` of the system calls and context switches per message of each
# thread. Prints the figures; nothing is written to the docs.
#
#   bench/msgpath_profile.sh [--build-dir DIR] [--rate R] [--duration S] [--keep]
#
# --rate 0 (the default) is the closed-loop maximum; the plugin runs with
# Envelope.coalesce_receipts set by the load generator, as libparley does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-bench}"
RATE=0 DURATION=7 PAIRS=8 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) mkdir -p "$2"; BUILD="$(cd "$2" && pwd)"; shift ;;
    --rate) RATE="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "msgpath_profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v perf >/dev/null || { echo "msgpath_profile.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }

. "$ROOT/bench/lib.sh"
BENCH_STOP_TRIES=0 # wait for the broker as long as it takes
bench_init msgpath_profile.sh parley-msgprof
LOADGEN="$BUILD/bench/loadgen/parley-loadgen"
PLUGIN="$BUILD/broker-plugin/parley_plugin.so"

bench_build parley-loadgen parley_plugin

start_broker() { # CFG DIR
  local cfg="$1" d="$2"
  mkdir -p "$d"
  PORT="$(bench_free_port)"
  printf 'per_listener_settings false\nset_tcp_nodelay true\nlistener %s 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type error\n' \
    "$PORT" >"$d/mosquitto.conf"
  if [ "$cfg" = bare ]; then
    echo "allow_anonymous true" >>"$d/mosquitto.conf"
  else
    "$LOADGEN" register --store "sqlite:$d/parley.db" --users $((2 * PAIRS)) >"$d/register.log" 2>&1
    { bench_plugin_conf "$PLUGIN" "sqlite:$d/parley.db"; bench_wake_conf "$d"; } >>"$d/mosquitto.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$d/mosquitto.conf"
  fi
  bench_start_broker "$d" || exit 1
  sleep 0.3
}

flow() { # CFG DIR
  local kind=parley rate=()
  [ "$1" = bare ] && kind=bare
  [ "$RATE" = 0 ] || rate=(--rate "$RATE")
  "$LOADGEN" flow --port "$PORT" --broker "$kind" --pairs "$PAIRS" --payload 100 --warmup 0 \
    --duration "$DURATION" --drain 1 "${rate[@]}" >"$2/flow.json" 2>"$2/loadgen.log" || true
}

EVENTS=()
for s in read write epoll_ctl epoll_wait pwrite64 fdatasync sendto recvfrom futex poll getrandom; do
  EVENTS+=(-e "syscalls:sys_enter_$s")
done
for cfg in bare parley; do
  d="$TMP/$cfg-record"
  start_broker "$cfg" "$d"
  perf record -e cpu-clock -F 2000 -g -p "$BROKER_PID" -o "$d/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  pp=$!
  flow "$cfg" "$d"
  wait "$pp" || true
  echo "$BROKER_PID" >"$d/pid"
  stop_broker
  perf report -i "$d/perf.data" --no-children --sort pid,dso --stdio -g none 2>/dev/null >"$d/threads.txt" || true
  perf report -i "$d/perf.data" --no-children --tid "$(cat "$d/pid")" --sort dso,sym --stdio -g none \
    --percent-limit 0.5 2>/dev/null >"$d/main.txt" || true
  d="$TMP/$cfg-stat"
  start_broker "$cfg" "$d"
  perf stat "${EVENTS[@]}" -e context-switches --per-thread -p "$BROKER_PID" -o "$d/stat.txt" \
    -- sleep "$DURATION" >/dev/null 2>&1 &
  pp=$!
  flow "$cfg" "$d"
  wait "$pp" || true
  stop_broker
done

python3 - "$TMP" <<'PY'
import collections, json, os, sys
tmp = sys.argv[1]
for cfg in ("bare", "parley"):
    rec, st = os.path.join(tmp, cfg + "-record"), os.path.join(tmp, cfg + "-stat")
    run = json.load(open(os.path.join(rec, "flow.json")))
    main = open(os.path.join(rec, "pid")).read().strip()
    total, rows = None, collections.defaultdict(float)
    for line in open(os.path.join(rec, "threads.txt")):
        if line.startswith("# Event count"):
            total = int(line.split(":")[1].strip())
        elif line.strip() and not line.startswith("#"):
            p = line.split()
            role = "broker thread" if p[1].split(":")[0] == main else "other threads"
            rows[(role, p[2])] += float(p[0].rstrip("%"))
    sent = run.get("sent") or 1
    print("== %s: %s msg/s, %d messages, %.1f broker CPU µs/msg" % (
        cfg, run.get("throughput"), sent, (total or 0) / 1000 / sent))
    for (role, dso), pct in sorted(rows.items(), key=lambda kv: -kv[1]):
        if pct >= 0.5:
            print("  %-14s %-28s %6.1f µs/msg" % (role, dso, pct / 100 * total / 1000 / sent))
    print("  top symbols of the broker thread (share of the process's samples):")
    for line in open(os.path.join(rec, "main.txt")):
        if line.strip() and not line.startswith("#"):
            print("   ", line.rstrip()[:100])
    srun = json.load(open(os.path.join(st, "flow.json")))
    ssent = srun.get("sent") or 1
    per = collections.defaultdict(dict)
    for line in open(os.path.join(st, "stat.txt")):
        p = line.split()
        if len(p) >= 3 and (p[2].startswith("syscalls:") or p[2] == "context-switches"):
            try:
                per[p[0]][p[2].replace("syscalls:sys_enter_", "")] = int(p[1].replace(",", ""))
            except ValueError:
                pass
    print("  system calls per message (second run, %s msg/s, STORED receipts per message %s):" % (
        srun.get("throughput"), "%.3f" % (srun["stored_receipt_packets"] / ssent)
        if srun.get("stored_receipt_packets") is not None else "-"))
    for t, ev in per.items():
        n = sum(v for k, v in ev.items() if k != "context-switches")
        if n / ssent >= 0.05:
            print("    %-18s %5.2f  (%s)" % (t, n / ssent, " ".join(
                "%s %.2f" % (k, v / ssent) for k, v in sorted(ev.items()) if v)))
PY
