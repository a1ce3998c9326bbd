#!/usr/bin/env bash
# Authentication: username = user id, password = identity-signed token for the
# MQTT client id. Wrong password, expired token, token of another client id,
# another user's token, a forged signature and an unknown user are refused;
# a user registered while the broker runs can connect once the key cache has
# refreshed; failures are counted by reason in $SYS/parley/auth/failed/*.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob admin
ptool keygen "$H_TMP/keys-mallory" || h_fail keygen
h_start_mosquitto "plugin_opt_metrics_interval 1"

out="$(p_connect alice alice-1 "$(p_token alice alice-1)")" || h_fail "valid token refused: $out"

p_expect_refused alice alice-2 "not-a-token" "garbage password"
p_expect_refused alice alice-3 "$(p_token alice alice-3 -30)" "expired token"
p_expect_refused alice alice-4 "$(p_token alice some-other-client)" "token for another client id"
p_expect_refused bob bob-1 "$(p_token alice bob-1)" "alice's token used as bob"
# A token for alice signed with another key.
mtok="$(ptool token "$H_TMP/keys-mallory" alice alice-5)"
p_expect_refused alice alice-5 "$mtok" "forged signature"
p_expect_refused alice alice-6 "$(p_token alice alice-6 200000)" "lifetime over 24 h"
# Not registered at all.
p_expect_refused mallory m-1 "$(ptool token "$H_TMP/keys-mallory" mallory m-1)" "unknown user"
p_expect_refused "bad/user" x-1 "whatever" "invalid user id"

# Registered after start: picked up by the key cache refresh (bounded wait).
p_user carol
ok=0
for ((i = 0; i < 100; i++)); do
  if p_connect carol carol-1 "$(p_token carol carol-1)" >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || h_fail "carol, registered at run time, could not connect"

# Key rotation: a new key replaces the old one; old tokens stop working.
old="$(p_token bob bob-9)"
ptool keygen "$H_TMP/keys-bob" && ptool register "$H_STORE" bob "$H_TMP/keys-bob" || h_fail "rotate bob"
ok=0
for ((i = 0; i < 100; i++)); do
  if ! p_connect bob bob-9 "$old" >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || h_fail "bob's token signed with the old key still accepted"
out="$(p_connect bob bob-10 "$(p_token bob bob-10)")" || h_fail "bob's new key refused: $out"

# Failure counters.
p_wait_metric auth/failed/expired 1
p_wait_metric auth/failed/wrong_client_id 1
p_wait_metric auth/failed/bad_signature 2
p_wait_metric auth/failed/unknown_user 1
p_wait_metric auth/failed/malformed_token 1
p_wait_metric auth/failed/lifetime_too_long 1
p_wait_metric auth/ok 3
h_pass
