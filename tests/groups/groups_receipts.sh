#!/usr/bin/env bash
# Per-member receipts in groups (docs/groups.md): each member's delivered /
# read ack produces a receipt for the sender naming that member; when every
# member has reached the cursor the sender also gets one with all=true
# ("delivered to all", "read by all"). Acks by non-members or beyond the
# group's last message are refused.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol mallory
h_start_mosquitto

G="$(g_create alice trio bob carol)"
# alice: STORED, DELIVERED bob, DELIVERED carol, DELIVERED all,
#        READ bob, READ carol, READ all.
p_sub al_rc alice alice-rc 7 parley/u/alice/receipts
p_sub acks bob bob-acks 3 parley/u/bob/rsp
p_sub cacks carol carol-acks 2 parley/u/carol/rsp

p_env "$H_TMP/m1" m1 --body hello
p_pub alice alice-p "$(g_topic "$G")" "$H_TMP/m1"
h_wait_for 20 p_lines_ge "$H_TMP/al_rc.out" 1 || h_fail "no STORED receipt"

ack() { ptool request ack "$3" "$G" "$4" "$5" >"$H_TMP/ack" && p_pub "$1" "$2" "parley/u/$1/ctl" "$H_TMP/ack"; }
ack bob bob-p b1 2 delivered
ack bob bob-p b2 9 delivered      # beyond the last message
ack carol carol-p c1 2 delivered
h_wait_for 20 p_lines_ge "$H_TMP/al_rc.out" 4 || h_fail "no delivered-to-all receipt"
ack bob bob-p b3 2 read
ack carol carol-p c2 2 read
p_wait_sub al_rc
p_wait_sub acks
p_wait_sub cacks

g_decode al_rc receipt >"$H_TMP/alice.json"
h_assert_eq "$(p_json_field status <"$H_TMP/alice.json" | tr '\n' ' ')" \
  "stored delivered delivered delivered read read read " "receipt order"
h_assert_eq "$(p_json_field by <"$H_TMP/alice.json" | tr '\n' ' ')" \
  " bob carol  bob carol  " "receipts name the member (none for all)"
h_assert_eq "$(p_json_field all <"$H_TMP/alice.json" | tr '\n' ' ')" "0 0 0 1 0 0 1 " "all flags"
h_assert_eq "$(p_json_field seq <"$H_TMP/alice.json" | sort -u)" "2" "every receipt covers seq 2"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/alice.json" | sort -u)" "$G" "receipts name the group"

g_decode acks response >"$H_TMP/bob.json"
h_assert_eq "$(p_json_field status <"$H_TMP/bob.json" | tr '\n' ' ')" "0 400 0 " "bob's acks"
h_assert_eq "$(sed -n 2p "$H_TMP/bob.json" | p_json_field error)" "bad_seq" "ack beyond the last seq"
h_assert_eq "$(p_sql "select user_id || '=' || delivered_seq || '/' || read_seq from members where chat_id='$G' order by user_id" | tr '\n' ' ')" \
  "alice=2/2 bob=2/2 carol=2/2 " "cursors in the store"

# A non-member's ack is refused.
p_sub mrsp mallory mallory-r 1 parley/u/mallory/rsp
ack mallory mallory-p x1 1 read
p_wait_sub mrsp
h_assert_eq "$(g_decode mrsp response | p_json_field error)" "not_member" "non-member ack"
h_pass
