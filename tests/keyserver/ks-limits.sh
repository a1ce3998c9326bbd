#!/usr/bin/env bash
# Limits and refusals: bodies over --max-body (declared and chunked) are 413,
# unknown routes 404, wrong methods 405 with Allow, malformed JSON 400, and
# the per-IP and per-user rate limits answer 429 with Retry-After
# (monitoring exempt).
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

# Part 1: body size and routing, no rate limit.
h_start_keyserver --rate-limit 0 --max-body 1024
ks_user alice
ta="$(ks_token alice)"

head -c 5000 /dev/zero | tr '\0' 'x' >"$H_TMP/big.txt"
ks_req PUT /v1/identity/bob "$H_TMP/big.txt"
ks_expect 413 body_too_large
ks_req PUT /v2/keys "$H_TMP/big.txt" "$ta"
ks_expect 413 body_too_large
# Chunked (no Content-Length): refused once the limit is crossed.
KS_STATUS="$(curl -sS -o "$H_TMP/r" -w '%{http_code}' -X PUT -H 'Transfer-Encoding: chunked' \
  -H 'Content-Type: application/json' --data-binary "@$H_TMP/big.txt" "$H_KS_URL/v1/identity/bob")"
h_assert_eq "$KS_STATUS" 413 "chunked oversized body"
h_assert_eq "$(jq -r .error "$H_TMP/r")" body_too_large "chunked error code"
# A body right at the limit is read (and here refused as JSON, not as size).
head -c 1024 /dev/zero | tr '\0' ' ' >"$H_TMP/edge.txt"
ks_req PUT /v1/identity/bob "$H_TMP/edge.txt"
ks_expect 400 invalid_json
# Nothing was registered by the refused requests; the server is still fine.
ks_req GET /v1/identity/bob
ks_expect 404 unknown_user

# Malformed JSON.
printf '{"identity_key": "x",}' >"$H_TMP/bad.json"
ks_req PUT /v1/identity/bob "$H_TMP/bad.json"
ks_expect 400 invalid_json
printf '{"a":1,"a":2}' >"$H_TMP/dupkey.json"
ks_req PUT /v1/identity/bob "$H_TMP/dupkey.json"
ks_expect 400 invalid_json
printf '\xff\xfe{}' >"$H_TMP/bin.json"
ks_req PUT /v2/keys "$H_TMP/bin.json" "$ta"
ks_expect 400 invalid_json

# Unknown routes and wrong methods.
ks_req GET /v1/nothing
ks_expect 404 not_found
ks_req GET /
ks_expect 404 not_found
ks_req GET "/v1/%FF%FE"          # not UTF-8 once unescaped: still a JSON error
ks_expect 404 not_found
ks_req GET "/v1/identity/%FF%0A"   # a control character: refused before routing
ks_expect 400 invalid_path
ks_req GET "/v1/identity/%FF%FE"
ks_expect 400 invalid_user_id
ks_req DELETE /v1/identity/alice
ks_expect 405 method_not_allowed
h_assert_contains "$KS_HEADERS" "Allow: GET, PUT" "Allow header"
ks_req PUT /v2/keys/alice "$H_TMP/bad.json" "$ta"
ks_expect 405 method_not_allowed
ks_req POST /healthz
ks_expect 405 method_not_allowed

ks_user bob
tb="$(ks_token bob)"

# Part 2: a tiny rate limit (3 per minute per IP and per user).
kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true
h_start_keyserver --rate-limit 3
for i in 1 2 3; do
  ks_req GET /v1/identity/alice
  ks_expect 200
done
ks_req GET /v1/identity/alice
ks_expect 429 rate_limited
ra="$(grep -i '^Retry-After:' <<<"$KS_HEADERS" | tr -dc '0-9')"
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || h_fail "bad Retry-After: '$ra'"
ks_req GET /v2/keys "" "$ta"
ks_expect 429 rate_limited
# Per user: alice from three fresh addresses uses up her budget; a fourth
# address is refused for the user, while bob (same address) still gets in.
for n in 2 3 4; do
  KS_IFACE=127.0.0.$n ks_req GET /v2/keys "" "$ta"
  ks_expect 200
done
KS_IFACE=127.0.0.5 ks_req GET /v2/keys "" "$ta"
ks_expect 429 rate_limited
h_assert_contains "$(ks_json .message)" "user" "per-user refusal"
KS_IFACE=127.0.0.5 ks_req GET /v2/keys "" "$tb"
ks_expect 200
# Monitoring is not rate limited, and counts the refusals.
ks_req GET /healthz
ks_expect 200
ks_req GET /metrics
ks_expect 200
line="$(grep '^parley_keyserver_rate_limited_total ' <<<"$KS_BODY")" || h_fail "no rate metric"
[ "${line##* }" -ge 3 ] || h_fail "rate-limited requests not counted: $line"
h_pass
