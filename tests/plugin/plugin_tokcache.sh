#!/usr/bin/env bash
# The verified-token cache (broker-plugin/tokcache.c, docs/broker-plugin.md):
# a client reconnecting with the token it used before is accepted from the
# cache ($SYS/parley/auth/token_cache/hits counts it), and a cached token
# still counts only while everything it was verified for holds:
#  - presented with another client id of the same user: refused (wrong client id);
#  - after the user's key changed (a refresh brought the new key): refused
#    (bad signature), while a token of the new key is accepted;
#  - while the user is disabled: refused; after enable: accepted again;
#  - once expired: refused (expired).
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

ADMIN="$PARLEY_BUILD_DIR/tools/parley-admin"
export PARLEY_STORE="$H_STORE"

p_user alice bob carol erin admin
h_start_mosquitto "plugin_opt_metrics_interval 1"

# A reconnect with the same token is a cache hit.
ta="$(p_token alice alice.1)"
out="$(p_connect alice alice.1 "$ta")" || h_fail "first CONNECT refused: $out"
out="$(p_connect alice alice.1 "$ta")" || h_fail "reconnect with the same token refused: $out"
p_wait_metric auth/token_cache/hits 1
p_wait_metric auth/token_cache/entries 1

# The cached token under another client id of alice: refused as token_verify
# refuses it (the token names alice.1).
p_expect_refused alice alice.2 "$ta" "cached token for another client id"
p_wait_metric auth/failed/wrong_client_id 1

# Key change: bob's token is cached (used twice), his key is rotated; once the
# broker has the new key (it closes bob's open connection, authenticated by
# the old one), the cached token is refused and a new-key token accepted.
tb="$(p_token bob bob.1)"
p_connect bob bob.1 "$tb" >/dev/null || h_fail "bob's first CONNECT refused"
p_connect bob bob.1 "$tb" >/dev/null || h_fail "bob's reconnect refused"
p_wait_metric auth/token_cache/hits 2
p_sub bob_old bob bob.old 1 parley/u/bob/typing
ptool keygen "$H_TMP/keys-bob" && ptool register "$H_STORE" bob "$H_TMP/keys-bob" || h_fail "rotate bob"
h_wait_for 20 bash -c "! kill -0 $P_PID_bob_old" || h_fail "bob's connection survived his key change"
p_expect_refused bob bob.1 "$tb" "cached token of bob's old key"
p_wait_metric auth/failed/bad_signature 1
out="$(p_connect bob bob.2 "$(p_token bob bob.2)")" || h_fail "bob's new key refused: $out"

# Disabled: carol's cached token is refused while she is disabled (the status
# is checked before the cache), and accepted again after enable (same key,
# not expired: token_verify would accept it too).
tc="$(p_token carol carol.1)"
p_connect carol carol.1 "$tc" >/dev/null || h_fail "carol's first CONNECT refused"
p_connect carol carol.1 "$tc" >/dev/null || h_fail "carol's reconnect refused"
p_wait_metric auth/token_cache/hits 3
p_sub carol_on carol carol.on 1 parley/u/carol/typing
"$ADMIN" users disable carol >/dev/null || h_fail "users disable carol"
h_wait_for 20 bash -c "! kill -0 $P_PID_carol_on" || h_fail "carol's connection survived her disabling"
p_expect_refused carol carol.1 "$tc" "cached token of a disabled user"
p_wait_metric auth/failed/user_disabled 1
"$ADMIN" users enable carol >/dev/null || h_fail "users enable carol"
ok=0
for ((i = 0; i < 100; i++)); do
  if p_connect carol carol.1 "$tc" >/dev/null; then ok=1; break; fi
  sleep 0.2 # the enable reaches the broker with its next key refresh
done
[ "$ok" = 1 ] || h_fail "carol's cached token refused after enable"

# Expiry: erin's token, valid for 5 s, is cached; after its expires_at
# second (at most the time after minting + 5) it is refused as expired.
te="$(p_token erin erin.1 5)"
exp=$(($(date +%s) + 5))
p_connect erin erin.1 "$te" >/dev/null || h_fail "erin's first CONNECT refused"
h_wait_for 20 bash -c "[ \$(date +%s) -gt $exp ]" || h_fail "clock did not pass $exp"
p_expect_refused erin erin.1 "$te" "cached token after its expiry"
p_wait_metric auth/failed/expired 1
h_pass
