#!/usr/bin/env bash
# Wills (last-will messages) never reach a Parley topic (docs/security.md,
# "Holes found from outside"). mosquitto 2.0.11 publishes a will after a
# WRITE check only and raises no message event, so before the fix a will
# reached another user's inbox or typing topic, or a group, unstamped, and
# could be retained. Each case: a client connects with a will, is killed
# with SIGKILL (an unclean disconnect, so mosquitto sends the will), and then
# a sentinel sent afterwards must be the first thing the target receives.
# Also: a retained will, an MQTT 5 will with a will delay, and the will of a
# session taken over by a new connection with the same client id.
. "$PARLEY_SOURCE_DIR/tests/groups/lib.sh"

p_user alice bob admin
h_start_mosquitto "plugin_opt_metrics_interval 1"

# w_client NAME USER CID WILL_TOPIC [extra mosquitto_sub args] - a connected
# client holding a will (payload WILL-NAME), pid in W_PID_NAME.
w_client() {
  local name="$1" user="$2" cid="$3" topic="$4"; shift 4
  local before
  before="$(grep -c "Received SUBSCRIBE from $cid\$" "$H_TMP/mosquitto.log" || true)"
  # shellcheck disable=SC2046
  mosquitto_sub $(p_auth "$user" "$cid") -q 1 -t "parley/u/$user/receipts" \
    --will-topic "$topic" --will-payload "WILL-$name" --will-qos 1 "$@" \
    >"$H_TMP/w_$name.out" 2>"$H_TMP/w_$name.err" &
  eval "W_PID_$name=$!"
  H_PIDS+=($!)
  h_wait_for 20 p_count_gt "Received SUBSCRIBE from $cid\$" "$H_TMP/mosquitto.log" "$before" ||
    h_fail "will client $name did not connect: $(cat "$H_TMP/w_$name.err")"
}

# w_kill NAME CID - SIGKILL the will client; wait until the broker noticed.
w_kill() {
  local pidvar="W_PID_$1" before
  before="$(grep -c "Client $2 closed its connection\|Client $2 disconnected" "$H_TMP/mosquitto.log" || true)"
  kill -KILL "${!pidvar}"
  h_wait_for 20 p_count_gt "Client $2 closed its connection\|Client $2 disconnected" \
    "$H_TMP/mosquitto.log" "$before" || h_fail "broker did not see $2 go"
}

# w_first NAME KIND - the first message received by subscriber NAME, decoded.
w_first() { head -n 1 "$H_TMP/$1.out" | ptool decode "$2"; }

will_hex() { printf 'WILL-%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# ---- 1:1 inbox: alice's will addressed to bob's inbox.
p_sub bob_in bob bob.in1 1 parley/u/bob/inbox
w_client inbox alice alice.w1 parley/u/bob/inbox
w_kill inbox alice.w1
p_env "$H_TMP/s1" sentinel-1 --body sentinel
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/s1" || h_fail "sentinel 1"
p_wait_sub bob_in
h_assert_not_contains "$(cat "$H_TMP/bob_in.out")" "$(will_hex inbox)" "will on bob's inbox"
h_assert_eq "$(w_first bob_in envelope | p_json_field client_msg_id)" "sentinel-1" "first on bob's inbox"

# ---- typing: alice's will on bob's typing topic.
p_sub bob_ty bob bob.ty1 1 parley/u/bob/typing
w_client typing alice alice.w2 parley/u/bob/typing
w_kill typing alice.w2
ptool typing --on >"$H_TMP/typ"
p_pub alice alice.p2 parley/u/bob/typing "$H_TMP/typ" || h_fail "typing sentinel"
p_wait_sub bob_ty
h_assert_not_contains "$(cat "$H_TMP/bob_ty.out")" "$(will_hex typing)" "will on bob's typing topic"
h_assert_eq "$(w_first bob_ty typing | p_json_field user)" "alice" "first on bob's typing topic"

# ---- group: a member's will on the group's inbox (a forged SYSTEM event
# would be possible there).
gtool create c-wg wills bob >"$H_TMP/create.req" || h_fail "gtool create"
p_sub create alice alice.c1 1 parley/u/alice/rsp
p_pub alice alice.c2 parley/u/alice/ctl "$H_TMP/create.req" || h_fail "create request"
p_wait_sub create
G="$(gtool decode response <"$H_TMP/create.out" | p_json_field chat_id | head -n 1)"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "group not created: $(cat "$H_TMP/create.out")"
GIN="$(g_topic "$G")"
p_sub bob_g bob bob.g1 1 "$GIN"
w_client group alice alice.w3 "$GIN"
w_kill group alice.w3
p_env "$H_TMP/s3" sentinel-3 --body sentinel
p_pub alice alice.p3 "$GIN" "$H_TMP/s3" || h_fail "group sentinel"
p_wait_sub bob_g
h_assert_not_contains "$(cat "$H_TMP/bob_g.out")" "$(will_hex group)" "will on the group"
h_assert_eq "$(w_first bob_g envelope | p_json_field client_msg_id)" "sentinel-3" "first on the group"

# ---- retained will: nobody subscribed at the time; bob subscribes later
# and must not be handed a retained copy (it would come before anything).
w_client retained alice alice.w4 parley/u/bob/inbox --will-retain
w_kill retained alice.w4
p_sub bob_rt bob bob.rt1 1 parley/u/bob/inbox
p_env "$H_TMP/s4" sentinel-4 --body sentinel
p_pub alice alice.p4 parley/u/bob/inbox "$H_TMP/s4" || h_fail "sentinel 4"
p_wait_sub bob_rt
h_assert_not_contains "$(cat "$H_TMP/bob_rt.out")" "$(will_hex retained)" "retained will"
h_assert_eq "$(w_first bob_rt envelope | p_json_field client_msg_id)" "sentinel-4" "first after subscribing"

# ---- MQTT 5 will with a will delay of 1 s (sent later, from
# will_delay__check): the refusal is counted; wait for the count, then the
# sentinel.
p_sub bob_dl bob bob.dl1 1 parley/u/bob/inbox
before="$(p_metric acl/wills_refused 2>/dev/null || echo 0)"
w_client delayed alice alice.w5 parley/u/bob/inbox -V mqttv5 -D will will-delay-interval 1
w_kill delayed alice.w5
p_wait_metric acl/wills_refused "$((before + 1))"
p_env "$H_TMP/s5" sentinel-5 --body sentinel
p_pub alice alice.p5 parley/u/bob/inbox "$H_TMP/s5" || h_fail "sentinel 5"
p_wait_sub bob_dl
h_assert_not_contains "$(cat "$H_TMP/bob_dl.out")" "$(will_hex delayed)" "delayed will"
h_assert_eq "$(w_first bob_dl envelope | p_json_field client_msg_id)" "sentinel-5" "first after the delay"

# ---- session takeover: a second connection with the same client id makes
# mosquitto send the first one's will; the second connection's own publish
# is the sentinel (it is handled after the takeover).
p_sub bob_tk bob bob.tk1 1 parley/u/bob/inbox
w_client takeover alice alice.w6 parley/u/bob/inbox
p_env "$H_TMP/s6" sentinel-6 --body sentinel
p_pub alice alice.w6 parley/u/bob/inbox "$H_TMP/s6" || h_fail "sentinel 6"
p_wait_sub bob_tk
kill -TERM "$W_PID_takeover" 2>/dev/null || true # mosquitto_sub would reconnect
h_assert_not_contains "$(cat "$H_TMP/bob_tk.out")" "$(will_hex takeover)" "will of a taken-over session"
h_assert_eq "$(w_first bob_tk envelope | p_json_field client_msg_id)" "sentinel-6" "first after the takeover"

# Nothing a will carried reached the store either.
h_assert_eq "$(p_sql "select count(*) from messages where body like 'WILL-%'")" 0 "wills stored"
h_pass
