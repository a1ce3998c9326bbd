# shellcheck shell=bash
# tests/scripts/lib.sh - helpers for the scripts/run tests: run ./scripts/run
# in the background on free ports with a private data directory, without
# building (PARLEY_NO_BUILD=1 on the ctest build directory), wait for its banner
# or its exit (bounded), and start a broker the way Debian's package does.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"

# Generous bounds: a slow machine makes a test slower, never makes it fail.
S_BANNER_WAIT=120
S_EXIT_WAIT=60
RUN_PID=""
RUN_LOG="$H_TMP/run.log"
ROOT_PIDS=()

# s_as_root CMD... - run CMD as root (sudo -n when not root), like scripts/run's
# parley_root. S_ROOT=1 when that is possible.
S_ROOT=0
if [ "$(id -u)" = 0 ]; then S_ROOT=1; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then S_ROOT=1; fi
s_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

s_cleanup() {
  local rc=$? p
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM "$RUN_PID" 2>/dev/null || true
    h_wait_for 20 bash -c "! kill -0 $RUN_PID" || kill -KILL "$RUN_PID" 2>/dev/null || true
  fi
  for p in "${ROOT_PIDS[@]:-}"; do
    [ -n "$p" ] && [ -d "/proc/$p" ] && { s_as_root kill -TERM "$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; }
  done
  h_cleanup "$rc"
}
trap s_cleanup EXIT

# s_ports - pick MQTT_PORT, KS_PORT, MEDIA_PORT, and the WebSocket and TLS
# ports WS_PORT, MQTTS_PORT, WSS_PORT (free, distinct).
s_ports() {
  local taken=" " v p
  for v in MQTT_PORT KS_PORT MEDIA_PORT WS_PORT MQTTS_PORT WSS_PORT; do
    p="$(h_port)"
    while [[ "$taken" == *" $p "* ]]; do p="$(h_port)"; done
    taken+="$p "
    printf -v "$v" '%s' "$p"
  done
}

# s_run [VAR=VALUE...] - ./scripts/run in the background on the chosen ports,
# output in $RUN_LOG, pid in RUN_PID. Extra VAR=VALUE go to its environment;
# the array S_RUN_ARGS holds its arguments (e.g. --tls).
s_run() {
  : >"$RUN_LOG"
  env PARLEY_NO_BUILD=1 PARLEY_BUILD_DIR="$PARLEY_BUILD_DIR" PARLEY_DATA_DIR="$H_TMP/data" \
    PARLEY_MQTT_PORT="$MQTT_PORT" PARLEY_KEYSERVER_PORT="$KS_PORT" PARLEY_MEDIA_PORT="$MEDIA_PORT" \
    PARLEY_WS_PORT="$WS_PORT" PARLEY_MQTTS_PORT="$MQTTS_PORT" PARLEY_WSS_PORT="$WSS_PORT" \
    "$@" "$PARLEY_SOURCE_DIR/scripts/run" ${S_RUN_ARGS[@]+"${S_RUN_ARGS[@]}"} >"$RUN_LOG" 2>&1 &
  RUN_PID=$!
}

s_fail() { echo "----- scripts/run output" >&2; cat "$RUN_LOG" >&2; h_fail "$@"; }

# s_wait_banner - until scripts/run printed "Parley is running" (fails if it exits).
s_wait_banner() {
  local i
  for ((i = 0; i < S_BANNER_WAIT * 10; i++)); do
    grep -q "Parley is running" "$RUN_LOG" && return 0
    kill -0 "$RUN_PID" 2>/dev/null || s_fail "scripts/run exited before its banner"
    sleep 0.1
  done
  s_fail "no banner after ${S_BANNER_WAIT}s"
}

# s_wait_exit - until scripts/run exits; its status in RUN_RC.
s_wait_exit() {
  h_wait_for "$S_EXIT_WAIT" bash -c "! kill -0 $RUN_PID" || s_fail "scripts/run still running after ${S_EXIT_WAIT}s"
  RUN_RC=0
  wait "$RUN_PID" || RUN_RC=$?
  RUN_PID=""
}

# s_listening PORT - something accepts connections on 127.0.0.1:PORT now.
s_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# s_child_pid NAME - pid of the service NAME (mosquitto, keyserver, media
# gateway) from the banner of scripts/run.
s_child_pid() {
  case "$1" in
    mosquitto) sed -n 's/.*MQTT broker .*pid \([0-9]*\)).*/\1/p' "$RUN_LOG" ;;
    keyserver) sed -n 's/.*keyserver .*pid \([0-9]*\)).*/\1/p' "$RUN_LOG" ;;
    media) sed -n 's/.*media gateway .*pid \([0-9]*\)).*/\1/p' "$RUN_LOG" ;;
  esac
}

# s_debian_conf FILE PORT - a configuration like Debian's
# /etc/mosquitto/mosquitto.conf (pid file, persistence, include_dir), but on
# PORT instead of 1883: the packaged broker has no listener line and so takes
# 1883 on the loopback addresses (mosquitto 2 "local only mode").
s_debian_conf() {
  local d; d="$(dirname "$1")"
  mkdir -p "$d/conf.d" "$d/run" "$d/lib"
  # The broker drops to user mosquitto when started as root: let it in.
  chmod 711 "$H_TMP"; chmod 777 "$d/run" "$d/lib"; chmod 755 "$d" "$d/conf.d"
  cat >"$1" <<CONF
# Like Debian's /etc/mosquitto/mosquitto.conf, on a test port.
pid_file $d/run/mosquitto.pid

persistence true
persistence_location $d/lib/

log_dest stderr

listener $2 127.0.0.1
include_dir $d/conf.d
CONF
  chmod 644 "$1"
}

# s_start_packaged_broker CONF PORT - /usr/sbin/mosquitto -c CONF the way
# mosquitto.service starts it: as root (dropping to user mosquitto), when this
# test can become root; as this user otherwise. Sets BROKER_PID (the broker,
# not sudo) once it listens on PORT.
s_start_packaged_broker() {
  local conf="$1" port="$2" pidfile i
  pidfile="$(dirname "$conf")/run/mosquitto.pid"
  if [ "$S_ROOT" = 1 ]; then
    h_log "starting /usr/sbin/mosquitto -c $conf as root, as mosquitto.service does"
    s_as_root /usr/sbin/mosquitto -c "$conf" >>"$H_TMP/packaged-broker.log" 2>&1 &
  else
    h_log "cannot become root: starting /usr/sbin/mosquitto -c $conf as $(id -un)"
    /usr/sbin/mosquitto -c "$conf" >>"$H_TMP/packaged-broker.log" 2>&1 &
  fi
  BROKER_PID=""
  for ((i = 0; i < 300; i++)); do
    [ -s "$pidfile" ] && BROKER_PID="$(cat "$pidfile")" && [ -n "$BROKER_PID" ] && s_listening "$port" && break
    sleep 0.1
  done
  [ -n "$BROKER_PID" ] && [ -d "/proc/$BROKER_PID" ] || h_fail "the packaged-style broker did not start"
  s_listening "$port" || h_fail "the packaged-style broker does not listen on $port"
  ROOT_PIDS+=("$BROKER_PID")
  h_log "packaged-style broker: pid $BROKER_PID, user $(ps -o user= -p "$BROKER_PID")"
}

# s_gone PID - the process no longer exists (bounded wait).
s_gone() { h_wait_for 30 bash -c "[ ! -d /proc/$1 ]"; }
