#!/usr/bin/env bash
# Offline sync (docs/protocol.md, "Offline sync"): more messages than the
# broker queues for an offline persistent session (max_queued_messages) are
# all sent; the session gets at most that many back on reconnect, and paged
# sync requests return every message exactly once, in order. list_chats
# reports the chat with its cursors; sync refuses chats of other users (403)
# and unknown chats (404).
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

N=20
p_user alice bob carol
H_MAX_QUEUED=5 h_start_mosquitto

# bob creates a persistent session, then goes offline.
# shellcheck disable=SC2046
timeout 20 mosquitto_sub $(p_auth bob bob-p) -c -q 1 -t parley/u/bob/inbox -E >/dev/null 2>&1 ||
  h_fail "bob's persistent session"

for ((i = 1; i <= N; i++)); do
  p_env "$H_TMP/m$i" "m$i" --body "message $i"
  p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m$i" || h_fail "send m$i"
done
h_wait_for 30 p_sql_eq 'select count(*) from messages' "$N" || h_fail "not all $N messages stored"

# Reconnect: the broker delivers what it queued (max_queued_messages = 5:
# seqs 1-5; the rest were dropped from the session), then a live message
# (m21) sent after the subscription is active arrives next.
P_SUB_OPTS="-c" p_sub queued bob bob-p 6 parley/u/bob/inbox
p_env "$H_TMP/m21" m21 --body "live"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m21"
p_wait_sub queued
h_assert_eq "$(p_decode envelope queued | p_json_field seq | tr '\n' ' ')" "1 2 3 4 5 21 " \
  "queued messages of the persistent session, then the live one"
N=21

# Sync in pages of 8 from cursor 0.
after=0 all="" pages=0
while :; do
  p_request bob bob-1 "page$pages" sync "p$pages" d:alice:bob "$after" 8
  f="$H_TMP/page$pages.json"
  h_assert_eq "$(p_json_field status <"$f")" 0 "sync page $pages status"
  all="$all$(p_seqs "$f")"
  pages=$((pages + 1))
  grep -q '"more":1' "$f" || break
  after="$(grep -o '"next_after_seq":[0-9]*' "$f" | cut -d: -f2)"
  [ "$pages" -lt 10 ] || h_fail "sync does not end"
done
want="$(seq -s ' ' 1 "$N") "
h_assert_eq "$all" "$want" "every message once, in order"
h_assert_eq "$pages" 3 "pages of 8 (8 + 8 + 5)"
grep -q "\"last_seq\":$N" "$H_TMP/page0.json" || h_fail "last_seq missing: $(cat "$H_TMP/page0.json")"
grep -q '"body":"message 1"' "$H_TMP/page0.json" || h_fail "bodies missing"
grep -q '"sender":"alice"' "$H_TMP/page0.json" || h_fail "senders missing"

# Default page size covers everything; after the last seq the page is empty.
p_request bob bob-1 def sync d1 d:alice:bob
h_assert_eq "$(p_seqs "$H_TMP/def.json")" "$want" "default limit"
p_request bob bob-1 end sync d2 d:alice:bob "$N"
h_assert_eq "$(p_seqs "$H_TMP/end.json")" "" "nothing after the last seq"
grep -q '"more":0' "$H_TMP/end.json" || h_fail "more set on the last page"

# Cursors show up in list_chats.
p_request bob bob-1 ack ack a1 d:alice:bob 12 read
h_assert_eq "$(p_json_field status <"$H_TMP/ack.json")" 0 "ack"
p_request bob bob-1 list list-chats l1
f="$H_TMP/list.json"
for kv in '"chat_id":"d:alice:bob"' '"type":1' '"peer":"alice"' '"name":"alice"' "\"last_seq\":$N" \
  '"delivered_seq":12' '"read_seq":12'; do
  grep -qF "$kv" "$f" || h_fail "list_chats lacks $kv: $(cat "$f")"
done
p_request carol carol-1 clist list-chats l2
h_assert_eq "$(grep -o '"chat_id"' "$H_TMP/clist.json" | wc -l)" 0 "carol has no chats"

# Other people's chats and unknown chats.
p_request carol carol-1 forb sync s1 d:alice:bob
h_assert_eq "$(p_json_field status <"$H_TMP/forb.json")/$(p_json_field error <"$H_TMP/forb.json")" "403/forbidden" "sync of another's chat"
p_request carol carol-1 unk sync s2 d:bob:carol
h_assert_eq "$(p_json_field status <"$H_TMP/unk.json")/$(p_json_field error <"$H_TMP/unk.json")" "404/unknown_chat" "sync of an unknown chat"
p_request carol carol-1 bad sync s3 "not a chat"
h_assert_eq "$(p_json_field status <"$H_TMP/bad.json")" 400 "sync of an invalid chat id"
h_pass
