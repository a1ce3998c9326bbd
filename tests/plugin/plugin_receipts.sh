#!/usr/bin/env bash
# Receipts (docs/protocol.md, "Receipts"): the sender sees STORED, then
# DELIVERED and READ once the recipient acks on its ctl topic; cursors are
# recorded in the store and never move backwards; bad acks get an error
# Response and move nothing.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob carol
h_start_mosquitto

# alice: STORED m1, STORED m2, DELIVERED 2 by bob, READ 1 by bob, READ 2 by bob.
p_sub al_rc alice alice-r 5 parley/u/alice/receipts
# bob: responses to his 6 requests.
p_sub bob_rsp bob bob-r 6 parley/u/bob/rsp

p_env "$H_TMP/m1" m1 --body one
p_pub alice alice-1 parley/u/alice/../bob/inbox "$H_TMP/m1" 2>/dev/null || true  # not a valid topic: ignored
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m1"
p_env "$H_TMP/m2" m2 --body two
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m2"
h_wait_for 20 p_lines_ge "$H_TMP/al_rc.out" 2 || h_fail "no STORED receipts"

req() { ptool request "$@" >"$H_TMP/req" || h_fail "ptool request $*"; p_pub bob bob-1 parley/u/bob/ctl "$H_TMP/req"; }
req ack r1 d:alice:bob 2 delivered
req ack r2 d:alice:bob 1 read
req ack r3 d:alice:bob 9 read          # beyond the last message
req ack r4 d:alice:carol 1 read        # not bob's chat
req ack r5 d:bob:carol 1 read          # bob's, but no such chat yet
req ack r6 d:alice:bob 2 read
p_wait_sub al_rc
p_wait_sub bob_rsp

p_decode receipt al_rc >"$H_TMP/alice.json"
p_decode response bob_rsp >"$H_TMP/bob.json"
h_assert_eq "$(p_json_field status <"$H_TMP/alice.json" | tr '\n' ' ')" "stored stored delivered read read " "receipt order"
h_assert_eq "$(p_json_field seq <"$H_TMP/alice.json" | tr '\n' ' ')" "1 2 2 1 2 " "receipt seqs"
h_assert_eq "$(sed -n '3,5p' "$H_TMP/alice.json" | p_json_field by | sort -u)" "bob" "receipts name bob"
h_assert_eq "$(sed -n '3,5p' "$H_TMP/alice.json" | p_json_field chat_id | sort -u)" "d:alice:bob" "receipts name the chat"
h_assert_eq "$(p_json_field req_id <"$H_TMP/bob.json" | sort | tr '\n' ' ')" "r1 r2 r3 r4 r5 r6 " "every request answered"
status_of() { grep "\"req_id\":\"$1\"" "$H_TMP/bob.json" | p_json_field status; }
error_of() { grep "\"req_id\":\"$1\"" "$H_TMP/bob.json" | p_json_field error; }
h_assert_eq "$(status_of r1)" 0 "r1"
h_assert_eq "$(status_of r2)" 0 "r2"
h_assert_eq "$(status_of r3)/$(error_of r3)" "400/bad_seq" "r3"
h_assert_eq "$(status_of r4)/$(error_of r4)" "403/forbidden" "r4"
h_assert_eq "$(status_of r5)/$(error_of r5)" "404/unknown_chat" "r5"
h_assert_eq "$(status_of r6)" 0 "r6"

# Cursors in the store: delivered 2, read 2 (read 1 after delivered 2 did not
# move delivered back); alice's own cursors untouched.
h_assert_eq "$(p_sql "select delivered_seq || '/' || read_seq from members where chat_id='d:alice:bob' and user_id='bob'")" "2/2" "bob's cursors"
h_assert_eq "$(p_sql "select delivered_seq || '/' || read_seq from members where chat_id='d:alice:bob' and user_id='alice'")" "0/0" "alice's cursors"

# A malformed request, one without an op and one without req_id get 400; a
# group op is answered (no groups: 0).
p_sub bob_rsp2 bob bob-r2 4 parley/u/bob/rsp
printf '\xff\xff' >"$H_TMP/garbage"
p_pub bob bob-1 parley/u/bob/ctl "$H_TMP/garbage"
req group-list g1
req none n1
ptool request list-chats "" >"$H_TMP/req" && p_pub bob bob-1 parley/u/bob/ctl "$H_TMP/req"
p_wait_sub bob_rsp2
p_decode response bob_rsp2 >"$H_TMP/bob2.json"
h_assert_eq "$(p_json_field status <"$H_TMP/bob2.json" | tr '\n' ' ')" "400 0 400 400 " "bad requests"
h_assert_eq "$(p_json_field error <"$H_TMP/bob2.json" | tr '\n' ' ')" "malformed  bad_request bad_request " "bad request codes"
h_pass
