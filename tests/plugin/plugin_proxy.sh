#!/usr/bin/env bash
# The front end operations.md ("Resource limits") documents for a broker
# reachable from the Internet, tested as written (limits scaled down): HAProxy
# 2.6 in TCP mode closes a socket that sends no valid MQTT CONNECT within the
# inspect delay, refuses an address's connections beyond its limit, and passes
# real clients through to mosquitto with the plugin.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

command -v haproxy >/dev/null || h_fail "haproxy missing (package haproxy)"
p_user alice bob
h_start_mosquitto

HP_PORT="$(h_port)"
cat >"$H_TMP/haproxy.cfg" <<CFG
global
    maxconn 1000
    stats socket $H_TMP/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mqtt
    bind 127.0.0.1:$HP_PORT
    # at most 5 concurrent connections and 50 new ones per 10 s per address
    stick-table type ip size 1m expire 60s store conn_cur,conn_rate(10s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc0_conn_cur gt 5 } || { sc0_conn_rate gt 50 }
    # CONNECT must arrive within 2 s and be a valid MQTT CONNECT packet
    tcp-request inspect-delay 2s
    tcp-request content reject unless { req.payload(0,0),mqtt_is_valid }
    default_backend brokers
backend brokers
    server b1 127.0.0.1:$H_MQTT_PORT
CFG
haproxy -c -f "$H_TMP/haproxy.cfg" >"$H_TMP/haproxy-check.log" 2>&1 ||
  h_fail "haproxy refuses the documented config: $(cat "$H_TMP/haproxy-check.log")"
h_bg haproxy haproxy -db -f "$H_TMP/haproxy.cfg"
h_wait_port "$HP_PORT"

# 1. A silent socket is closed at the CONNECT deadline (2 s), not before, and
#    well before mosquitto's own ~95 s; garbage instead of a CONNECT too.
python3 - "$HP_PORT" >"$H_TMP/silent.out" 2>&1 <<'PY' || h_fail "silent socket: $(cat "$H_TMP/silent.out")"
import socket, sys, time
port = int(sys.argv[1])
def closed_after(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.2", 0))
    if payload:
        s.sendall(payload)
    t0 = time.monotonic()
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    s.close()
    return time.monotonic() - t0, data
dt, data = closed_after(b"")
assert data == b"", f"silent socket got {data!r}"
assert 1.5 <= dt <= 20, f"silent socket closed after {dt:.1f} s"
dt, data = closed_after(b"GET / HTTP/1.1\r\n\r\n")
assert data == b"" and dt <= 20, f"garbage: {data!r} after {dt:.1f} s"
print("ok")
PY

# 2. Per-address limit: five silent sockets are held, the sixth is closed at
#    once (long before the 2 s deadline).
python3 - "$HP_PORT" "$H_TMP/haproxy.sock" >"$H_TMP/limit.out" 2>&1 <<'PY' || h_fail "per-address limit: $(cat "$H_TMP/limit.out")"
import socket, sys, time
port = int(sys.argv[1])
src = ("127.0.0.3", 0)  # an address of its own: the other parts are not counted
held = [socket.create_connection(("127.0.0.1", port), timeout=30, source_address=src)
        for _ in range(5)]
# Wait (bounded) until HAProxy has accepted and counted all five, so the
# sixth is the one over the limit whatever the machine's load.
def conn_cur():
    a = socket.socket(socket.AF_UNIX)
    a.connect(sys.argv[2])
    a.sendall(b"show table mqtt\n")
    out = b""
    while True:
        d = a.recv(4096)
        if not d:
            break
        out += d
    a.close()
    for line in out.decode().splitlines():
        if "key=127.0.0.3" in line:
            return int(line.split("conn_cur=")[1].split()[0])
    return 0
deadline = time.monotonic() + 20
while conn_cur() < 5:
    assert time.monotonic() < deadline, "HAProxy did not count the five connections"
    time.sleep(0.05)
t0 = time.monotonic()
try:  # refused at accept: a reset during connect or right after it
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=src)
    data = s.recv(100)
except ConnectionResetError:
    data = b""
dt = time.monotonic() - t0
assert data == b"" and dt < 1.5, f"sixth connection: {data!r} after {dt:.2f} s"
for h in held:
    h.close()
print("ok")
PY

# 3. Real clients pass (from 127.0.0.1, which parts 1 and 2 did not use): bob
#    subscribes and alice sends through the proxy.
H_MQTT_PORT_DIRECT="$H_MQTT_PORT"
H_MQTT_PORT="$HP_PORT"
p_sub bob_ty bob bob.px 1 parley/u/bob/typing ||
  h_fail "subscribe through the proxy"
printf '' >"$H_TMP/empty"
p_pub alice alice.px parley/u/bob/typing "$H_TMP/empty" || h_fail "publish through the proxy"
p_wait_sub bob_ty
H_MQTT_PORT="$H_MQTT_PORT_DIRECT"
h_pass
