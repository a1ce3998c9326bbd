#!/usr/bin/env bash
# Message expiry (docs/protocol.md "Sending a message" ttl_s, "Offline sync";
# docs/broker-plugin.md "Message expiry"): sync never returns a message whose
# expires_at has passed, even while its row is still in the store (the
# periodic expiry has not run yet), and pages past it correctly; the plugin
# deletes expired rows itself every expire_interval_s (off the broker
# thread, through the store writer), counted in $SYS/parley/messages/expired.
# A message without ttl_s stays. Invalid option values stop the broker.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin

# An out-of-range interval is refused at start (the broker does not come up).
h_mosquitto_conf "plugin_opt_expire_interval_s 0"
if timeout 20 "$H_MOSQUITTO" -c "$H_TMP/mosquitto.conf" >"$H_TMP/bad.log" 2>&1; then
  h_fail "mosquitto started with expire_interval_s 0"
fi
h_assert_contains "$(cat "$H_TMP/bad.log")" "option expire_interval_s: '0' is not a number in [1, 86400]" \
  "the refusal names the option"

# Phase 1: the expiry runs once at start, then not for a day.
h_start_mosquitto "plugin_opt_expire_interval_s 86400"
D=d:alice:bob
p_env "$H_TMP/k1" k1 --body "keeper one"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/k1"
p_env "$H_TMP/e2" e2 --body "short lived" --ttl 3600
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/e2"
p_env "$H_TMP/k3" k3 --body "keeper three"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/k3"
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id = '$D'" 3 ||
  h_fail "messages not stored"
h_assert_eq "$(p_sql "select expires_at - server_ts from messages where client_msg_id = 'e2'")" \
  3600000 "expires_at = server_ts + ttl_s"
h_assert_eq "$(p_sql "select expires_at from messages where client_msg_id = 'k1'")" 0 "no ttl: never"

p_request bob bob-1 before sync s0 "$D"
h_assert_eq "$(p_seqs "$H_TMP/before.json")" "1 2 3 " "all three before expiry"
# e2's time passes (moved into the past in the store file): sync hides it
# while the row is still there.
p_sql "update messages set expires_at = 1 where client_msg_id = 'e2'"
p_request bob bob-1 hidden sync s1 "$D"
h_assert_eq "$(p_seqs "$H_TMP/hidden.json")" "1 3 " "sync skips the expired message"
# Paging over it: a page of one after seq 1 is seq 3, and says more (the
# store may hold more after what was skipped); the next page is empty.
p_request bob bob-1 page1 sync s2 "$D" 1 1
h_assert_eq "$(p_seqs "$H_TMP/page1.json")" "3 " "page of one skips seq 2"
grep -q '"next_after_seq":3' "$H_TMP/page1.json" || h_fail "next_after_seq: $(cat "$H_TMP/page1.json")"
p_request bob bob-1 page2 sync s3 "$D" 3 1
h_assert_eq "$(p_seqs "$H_TMP/page2.json")" "" "nothing after seq 3"
grep -q '"more":0' "$H_TMP/page2.json" || h_fail "more on the last page: $(cat "$H_TMP/page2.json")"
h_assert_eq "$(p_sql "select count(*) from messages where client_msg_id = 'e2'")" 1 \
  "the row is still stored (the expiry runs once a day here)"

# Phase 2: expire_interval_s 1, ttl_s 2: the plugin deletes the row itself.
kill -TERM "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true
h_mosquitto_conf "plugin_opt_expire_interval_s 1
plugin_opt_metrics_interval 1"
h_restart_mosquitto
h_wait_for 30 p_sql_eq "select count(*) from messages where client_msg_id = 'e2'" 0 ||
  h_fail "the expired e2 was not deleted at start"
p_env "$H_TMP/e4" e4 --body "two seconds" --ttl 2
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/e4"
h_wait_for 20 p_sql_eq "select count(*) from messages where client_msg_id = 'e4'" 1 ||
  h_fail "e4 not stored"
h_assert_eq "$(p_sql "select expires_at - server_ts from messages where client_msg_id = 'e4'")" \
  2000 "e4 expires 2 s after server_ts"
h_wait_for 60 p_sql_eq "select count(*) from messages where client_msg_id = 'e4'" 0 ||
  h_fail "e4 still stored after its ttl"
p_request bob bob-1 after sync s4 "$D"
h_assert_eq "$(p_seqs "$H_TMP/after.json")" "1 3 " "sync after expiry: the keepers only"
grep -q '"last_seq":4' "$H_TMP/after.json" || h_fail "last_seq kept: $(cat "$H_TMP/after.json")"
p_wait_metric messages/expired 1
h_pass
