#!/usr/bin/env bash
# Limits: a client publishing faster than plugin_opt_rate_messages or
# plugin_opt_rate_bytes is refused with REJECTED rate_limited receipts and
# counted in $SYS; the payload limit refuses bodies over max_payload; and a
# SIGHUP re-reads plugin_opt_options_file, raising the limit at run time.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob carol admin
cat >"$H_TMP/limits.conf" <<CONF
# Parley plugin options re-read on SIGHUP
max_payload 1000
rate_messages 1
CONF
h_start_mosquitto "plugin_opt_options_file $H_TMP/limits.conf
plugin_opt_metrics_interval 1"

# Message rate: 1/s with a burst of 2; 12 publishes in one session take far
# less than the 10 s it would need to refill, so most are refused.
p_sub al_rc alice alice-r 12 parley/u/alice/receipts
for ((i = 1; i <= 12; i++)); do
  p_env "$H_TMP/r$i" "r$i" --body "burst $i"
  cat "$H_TMP/r$i" >>"$H_TMP/burst.lines"
done
# mosquitto_pub -l sends one message per line from a single connection; the
# envelopes contain no newline bytes (short ASCII bodies, small lengths).
for ((i = 1; i <= 12; i++)); do
  [ "$(tr -cd '\n' <"$H_TMP/r$i" | wc -c)" = 0 ] || h_fail "envelope r$i contains a newline"
done
for ((i = 1; i <= 12; i++)); do cat "$H_TMP/r$i"; echo; done |
  timeout 20 mosquitto_pub $(p_auth alice alice-1) -q 1 -t parley/u/bob/inbox -l || h_fail "burst publish"
p_wait_sub al_rc
p_decode receipt al_rc >"$H_TMP/burst.json"
limited="$(grep -c '"error":"rate_limited"' "$H_TMP/burst.json" || true)"
stored="$(grep -c '"status":"stored"' "$H_TMP/burst.json" || true)"
h_log "burst: $stored stored, $limited rate limited"
[ "$limited" -ge 1 ] || h_fail "nothing was rate limited"
h_assert_eq "$((limited + stored))" 12 "every publish answered"
h_wait_for 20 p_sql_eq 'select count(*) from messages' "$stored" || h_fail "stored count differs"
p_wait_metric limits/rate_limited "$limited"

# Payload limit 1000: a 1500-byte body is refused ...
p_sub al_rc2 alice alice-r2 1 parley/u/alice/receipts
p_env "$H_TMP/big1" big1 --body-size 1500
p_pub alice alice-9 parley/u/carol/inbox "$H_TMP/big1"
p_wait_sub al_rc2
h_assert_eq "$(p_decode receipt al_rc2 | p_json_field error)" "too_large" "1500 bytes over the limit"

# ... until the limit is raised by SIGHUP.
cat >"$H_TMP/limits.conf" <<CONF
max_payload 4000
rate_messages 100
rate_bytes 10
CONF
n="$(grep -c 'parley: reloaded' "$H_TMP/mosquitto.log" || true)"
kill -HUP "$H_MOSQ_PID"
h_wait_for 20 p_count_gt 'parley: reloaded: max_payload=4000' "$H_TMP/mosquitto.log" "$n" ||
  h_fail "reload not applied"
p_sub ca_rc carol carol-r 1 parley/u/carol/receipts
p_env "$H_TMP/big2" big2 --body-size 1500
p_pub carol carol-2 parley/u/bob/inbox "$H_TMP/big2"
p_wait_sub ca_rc
h_assert_eq "$(p_decode receipt ca_rc | p_json_field status)" "stored" "1500 bytes after raising the limit"

# Byte rate 10/s (burst 20): a first 100-byte body passes and leaves the
# bucket 80 bytes in debt, so the next two (10 s of refill away) are refused.
p_sub ca_rb carol carol-rb 3 parley/u/carol/receipts
for i in 1 2 3; do p_env "$H_TMP/b$i" "b$i" --body-size 100; done
for i in 1 2 3; do cat "$H_TMP/b$i"; echo; done |
  timeout 20 mosquitto_pub $(p_auth carol carol-4) -q 1 -t parley/u/bob/inbox -l || h_fail "byte burst"
p_wait_sub ca_rb
h_assert_eq "$(p_decode receipt ca_rb | p_json_field status | sort | tr '\n' ' ')" "rejected rejected stored " "byte rate (rejections come before the commit)"

# A broken options file on reload keeps the running limits.
echo "max_payload lots" >"$H_TMP/limits.conf"
kill -HUP "$H_MOSQ_PID"
h_wait_for 20 grep -q 'reload: invalid options' "$H_TMP/mosquitto.log" || h_fail "bad reload not reported"
p_sub ca_rc2 carol carol-r2 1 parley/u/carol/receipts
p_env "$H_TMP/big3" big3 --body-size 1500
p_pub carol carol-3 parley/u/bob/inbox "$H_TMP/big3"
p_wait_sub ca_rc2
h_assert_eq "$(p_decode receipt ca_rc2 | p_json_field status)" "stored" "limits kept after a bad reload"
h_pass
