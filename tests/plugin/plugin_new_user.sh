#!/usr/bin/env bash
# A user registered a moment ago can be written to at once (docs/protocol.md,
# "Sending a message"): the broker's identity-key cache learns new users only
# every key_refresh_ms (an hour here, so only the new path can help), and a
# send to a user the cache does not know used to be refused with
# unknown_recipient. Now the broker asks the store (on its reader thread)
# and finishes the send when the answer comes: STORED, delivered and synced
# as usual, in the sender's order. A user the store does not have is still
# refused.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob
h_start_mosquitto "plugin_opt_key_refresh_ms 3600000"

# Register erin straight into the store, then send to her at once: three
# messages in one session, and one to a user nobody registered.
ptool keygen "$H_TMP/keys-erin" >/dev/null || h_fail "keygen erin"
ptool register "$H_STORE" erin "$H_TMP/keys-erin" || h_fail "register erin"
p_sub rc alice alice.r1 4 parley/u/alice/receipts
: >"$H_TMP/burst.lines"
for i in 1 2 3; do
  p_env "$H_TMP/m$i" "new-$i" --body "hello erin $i"
  [ "$(tr -cd '\n' <"$H_TMP/m$i" | wc -c)" = 0 ] || h_fail "envelope $i contains a newline"
  { cat "$H_TMP/m$i"; echo; } >>"$H_TMP/burst.lines"
done
# shellcheck disable=SC2046
timeout 20 mosquitto_pub $(p_auth alice alice.p1) -q 1 -t parley/u/erin/inbox -l <"$H_TMP/burst.lines" ||
  h_fail "publish to erin"
p_env "$H_TMP/g1" ghost-1 --body "hello ghost"
p_pub alice alice.p2 parley/u/ghost/inbox "$H_TMP/g1" || h_fail "publish to ghost"
p_wait_sub rc
p_decode receipt rc >"$H_TMP/rc.json"
h_log "$(cat "$H_TMP/rc.json")"
h_assert_eq "$(grep '"client_msg_id":"new-' "$H_TMP/rc.json" | p_json_field status | tr '\n' ' ')" \
  "stored stored stored " "sends to a user registered a moment ago"
h_assert_eq "$(grep '"client_msg_id":"new-' "$H_TMP/rc.json" | p_json_field seq | tr '\n' ' ')" \
  "1 2 3 " "in the sender's order"
h_assert_eq "$(grep '"client_msg_id":"ghost-1"' "$H_TMP/rc.json" | p_json_field error)" \
  unknown_recipient "a user the store does not have"

# erin reads them: the stored copies, in order, from alice.
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id='d:alice:erin'" 3 ||
  h_fail "not stored"
p_request erin erin.q1 sync sync q1 d:alice:erin 0
h_assert_eq "$(p_seqs "$H_TMP/sync.json")" "1 2 3 " "erin's sync"
h_assert_contains "$(cat "$H_TMP/sync.json")" "hello erin 3" "bodies"
h_pass
