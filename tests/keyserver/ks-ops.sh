#!/usr/bin/env bash
# Operations: /healthz, /metrics in Prometheus text format with the expected metric names,
# bad command lines, and a clean stop on SIGTERM and SIGINT.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"
KS="$PARLEY_BUILD_DIR/keyserver/parley-keyserver"

# Bad command lines exit non-zero with a message.
for args in "" "--listen 127.0.0.1:1" "--store sqlite:$H_TMP/x.db" \
  "--listen nonsense --store sqlite:$H_TMP/x.db" \
  "--listen 127.0.0.1:1 --store sqlite:$H_TMP/x.db --max-body -5" \
  "--listen 127.0.0.1:1 --store bogus:uri"; do
  # shellcheck disable=SC2086
  if "$KS" $args >"$H_TMP/cli.out" 2>&1; then h_fail "parley-keyserver $args succeeded"; fi
  [ -s "$H_TMP/cli.out" ] || h_fail "parley-keyserver $args printed nothing"
done

h_start_keyserver --rate-limit 0
ks_req GET /healthz
ks_expect 200
h_assert_eq "$(ks_json .status)" ok "healthz status"

ks_user alice
ks_user bob
A="$(ks_keydir alice)"
ks_req PUT /v2/keys "$(ks_body up kstool prekeys-body "$A" 1)" "$(ks_token alice)"
ks_expect 200
tb="$(ks_token bob)"
ks_req GET /v2/keys/alice "" "$tb"; ks_expect 200
ks_req GET /v2/keys/alice "" "$tb"; ks_expect 200
ks_req GET /v2/keys/nobody "" "$tb"; ks_expect 404

ks_req GET /metrics
ks_expect 200
h_assert_contains "$KS_HEADERS" "text/plain; version=0.0.4" "metrics content type"
metric() { # metric NAME_WITH_LABELS -> value
  local v; v="$(awk -v n="$1" '$1 == n { print $2 }' <<<"$KS_BODY")"
  [ -n "$v" ] || h_fail "metric $1 missing"
  echo "$v"
}
h_assert_eq "$(metric 'parley_keyserver_requests_total{route="identity_put",code="201"}')" 2 \
  "registrations counted by route and code"
h_assert_eq "$(metric 'parley_keyserver_requests_total{route="keys_bundle",code="200"}')" 2 "bundles"
h_assert_eq "$(metric 'parley_keyserver_requests_total{route="keys_bundle",code="404"}')" 1 "404s"
h_assert_eq "$(metric parley_keyserver_bundles_served_total)" 2 "bundles served"
h_assert_eq "$(metric parley_keyserver_otpk_exhausted_total)" 1 "exhausted"
h_assert_eq "$(metric parley_keyserver_otpk_uploaded_total)" 1 "uploaded"
h_assert_eq "$(metric parley_keyserver_registrations_total)" 2 "registrations"
for name in parley_keyserver_request_duration_seconds_bucket parley_keyserver_request_duration_seconds_sum \
  parley_keyserver_request_duration_seconds_count parley_keyserver_rate_limited_total \
  parley_keyserver_auth_failures_total parley_keyserver_key_changes_total \
  parley_keyserver_body_too_large_total; do
  h_assert_contains "$KS_BODY" "$name" "metric $name"
done
h_assert_contains "$KS_BODY" "# TYPE parley_keyserver_request_duration_seconds histogram" "histogram"
h_assert_eq "$(metric 'parley_keyserver_request_duration_seconds_count{route="keys_bundle"}')" 3 \
  "latency observations"
# Every sample line is NAME[{labels}] VALUE.
bad="$(grep -v '^#' <<<"$KS_BODY" | grep -Ev '^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$' || true)"
[ -z "$bad" ] || h_fail "malformed metric lines: $bad"

# stop_with SIGNAL - signal the keyserver; its exit status into KS_RC (a
# watchdog kills it after 60 s, which shows as 137).
stop_with() {
  local wd
  KS_RC=0
  kill "-$1" "$H_KS_PID"
  (for ((i = 0; i < 600; i++)); do kill -0 "$H_KS_PID" 2>/dev/null || exit 0; sleep 0.1; done
   kill -KILL "$H_KS_PID" 2>/dev/null) &
  wd=$!
  wait "$H_KS_PID" || KS_RC=$?
  wait "$wd" 2>/dev/null || true
}

# SIGTERM stops it cleanly (exit 0, "stopped" logged).
stop_with TERM
h_assert_eq "$KS_RC" 0 "exit status after SIGTERM"
grep -q "stopped" "$H_TMP/keyserver.log" || h_fail "no clean stop logged"

# The data survived the restart; SIGINT works too.
h_start_keyserver --rate-limit 0
ks_req GET /v1/identity/alice
ks_expect 200
stop_with INT
h_assert_eq "$KS_RC" 0 "exit status after SIGINT"

h_pass
