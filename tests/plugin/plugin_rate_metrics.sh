#!/usr/bin/env bash
# The two rate-limit figures agree (issue 14 item 6): limits/rate_limited
# (publishes refused, a total) and limits/rate_limited_clients (clients
# refused at least once in the last metrics interval). A client that bursts
# and disconnects at once (mosquitto_pub) used to vanish from the second:
# its bucket was forgotten at disconnect, before the interval's report, so
# the report said "N publishes refused, by 0 clients". Every report that
# shows rate_limited grown must show rate_limited_clients >= 1, and the
# refusals equal the REJECTED rate_limited receipts and rejected/rate_limited.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin
h_start_mosquitto "plugin_opt_metrics_interval 1
plugin_opt_rate_messages 1
plugin_opt_rate_user_messages 1"

# Every report, in order: "limits/rate_limited N" then
# "limits/rate_limited_clients M" (metrics.c publishes them in that order).
# shellcheck disable=SC2046
timeout 60 stdbuf -oL mosquitto_sub $(p_auth admin admin.watch) -v -W 55 \
  -t '$SYS/parley/limits/rate_limited' -t '$SYS/parley/limits/rate_limited_clients' \
  >"$H_TMP/reports.txt" 2>"$H_TMP/reports.err" &
H_PIDS+=($!)
h_wait_for 20 grep -q 'rate_limited_clients' "$H_TMP/reports.txt" || h_fail "no metrics report"

p_sub rc alice alice.r 8 parley/u/alice/receipts
for ((i = 1; i <= 8; i++)); do
  p_env "$H_TMP/m$i" "m$i" --body "burst $i"
  [ "$(tr -cd '\n' <"$H_TMP/m$i" | wc -c)" = 0 ] || h_fail "envelope m$i contains a newline"
done
for ((i = 1; i <= 8; i++)); do cat "$H_TMP/m$i"; echo; done |
  timeout 20 mosquitto_pub $(p_auth alice alice.burst) -q 1 -t parley/u/bob/inbox -l || h_fail "burst"
p_wait_sub rc
limited="$(p_decode receipt rc | grep -c '"error":"rate_limited"' || true)"
[ "$limited" -ge 1 ] || h_fail "nothing was rate limited"
h_log "$limited of 8 refused"

# Wait for the report that counts them all (the client is long gone).
reached() { awk -v n="$1" '$1 ~ /limits\/rate_limited$/ && $2 >= n {f = 1} END {exit !f}' "$H_TMP/reports.txt"; }
h_wait_for 30 reached "$limited" || h_fail "rate_limited never reached $limited: $(cat "$H_TMP/reports.txt")"
h_wait_for 10 eval "[ \"\$(tail -n1 \"$H_TMP/reports.txt\" | cut -d' ' -f1)\" = '\$SYS/parley/limits/rate_limited_clients' ]" ||
  h_fail "report incomplete"
# Pair each report's two values; where the refusal total grew, clients >= 1.
awk '$1 ~ /rate_limited$/ {r = $2; next}
     $1 ~ /rate_limited_clients$/ { if (r > prev && $2 < 1) bad = bad " [" r " refused, " $2 " clients]"; if (r != "") prev = r }
     END { if (bad != "") { print bad; exit 1 } }' "$H_TMP/reports.txt" >"$H_TMP/bad.txt" ||
  h_fail "a report counted refusals but no client:$(cat "$H_TMP/bad.txt")"
h_assert_eq "$(p_metric limits/rate_limited)" "$limited" "limits/rate_limited = REJECTED rate_limited receipts"
h_assert_eq "$(p_metric rejected/rate_limited)" "$limited" "rejected/rate_limited"
h_pass
