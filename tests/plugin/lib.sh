# shellcheck shell=bash
# tests/plugin/lib.sh - helpers for the plugin integration tests, on top of
# tests/lib/harness.sh. Users are written straight into the store with ptool
# (no keyserver needed); clients are mosquitto_pub / mosquitto_sub.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"

command -v ptool >/dev/null || h_fail "ptool not built (expected in $PARLEY_BUILD_DIR/tests)"
command -v mosquitto_sub >/dev/null || h_fail "mosquitto_sub missing (package mosquitto-clients)"

P_DB="$H_TMP/parley.db"

# p_user NAME... - create identity keys for NAME and register it in the store.
p_user() {
  local u
  for u in "$@"; do
    ptool keygen "$H_TMP/keys-$u" || h_fail "keygen $u"
    ptool register "$H_STORE" "$u" "$H_TMP/keys-$u" || h_fail "register $u"
  done
}

# p_token USER CLIENT_ID [TTL_S] [AUDIENCE] - print a token (audience mqtt).
p_token() { ptool token "$H_TMP/keys-$1" "$1" "$2" "${3:-3600}" ${4:+"$4"}; }

# p_cid USER NAME - the MQTT client id of USER's connection NAME: the broker
# accepts only "USER.TAG" (docs/protocol.md, "Identifiers"), so a NAME that
# is not already of that form becomes the tag.
p_cid() { case "$2" in "$1".*) echo "$2" ;; *) echo "$1.$2" ;; esac; }

# p_auth USER NAME - the connection arguments for mosquitto_pub/sub.
p_auth() {
  local cid; cid="$(p_cid "$1" "$2")"
  echo "-h 127.0.0.1 -p $H_MQTT_PORT -i $cid -u $1 -P $(p_token "$1" "$cid")"
}

# p_sub NAME USER CLIENT_ID COUNT TOPIC... - subscribe in the background
# (QoS 1, hex output, one message per line, at most P_SUB_WAIT s, 60) into
# $H_TMP/NAME.out; waits until the subscription is active. Extra mosquitto_sub
# options can be given in P_SUB_OPTS.
p_sub() {
  local name="$1" user="$2" cid count="$4"; cid="$(p_cid "$2" "$3")"; shift 4
  local topics=() t
  for t in "$@"; do topics+=(-t "$t"); done
  : >"$H_TMP/$name.out"
  local before log="${P_MOSQ_LOG:-$H_TMP/mosquitto.log}"
  before="$(p_grep_count "Received SUBSCRIBE from $cid\$" "$log")"
  # shellcheck disable=SC2046
  timeout $((${P_SUB_WAIT:-60} + 5)) stdbuf -oL mosquitto_sub $(p_auth "$user" "$cid") -q 1 -F %x -C "$count" -W ${P_SUB_WAIT:-60} \
    ${P_SUB_OPTS:-} "${topics[@]}" >"$H_TMP/$name.out" 2>"$H_TMP/$name.err" &
  H_PIDS+=($!)
  eval "P_PID_$name=$! P_COUNT_$name=$count"
  # Active once the broker logged the SUBSCRIBE of this client id.
  h_wait_for 20 p_count_gt "Received SUBSCRIBE from $cid\$" "$log" "$before" ||
    h_fail "subscription of $cid did not start: $(cat "$H_TMP/$name.err")"
}

# p_grep_count PATTERN FILES - lines matching PATTERN in FILES (a glob, for
# the logs of several nodes).
p_grep_count() {
  # shellcheck disable=SC2086
  cat $2 2>/dev/null | grep -c "$1" || true
}
# p_count_gt PATTERN FILES N - true once PATTERN matches more than N lines.
p_count_gt() { [ "$(p_grep_count "$1" "$2")" -gt "$3" ]; }

# p_wait_sub NAME - wait (bounded) for the background subscriber to finish;
# fails unless it received all the messages it was started for.
p_wait_sub() {
  local pidvar="P_PID_$1" countvar="P_COUNT_$1"
  local pid="${!pidvar}" count="${!countvar}"
  local i got
  for ((i = 0; i < (${P_SUB_WAIT:-60} + 10) * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      got="$(wc -l <"$H_TMP/$1.out")"
      [ "$got" -ge "$count" ] || h_fail "subscriber $1 got $got of $count messages: $(cat "$H_TMP/$1.err")"
      return 0
    fi
    sleep 0.1
  done
  h_fail "subscriber $1 did not finish: $(cat "$H_TMP/$1.out")"
}

# p_decode KIND NAME - decode the hex lines of $H_TMP/NAME.out as JSON lines.
p_decode() { ptool decode "$1" <"$H_TMP/$2.out"; }

# p_pub USER CLIENT_ID TOPIC FILE [extra mosquitto_pub args] - QoS 1 publish of a file.
p_pub() {
  local user="$1" cid="$2" topic="$3" file="$4"; shift 4
  # shellcheck disable=SC2046
  timeout 20 mosquitto_pub $(p_auth "$user" "$cid") -q 1 -t "$topic" -f "$file" "$@"
}

# p_env FILE CLIENT_MSG_ID [ptool envelope args...] - write an Envelope to FILE.
p_env() {
  local f="$1" id="$2"; shift 2
  ptool envelope --client-msg-id "$id" "$@" >"$f" || h_fail "ptool envelope"
}

# p_sql SQL - query the SQLite store.
p_sql() { sqlite3 "$P_DB" "$1"; }

# p_json_field FIELD - print the first top-level FIELD of each JSON line on
# stdin (ptool's output: flat objects, top-level keys come first).
p_json_field() {
  sed -E -n "s/^\\{(.*[{,])?\"$1\":(\"(([^\"\\\\]|\\\\.)*)\"|(-?[0-9]+)).*/\\3\\5/p"
}

# p_connect USER CLIENT_ID PASSWORD - try a CONNECT with exactly this client id (mosquitto_pub of one
# typing event to USER's own typing topic); prints mosquitto_pub's output,
# returns its exit status.
p_connect() {
  timeout 20 mosquitto_pub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "$2" -u "$1" -P "$3" \
    -q 1 -t "parley/u/$1/typing" -m "" 2>&1
}

# p_expect_refused USER CLIENT_ID PASSWORD WHAT - the CONNECT must be refused.
p_expect_refused() {
  local out rc=0
  out="$(p_connect "$1" "$2" "$3")" || rc=$?
  [ "$rc" -ne 0 ] || h_fail "$4: connection was accepted"
  h_assert_contains "$out" "not authorised" "$4"
}

# p_metric NAME - read one retained $SYS/parley/NAME value as the admin user
# (needs user "admin" registered and plugin_opt_metrics_interval set low).
p_metric() {
  # shellcheck disable=SC2046
  timeout 20 mosquitto_sub $(p_auth admin "admin-m$RANDOM") -t "\$SYS/parley/$1" -C 1 -W 15
}

# p_wait_metric NAME MIN - wait until metric NAME is >= MIN (bounded).
p_wait_metric() {
  local i v
  for ((i = 0; i < 30; i++)); do
    v="$(p_metric "$1" 2>/dev/null || true)"
    if [ -n "$v" ] && [ "$v" -ge "$2" ]; then return 0; fi
    sleep 1
  done
  h_fail "metric $1 stayed below $2 (last: '${v:-}')"
}

# p_lines_ge FILE N - true once FILE has at least N lines (for h_wait_for).
p_lines_ge() { [ "$(wc -l <"$1")" -ge "$2" ]; }
# p_sql_eq SQL VALUE - true once the query returns VALUE (for h_wait_for).
p_sql_eq() { [ "$(p_sql "$1")" = "$2" ]; }

# p_request USER CID NAME ptool-request-args... - publish one Request on
# USER's ctl topic and put the decoded Response (one JSON line) in
# $H_TMP/NAME.json.
p_request() {
  local user="$1" cid="$2" name="$3"; shift 3
  ptool request "$@" >"$H_TMP/$name.req" || h_fail "ptool request $*"
  p_sub "$name" "$user" "$cid-rsp" 1 "parley/u/$user/rsp"
  p_pub "$user" "$cid" "parley/u/$user/ctl" "$H_TMP/$name.req" || h_fail "publish request $name"
  p_wait_sub "$name"
  p_decode response "$name" >"$H_TMP/$name.json"
}

# p_seqs FILE - the message seqs of a sync page response, space-separated.
p_seqs() { grep -o '"seq":[0-9]*' "$1" | cut -d: -f2 | tr '\n' ' '; }
