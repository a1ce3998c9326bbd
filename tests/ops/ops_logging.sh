#!/usr/bin/env bash
# One log format and level for the broker plugin and both HTTP services
# (docs/operations.md, "Logs"):
#   1. an unknown PARLEY_LOG_LEVEL or PARLEY_LOG_FORMAT stops parley-keyserver,
#      parley-media and mosquitto with the plugin at start, with a clear error;
#   2. PARLEY_LOG_FORMAT=json: every line the three write (mosquitto's own
#      lines aside) is one JSON object with ts, level, component, msg;
#   3. PARLEY_LOG_LEVEL=warn hides the plugin's info lines (a refused
#      CONNECT), shown by a warn/error sentinel logged after it.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
command -v jq >/dev/null || h_fail "jq missing (scripts/lib/deps.sh)"

ks="$PARLEY_BUILD_DIR/keyserver/parley-keyserver"
media="$PARLEY_BUILD_DIR/media-gateway/parley-media"
port="$(h_port)"

# 1. unknown values are refused at start (exit status 2, nothing listens)
for bad in "PARLEY_LOG_LEVEL=verbose" "PARLEY_LOG_FORMAT=yaml"; do
  rc=0
  out="$(env "$bad" timeout 20 "$ks" --listen "127.0.0.1:$port" --store "$H_STORE" 2>&1)" || rc=$?
  h_assert_eq "$rc" 2 "keyserver with $bad: exit status"
  h_assert_contains "$out" "parley-keyserver: ${bad%%=*}: unknown" "keyserver with $bad"
  rc=0
  out="$(env "$bad" timeout 20 "$media" --listen "127.0.0.1:$port" --store "$H_STORE" \
           --backend "file:$H_TMP/media" 2>&1)" || rc=$?
  h_assert_eq "$rc" 2 "media with $bad: exit status"
  h_assert_contains "$out" "parley-media: ${bad%%=*}: unknown" "media with $bad"
done
h_mosquitto_conf
rc=0
out="$(PARLEY_LOG_LEVEL=loud timeout 20 "${H_MOSQ_ENV[@]}" "$H_MOSQUITTO" -c "$H_TMP/mosquitto.conf" 2>&1)" ||
  rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || h_fail "mosquitto started with PARLEY_LOG_LEVEL=loud (status $rc)"
h_assert_contains "$out" "PARLEY_LOG_LEVEL: unknown level 'loud' (debug, info, warn, error); the broker does not start" \
  "mosquitto with PARLEY_LOG_LEVEL=loud"

# 2. JSON from all three
p_user alice
export PARLEY_LOG_FORMAT=json PARLEY_LOG_LEVEL=debug
h_start_mosquitto
h_start_keyserver
h_start_media
unset PARLEY_LOG_FORMAT PARLEY_LOG_LEVEL
curl -fsS "$H_KS_URL/healthz" >/dev/null || h_fail "keyserver healthz"
curl -fsS "$H_MEDIA_URL/healthz" >/dev/null || h_fail "media healthz"
p_expect_refused alice alice.x "not-a-token" "bad token"
h_wait_for 20 grep -q '"msg":"refused CONNECT of client alice.x' "$H_TMP/mosquitto.log" ||
  h_fail "the plugin's refusal is not a JSON line"
h_wait_for 20 grep -q '"level":"debug","component":"keyserver"' "$H_TMP/keyserver.log" ||
  h_fail "no debug line (access log) from the keyserver"
for f in mosquitto keyserver media; do
  # mosquitto's own lines start with its timestamp; every other line is ours.
  n=0
  while IFS= read -r line; do
    case "$f:$line" in mosquitto:[0-9]*:\ *) continue ;; esac
    jq -e 'type == "object" and (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z$"))
           and (.level | IN("debug","info","warn","error")) and (.component | type == "string")
           and (.msg | type == "string") and (keys | length == 4)' <<<"$line" >/dev/null ||
      h_fail "$f: not a Parley JSON log line: $line"
    n=$((n + 1))
  done <"$H_TMP/$f.log"
  [ "$n" -ge 1 ] || h_fail "$f wrote no JSON line"
  h_log "$f: $n JSON lines"
done
kill "$H_KS_PID" "$H_MEDIA_PID" "$H_MOSQ_PID"
h_wait_for 20 eval "! kill -0 $H_MOSQ_PID 2>/dev/null" || h_fail "mosquitto did not stop"

# 3. the level filter reaches the plugin's own lines
mv "$H_TMP/mosquitto.log" "$H_TMP/mosquitto-json.txt"
echo "max_payload 4000" >"$H_TMP/opts.conf"
export PARLEY_LOG_LEVEL=warn
H_MQTT_PORT=""
h_start_mosquitto "plugin_opt_options_file $H_TMP/opts.conf"
unset PARLEY_LOG_LEVEL
p_expect_refused alice alice.y "not-a-token" "bad token at level warn"
echo "max_payload lots" >"$H_TMP/opts.conf"
kill -HUP "$H_MOSQ_PID"
h_wait_for 20 grep -q 'ERROR parley: reload: invalid options' "$H_TMP/mosquitto.log" ||
  h_fail "the error sentinel was not logged"
h_assert_not_contains "$(cat "$H_TMP/mosquitto.log")" "refused CONNECT" "info line at level warn"
h_assert_not_contains "$(cat "$H_TMP/mosquitto.log")" "INFO parley" "info line at level warn"
h_pass
