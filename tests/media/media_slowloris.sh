#!/usr/bin/env bash
# Slowloris (issue 11) against the media gateway: per-IP connection limit
# and request-header deadline (http/guard.h, shared with the keyserver).
#  1. 100 never-finished requests from 127.0.0.1 with --max-conns-per-ip 6
#     (deadline off): exactly 6 held, the rest closed at accept; a request
#     from 127.0.0.2 answers 200 meanwhile; 127.0.0.1 gets in again after.
#  2. A trickled request is cut at the 2 s deadline (not before) with a
#     JSON 408 and counted; the gateway answers every request with
#     "Connection: close", so no second request can trickle on a connection.
#  3. An upload slower than the header deadline is not cut: the deadline
#     covers headers only (the body has the idle timeout).
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"
PROBE="$PARLEY_SOURCE_DIR/tests/media/http_probe.py"

metric() { curl -sS "$H_MEDIA_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

h_start_media --max-conns-per-ip 6 --header-timeout 0
python3 "$PROBE" flood 127.0.0.1 "$H_MEDIA_PORT" 100 6 127.0.0.2 /healthz || h_fail "per-IP limit"
refused="$(metric 'parley_media_connections_refused_total{backend="file"}')"
[ "${refused:-0}" -ge 94 ] || h_fail "refused connections not counted: '$refused'"
kill -TERM "$H_MEDIA_PID"; wait "$H_MEDIA_PID" 2>/dev/null || true

h_start_media --header-timeout 2
python3 "$PROBE" trickle 127.0.0.1 "$H_MEDIA_PORT" 2 /healthz close || h_fail "header deadline"
cut="$(metric 'parley_media_header_timeouts_total{backend="file"}')"
[ "${cut:-0}" -ge 1 ] || h_fail "header timeouts not counted: '$cut'"

# 3. a slow body (about 3 s at 100 KiB/s) is not cut by the 2 s header deadline
m_user alice
head -c 300000 /dev/urandom >"$H_TMP/slow.bin"
code="$(m_http POST /v1/media "$TOKEN_alice" --limit-rate 100K --data-binary @"$H_TMP/slow.bin")"
h_assert_eq "$code" 201 "slow upload within the idle timeout"
h_assert_eq "$(m_rows)" 1 "slow upload stored"
h_pass
