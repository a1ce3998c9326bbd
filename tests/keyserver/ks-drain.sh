#!/usr/bin/env bash
# Prekey draining (issue 11): one-time prekey hand-outs are limited per
# (requester, target) and per target. Past a limit the bundle is still
# served (200, identity key and signed prekey: a session can start) but
# without a one-time prekey, and nothing is consumed.
#  1. Defaults: alice fetches bob's bundle 20 times in a row: every fetch
#     answers 200, exactly 5 carry a one-time prekey, 15 of bob's 20 are left.
#  2. --otpk-pair-limit 3 --otpk-target-limit 8: alice takes 3 of carol's;
#     five more users fetching 3 each take only 5 more (8 in all), and
#     every bundle is still 200 with a valid signed prekey.
#  3. The withheld bundles are counted; limits 0 turn both off.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

count() { ks_req GET /v2/keys "" "$1"; ks_expect 200; ks_json .count; }
# fetch N TOKEN TARGET - N bundles; prints how many carried a one-time prekey.
fetch() {
  local n="$1" tok="$2" target="$3" i got=0
  for ((i = 0; i < n; i++)); do
    ks_req GET "/v2/keys/$target" "" "$tok"
    ks_expect 200
    [ "$(ks_json .signed_prekey.key_id)" != null ] || h_fail "bundle without signed prekey"
    [ "$(ks_json .identity_key)" != null ] || h_fail "bundle without identity key"
    [ "$(ks_json 'has("one_time_prekey")')" = true ] && got=$((got + 1))
  done
  echo "$got"
}

h_start_keyserver --rate-limit 0
for u in alice bob carol; do ks_user "$u"; done
ta="$(ks_token alice)"
ks_req PUT /v2/keys "$(ks_body up-bob kstool prekeys-body "$(ks_keydir bob)" 20)" "$(ks_token bob)"
ks_expect 200
got="$(fetch 20 "$ta" bob)"
h_assert_eq "$got" 5 "one-time prekeys alice got of bob's (default pair limit)"
h_assert_eq "$(count "$(ks_token bob)")" 15 "bob's one-time prekeys left"
kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

h_start_keyserver --rate-limit 0 --otpk-pair-limit 3 --otpk-target-limit 8
tc="$(ks_token carol)"
ks_req PUT /v2/keys "$(ks_body up-carol kstool prekeys-body "$(ks_keydir carol)" 20)" "$tc"
ks_expect 200
got="$(fetch 6 "$ta" carol)"
h_assert_eq "$got" 3 "pair limit 3"
total=$got
for n in 1 2 3 4 5; do
  ks_user "sybil$n"
  got="$(fetch 3 "$(ks_token "sybil$n")" carol)"
  total=$((total + got))
done
h_assert_eq "$total" 8 "one-time prekeys handed out of carol's (target limit 8)"
h_assert_eq "$(count "$tc")" 12 "carol's one-time prekeys left"
# The limit of one target does not touch another: bob's pool is untouched
# by the sybils, and alice's pair budget for bob is her own.
ks_req PUT /v2/keys "$(ks_body up-bob2 kstool prekeys-body "$(ks_keydir bob)" 5 --start-id 1000)" "$(ks_token bob)"
ks_expect 200
h_assert_eq "$(fetch 1 "$(ks_token sybil1)" bob)" 1 "another target's budget"
ks_req GET /metrics
line="$(grep '^parley_keyserver_otpk_withheld_total ' <<<"$KS_BODY")" || h_fail "no withheld metric"
h_assert_eq "${line##* }" 13 "withheld bundles counted (alice 3, sybils 10)"
kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

h_start_keyserver --rate-limit 0 --otpk-pair-limit 0 --otpk-target-limit 0
h_assert_eq "$(fetch 8 "$ta" carol)" 8 "limits off"
h_pass
