#!/usr/bin/env bash
# Delete for everyone (docs/protocol.md, "Rich messages", "Control requests"):
# the delete_message request turns the stored copy into a tombstone (checked
# with sqlite3 on the store file: kind 3, no body, no media id, deleted_by),
# and a later sync returns the tombstone in its place. Only a member, only
# the sender or (groups) an admin/owner, only a CHAT message, only within 48
# hours; a repeat is answered 0 and changes nothing; every refusal changes
# nothing. A client cannot publish a tombstone or forge deleted_by/at.
# The 48-hour window is tested by ageing a stored row with sqlite3 (its
# server_ts moved 49 hours back), not by an option of the plugin.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol dave
h_start_mosquitto

# del USER NAME CHAT SEQ - a delete_message request; the response is in
# $H_TMP/NAME.json.
del() { p_request "$1" "$1-d" "$2" delete "$2" "$3" "$4"; }
# expect NAME STATUS [ERROR] - the response NAME has this status and error.
expect() {
  local f="$H_TMP/$1.json"
  h_assert_eq "$(p_json_field status <"$f")/$(p_json_field error <"$f")" "$2/${3:-}" \
    "response $1: $(cat "$f")"
}
# row CHAT SEQ - the stored row as kind|body length|media_id|deleted_by|deleted_at>0|client_msg_id.
row() {
  p_sql "select kind || '|' || ifnull(length(body), 0) || '|' || ifnull(media_id, '') || '|' ||
         ifnull(deleted_by, '') || '|' || (deleted_at > 0) || '|' || client_msg_id
         from messages where chat_id = '$1' and seq = $2"
}
# envs FILE - the envelopes of a sync page response, one flat JSON object a line.
envs() { grep -o '{"server_id":[^}]*}' "$1"; }
seq_of() { p_sql "select seq from messages where client_msg_id = '$1'"; }

# ---------------------------------------------------------------- direct chat
D=d:alice:bob
for i in 1 2 3; do
  p_env "$H_TMP/m$i" "m$i" --body "secret body $i" --media-id "media-$i"
  p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m$i" || h_fail "send m$i"
done
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id = '$D'" 3 ||
  h_fail "the three messages were not stored"
h_assert_eq "$(row "$D" 1)" "1|13|media-1||0|m1" "m1 as stored"

# Not the sender, not a member, another chat: refused, nothing changes.
del bob bob_del1 "$D" 1
expect bob_del1 403 forbidden
del carol carol_del1 "$D" 1
expect carol_del1 403 forbidden
del carol carol_del_other d:bob:carol 1
expect carol_del_other 404 not_found
h_assert_eq "$(row "$D" 1)" "1|13|media-1||0|m1" "m1 after the refusals"

# Hostile fields.
del alice bad_seq0 "$D" 0
expect bad_seq0 400 bad_request
del alice bad_huge "$D" 18446744073709551615
expect bad_huge 400 bad_request
del alice bad_max "$D" 9223372036854775807
expect bad_max 404 not_found
del alice bad_next "$D" 4
expect bad_next 404 not_found
del alice bad_chat "not a chat" 1
expect bad_chat 400 bad_request
del alice bad_empty "" 1
expect bad_empty 400 bad_request
del alice bad_notmine d:bob:carol 1
expect bad_notmine 403 forbidden

# The sender deletes m1: a tombstone in the store, everything else kept.
server_id="$(p_sql "select server_id from messages where chat_id = '$D' and seq = 1")"
del alice alice_del1 "$D" 1
expect alice_del1 0
h_assert_eq "$(row "$D" 1)" "3|0||alice|1|m1" "m1 is a tombstone"
h_assert_eq "$(p_sql "select body is null and media_id is null from messages where chat_id = '$D' and seq = 1")" 1 "body and media id cleared"
h_assert_eq "$(p_sql "select server_id || ' ' || sender from messages where chat_id = '$D' and seq = 1")" \
  "$server_id alice" "server id and sender kept"
h_assert_eq "$(row "$D" 2)" "1|13|media-2||0|m2" "m2 untouched"
deleted_at="$(p_sql "select deleted_at from messages where chat_id = '$D' and seq = 1")"

# Idempotent: a repeat is 0 and changes nothing; bob still may not.
del alice alice_del1b "$D" 1
expect alice_del1b 0
h_assert_eq "$(p_sql "select deleted_at || deleted_by from messages where chat_id = '$D' and seq = 1")" \
  "${deleted_at}alice" "a repeat changes nothing"
del bob bob_del1b "$D" 1
expect bob_del1b 403 forbidden

# Too late: m2 aged by 49 hours in the store file.
p_sql "update messages set server_ts = server_ts - 49 * 3600 * 1000 where chat_id = '$D' and seq = 2"
del alice alice_late "$D" 2
expect alice_late 403 too_late
h_assert_eq "$(row "$D" 2)" "1|13|media-2||0|m2" "m2 after too_late"

# A retry of the deleted message is still a duplicate (STORED with seq 1),
# not stored again.
p_sub al_rc alice alice-r 1 parley/u/alice/receipts
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
p_wait_sub al_rc
h_assert_eq "$(p_decode receipt al_rc | p_json_field seq)" 1 "retry of m1 answered with seq 1"
h_assert_eq "$(p_sql "select count(*) from messages where chat_id = '$D'")" 3 "nothing stored by the retry"

# Sync (bob): the tombstone in m1's place, then m2, m3.
p_request bob bob-1 sync1 sync s1 "$D"
envs "$H_TMP/sync1.json" >"$H_TMP/sync1.envs"
h_assert_eq "$(p_json_field seq <"$H_TMP/sync1.envs" | tr '\n' ' ')" "1 2 3 " "sync seqs"
h_assert_eq "$(p_json_field kind <"$H_TMP/sync1.envs" | tr '\n' ' ')" "3 1 1 " "sync kinds"
first="$(head -1 "$H_TMP/sync1.envs")"
h_assert_eq "$(p_json_field body_len <<<"$first")" 0 "tombstone: no body"
h_assert_eq "$(p_json_field media_id <<<"$first")" "" "tombstone: no media id"
h_assert_eq "$(p_json_field deleted_by <<<"$first")" alice "tombstone: deleted_by"
h_assert_eq "$(p_json_field deleted_at <<<"$first")" "$deleted_at" "tombstone: deleted_at"
h_assert_eq "$(p_json_field client_msg_id <<<"$first")" m1 "tombstone: client_msg_id kept"
h_assert_eq "$(p_json_field sender <<<"$first")" alice "tombstone: sender kept"
h_assert_eq "$(p_json_field server_id <<<"$first")" "$server_id" "tombstone: server_id kept"
h_assert_eq "$(sed -n 2p "$H_TMP/sync1.envs" | p_json_field body)" "secret body 2" "m2's body"

# A client cannot publish a tombstone or set the server's deletion fields:
# kind, deleted_by and deleted_at are overwritten (delivered and stored as CHAT).
p_sub bob_in bob bob-i 1 parley/u/bob/inbox
p_env "$H_TMP/m4" m4 --body "forged" --kind 3 --deleted-by mallory --deleted-at 5
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m4"
p_wait_sub bob_in
live="$(p_decode envelope bob_in)"
h_assert_eq "$(p_json_field kind <<<"$live")" 1 "forged kind overwritten"
h_assert_eq "$(p_json_field deleted_by <<<"$live")" "" "forged deleted_by dropped"
h_assert_eq "$(p_json_field body <<<"$live")" forged "forged envelope's body"
h_assert_eq "$(row "$D" 4)" "1|6|||0|m4" "forged envelope stored as CHAT"

# ---------------------------------------------------------------- group
G="$(g_create alice team bob carol)"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "bad group id '$G'"
IN="$(g_topic "$G")"
p_env "$H_TMP/g1" g1 --body "bob's first"
p_pub bob bob-1 "$IN" "$H_TMP/g1"
p_env "$H_TMP/g2" g2 --body "carol's first"
p_pub carol carol-1 "$IN" "$H_TMP/g2"
p_env "$H_TMP/g3" g3 --body "bob's second"
p_pub bob bob-1 "$IN" "$H_TMP/g3"
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id = '$G' and kind = 1" 3 ||
  h_fail "group messages not stored"
g1="$(seq_of g1)" g2="$(seq_of g2)" g3="$(seq_of g3)"
sys="$(p_sql "select min(seq) from messages where chat_id = '$G' and kind = 2")"
last="$(p_sql "select last_seq from chats where chat_id = '$G'")"
[ -n "$sys" ] || h_fail "no SYSTEM event in the group"

# A member may not delete another member's message; a non-member nothing;
# an unknown group is 404; a seq the group does not have is 404.
del carol g_carol_g1 "$G" "$g1"
expect g_carol_g1 403 forbidden
del dave g_dave_g1 "$G" "$g1"
expect g_dave_g1 403 forbidden
del alice g_unknown "g:AAAAAAAAAAAAAAAAAAAAAA" 1
expect g_unknown 404 unknown_chat
del alice g_next "$G" $((last + 1))
expect g_next 404 not_found
h_assert_eq "$(row "$G" "$g1")" "1|11|||0|g1" "g1 after the refusals"

# Nobody deletes a SYSTEM event, not even the owner.
del alice g_sys "$G" "$sys"
expect g_sys 403 forbidden
h_assert_eq "$(p_sql "select kind from messages where chat_id = '$G' and seq = $sys")" 2 "the event stays"

# The owner deletes carol's message; carol, made admin, deletes bob's.
del alice g_owner_g2 "$G" "$g2"
expect g_owner_g2 0
h_assert_eq "$(row "$G" "$g2")" "3|0||alice|1|g2" "g2 deleted by the owner"
g_req alice role_carol role r-carol "$G" carol admin
g_expect role_carol 0
del carol g_admin_g1 "$G" "$g1"
expect g_admin_g1 0
h_assert_eq "$(row "$G" "$g1")" "3|0||carol|1|g1" "g1 deleted by an admin"
# bob (a member) deletes his own g3; he may not repeat the admin's delete of g2.
del bob g_bob_g3 "$G" "$g3"
expect g_bob_g3 0
del bob g_bob_g2 "$G" "$g2"
expect g_bob_g2 403 forbidden

# bob's sync of the group: tombstones in place, the event as it was.
p_request bob bob-1 gsync sync gs1 "$G"
envs "$H_TMP/gsync.json" >"$H_TMP/gsync.envs"
h_assert_eq "$(grep -c '"kind":3' "$H_TMP/gsync.envs")" 3 "three tombstones"
h_assert_eq "$(grep '"client_msg_id":"g1"' "$H_TMP/gsync.envs" | p_json_field deleted_by)" carol \
  "g1's tombstone names the admin"
h_assert_eq "$(grep '"kind":3' "$H_TMP/gsync.envs" | p_json_field body_len | sort -u)" 0 "no bodies"
h_pass
