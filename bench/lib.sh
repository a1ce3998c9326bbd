# shellcheck shell=bash
# bench/lib.sh - helpers the benchmark scripts share: the scratch directory,
# log/die and the exit trap, building the binaries (and a previous revision's
# plugin), free ports, starting and stopping a broker, the plugin's options,
# the machine line, and rewriting one generated section of
# docs/benchmarks.md. Source it: . "$ROOT/bench/lib.sh"

# bench_free_port - print a free TCP port on 127.0.0.1.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# bench_wait_port PORT [PID] - wait (at most 10 s) until 127.0.0.1:PORT
# accepts a connection; fails at once if PID is given and has exited.
bench_wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# bench_machine - "N CPUs, model, kernel": the line every section starts with.
bench_machine() {
  echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr)"
}

# bench_write_section DOC NAME FILE - replace what lies between
# <!-- NAME:begin --> and <!-- NAME:end --> in DOC with FILE's text.
bench_write_section() {
  grep -q "<!-- $2:begin -->" "$1" || { echo "no <!-- $2:begin --> marker in $1" >&2; return 1; }
  python3 - "$1" "$2" "$3" <<'PY'
import sys
doc, name, sec = sys.argv[1:4]
s = open(doc).read()
b, e = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
a = s.index(b) + len(b)
z = s.index(e)
open(doc, "w").write(s[:a] + "\n" + open(sec).read() + s[z:])
PY
}

# bench_common_opt OPT - the options every broker benchmark takes: --no-doc
# (print the section instead of writing docs/benchmarks.md), --keep (keep the
# scratch directory), -h/--help (the script's header comment); anything else
# is an unknown option (exit 2).
# shellcheck disable=SC2034 # WRITE_DOC and KEEP are the caller's
bench_common_opt() {
  case "$1" in
    --no-doc) WRITE_DOC=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "$(basename "$0"): unknown option $1" >&2; exit 2 ;;
  esac
}

# bench_broker_conf PORT [NODELAY] - the broker settings every run shares:
# one listener on 127.0.0.1:PORT, no connection limit, no persistence, errors
# and warnings on stderr, and (unless NODELAY is false) TCP_NODELAY: receipts
# follow a PUBACK on the sender's connection, and without it Nagle holds them
# until the client's delayed ACK (~40 ms).
bench_broker_conf() {
  printf 'per_listener_settings false\nlistener %s 127.0.0.1\nmax_connections -1\n' "$1"
  printf 'persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n'
  [ "${2:-true}" = false ] || echo "set_tcp_nodelay true"
}

# bench_init NAME TMP_PREFIX - what every broker benchmark starts with: log
# and die say "[NAME] ...", MOSQUITTO, a fresh scratch directory TMP (kept at
# exit with KEEP=1, else removed), RESULTS in it, no broker yet, and the exit
# trap (bench_cleanup). BENCH_STOP_TRIES: see stop_broker.
# shellcheck disable=SC2034 # MOSQUITTO, RESULTS and RUN_NO are the caller's
bench_init() {
  BENCH_NAME="$1"
  MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX")"
  RESULTS="$TMP/results.jsonl"
  BROKER_PID=""
  RUN_NO=0
  trap bench_cleanup EXIT
}

log() { echo "[$BENCH_NAME] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# stop_broker - SIGTERM to the broker (BROKER_PID) and wait for it: SIGKILL
# after BENCH_STOP_TRIES x 50 ms (default 100); 0 waits as long as it takes.
stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  local i tries="${BENCH_STOP_TRIES:-100}"
  if [ "$tries" -gt 0 ]; then
    for ((i = 0; i < tries; i++)); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

# bench_cleanup - the exit trap: stop the broker, drop the previous
# revision's worktree (bench_build_prev), keep or remove TMP.
bench_cleanup() {
  stop_broker
  [ -z "${BENCH_PREV_TREE:-}" ] || git -C "$ROOT" worktree remove --force "$BENCH_PREV_TREE" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}

# bench_build TARGET... - configure BUILD (RelWithDebInfo) and build the
# targets from ROOT; the output goes to $TMP/cmake.log (its tail on failure).
bench_build() {
  log "building $(bench_and "$@") in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$TMP/cmake.log" 2>&1 ||
    { tail -n 30 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
  cmake --build "$BUILD" --target "$@" -j2 >>"$TMP/cmake.log" 2>&1 ||
    { tail -n 30 "$TMP/cmake.log" >&2; die "build failed"; }
}

# bench_build_prev REV TARGET... - check REV out in a scratch worktree
# ($TMP/prev-src, removed at exit) and build the targets in $TMP/prev-build.
bench_build_prev() {
  local rev="$1"; shift
  BENCH_PREV_TREE="$TMP/prev-src"
  log "building the previous plugin ($(git -C "$ROOT" rev-parse --short "$rev")) in a scratch worktree"
  git -C "$ROOT" worktree add --detach "$BENCH_PREV_TREE" "$rev" >>"$TMP/cmake.log" 2>&1 || die "git worktree add $rev"
  cmake -S "$BENCH_PREV_TREE" -B "$TMP/prev-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$TMP/cmake.log" 2>&1 ||
    { tail -n 30 "$TMP/cmake.log" >&2; die "cmake configure (prev) failed"; }
  cmake --build "$TMP/prev-build" --target "$@" -j2 >>"$TMP/cmake.log" 2>&1 ||
    { tail -n 30 "$TMP/cmake.log" >&2; die "build (prev) failed"; }
}

# bench_and A B C - "A, B and C".
bench_and() {
  local out="$1"; shift
  while [ $# -gt 1 ]; do out="$out, $1"; shift; done
  [ $# -eq 0 ] || out="$out and $1"
  echo "$out"
}

# bench_next_run CFG - a fresh RUN_DIR ($TMP/run-N-CFG) and a free PORT.
bench_next_run() {
  RUN_NO=$((RUN_NO + 1))
  RUN_DIR="$TMP/run-$RUN_NO-$1"
  mkdir -p "$RUN_DIR"
  PORT="$(bench_free_port)"
}

# bench_plugin_conf PLUGIN STORE_URI - the mosquitto.conf lines of the plugin
# on that store, its per-client and per-user rate limits raised so that the
# limiter (which still runs on every publish) does not refuse the load.
bench_plugin_conf() {
  cat <<CONF
allow_anonymous false
plugin $1
plugin_opt_store $2
plugin_opt_rate_messages 1000000
plugin_opt_rate_bytes 1099511627776
plugin_opt_rate_user_messages 1000000
plugin_opt_rate_user_bytes 1099511627776
CONF
  # BENCH_PLUGIN_OPTS: more plugin_opt lines (newline-separated), to measure
  # an option's effect (e.g. "plugin_opt_batch_delay_ms 0").
  if [ -n "${BENCH_PLUGIN_OPTS:-}" ]; then printf '%s\n' "$BENCH_PLUGIN_OPTS"; fi
}

# bench_wake_conf DIR - the plugin's wake connection (a unix socket listener
# in DIR): a commit's completion wakes the broker loop through it instead of
# waiting for mosquitto's 100 ms idle tick.
bench_wake_conf() {
  printf 'plugin_opt_wake_socket %s\nlistener 0 %s\n' "$1/wake.sock" "$1/wake.sock"
}

# bench_start_broker DIR - start mosquitto on DIR/mosquitto.conf (its log in
# DIR/mosquitto.log), set BROKER_PID and wait for PORT; 1 if it did not come
# up (its log printed).
bench_start_broker() {
  "$MOSQUITTO" -c "$1/mosquitto.conf" >"$1/mosquitto.log" 2>&1 &
  BROKER_PID=$!
  bench_wait_port "$PORT" "$BROKER_PID" || { cat "$1/mosquitto.log" >&2; return 1; }
}
