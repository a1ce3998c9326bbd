#!/usr/bin/env bash
# Bearer tokens on /v2/keys: missing, not Bearer, malformed, expired, too
# long-lived, wrong audience, wrong signature, unknown user, a token naming
# another user. Each is 401 unauthorized with the reason; nothing is stored.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

h_start_keyserver --rate-limit 0
ks_user alice
ks_user bob
A="$(ks_keydir alice)"; B="$(ks_keydir bob)"
body="$(ks_body up kstool prekeys-body "$A" 3)"

refused() { # refused TOKEN REASON_SUBSTRING
  ks_req PUT /v2/keys "$body" "$1"
  ks_expect 401 unauthorized
  h_assert_contains "$(ks_json .message)" "$2" "401 reason"
  h_assert_contains "$KS_HEADERS" "WWW-Authenticate: Bearer" "WWW-Authenticate header"
  ks_req GET /v2/keys/bob "" "$1"
  ks_expect 401 unauthorized
}

# No Authorization header at all.
ks_req GET /v2/keys
ks_expect 401 unauthorized
h_assert_contains "$(ks_json .message)" "missing" "missing header"
# Not a Bearer token.
KS_STATUS="$(curl -sS -o "$H_TMP/r" -w '%{http_code}' -H 'Authorization: Basic YWxpY2U6eA==' \
  "$H_KS_URL/v2/keys")"
h_assert_eq "$KS_STATUS" 401 "Basic auth"

refused "garbage" "malformed token"
refused "$(ks_token alice keyserver -10)" "token expired"
refused "$(ks_token alice keyserver 200000)" "token lifetime too long"
refused "$(ks_token alice media)" "another service"
refused "$(ks_token alice mqtt)" "another service"
refused "$(kstool token "$B" alice keyserver)" "bad token signature"   # alice's claim, bob's key
kstool keygen "$H_TMP/keys-ghost"
refused "$(kstool token "$H_TMP/keys-ghost" ghost keyserver)" "unknown user"
# A valid token of alice with its payload's user (line 2) swapped for bob: bad signature.
tok="$(ks_token alice)"
payload="$(cut -d. -f1 <<<"$tok" | tr -- '-_' '+/')"
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
forged="$(base64 -d <<<"$payload" | sed '2s/^alice$/bob/' | base64 -w0 | tr -- '+/' '-_' | tr -d '=')"
refused "$forged.$(cut -d. -f2 <<<"$tok")" "bad token signature"

# Nothing was stored by any refused request.
ks_req GET /v2/keys "" "$(ks_token alice)"
ks_expect 200
h_assert_eq "$(ks_json .count)" 0 "nothing stored"

# The identity routes need no token.
ks_req GET /v1/identity/alice
ks_expect 200

# The auth failures are counted by reason.
ks_req GET /metrics
ks_expect 200
for r in missing malformed expired lifetime wrong_audience signature unknown_user; do
  line="$(grep "^parley_keyserver_auth_failures_total{reason=\"$r\"}" <<<"$KS_BODY")" ||
    h_fail "no auth failure metric for $r"
  [ "${line##* }" -ge 1 ] || h_fail "auth failure $r not counted: $line"
done
h_pass
