# shellcheck shell=bash
# tests/lib/harness.sh - shared helpers for integration tests against real
# processes on loopback. Source it from a test script:
#
#   . "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
#   h_start_keyserver; h_start_mosquitto
#   ... mosquitto_pub -p "$H_MQTT_PORT" ...
#   h_pass
#
# Every process started here is killed when the script exits; every wait is
# bounded. Ports are picked free at run time so tests can run side by side.
set -euo pipefail

: "${PARLEY_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${PARLEY_BUILD_DIR:=$PARLEY_SOURCE_DIR/build}"
H_NAME="$(basename "${0%.sh}")"
H_TMP="$(mktemp -d "${TMPDIR:-/tmp}/parley-$H_NAME.XXXXXX")"
H_STORE="sqlite:$H_TMP/parley.db"
H_PIDS=()
H_MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
H_PLUGIN="$PARLEY_BUILD_DIR/broker-plugin/parley_plugin.so"
. "$PARLEY_SOURCE_DIR/scripts/lib/sanitize.sh"
# A sanitizer build (-DPARLEY_SANITIZE=ON; HACKING.md, "Sanitizers"): every
# instrumented process of the test (clients, servers, the plugin in mosquitto,
# those scripts/run starts) writes its reports to $H_TMP/sanitizer.<pid>
# instead of its stderr, which tests often capture or discard; h_cleanup stops
# the processes, waits for them to exit (LeakSanitizer reports at exit) and
# fails the test when any report was written. ctest gives the rest of the
# options (CMakeLists.txt: PARLEY_TEST_ENV).
H_SANITIZE=0
if [ -e "$H_PLUGIN" ] && parley_sanitized "$H_PLUGIN"; then
  H_SANITIZE=1
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$H_TMP/sanitizer"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$H_TMP/sanitizer"
fi
# mosquitto loads a sanitizer build of the plugin with the ASan runtime preloaded
# and leak detection off for the broker process (scripts/lib/sanitize.sh).
parley_mosq_env "$H_PLUGIN"
H_MOSQ_ENV=("${PARLEY_MOSQ_ENV[@]}")
H_PARLEY="$PARLEY_BUILD_DIR/client-lib/parley"
export PATH="$PARLEY_BUILD_DIR/client-lib:$PARLEY_BUILD_DIR/keyserver:$PARLEY_BUILD_DIR/media-gateway:$PARLEY_BUILD_DIR/tests:$PATH"

h_log() { echo "[$H_NAME] $*" >&2; }
h_fail() { echo "[$H_NAME] FAIL: $*" >&2; h_dump_logs; exit 1; }
h_pass() { h_log "PASS"; exit 0; }

# h_cleanup [RC] - the EXIT trap: stop every process, exit with RC (default: the
# script's status), 1 if a sanitizer reported.
h_cleanup() {
  local rc="${1:-$?}" p i
  for p in "${H_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  if [ "$H_SANITIZE" = 1 ]; then
    # Let them finish their exit (a sanitized process stops more slowly and
    # LeakSanitizer reports then), bounded.
    for ((i = 0; i < 150; i++)); do
      h_any_alive || break
      sleep 0.1
    done
  fi
  for p in "${H_PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  if [ "$H_SANITIZE" = 1 ] && h_sanitizer_reports; then
    h_log "FAIL: sanitizer reports (HACKING.md, \"Sanitizers\")"
    [ "$rc" = 0 ] && rc=1
  fi
  if [ "${H_KEEP:-0}" = 1 ]; then h_log "kept $H_TMP"; else rm -rf "$H_TMP"; fi
  exit "$rc"
}
h_any_alive() {
  local p
  for p in "${H_PIDS[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
# h_sanitizer_reports - print every sanitizer report of the test; true if any.
# UBSan ignores log_path when it shares the process with ASan (GCC 12): its
# reports ("runtime error:") are found in the processes' logs instead.
h_sanitizer_reports() {
  local f found=1
  for f in "$H_TMP"/sanitizer.*; do
    [ -f "$f" ] || continue
    found=0
    echo "----- $f" >&2
    cat "$f" >&2
  done
  while IFS= read -r f; do
    found=0
    echo "----- UBSan in $f" >&2
    grep -A 12 -F "runtime error: " "$f" >&2
  done < <(grep -rlF --include='*.log' "runtime error: " "$H_TMP" 2>/dev/null)
  return "$found"
}
trap h_cleanup EXIT

# Print the tail of every log file on failure.
h_dump_logs() {
  local f
  for f in "$H_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

# h_port - print a free TCP port on 127.0.0.1. Picked at random BELOW the
# kernel's ephemeral range (net.ipv4.ip_local_port_range), where no outgoing
# connection can take it between now and the moment a server binds it (a
# port the kernel hands out, as bind(0) does, can be given to any client's
# connect meanwhile); never one this test was already given (remembered in
# $H_TMP/.ports), and only one that binds now on 127.0.0.1.
h_port() {
  python3 - "${H_TMP:-}" <<'PY'
import os, random, socket, sys
tmp = sys.argv[1]
ports = os.path.join(tmp, ".ports") if tmp else None
given = set()
if ports and os.path.exists(ports):
    given = set(open(ports).read().split())
try:
    lo_eph = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    lo_eph = 32768
hi = min(lo_eph, 65536) - 1
lo = 10000 if hi > 12000 else 1024
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
port = None
for _ in range(500):
    p = random.randint(lo, hi)
    if str(p) not in given and free(p):
        port = p
        break
if port is None:  # no room below the ephemeral range: let the kernel pick
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
if ports:
    with open(ports, "a") as f:
        f.write("%d\n" % port)
print(port)
PY
}

# h_wait_port PORT [SECONDS] - wait until something listens on 127.0.0.1:PORT.
h_wait_port() {
  local port="$1" limit="${2:-20}" i
  for ((i = 0; i < limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  h_fail "nothing listens on port $port after ${limit}s"
}

# h_wait_for SECONDS CMD... - run CMD every 0.1 s until it succeeds (bounded).
h_wait_for() {
  local limit="$1" i; shift
  for ((i = 0; i < limit * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# h_bg NAME CMD... - start CMD in the background, logging to $H_TMP/NAME.log;
# its pid is in H_LAST_PID and killed at exit.
h_bg() {
  local name="$1"; shift
  "$@" >>"$H_TMP/$name.log" 2>&1 &
  H_LAST_PID=$!
  H_PIDS+=("$H_LAST_PID")
}

# h_write_mosquitto_conf FILE PORT DIR [EXTRA_LINES] - a broker config with
# the plugin on PORT and $H_STORE, persistence in DIR.
h_write_mosquitto_conf() {
  local file="$1" port="$2" dir="$3"
  mkdir -p "$dir"
  cat >"$file" <<CONF
per_listener_settings false
allow_anonymous false
listener $port 127.0.0.1
max_connections 10000
persistence true
persistence_location $dir/
autosave_interval 1
max_queued_messages ${H_MAX_QUEUED:-1000}
max_queued_bytes 1048576
persistent_client_expiration 7d
memory_limit 1073741824
log_dest stderr
log_type all
plugin $H_PLUGIN
plugin_opt_store $H_STORE
plugin_opt_admins ${H_ADMINS:-admin}
plugin_opt_wake_socket $dir/wake.sock
${4:-}
# the plugin's wake connection (docs/broker-plugin.md, "Waking the loop")
listener 0 $dir/wake.sock
CONF
  # As root, mosquitto would switch to user "mosquitto", which cannot open
  # the store in the private $H_TMP: stay the invoking user.
  if [ "$(id -u)" = 0 ]; then echo "user root" >>"$file"; fi
}

# h_mosquitto_conf [EXTRA_LINES] - write $H_TMP/mosquitto.conf for the broker
# with the plugin on $H_MQTT_PORT (picked if unset) and $H_STORE.
h_mosquitto_conf() {
  : "${H_MQTT_PORT:=$(h_port)}"
  h_write_mosquitto_conf "$H_TMP/mosquitto.conf" "$H_MQTT_PORT" "$H_TMP/mosq" "${1:-}"
}

# h_start_mosquitto [EXTRA_CONF_LINES] - mosquitto with the Parley plugin.
# Sets H_MQTT_PORT, H_MQTT_URL, H_MOSQ_PID.
h_start_mosquitto() {
  h_mosquitto_conf "${1:-}"
  h_bg mosquitto "${H_MOSQ_ENV[@]}" "$H_MOSQUITTO" -c "$H_TMP/mosquitto.conf"
  H_MOSQ_PID=$H_LAST_PID
  h_wait_port "$H_MQTT_PORT"
  H_MQTT_URL="tcp://127.0.0.1:$H_MQTT_PORT"
  export PARLEY_MQTT_URL="$H_MQTT_URL"
}

# h_restart_mosquitto - start again with the same config (after a kill).
h_restart_mosquitto() {
  h_bg mosquitto "${H_MOSQ_ENV[@]}" "$H_MOSQUITTO" -c "$H_TMP/mosquitto.conf"
  H_MOSQ_PID=$H_LAST_PID
  h_wait_port "$H_MQTT_PORT"
}

# h_start_bare_mosquitto - mosquitto without the plugin, anonymous allowed.
h_start_bare_mosquitto() {
  : "${H_MQTT_PORT:=$(h_port)}"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$H_MQTT_PORT" >"$H_TMP/bare.conf"
  h_bg mosquitto-bare "$H_MOSQUITTO" -c "$H_TMP/bare.conf"
  H_MOSQ_PID=$H_LAST_PID
  h_wait_port "$H_MQTT_PORT"
}

# h_start_keyserver [ARGS...] - the keyserver on $H_STORE. Sets H_KS_PORT, H_KS_URL.
h_start_keyserver() {
  H_KS_PORT="$(h_port)"
  h_bg keyserver "$PARLEY_BUILD_DIR/keyserver/parley-keyserver" \
    --listen "127.0.0.1:$H_KS_PORT" --store "$H_STORE" "$@"
  H_KS_PID=$H_LAST_PID
  h_wait_port "$H_KS_PORT"
  H_KS_URL="http://127.0.0.1:$H_KS_PORT"
  export PARLEY_KEYSERVER_URL="$H_KS_URL"
}

# h_start_media [ARGS...] - the media gateway (default backend: file:$H_TMP/media).
# Sets H_MEDIA_PORT, H_MEDIA_URL.
h_start_media() {
  H_MEDIA_PORT="$(h_port)"
  mkdir -p "$H_TMP/media"
  local backend=(--backend "file:$H_TMP/media")
  for a in "$@"; do [ "$a" = --backend ] && backend=(); done
  h_bg media "$PARLEY_BUILD_DIR/media-gateway/parley-media" \
    --listen "127.0.0.1:$H_MEDIA_PORT" --store "$H_STORE" "${backend[@]}" "$@"
  H_MEDIA_PID=$H_LAST_PID
  h_wait_port "$H_MEDIA_PORT"
  H_MEDIA_URL="http://127.0.0.1:$H_MEDIA_PORT"
  export PARLEY_MEDIA_URL="$H_MEDIA_URL"
}

# h_start_s3rver [ARGS...] - a real S3 protocol server from .tools/. s3rver 3.7.1
# checks the access key but not SigV4 signatures (its v4 check is unimplemented):
# tests that need a signature check put tests/media/sigv4_proxy.py in front.
# Sets H_S3_PORT, H_S3_URL; access key S3RVER / secret S3RVER; bucket "parley".
# Extra ARGS go to s3rver (e.g. --service-endpoint localhost for vhost buckets).
h_start_s3rver() {
  local bin="$PARLEY_SOURCE_DIR/.tools/node_modules/.bin/s3rver"
  [ -x "$bin" ] || h_fail "s3rver missing: run ./scripts/test (it installs the npm test tools)"
  H_S3_PORT="$(h_port)"
  mkdir -p "$H_TMP/s3"
  h_bg s3rver "$bin" --address 127.0.0.1 --port "$H_S3_PORT" --directory "$H_TMP/s3" \
    --configure-bucket parley --silent "$@"
  H_S3_PID=$H_LAST_PID
  h_wait_port "$H_S3_PORT" 30
  H_S3_URL="http://127.0.0.1:$H_S3_PORT"
}

# h_user NAME - create identity NAME in its own state dir ($H_TMP/home-NAME)
# and register it with the keyserver. Prints nothing; use h_home NAME.
h_home() { echo "$H_TMP/home-$1"; }
h_user() {
  "$H_PARLEY" --home "$(h_home "$1")" init "$1" >>"$H_TMP/client-$1.log" 2>&1 ||
    h_fail "parley init $1 failed"
}

h_assert_eq() { [ "$1" = "$2" ] || h_fail "${3:-assertion}: expected '$2', got '$1'"; }
# h_flip_byte FILE OFFSET - corrupt FILE in place: every bit of the byte at
# OFFSET inverted (writing a fixed byte would leave the file unchanged when the
# byte already had that value, 1 time in 256).
h_flip_byte() {
  local b
  b="$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')"
  [ -n "$b" ] || h_fail "h_flip_byte: $1 has no byte at offset $2"
  printf "\\$(printf '%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
h_assert_contains() { grep -qF -- "$2" <<<"$1" || h_fail "${3:-assertion}: '$2' not in output: $1"; }
h_assert_not_contains() { ! grep -qF -- "$2" <<<"$1" || h_fail "${3:-assertion}: '$2' unexpectedly in output"; }

# ---- a local cluster (docs/cluster.md): NATS servers, broker nodes, HAProxy ----
. "$PARLEY_SOURCE_DIR/scripts/lib/cluster.sh"

# h_start_nats_cluster N - N nats-server in one cluster (routes between all of
# them) on free ports; waits until every server has its N-1 routes. Sets
# H_NATS_PORTS[i], H_NATS_PIDS[i] (i = 1..N) and H_NATS_URLS (comma-separated).
h_start_nats_cluster() {
  local n="$1" i j routes=""
  command -v nats-server >/dev/null || h_fail "nats-server missing (package nats-server)"
  H_NATS_PORTS=() H_NATS_CPORTS=() H_NATS_MPORTS=() H_NATS_PIDS=() H_NATS_URLS=""
  for ((i = 1; i <= n; i++)); do
    H_NATS_PORTS[i]="$(h_port)" H_NATS_CPORTS[i]="$(h_port)" H_NATS_MPORTS[i]="$(h_port)"
    routes+="${routes:+,}nats-route://127.0.0.1:${H_NATS_CPORTS[i]}"
    H_NATS_URLS+="${H_NATS_URLS:+,}nats://127.0.0.1:${H_NATS_PORTS[i]}"
  done
  for ((i = 1; i <= n; i++)); do
    parley_nats_conf "nats$i" 127.0.0.1 "${H_NATS_PORTS[i]}" "${H_NATS_CPORTS[i]}" "$routes" \
      "${H_NATS_MPORTS[i]}" >"$H_TMP/nats$i.conf"
    h_start_nats "$i"
  done
  for ((i = 1; i <= n; i++)); do
    h_wait_for 30 h_nats_routes_ge "$i" $((n - 1)) ||
      h_fail "nats$i has fewer than $((n - 1)) routes: $(curl -s "http://127.0.0.1:${H_NATS_MPORTS[i]}/routez" | head -c 300)"
  done
}

# h_start_nats I - (re)start nats-server I of h_start_nats_cluster.
h_start_nats() {
  h_bg "nats$1" nats-server -c "$H_TMP/nats$1.conf"
  H_NATS_PIDS[$1]=$H_LAST_PID
  h_wait_port "${H_NATS_PORTS[$1]}"
}

# h_nats_routes_ge I N - true once nats-server I has at least N routes.
h_nats_routes_ge() {
  local r
  r="$(curl -s --max-time 2 "http://127.0.0.1:${H_NATS_MPORTS[$1]}/routez" |
    sed -n 's/.*"num_routes": *\([0-9]*\).*/\1/p')"
  [ -n "$r" ] && [ "$r" -ge "$2" ]
}

# h_start_node I [EXTRA_CONF_LINES] - broker node I: mosquitto with the
# plugin on $H_STORE (shared by every node), node id "node$I", its bus
# connected to $H_NATS_URLS; log $H_TMP/node$I.log. Sets H_NODE_PORTS[I],
# H_NODE_PIDS[I].
h_start_node() {
  local i="$1"
  : "${H_NODE_PORTS[$i]:=$(h_port)}"
  h_write_mosquitto_conf "$H_TMP/node$i.conf" "${H_NODE_PORTS[$i]}" "$H_TMP/mosq-node$i" \
    "plugin_opt_cluster_nats $H_NATS_URLS
plugin_opt_node_id node$i
${2:-}"
  h_bg "node$i" "${H_MOSQ_ENV[@]}" "$H_MOSQUITTO" -c "$H_TMP/node$i.conf"
  H_NODE_PIDS[i]=$H_LAST_PID
  h_wait_port "${H_NODE_PORTS[$i]}"
}
H_NODE_PORTS=() H_NODE_PIDS=()

# h_start_haproxy [NODES] - HAProxy 2.6 in TCP mode in front of nodes 1..NODES
# (default: every node started), hashing on the MQTT CONNECT username so
# that a user's connections go to one node. Sets H_HAPROXY_PORT.
h_start_haproxy() {
  local n="${1:-${#H_NODE_PORTS[@]}}" i servers=()
  command -v haproxy >/dev/null || h_fail "haproxy missing (package haproxy)"
  H_HAPROXY_PORT="$(h_port)"
  for ((i = 1; i <= n; i++)); do servers+=("127.0.0.1:${H_NODE_PORTS[i]}"); done
  parley_haproxy_cfg "127.0.0.1:$H_HAPROXY_PORT" "${servers[@]}" >"$H_TMP/haproxy.cfg"
  haproxy -c -f "$H_TMP/haproxy.cfg" >"$H_TMP/haproxy-check.log" 2>&1 ||
    h_fail "haproxy refuses the config: $(cat "$H_TMP/haproxy-check.log")"
  h_bg haproxy haproxy -db -f "$H_TMP/haproxy.cfg"
  H_HAPROXY_PID=$H_LAST_PID
  h_wait_port "$H_HAPROXY_PORT"
}
