#!/usr/bin/env bash
# SIGHUP with clients connected and persistent sessions offline (issue 14
# item 6): mosquitto 2.0.11 re-authenticates every known client id with the
# username and password it kept from the CONNECT. Tokens are short-lived,
# so before the fix each reload logged a "refused CONNECT" for every
# persistent session whose token had expired since (nobody had connected)
# and counted it in auth/failed/expired. The plugin already checked each
# client at its real CONNECT and closes connections whose token expires
# (presence.c), so a reload's re-check passes. Also checked: the session
# survives, connected clients are not admitted twice and keep working.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin
h_start_mosquitto "plugin_opt_metrics_interval 1"
log="$H_TMP/mosquitto.log"

# bob: a persistent session (clean session off) with a token valid for 2 s,
# then offline.
bob_exp=$(($(date +%s) + 2))
timeout 20 mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i bob.phone -c -q 1 \
  -u bob -P "$(p_token bob bob.phone 2)" -t parley/u/bob/inbox -W 1 >/dev/null 2>&1 || true
grep -q "New client connected .* as bob.phone" "$log" || h_fail "bob's first CONNECT not seen"
h_wait_for 20 grep -q "Client bob.phone disconnected" "$log" || h_fail "bob did not go offline"

# alice: connected with a long token for the whole test.
p_sub al alice alice.tab 1 parley/u/alice/receipts
p_wait_metric clients/connections 1
h_assert_eq "$(p_metric clients/connections)" 1 "connections before the reload"

# Wait until bob's token has expired (a wall-clock fact, not a timing bound).
past() { [ "$(date +%s)" -gt "$1" ]; }
h_wait_for 20 past "$bob_exp" || h_fail "bob's token did not expire"
failed_before="$(p_metric auth/failed/expired)"

n="$(grep -c 'parley: reloaded' "$log" || true)"
kill -HUP "$H_MOSQ_PID"
h_wait_for 20 p_count_gt 'parley: reloaded' "$log" "$n" || h_fail "reload not logged"
# Sentinel: a CONNECT with a bad token after the reload must be the first
# "refused CONNECT" line after "Reloading config.".
p_expect_refused alice alice.sentinel "not-a-token" "sentinel CONNECT"
h_wait_for 20 grep -q "refused CONNECT of client alice.sentinel" "$log" || h_fail "sentinel not logged"
first="$(sed -n '/Reloading config\./,$p' "$log" | grep -m1 'refused CONNECT' || true)"
h_assert_contains "$first" "alice.sentinel" "first refused CONNECT after the reload is the sentinel's"

# The connection count is the same (alice was not admitted twice), and
# auth/failed/expired did not count the re-check.
p_wait_metric auth/failed/malformed_token 1
h_assert_eq "$(p_metric clients/connections)" 1 "connections after the reload"
h_assert_eq "$(p_metric auth/failed/expired)" "$failed_before" "auth/failed/expired after the reload"

# bob's persistent session survived: a CONNECT with a fresh token finds it
# (CONNACK session-present flag 1).
timeout 20 mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i bob.phone -c -q 1 \
  -u bob -P "$(p_token bob bob.phone 60)" -t parley/u/bob/inbox -W 1 >/dev/null 2>&1 || true
h_wait_for 20 grep -q "Sending CONNACK to bob.phone (1, 0)" "$log" ||
  h_fail "bob's persistent session was lost: $(grep 'CONNACK to bob.phone' "$log" | tail -1)"

# alice is still connected and served: her session gets a receipt.
p_env "$H_TMP/m" m1 --body hi
p_pub alice alice.pub parley/u/bob/inbox "$H_TMP/m" || h_fail "alice publish"
p_wait_sub al
h_assert_eq "$(p_decode receipt al | p_json_field status)" stored "alice after the reload"
h_pass
