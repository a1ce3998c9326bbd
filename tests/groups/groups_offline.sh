#!/usr/bin/env bash
# Offline members (docs/groups.md): a member who was offline gets every
# group message by sync after reconnecting, in order, each once (paged); a
# member added later syncs only from the announcement of their joining; a
# removed member cannot sync any more; a persistent session also gets the
# messages queued while it was away.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob carol dave
h_start_mosquitto

G="$(g_create alice offline bob carol)"
IN="$(g_topic "$G")"

# carol keeps a persistent session (clean session off) and goes offline.
# shellcheck disable=SC2046
timeout 20 mosquitto_sub $(p_auth carol carol-persist) -c -q 1 -t "$IN" -E >/dev/null ||
  h_fail "carol's persistent subscription"
# bob stays online.
p_sub bob bob bob-s 5 "$IN"
for i in 1 2 3 4 5; do
  p_env "$H_TMP/m$i" "m$i" --body "message $i"
  p_pub alice alice-p "$IN" "$H_TMP/m$i"
done
p_wait_sub bob
h_assert_eq "$(g_decode bob envelope | p_json_field seq | tr '\n' ' ')" "2 3 4 5 6 " "bob live, in order"
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id='$G'" 6 || h_fail "messages not stored"

# carol reconnects: the session delivers what was queued, in order.
P_SUB_OPTS="-c" p_sub carol carol carol-persist 5 "$IN"
p_wait_sub carol
h_assert_eq "$(g_decode carol envelope | p_json_field client_msg_id | tr '\n' ' ')" "m1 m2 m3 m4 m5 " "queued for carol"

# ... and sync pages (limit 2) give every stored message once, in order.
sync_page() {
  ptool request sync "$2" "$G" "$3" 2 >"$H_TMP/$2.req"
  p_sub "$2" "$1" "$1-$2" 1 "parley/u/$1/rsp"
  p_pub "$1" "$1-q" "parley/u/$1/ctl" "$H_TMP/$2.req"
  p_wait_sub "$2"
  gtool decode response <"$H_TMP/$2.out" >"$H_TMP/$2.json"
}
after=0; all=""; pages=0
while :; do
  pages=$((pages + 1))
  sync_page carol "s$pages" "$after"
  [ "$(g_field "s$pages" status)" = 0 ] || h_fail "sync: $(cat "$H_TMP/s$pages.json")"
  seqs="$(g_field "s$pages" seqs)"
  all="$all${all:+,}$seqs"
  after="${seqs##*,}"
  [ "$(g_field "s$pages" more)" = 1 ] || break
  [ "$pages" -lt 10 ] || h_fail "sync does not end"
done
h_assert_eq "$all" "1,2,3,4,5,6" "carol syncs every message once, in order"
h_assert_eq "$pages" 3 "three pages of two"

# dave joins later: he syncs from the announcement of his joining only.
g_req alice add_dave add a1 "$G" dave; g_expect add_dave 0
p_env "$H_TMP/m6" m6 --body after-dave
p_pub alice alice-p "$IN" "$H_TMP/m6"
h_wait_for 20 p_sql_eq "select count(*) from messages where chat_id='$G'" 8 || h_fail "m6 not stored"
sync_page dave d1 0
h_assert_eq "$(g_field d1 seqs)" "7,8" "dave sees nothing sent before he joined"

# bob is removed: no more sync.
g_req alice rm_bob remove r1 "$G" bob; g_expect rm_bob 0
sync_page bob b1 0
h_assert_eq "$(g_field b1 status)/$(g_field b1 error)" "403/not_member" "removed member cannot sync"
h_pass
