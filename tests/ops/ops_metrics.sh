#!/usr/bin/env bash
# The broker's metrics as Prometheus text (plugin_opt_metrics_listen;
# docs/operations.md, "Metrics"):
#   1. /healthz answers 200 once the first report is rendered; /metrics is
#      valid Prometheus text (parsed by the Prometheus client library's own
#      parser), every family has HELP and TYPE, and it carries the same
#      figures as $SYS (a stored message, a too_large rejection, a refused
#      CONNECT);
#   2. unknown paths 404, other methods 405;
#   3. a bad address or a port in use stops the broker at start, with the
#      reason in the log.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
PY=/usr/bin/python3   # Debian's python with python3-prometheus-client
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
  h_fail "python3-prometheus-client missing (scripts/lib/deps.sh)"

p_user alice bob admin
mport="$(h_port)"
h_start_mosquitto "plugin_opt_metrics_interval 1
plugin_opt_metrics_listen 127.0.0.1:$mport
plugin_opt_max_payload 1000"
murl="http://127.0.0.1:$mport"
grep -q "Prometheus metrics on http://127.0.0.1:$mport/metrics" "$H_TMP/mosquitto.log" ||
  h_fail "endpoint not announced"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$murl/healthz")" = 200 ]; }
h_wait_for 30 healthy || h_fail "healthz never 200: $(curl -s "$murl/healthz")"

# 1. one stored message, one too_large, one refused CONNECT
p_sub rc alice alice.r 2 parley/u/alice/receipts
p_env "$H_TMP/ok" ok1 --body hello
p_pub alice alice.p parley/u/bob/inbox "$H_TMP/ok" || h_fail "publish"
p_env "$H_TMP/big" big1 --body-size 1500
p_pub alice alice.p parley/u/bob/inbox "$H_TMP/big" || h_fail "publish big"
p_wait_sub rc
p_expect_refused bob bob.x "not-a-token" "bad token"
p_wait_metric messages/stored 1
p_wait_metric rejected/too_large 1
p_wait_metric auth/failed/malformed_token 1
# The Prometheus snapshot comes from the same report as $SYS: wait until it
# shows the figures too, then check the whole text with the parser.
shows() { curl -fsS "$murl/metrics" | grep -q "^parley_broker_messages_stored_total 1\$"; }
h_wait_for 30 shows || h_fail "snapshot never showed the stored message"
curl -fsS -D "$H_TMP/headers" "$murl/metrics" >"$H_TMP/metrics.txt" || h_fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$H_TMP/headers" || h_fail "content type: $(cat "$H_TMP/headers")"
out="$("$PY" "$PARLEY_SOURCE_DIR/tests/ops/prom_check.py" "$H_TMP/metrics.txt" \
  parley_broker_messages_stored_total=1 parley_broker_messages_in_total=1 \
  'parley_broker_rejected_total{code="too_large"}=1' \
  'parley_broker_rejected_total{code="rate_limited"}=0' \
  'parley_broker_auth_failed_total{reason="malformed_token"}=1' \
  parley_broker_store_errors_total=0 2>&1)" ||
  h_fail "Prometheus text: $out"
h_log "metrics: $out"
h_assert_eq "$(grep -c '^# TYPE parley_broker_rejected_total counter$' "$H_TMP/metrics.txt")" 1 \
  "one TYPE line per family"

# 2. other paths and methods
h_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$murl/")" 404 "GET /"
h_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$murl/metrics")" 405 "POST /metrics"

# 3. refused addresses: mosquitto exits, saying why
for bad in "nonsense" "127.0.0.1:$mport"; do
  conf="$H_TMP/bad.conf"
  h_write_mosquitto_conf "$conf" "$(h_port)" "$H_TMP/mosq-bad" "plugin_opt_metrics_listen $bad"
  rc=0
  out="$(timeout 20 "${H_MOSQ_ENV[@]}" "$H_MOSQUITTO" -c "$conf" 2>&1)" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || h_fail "mosquitto started with metrics_listen $bad (status $rc)"
  case "$bad" in
    nonsense) h_assert_contains "$out" "parley: option metrics_listen:" "bad address" ;;
    *) h_assert_contains "$out" "cannot serve metrics on $bad" "port in use" ;;
  esac
done
h_pass
