#!/usr/bin/env bash
# Slowloris (issue 11): per-IP connection limit and the request-header
# deadline (http/guard.h), against the real keyserver on loopback.
#  1. 200 connections from 127.0.0.1 that never finish their headers
#     (deadline off here): exactly --max-conns-per-ip stay open, the rest
#     are closed at accept; a request from 127.0.0.2 still answers 200,
#     and 127.0.0.1 gets in again once its slow connections close.
#  2. A client trickling one header byte every 0.25 s is cut at the
#     deadline (never before it) with a JSON 408; a keep-alive connection
#     whose next request trickles is cut too.
#  3. The metrics count both; the defaults apply when no flag is given.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"
PROBE="$PARLEY_SOURCE_DIR/tests/media/http_probe.py"

metric() { curl -sS "$H_KS_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# 1. per-IP limit (8 for the test), no header deadline
h_start_keyserver --max-conns-per-ip 8 --header-timeout 0
python3 "$PROBE" flood 127.0.0.1 "$H_KS_PORT" 200 8 127.0.0.2 /healthz || h_fail "per-IP limit"
refused="$(metric parley_keyserver_connections_refused_total)"
[ "${refused:-0}" -ge 192 ] || h_fail "refused connections not counted: '$refused'"
ks_req GET /v1/identity/nobody
ks_expect 404 unknown_user
kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

# 2. a 2 s header deadline
h_start_keyserver --header-timeout 2
python3 "$PROBE" trickle 127.0.0.1 "$H_KS_PORT" 2 /healthz keepalive || h_fail "header deadline"
cut="$(metric parley_keyserver_header_timeouts_total)"
[ "${cut:-0}" -ge 2 ] || h_fail "header timeouts not counted: '$cut'"
# A normal request is not affected.
ks_req GET /healthz
ks_expect 200
kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

# 3. defaults: 32 per IP (the flood proves it), deadline 10 s (logged)
h_start_keyserver
python3 "$PROBE" flood 127.0.0.1 "$H_KS_PORT" 60 32 127.0.0.2 /healthz || h_fail "default per-IP limit"
h_assert_contains "$(cat "$H_TMP/keyserver.log")" "32 connections per IP, header deadline 10 s"
h_pass
