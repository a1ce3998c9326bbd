#!/usr/bin/env bash
# Every REJECTED receipt names the message it refuses (docs/protocol.md,
# "Sending a message"): client_msg_id whenever the envelope can be read at
# all (also for malformed, too_large and rate_limited, where the broker reads
# the field with a bounded scan instead of decoding), made safe when it is
# invalid ('/' and bytes outside '!'..'~' as %XX, cut to 64 characters), and
# chat_id when there is one. Before the fix, malformed, too_large (payload
# over the limit), bad_client_msg_id and rate_limited came with an empty id.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob
h_start_mosquitto "plugin_opt_max_payload 1000
plugin_opt_rate_messages 2"

long="$(printf 'x%.0s' $(seq 1 70))"
# Unreadable as an Envelope: a valid one followed by a truncated field.
p_env "$H_TMP/mal" mal-1 --body hi
printf '\x3a\x05ab' >>"$H_TMP/mal"
p_env "$H_TMP/big" big-1 --body-size 3000  # payload over max_payload + 1024
p_env "$H_TMP/slash" "a/b" --body hi
p_env "$H_TMP/space" "a b%" --body hi
p_env "$H_TMP/long" "$long" --body hi
p_env "$H_TMP/ur" ur-1 --body hi
p_env "$H_TMP/self" self-1 --body hi

p_sub rc alice alice.r1 7 parley/u/alice/receipts
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/mal" || h_fail "publish mal"
p_pub alice alice.p2 parley/u/bob/inbox "$H_TMP/big" || h_fail "publish big"
p_pub alice alice.p3 parley/u/bob/inbox "$H_TMP/slash" || h_fail "publish slash"
p_pub alice alice.p4 parley/u/bob/inbox "$H_TMP/space" || h_fail "publish space"
p_pub alice alice.p5 parley/u/bob/inbox "$H_TMP/long" || h_fail "publish long"
p_pub alice alice.p6 parley/u/ghost/inbox "$H_TMP/ur" || h_fail "publish ur"
p_pub alice alice.p7 parley/u/alice/inbox "$H_TMP/self" || h_fail "publish self"
p_wait_sub rc
p_decode receipt rc >"$H_TMP/rc.json"
h_log "$(cat "$H_TMP/rc.json")"

# line N of the receipts: error|client_msg_id|chat_id
rj() {
  local l
  l="$(sed -n "${1}p" "$H_TMP/rc.json")"
  echo "$(p_json_field error <<<"$l")|$(p_json_field client_msg_id <<<"$l")|$(p_json_field chat_id <<<"$l")"
}
h_assert_eq "$(rj 1)" "malformed|mal-1|d:alice:bob" "malformed"
h_assert_eq "$(rj 2)" "too_large|big-1|d:alice:bob" "too_large (whole payload)"
h_assert_eq "$(rj 3)" "bad_client_msg_id|a%2Fb|d:alice:bob" "id with a slash"
h_assert_eq "$(rj 4)" "bad_client_msg_id|a%20b%25|d:alice:bob" "id with a space"
h_assert_eq "$(rj 5)" "bad_client_msg_id|${long:0:64}|d:alice:bob" "id too long"
h_assert_eq "$(rj 6)" "unknown_recipient|ur-1|" "unknown recipient"
h_assert_eq "$(rj 7)" "self_send|self-1|" "self send"

# rate_limited: 2/s with a burst of 4, six publishes in one session.
p_sub rl alice alice.r2 6 parley/u/alice/receipts
for ((i = 1; i <= 6; i++)); do
  p_env "$H_TMP/rl$i" "rl-$i" --body "burst $i"
  [ "$(tr -cd '\n' <"$H_TMP/rl$i" | wc -c)" = 0 ] || h_fail "envelope rl$i contains a newline"
done
# shellcheck disable=SC2046
for ((i = 1; i <= 6; i++)); do cat "$H_TMP/rl$i"; echo; done |
  timeout 20 mosquitto_pub $(p_auth alice alice.b1) -q 1 -t parley/u/bob/inbox -l || h_fail "burst"
p_wait_sub rl
p_decode receipt rl >"$H_TMP/rl.json"
limited="$(grep -c '"error":"rate_limited"' "$H_TMP/rl.json" || true)"
[ "$limited" -ge 1 ] || h_fail "nothing was rate limited"
while read -r l; do
  case "$l" in
  *rate_limited*)
    id="$(p_json_field client_msg_id <<<"$l")"
    [[ "$id" =~ ^rl-[1-6]$ ]] || h_fail "rate_limited receipt without its client_msg_id: $l"
    h_assert_eq "$(p_json_field chat_id <<<"$l")" "d:alice:bob" "rate_limited chat_id"
    ;;
  esac
done <"$H_TMP/rl.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/rl.json" | sort | tr '\n' ' ')" \
  "rl-1 rl-2 rl-3 rl-4 rl-5 rl-6 " "every publish answered under its own id"
h_pass
