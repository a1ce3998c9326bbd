# shellcheck shell=bash
# tests/groups/lib.sh - helpers for the group chat tests, on top of
# tests/plugin/lib.sh (users in the store, mosquitto_pub / mosquitto_sub).
# (Sourced once: the cluster tests load it on top of tests/cluster/lib.sh.)
[ -n "${P_DB:-}" ] || . "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

command -v gtool >/dev/null || h_fail "gtool not built (expected in $PARLEY_BUILD_DIR/tests)"

# g_req USER NAME gtool-request-args... - publish one group Request on USER's
# ctl topic; the decoded Response (one JSON line) goes to $H_TMP/NAME.json.
g_req() {
  local user="$1" name="$2"; shift 2
  gtool "$@" >"$H_TMP/$name.req" || h_fail "gtool $*"
  p_sub "$name" "$user" "$user-$name-rsp" 1 "parley/u/$user/rsp"
  p_pub "$user" "$user-$name" "parley/u/$user/ctl" "$H_TMP/$name.req" || h_fail "publish request $name"
  p_wait_sub "$name"
  gtool decode response <"$H_TMP/$name.out" >"$H_TMP/$name.json"
}

# g_field NAME FIELD - a field of the response saved by g_req.
g_field() { p_json_field "$2" <"$H_TMP/$1.json" | head -n 1; }

# g_expect NAME STATUS [ERROR] - the response NAME has this status (and error).
g_expect() {
  local got
  got="$(g_field "$1" status)/$(g_field "$1" error)"
  h_assert_eq "$got" "$2/${3:-}" "response $1: $(cat "$H_TMP/$1.json")"
}

# g_create USER NAME MEMBERS... - create a group as USER; prints its chat id.
g_create() {
  local user="$1" name="$2"; shift 2
  g_req "$user" "create_$name" create "c-$name" "$name" "$@"
  g_expect "create_$name" 0 >&2
  g_field "create_$name" chat_id
}

# g_topic CHAT_ID [LEAF] - the group's topic.
g_topic() { echo "parley/g/${1#g:}/${2:-inbox}"; }

# g_decode NAME KIND - decode $H_TMP/NAME.out (envelope|receipt|response).
g_decode() { gtool decode "$2" <"$H_TMP/$1.out"; }

# g_sub_denied USER CID FILTER - the subscription must be refused.
g_sub_denied() {
  local out
  # shellcheck disable=SC2046
  out="$(timeout 20 mosquitto_sub $(p_auth "$1" "$2") -t "$3" -C 1 -W 10 2>&1 || true)"
  h_assert_contains "$out" "denied" "subscribe $3 as $1"
}
