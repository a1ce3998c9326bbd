#!/usr/bin/env bash
# Rate limits hold per user, not only per client id (docs/broker-plugin.md,
# "Rate limits"): four client ids of one user, each within its own client
# bucket, are together held to rate_user_messages. Before the fix each
# client id had its own allowance, so N ids multiplied the rate by N.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob carol
# Client and user: 5/s with a burst of 10. Each client sends 8 (inside its
# own burst); 32 together are far more than the user's burst.
h_start_mosquitto "plugin_opt_rate_messages 5
plugin_opt_rate_user_messages 5"

p_sub rc alice alice.r1 32 parley/u/alice/receipts
for c in 1 2 3 4; do
  : >"$H_TMP/c$c.lines"
  for ((i = 1; i <= 8; i++)); do
    p_env "$H_TMP/m" "c$c-$i" --body "client $c message $i"
    [ "$(tr -cd '\n' <"$H_TMP/m" | wc -c)" = 0 ] || h_fail "envelope c$c-$i contains a newline"
    { cat "$H_TMP/m"; echo; } >>"$H_TMP/c$c.lines"
  done
done
t0="$(date +%s%N)"
for c in 1 2 3 4; do
  # shellcheck disable=SC2046
  timeout 20 mosquitto_pub $(p_auth alice "alice.c$c") -q 1 -t parley/u/bob/inbox -l <"$H_TMP/c$c.lines" ||
    h_fail "client $c publish"
done
t1="$(date +%s%N)"
p_wait_sub rc
p_decode receipt rc >"$H_TMP/rc.json"
stored="$(grep -c '"status":"stored"' "$H_TMP/rc.json" || true)"
limited="$(grep -c '"error":"rate_limited"' "$H_TMP/rc.json" || true)"
ms=$(((t1 - t0) / 1000000))
# Allowed: the user's burst (10) plus 5/s over the sending time, plus one
# for rounding.
allowed=$((10 + 5 * ms / 1000 + 1))
h_log "4 client ids x 8 messages in $ms ms: $stored stored, $limited rate limited (user allowance $allowed)"
h_assert_eq "$((stored + limited))" 32 "every publish answered"
[ "$stored" -le "$allowed" ] || h_fail "$stored stored, more than the user's allowance $allowed"
[ "$limited" -ge 1 ] || h_fail "nothing was rate limited"

# Another user is not affected by alice's empty bucket.
p_sub crc carol carol.r1 1 parley/u/carol/receipts
p_env "$H_TMP/cm" carol-1 --body hello
p_pub carol carol.p1 parley/u/bob/inbox "$H_TMP/cm" || h_fail "carol publish"
p_wait_sub crc
h_assert_eq "$(p_decode receipt crc | p_json_field status)" stored "carol's message"
h_pass
