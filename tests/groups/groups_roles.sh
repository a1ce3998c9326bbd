#!/usr/bin/env bash
# Group management and role rules (docs/protocol.md, "Groups"): a member
# cannot add or remove, an admin can; owners alone touch admins and owners;
# the last owner cannot leave or step down without handing ownership over;
# unknown users, duplicates, non-members and full groups get their error
# codes; every accepted change is a SYSTEM envelope in the group's sequence;
# membership and roles survive a broker restart.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol dave erin frank mallory
h_start_mosquitto "plugin_opt_max_group_size 5"

G="$(g_create alice club bob carol)"

# A plain member can neither add nor remove.
g_req bob r1 add r1 "$G" dave;        g_expect r1 403 forbidden
g_req bob r2 remove r2 "$G" carol;    g_expect r2 403 forbidden
# Refusals with their codes; nothing changes.
g_req alice r3 add r3 "$G" nobody;    g_expect r3 404 unknown_user
g_req alice r4 add r4 "$G" bob;       g_expect r4 409 already_member
g_req mallory r5 get r5 "$G";         g_expect r5 403 not_member
g_req mallory r6 add r6 "$G" mallory; g_expect r6 403 not_member
g_req alice r7 get r7 "g:AAAAAAAAAAAAAAAAAAAAAA"; g_expect r7 404 unknown_chat
g_req alice r8 create r8 "" bob;      g_expect r8 400 bad_request
g_req alice r9 create r9 x nobody;    g_expect r9 404 unknown_user
g_req alice r10 remove r10 "$G" dave; g_expect r10 404 not_member
g_req alice r11 get r11 "$G";         g_expect r11 0
h_assert_eq "$(g_field r11 members)" "alice:owner,bob:member,carol:member" "unchanged after refusals"

# The owner makes bob an admin; an admin can add and remove members ...
g_req alice r12 role r12 "$G" bob admin; g_expect r12 0
g_req bob r13 add r13 "$G" dave;         g_expect r13 0
h_assert_eq "$(g_field r13 members)" "alice:owner,bob:admin,carol:member,dave:member" "dave added by admin"
g_req bob r14 remove r14 "$G" dave;      g_expect r14 0
# ... but not the owner, and cannot make anyone owner.
g_req bob r15 remove r15 "$G" alice;     g_expect r15 403 forbidden
g_req bob r16 role r16 "$G" carol owner; g_expect r16 403 forbidden
g_req carol r17 role r17 "$G" carol admin; g_expect r17 403 forbidden

# Size limit (plugin_opt_max_group_size 5): 3 members + 3 is too many.
g_req alice r18 add r18 "$G" dave erin frank; g_expect r18 413 group_full
g_req alice r19 add r19 "$G" dave erin;       g_expect r19 0
h_assert_eq "$(g_field r19 n_members)" 5 "full group"

# Info: members may not edit (edit_info defaults to admins); admins may.
g_req carol r20 update r20 "$G" --name "Carol's"; g_expect r20 403 forbidden
g_req bob r21 update r21 "$G" --name "Book club" --desc "monthly"; g_expect r21 0
h_assert_eq "$(g_field r21 name)/$(g_field r21 description)" "Book club/monthly" "renamed"
# Settings: only admins may send.
g_req alice r22 update r22 "$G" --send admins; g_expect r22 0
h_assert_eq "$(g_field r22 send)" 2 "send=admins"
p_sub car_rc carol carol-rc 1 parley/u/carol/receipts
p_env "$H_TMP/c1" c1 --body hi
p_pub carol carol-p "$(g_topic "$G")" "$H_TMP/c1"
p_wait_sub car_rc
h_assert_eq "$(g_decode car_rc receipt | p_json_field error)" "forbidden" "member may not send"

# The last owner can neither leave nor step down; after handing ownership
# over, she can.
g_req alice r23 leave r23 "$G";            g_expect r23 409 last_owner
g_req alice r24 role r24 "$G" alice admin; g_expect r24 409 last_owner
g_req alice r25 role r25 "$G" bob owner;   g_expect r25 0
g_req alice r26 leave r26 "$G";            g_expect r26 0
g_req alice r27 get r27 "$G";              g_expect r27 403 not_member

# Lists: carol sees the group, alice no longer does.
g_req carol r28 list r28; g_expect r28 0
h_assert_eq "$(g_field r28 groups)" "$G" "carol's groups"
g_req alice r29 list r29; g_expect r29 0
h_assert_eq "$(g_field r29 n_groups)" 0 "alice's groups"

# Every accepted change is in the sequence, in order.
ptool request sync r30 "$G" 0 >"$H_TMP/r30.req"
p_sub r30 carol carol-r30 1 parley/u/carol/rsp
p_pub carol carol-q parley/u/carol/ctl "$H_TMP/r30.req"
p_wait_sub r30
gtool decode response <"$H_TMP/r30.out" >"$H_TMP/r30.json"
h_assert_eq "$(g_field r30 seqs)" "1,2,3,4,5,6,7,8,9" "carol syncs the whole sequence"
h_assert_eq "$(g_field r30 events)" \
  "group_created,role_changed,members_added,members_removed,members_added,info_updated,settings_updated,role_changed,member_left" \
  "one SYSTEM envelope per accepted change"

# Restart: membership and roles come back from the store.
kill -TERM "$H_MOSQ_PID"; wait "$H_MOSQ_PID" 2>/dev/null || true
h_restart_mosquitto
g_req carol r32 get r32 "$G"; g_expect r32 0
h_assert_eq "$(g_field r32 members)" "bob:owner,carol:member,dave:member,erin:member" "members after restart"
h_assert_eq "$(g_field r32 name)/$(g_field r32 last_seq)/$(g_field r32 send)" "Book club/9/2" "info after restart"
g_req mallory r33 get r33 "$G"; g_expect r33 403 not_member
h_pass
