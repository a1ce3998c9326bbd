#!/usr/bin/env bash
# Sending a message (docs/protocol.md, "Sending a message"): the plugin stamps
# the server fields (a forged sender is overwritten), stores the message once
# and sends a STORED receipt; malformed, oversized, badly identified,
# self-addressed and unknown-recipient envelopes are refused with a REJECTED
# receipt and nothing is stored or delivered; a retry with the same
# client_msg_id gets the same seq and server id and is delivered and stored once.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob
h_start_mosquitto "plugin_opt_max_payload 1000"

# bob expects exactly 3 deliveries: m1, m2 and the sentinel m3 (the retry of
# m1 and every refused envelope must not arrive).
p_sub bob_in bob bob-1 3 parley/u/bob/inbox
# alice expects: STORED m1, REJECTED x6, STORED m1 again (retry), STORED m2, STORED m3.
p_sub al_rc alice alice-r 10 parley/u/alice/receipts

p_env "$H_TMP/m1" m1 --body "hello bob" --sender mallory --seq 99
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
# Wait for m1's STORED receipt before the retry, so the retry is answered
# by the store as "already stored" (STORE_EDUP) and is not delivered again.
h_wait_for 20 grep -q . "$H_TMP/al_rc.out" || h_fail "no STORED receipt for m1"

printf '\xff\xff\xff\xff' >"$H_TMP/garbage"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/garbage"
p_env "$H_TMP/big" big1 --body-size 1001
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/big"
head -c 3000 /dev/zero | tr '\0' 'z' >"$H_TMP/huge"     # larger than max_payload + overhead
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/huge"
p_env "$H_TMP/badid" "bad/id"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/badid"
p_env "$H_TMP/self" self1
p_pub alice alice-1 parley/u/alice/inbox "$H_TMP/self"
p_env "$H_TMP/nobody" nob1
p_pub alice alice-1 parley/u/nobody/inbox "$H_TMP/nobody"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"                 # retry of m1
p_env "$H_TMP/m2" m2 --body-size 1000                              # exactly at the limit
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m2"
p_env "$H_TMP/m3" m3 --body "sentinel"
p_pub alice alice-2 parley/u/bob/inbox "$H_TMP/m3"
p_wait_sub bob_in
p_wait_sub al_rc

p_decode envelope bob_in >"$H_TMP/bob.json"
p_decode receipt al_rc >"$H_TMP/alice.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob.json" | tr '\n' ' ')" "m1 m2 m3 " "bob's deliveries"
h_assert_eq "$(p_json_field seq <"$H_TMP/bob.json" | tr '\n' ' ')" "1 2 3 " "bob's seqs"
h_assert_eq "$(p_json_field sender <"$H_TMP/bob.json" | sort -u)" "alice" "sender overwritten"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/bob.json" | sort -u)" "d:alice:bob" "chat id"
h_assert_eq "$(p_json_field recipient <"$H_TMP/bob.json" | sort -u)" "bob" "recipient"
h_assert_eq "$(p_json_field kind <"$H_TMP/bob.json" | sort -u)" "1" "kind CHAT"
h_assert_eq "$(head -1 "$H_TMP/bob.json" | p_json_field body)" "hello bob" "body"
h_assert_eq "$(head -1 "$H_TMP/bob.json" | p_json_field sender_client_id)" "" "sender client id never disclosed to the recipient"
h_assert_eq "$(p_json_field server_id <"$H_TMP/bob.json" | grep -cE '^[A-Za-z0-9_-]{22}$')" "3" "server ids"
h_assert_eq "$(sed -n 2p "$H_TMP/bob.json" | p_json_field body_len)" "1000" "body at the limit"

h_assert_eq "$(p_json_field status <"$H_TMP/alice.json" | tr '\n' ' ')" \
  "stored rejected rejected rejected rejected rejected rejected stored stored stored " "receipt order"
h_assert_eq "$(p_json_field error <"$H_TMP/alice.json" | grep . | tr '\n' ' ')" \
  "malformed too_large too_large bad_client_msg_id self_send unknown_recipient " "rejection codes"
h_assert_eq "$(sed -n 3p "$H_TMP/alice.json" | p_json_field client_msg_id)" "big1" "rejected receipt names the message"
first="$(sed -n 1p "$H_TMP/alice.json")"; retry="$(sed -n 8p "$H_TMP/alice.json")"
h_assert_eq "$(p_json_field seq <<<"$retry")" "$(p_json_field seq <<<"$first")" "retry has the same seq"
h_assert_eq "$(p_json_field server_id <<<"$retry")" "$(p_json_field server_id <<<"$first")" "retry has the same server id"
h_assert_eq "$(p_json_field server_id <<<"$first")" "$(head -1 "$H_TMP/bob.json" | p_json_field server_id)" "receipt and delivery agree"

# The store holds exactly m1, m2, m3, once each, with the stamped fields.
h_wait_for 20 p_sql_eq 'select count(*) from messages' 3 ||
  h_fail "store holds $(p_sql 'select count(*) from messages') messages, want 3"
h_assert_eq "$(p_sql "select group_concat(client_msg_id || ':' || seq || ':' || sender, ' ') from (select * from messages order by seq)")" \
  "m1:1:alice m2:2:alice m3:3:alice" "stored rows"
h_pass
