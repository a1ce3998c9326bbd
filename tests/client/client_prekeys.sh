#!/usr/bin/env bash
# One-time prekeys are topped up: when the keyserver holds fewer than 10 of a
# user's one-time prekeys, the user's next connection uploads 100 more, and
# sessions started with any of them decrypt.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

# The hand-out limits (issue 11, prekey draining) are off: this test drains on purpose.
h_start_keyserver --rate-limit 0 --otpk-pair-limit 0 --otpk-target-limit 0
h_start_mosquitto
h_user alice
h_user bob

tok() {
  c_parley "$1" token --audience keyserver --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])'
}
ks_count() { curl -sf -H "Authorization: Bearer $(tok "$1")" "$H_KS_URL/v2/keys"; }

h_assert_eq "$(ks_count bob)" '{"count":100}' "prekeys after init"
# Someone fetches 91 of bob's bundles (each hands out one one-time prekey).
ATOK="$(tok alice)"
for i in $(seq 1 91); do
  curl -sf -o /dev/null -H "Authorization: Bearer $ATOK" "$H_KS_URL/v2/keys/bob" ||
    h_fail "bundle fetch $i failed"
done
h_assert_eq "$(ks_count bob)" '{"count":9}' "prekeys after 91 fetches"

# Bob connects: below the low-water mark, he uploads a new batch.
c_listen bob bob1 --timeout 120
c_wait_line 60 "$H_TMP/bob1.out" '"synced"'
h_wait_for 30 bash -c "[ \"\$(curl -sf -H 'Authorization: Bearer $(tok bob)' $H_KS_URL/v2/keys)\" = '{\"count\":109}' ]" ||
  h_fail "no top-up: $(ks_count bob)"

# Sessions on old and new prekeys work: alice (old key 92) and carol (a new
# user, later) both reach bob.
c_parley alice send bob "on an old prekey" --timeout 60 >/dev/null || h_fail "alice's send failed"
c_wait_line 60 "$H_TMP/bob1.out" '"text":"on an old prekey"'
h_user carol
c_parley carol send bob "from carol" --timeout 60 >/dev/null || h_fail "carol's send failed"
c_wait_line 60 "$H_TMP/bob1.out" '"text":"from carol"'
h_assert_eq "$(c_count "$H_TMP/bob1.out" undecryptable)" 0 "undecryptable messages"
h_pass
