#!/usr/bin/env bash
# Group membership gaps closed in issue 11 (docs/groups.md):
#  - the initial members of a new group get GROUP_CREATED, and added users
#    get MEMBERS_ADDED, in their own inbox (they are not subscribed to the
#    group's topic yet);
#  - a user registered a moment ago (in the store, not yet in the broker's
#    key cache: the refresh interval is an hour here) can be added at once:
#    the broker asks the store before answering unknown_user;
#  - max_groups_per_user: creating or being added past the cap is refused
#    with 409 too_many_groups and changes nothing.
# Client ids are {user}.{tag}.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol dave
h_start_mosquitto "plugin_opt_key_refresh_ms 3600000
plugin_opt_max_groups_per_user 2"

# gx USER NAME gtool-args... - one group request; response in $H_TMP/NAME.json
gx() {
  local user="$1" name="$2"; shift 2
  gtool "$@" >"$H_TMP/$name.req" || h_fail "gtool $*"
  p_sub "$name" "$user" "$user.r$name" 1 "parley/u/$user/rsp"
  p_pub "$user" "$user.p$name" "parley/u/$user/ctl" "$H_TMP/$name.req" || h_fail "publish $name"
  p_wait_sub "$name"
  gtool decode response <"$H_TMP/$name.out" >"$H_TMP/$name.json"
}

# ---- GROUP_CREATED and MEMBERS_ADDED in the members' own inboxes.
p_sub bob_in bob bob.in 1 parley/u/bob/inbox
gx alice c1 create c1 one bob
g_expect c1 0
G1="$(g_field c1 chat_id)"
p_wait_sub bob_in
g_decode bob_in envelope >"$H_TMP/bob_in.json"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/bob_in.json")" "$G1" "bob told in his inbox"
h_assert_eq "$(p_json_field kind <"$H_TMP/bob_in.json")" 2 "a SYSTEM envelope"
h_assert_eq "$(p_json_field event <"$H_TMP/bob_in.json")" group_created "the event"
h_assert_eq "$(p_json_field users <"$H_TMP/bob_in.json")" bob "its users"

p_sub carol_in carol carol.in 1 parley/u/carol/inbox
gx alice a1 add a1 "$G1" carol
g_expect a1 0
p_wait_sub carol_in
g_decode carol_in envelope >"$H_TMP/carol_in.json"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/carol_in.json")" "$G1" "carol told in her inbox"
h_assert_eq "$(p_json_field kind <"$H_TMP/carol_in.json")" 2 "a SYSTEM envelope"
h_assert_eq "$(p_json_field sender <"$H_TMP/carol_in.json")" alice "actor"
h_assert_eq "$(p_json_field event <"$H_TMP/carol_in.json")" members_added "the event"
h_assert_eq "$(p_json_field users <"$H_TMP/carol_in.json")" carol "its users"
h_assert_eq "$(p_sql "select count(*) from messages where chat_id='$G1'")" 2 "created + added, stored once each"

# ---- a user registered a moment ago: added at once, no wait.
ptool keygen "$H_TMP/keys-erin" >/dev/null || h_fail "keygen erin"
ptool register "$H_STORE" erin "$H_TMP/keys-erin" || h_fail "register erin"
gx alice a2 add a2 "$G1" erin
g_expect a2 0
h_assert_eq "$(g_field a2 members)" "alice:owner,bob:member,carol:member,erin:member" "erin added"
# ... and a user the store does not have is still refused.
gx alice a3 add a3 "$G1" ghost
g_expect a3 404 unknown_user

# ---- max_groups_per_user = 2. alice is in 1 group (G1), so are bob,
# carol, erin. alice creates a second one with bob: both at the cap.
gx alice c2 create c2 two bob
g_expect c2 0
G2="$(g_field c2 chat_id)"
gx alice c3 create c3 three
g_expect c3 409 too_many_groups
gx dave c4 create c4 four bob
g_expect c4 409 too_many_groups
gx dave l1 list l1
h_assert_eq "$(grep -c '"chat_id"' "$H_TMP/l1.json" || true)" 0 "dave has no group after the refusal"
gx dave c5 create c5 five
g_expect c5 0
G5="$(g_field c5 chat_id)"
gx dave a5 add a5 "$G5" carol bob
g_expect a5 409 too_many_groups
gx dave g5 get g5 "$G5"
h_assert_eq "$(g_field g5 members)" "dave:owner" "nothing changed in the group"
h_assert_eq "$(p_sql "select count(*) from members where chat_id='$G5'")" 1 "nothing changed in the store"
# bob leaves one group: there is room again.
gx bob lv leave lv "$G2"
g_expect lv 0
gx dave a6 add a6 "$G5" bob
g_expect a6 0
h_assert_eq "$(g_field a6 members)" "bob:member,dave:owner" "bob added after leaving another group"
h_pass
