#!/usr/bin/env bash
# Members-only group topics (docs/groups.md): a non-member can neither
# subscribe to nor publish on a group's topics; one publish is fanned out to
# every member's subscription; a member removed while their subscription is
# still open receives nothing sent afterwards (mosquitto checks READ access
# at delivery) and can no longer publish. Denied publishes are checked with
# sentinels (a later allowed message arrives first), never with sleeps.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol mallory
h_start_mosquitto

G="$(g_create alice team bob carol)"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "bad group id '$G'"
h_assert_eq "$(g_field create_team members)" "alice:owner,bob:member,carol:member" "initial members"
IN="$(g_topic "$G")"
TY="$(g_topic "$G" typing)"

# A non-member cannot subscribe, not even with wildcards.
g_sub_denied mallory m-s1 "$IN"
g_sub_denied mallory m-s2 "$TY"
g_sub_denied mallory m-s3 "$(g_topic "$G" '#')"
g_sub_denied mallory m-s4 'parley/g/+/inbox'
g_sub_denied mallory m-s5 'parley/g/#'

# Members: bob also listens on his own inbox (he is told there when he is
# removed); carol listens on the group's inbox and typing topics.
p_sub bob bob bob-s 3 "$IN" parley/u/bob/inbox
p_sub carol carol carol-s 3 "$IN"
p_sub carol_ty carol carol-t 1 "$TY"

p_env "$H_TMP/g1" g1 --body first
p_pub alice alice-p "$IN" "$H_TMP/g1"
# The non-member's publishes go nowhere (MQTT 5: told "not authorized").
p_env "$H_TMP/x1" x1 --body intruder
p_pub mallory mallory-p "$IN" "$H_TMP/x1"
# shellcheck disable=SC2046
out="$(timeout 20 mosquitto_pub $(p_auth mallory m-v5) -V mqttv5 -q 1 -t "$IN" -f "$H_TMP/x1" 2>&1 || true)"
h_assert_contains "$out" "Not authorized" "MQTT v5 non-member publisher told why"
ptool typing --on >"$H_TMP/typ"
p_pub mallory mallory-p "$TY" "$H_TMP/typ"
# A member's typing event is relayed with the sender filled in.
p_pub carol carol-p "$TY" "$H_TMP/typ"

# Remove bob while his subscription is open.
g_req alice rm_bob remove r1 "$G" bob
g_expect rm_bob 0
h_assert_eq "$(g_field rm_bob members)" "alice:owner,carol:member" "members after removal"
# bob can no longer publish; alice's next message must not reach him.
p_env "$H_TMP/b1" b1 --body from-removed-bob
p_pub bob bob-p "$IN" "$H_TMP/b1"
p_env "$H_TMP/g2" g2 --body second
p_pub alice alice-p "$IN" "$H_TMP/g2"
# Sentinel for bob: a direct message from alice, sent after g2.
p_env "$H_TMP/d1" d1 --body sentinel
p_pub alice alice-p parley/u/bob/inbox "$H_TMP/d1"

p_wait_sub bob
p_wait_sub carol
p_wait_sub carol_ty
g_decode bob envelope >"$H_TMP/bob.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob.json" | sed 's/^sys-.*/sys/' | tr '\n' ' ')" \
  "g1 sys d1 " "bob got g1, his removal and the sentinel - nothing sent to the group afterwards"
h_assert_eq "$(sed -n 2p "$H_TMP/bob.json" | p_json_field event)" "members_removed" "bob told of his removal"
h_assert_eq "$(sed -n 1p "$H_TMP/bob.json" | p_json_field sender)/$(sed -n 1p "$H_TMP/bob.json" | p_json_field seq)" \
  "alice/2" "g1 stamped (GROUP_CREATED is seq 1)"

# carol: g1, the removal, g2 - no intruder, nothing from bob; one typing
# event, her own (mallory's was refused), stamped by the plugin.
g_decode carol envelope >"$H_TMP/carol.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/carol.json" | sed 's/^sys-.*/sys/' | tr '\n' ' ')" \
  "g1 sys g2 " "carol's group messages"
h_assert_eq "$(p_json_field seq <"$H_TMP/carol.json" | tr '\n' ' ')" "2 3 4 " "carol's seqs"
h_assert_eq "$(ptool decode typing <"$H_TMP/carol_ty.out" | p_json_field user)" "carol" "typing relayed"
h_assert_eq "$(ptool decode typing <"$H_TMP/carol_ty.out" | p_json_field chat_id)" "$G" "typing names the group"

# The store holds the group's sequence: created, g1, removed, g2; nothing else.
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id='$G'" 4 ||
  h_fail "store: $(p_sql "select seq, sender, client_msg_id from messages where chat_id='$G'")"
h_assert_eq "$(p_sql "select group_concat(kind || ':' || sender, ' ') from (select * from messages where chat_id='$G' order by seq)")" \
  "2:alice 1:alice 2:alice 1:alice" "stored sequence"
h_assert_eq "$(p_sql "select count(*) from members where chat_id='$G' and user_id='bob'")" 0 "bob's membership deleted"
h_pass
