#!/usr/bin/env bash
# bench_loadgen_smoke: parley-loadgen against bare mosquitto for ~2 seconds
# (QoS 1 flow, a rate-limited flow, 50 idle connections, 60 that reconnect from three
# source addresses). Checks delivery and
# the JSON shape only - no speed assertions.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"

LOADGEN="$PARLEY_BUILD_DIR/bench/loadgen/parley-loadgen"
[ -x "$LOADGEN" ] || h_fail "no $LOADGEN"
h_start_bare_mosquitto

# check JSON_LINE PYTHON_ASSERTIONS - fail with the line if an assertion fails.
check() {
  python3 - "$1" "$2" <<'PY' || h_fail "bad loadgen output: $1"
import json, sys
d = json.loads(sys.argv[1])
exec(sys.argv[2])
PY
}

out="$("$LOADGEN" flow --port "$H_MQTT_PORT" --pairs 2 --qos 1 --payload 100 \
  --warmup 0.5 --duration 1 --drain 2 2>"$H_TMP/flow.err")" ||
  h_fail "flow run failed: $(cat "$H_TMP/flow.err")"
h_log "flow: $out"
check "$out" '
assert d["mode"] == "flow" and d["broker"] == "bare" and d["ok"] is True and d["error"] == ""
assert d["sent"] > 0 and d["delivered_in_window"] > 0 and d["throughput"] > 0
assert d["lost"] == 0 and d["bad"] == 0, "QoS 1 lost or mangled messages"
l = d["latency"]
assert l["n"] == d["delivered_in_window"]
assert 0 < l["p50_us"] <= l["p90_us"] <= l["p99_us"] <= l["p999_us"] <= l["max_us"]
'

out="$("$LOADGEN" flow --port "$H_MQTT_PORT" --pairs 2 --qos 0 --rate 200 --payload 300 \
  --warmup 0.2 --duration 0.5 --drain 1 --client libmosquitto 2>"$H_TMP/rate.err")" ||
  h_fail "rate run failed: $(cat "$H_TMP/rate.err")"
h_log "rate: $out"
check "$out" '
assert d["ok"] is True and d["client"] == "libmosquitto" and d["payload_bytes"] == 300
assert d["sent_in_window"] > 0 and d["latency"]["n"] > 0
'

out="$("$LOADGEN" idle --port "$H_MQTT_PORT" --clients 50 --threads 2 --hold 0.2 \
  --broker-pid "$H_MOSQ_PID" 2>"$H_TMP/idle.err")" ||
  h_fail "idle run failed: $(cat "$H_TMP/idle.err")"
h_log "idle: $out"
check "$out" '
assert d["mode"] == "idle" and d["ok"] is True and d["connected"] == 50 and d["failed"] == 0
assert d["connect_rate"] > 0 and d["broker_rss_kb"] > 0 and d["broker_hwm_kb"] >= d["broker_rss_kb"]
'

# bench/connections.sh's run: clients spread over loopback source addresses,
# credentials in CONNECT, and the reconnect phase (every client again).
out="$("$LOADGEN" idle --port "$H_MQTT_PORT" --clients 60 --threads 2 --hold 0.2 \
  --broker-pid "$H_MOSQ_PID" --source-addrs 3 --credentials --reconnect 2>"$H_TMP/idle2.err")" ||
  h_fail "idle --reconnect run failed: $(cat "$H_TMP/idle2.err")"
h_log "idle --reconnect: $out"
check "$out" '
assert d["ok"] is True and d["connected"] == 60 and d["failed"] == 0
assert d["source_addrs"] == 3 and d["credentials"] is True
assert d["reconnected"] == 60 and d["reconnect_failed"] == 0 and d["reconnect_rate"] > 0
assert d["reconnect_latency"]["n"] == 60 and d["broker_cpu_us_per_connect"] >= 0
'
h_pass
