#!/usr/bin/env bash
# Topic ACLs (docs/protocol.md, "Topics"): nobody reads another user's
# inbox, receipts or responses; '#' and cross-user wildcards are refused;
# nobody publishes receipts, responses, presence or another user's ctl;
# $SYS is for plugin_opt_admins only; group topics are refused until groups
# exist. Denied publishes are checked with sentinels (a later allowed message
# must be the first thing that arrives), never with sleeps.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin mallory
h_start_mosquitto "plugin_opt_metrics_interval 1"

# p_sub_denied USER CID FILTER - the subscription must be refused.
p_sub_denied() {
  local out
  # shellcheck disable=SC2046
  out="$(timeout 20 mosquitto_sub $(p_auth "$1" "$2") -t "$3" -C 1 -W 10 2>&1 || true)"
  h_assert_contains "$out" "denied" "subscribe $3 as $1"
}
p_sub_denied alice a-s1 parley/u/bob/inbox
p_sub_denied alice a-s2 '#'
p_sub_denied alice a-s3 'parley/u/+/inbox'
p_sub_denied alice a-s4 'parley/#'
p_sub_denied alice a-s5 parley/u/bob/receipts
p_sub_denied alice a-s6 parley/u/bob/rsp
p_sub_denied alice a-s7 parley/u/alice/ctl
p_sub_denied alice a-s8 '$SYS/#'
p_sub_denied alice a-s9 'parley/g/abc/inbox'
p_sub_denied alice a-s10 '$parley/discard'

# Allowed: own subtree with a wildcard, presence of anyone, $SYS for admins.
p_sub alice_all alice a-all 2 'parley/u/alice/#'
p_sub sys admin adm-1 1 '$SYS/parley/messages/in'
p_wait_sub sys
[ -s "$H_TMP/sys.out" ] || h_fail "admin got no \$SYS message"

# Forged receipt to bob, forged request on bob's ctl, forged presence: all
# denied. Sentinel: bob's own later traffic is what arrives first.
p_sub bob_rc bob b-rc 1 parley/u/bob/receipts
p_sub bob_rsp bob b-rsp 1 parley/u/bob/rsp
p_sub pres alice a-pres 1 parley/presence/mallory
printf 'forged' >"$H_TMP/forged"
p_pub alice a-1 parley/u/bob/receipts "$H_TMP/forged"
p_pub alice a-1 parley/u/bob/rsp "$H_TMP/forged"
ptool request list-chats forged-req >"$H_TMP/req-forged"
p_pub alice a-1 parley/u/bob/ctl "$H_TMP/req-forged"
p_pub alice a-1 parley/presence/mallory "$H_TMP/forged" -r
out="$(timeout 20 mosquitto_pub $(p_auth alice a-v5) -V mqttv5 -q 1 -t parley/u/bob/receipts -f "$H_TMP/forged" 2>&1 || true)"
h_assert_contains "$out" "Not authorized" "MQTT v5 publisher told why"

p_env "$H_TMP/m1" m1 --body sentinel
p_pub bob b-1 parley/u/alice/inbox "$H_TMP/m1"
ptool request list-chats real-req >"$H_TMP/req-real"
p_pub bob b-1 parley/u/bob/ctl "$H_TMP/req-real"
p_wait_sub bob_rc
p_wait_sub bob_rsp
h_assert_eq "$(p_decode receipt bob_rc | p_json_field status)" "stored" "bob's first receipt"
h_assert_eq "$(p_decode response bob_rsp | p_json_field req_id)" "real-req" "bob's first response"

# alice's subtree subscription got the message from bob; and something else
# (the STORED receipt of alice's own message below), never a ctl request.
p_env "$H_TMP/m2" m2 --body from-alice
p_pub alice a-1 parley/u/bob/inbox "$H_TMP/m2"
p_wait_sub alice_all
lines="$(cat "$H_TMP/alice_all.out")"
h_assert_contains "$(p_decode envelope alice_all | head -1 | p_json_field body)" "sentinel" "alice's inbox via wildcard"
h_assert_eq "$(wc -l <"$H_TMP/alice_all.out")" "2" "alice's wildcard got exactly two messages: $lines"

# The presence subscriber must not have received the forged retained message.
timeout 20 mosquitto_sub $(p_auth mallory m-1) -t parley/u/mallory/inbox -C 1 -W 2 >/dev/null 2>&1 || true
p_wait_sub pres
h_assert_eq "$(p_decode presence pres | p_json_field user)" "mallory" "first presence message is the plugin's"

p_wait_metric acl/denied 10
h_pass
