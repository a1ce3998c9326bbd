#!/usr/bin/env bash
# Authentication: username = user id, client id = "{user}.{tag}", password =
# an identity-signed token of audience "mqtt" for that client id. Wrong
# password, expired token, token of another client id, another user's token,
# a forged signature, an unknown user, a keyserver or media token and another
# user's client id are refused (mosquitto_pub sees "not authorised"); a user
# registered a moment ago connects at once; a key change closes the user's
# open connections; a connection ends when its token expires; connections and
# persistent sessions per user are capped; failures are counted by reason in
# $SYS/parley/auth/failed/*.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin dave
ptool keygen "$H_TMP/keys-mallory" || h_fail keygen
h_start_mosquitto "plugin_opt_metrics_interval 1
plugin_opt_max_connections_per_user 3
plugin_opt_max_sessions_per_user 2"

out="$(p_connect alice alice.1 "$(p_token alice alice.1)")" || h_fail "valid token refused: $out"

p_expect_refused alice alice.2 "not-a-token" "garbage password"
p_expect_refused alice alice.3 "$(p_token alice alice.3 -30)" "expired token"
p_expect_refused alice alice.4 "$(p_token alice alice.other)" "token for another client id"
p_expect_refused bob bob.1 "$(p_token alice bob.1)" "alice's token used as bob"
# A token for alice signed with another key.
mtok="$(ptool token "$H_TMP/keys-mallory" alice alice.5)"
p_expect_refused alice alice.5 "$mtok" "forged signature"
p_expect_refused alice alice.6 "$(p_token alice alice.6 200000)" "lifetime over 24 h"
# Not registered at all.
p_expect_refused mallory mallory.1 "$(ptool token "$H_TMP/keys-mallory" mallory mallory.1)" "unknown user"
p_expect_refused "bad/user" x.1 "whatever" "invalid user id"

# Audiences: a token minted for the keyserver or the media gateway, even for
# exactly this client id, does not log into MQTT.
p_expect_refused alice alice.7 "$(p_token alice alice.7 3600 keyserver)" "keyserver token at CONNECT"
p_expect_refused alice alice.8 "$(p_token alice alice.8 3600 media)" "media token at CONNECT"

# Client ids are bound to the user: alice cannot use bob's client id even with
# a token she signed for it, nor a bare or dotted tag.
p_expect_refused alice bob.phone "$(p_token alice bob.phone)" "another user's client id"
p_expect_refused alice alice "$(p_token alice alice)" "client id without a tag"
p_expect_refused alice alice.x.y "$(p_token alice alice.x.y)" "dotted tag"
p_expect_refused alice some-client "$(p_token alice some-client)" "free-form client id"

# ... so no takeover: bob's persistent session stays connected while alice
# tries his client id, and a message sent afterwards still reaches him.
p_sub bobs_phone bob bob.phone 1 parley/u/bob/typing
p_expect_refused alice bob.phone "$(p_token alice bob.phone)" "takeover of bob.phone"
printf '' >"$H_TMP/empty"
p_pub alice alice.t parley/u/bob/typing "$H_TMP/empty" || h_fail "typing to bob"
p_wait_sub bobs_phone

# Registered a moment ago: the very first CONNECT succeeds (no retry loop).
p_user carol
out="$(p_connect carol carol.1 "$(p_token carol carol.1)")" || h_fail "fresh registration refused: $out"

# Key rotation: a new key replaces the old one at once for new CONNECTs, old
# tokens stop working, and bob's open connection (authenticated by the old
# key) is closed.
P_SUB_WAIT=60 p_sub bob_old bob bob.old 1 parley/u/bob/typing
old="$(p_token bob bob.9)"
ptool keygen "$H_TMP/keys-bob" && ptool register "$H_STORE" bob "$H_TMP/keys-bob" || h_fail "rotate bob"
h_wait_for 20 bash -c "! kill -0 $P_PID_bob_old" || h_fail "bob's connection survived his key change"
grep -q "closing connection of client bob.old: identity key changed" "$H_TMP/mosquitto.log" ||
  h_fail "no log line for the key-change close"
ok=0
for ((i = 0; i < 100; i++)); do
  if ! p_connect bob bob.9 "$old" >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || h_fail "bob's token signed with the old key still accepted"
out="$(p_connect bob bob.10 "$(p_token bob bob.10)")" || h_fail "bob's new key refused: $out"

# Token expiry ends the connection: a token valid for 2 s, a subscriber that
# would otherwise wait 60 s for a message that never comes.
tok="$(p_token alice alice.short 2)"
timeout 70 mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i alice.short -u alice -P "$tok" \
  -q 1 -t parley/u/alice/typing -C 1 -W 60 >/dev/null 2>&1 &
short_pid=$!
H_PIDS+=("$short_pid")
h_wait_for 20 grep -q "closing connection of client alice.short: token expired" "$H_TMP/mosquitto.log" ||
  h_fail "the connection outlived its token"
h_wait_for 10 bash -c "! kill -0 $short_pid" || h_fail "mosquitto_sub still connected after expiry"

# At most 3 connections per user (max_connections_per_user): the fourth is
# refused, a session takeover of one of the three still passes.
p_sub d1 dave dave.c1 1 parley/u/dave/typing
p_sub d2 dave dave.c2 1 parley/u/dave/typing
p_sub d3 dave dave.c3 1 parley/u/dave/typing
p_expect_refused dave dave.c4 "$(p_token dave dave.c4)" "fourth connection of a user"
out="$(p_connect dave dave.c3 "$(p_token dave dave.c3)")" || h_fail "takeover at the cap refused: $out"
p_wait_metric auth/failed/too_many_connections 1

# At most 2 persistent sessions per user (max_sessions_per_user): a third
# persistent client id is refused, clean sessions are not counted.
for s in s1 s2; do
  timeout 20 mosquitto_sub $(p_auth carol "$s") -c -q 1 -t parley/u/carol/typing -E >/dev/null 2>&1 ||
    h_fail "persistent session $s refused"
done
out="$(timeout 20 mosquitto_sub $(p_auth carol s3) -c -q 1 -t parley/u/carol/typing -E 2>&1)" &&
  h_fail "a third persistent session was accepted"
h_assert_contains "$out" "not authorised" "third persistent session"
timeout 20 mosquitto_sub $(p_auth carol s1) -c -q 1 -t parley/u/carol/typing -E >/dev/null 2>&1 ||
  h_fail "an existing persistent session refused"
timeout 20 mosquitto_sub $(p_auth carol clean1) -q 1 -t parley/u/carol/typing -E >/dev/null 2>&1 ||
  h_fail "a clean session refused"

# Failure counters.
p_wait_metric auth/failed/expired 1
p_wait_metric auth/failed/wrong_client_id 1
p_wait_metric auth/failed/bad_signature 2
p_wait_metric auth/failed/unknown_user 1
p_wait_metric auth/failed/malformed_token 1
p_wait_metric auth/failed/lifetime_too_long 1
p_wait_metric auth/failed/wrong_audience 2
p_wait_metric auth/failed/bad_client_id 5
p_wait_metric auth/failed/too_many_sessions 1
p_wait_metric auth/ok 3
h_pass
