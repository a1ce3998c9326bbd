#!/usr/bin/env bash
# Identity registration: first binding, idempotent repeat, conflicts, signed
# key changes (good and bad), lookups, invalid ids, bad base64, bad proofs.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

h_start_keyserver --rate-limit 0
A="$(ks_keydir alice)"; B="$(ks_keydir alice2)"; C="$(ks_keydir mallory)"
kstool keygen "$A"; kstool keygen "$B"; kstool keygen "$C"

# First registration binds: 201 with the record.
reg="$(ks_body reg kstool register-body "$A" alice)"
ks_req PUT /v1/identity/alice "$reg"
ks_expect 201
h_assert_eq "$(ks_json .user_id)" alice "user_id"
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$A")" "identity_key"
created="$(ks_json .created_at)"
[ "$created" -gt 1600000000000 ] || h_fail "created_at is not in ms: $created"

# Same key again: 200, nothing changes.
ks_req PUT /v1/identity/alice "$reg"
ks_expect 200
h_assert_eq "$(ks_json .created_at)" "$created" "created_at after idempotent put"

# Lookup.
ks_req GET /v1/identity/alice
ks_expect 200
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$A")" "fetched key"
h_assert_eq "$(ks_json .created_at)" "$created" "fetched created_at"
h_assert_eq "$(ks_json .updated_at)" "$created" "fetched updated_at"

# Another key without a change signature: 409, the old key stays.
ks_req PUT /v1/identity/alice "$(ks_body reg2 kstool register-body "$B" alice)"
ks_expect 409 identity_exists
ks_req GET /v1/identity/alice
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$A")" "key after refused change"

# A key change signed by the wrong old key (mallory's): 403, nothing changes.
ks_req PUT /v1/identity/alice "$(ks_body chbad kstool change-body "$C" "$B" alice)"
ks_expect 403 invalid_signature
ks_req GET /v1/identity/alice
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$A")" "key after bad change"

# Upload one-time prekeys under the old key; a good change clears them.
tok="$(ks_token alice)"
ks_req POST /v2/keys "" "$tok"   # wrong method first: 405
ks_expect 405 method_not_allowed
ks_req PUT /v2/keys "$(ks_body pk kstool prekeys-body "$A" 5)" "$tok"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 5 "count before change"

ks_req PUT /v1/identity/alice "$(ks_body ch kstool change-body "$A" "$B" alice)"
ks_expect 200
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$B")" "key after change"
ks_req GET /v1/identity/alice
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$B")" "fetched key after change"
h_assert_eq "$(ks_json .created_at)" "$created" "created_at survives a change"
[ "$(ks_json .updated_at)" -ge "$created" ] || h_fail "updated_at went backwards"

# The old key's token no longer works; the new key's does, and sees 0 prekeys.
ks_req GET /v2/keys "" "$tok"
ks_expect 401 unauthorized
tok2="$(kstool token "$B" alice keyserver)"
ks_req GET /v2/keys "" "$tok2"
ks_expect 200
h_assert_eq "$(ks_json .count)" 0 "one-time prekeys cleared by the key change"
# The old signed prekey was signed by the old key: no bundle until a new upload.
ks_req GET /v2/keys/alice "" "$tok2"
ks_expect 404 no_signed_prekey

# Repeating the same (applied) change is idempotent: same key, 200.
ks_req PUT /v1/identity/alice "$H_TMP/ch.json"
ks_expect 200

# Unknown user.
ks_req GET /v1/identity/nobody
ks_expect 404 unknown_user

# Invalid ids (path): too long, bad characters.
long="$(printf 'x%.0s' {1..65})"
ks_req PUT "/v1/identity/$long" "$reg"
ks_expect 400 invalid_user_id
ks_req GET "/v1/identity/$long"
ks_expect 400 invalid_user_id
ks_req GET "/v1/identity/a%20b"
ks_expect 400 invalid_user_id
ks_req PUT "/v1/identity/a!b" "$reg"
ks_expect 400 invalid_user_id
ks_req GET "/v1/identity/"
ks_expect 400 invalid_user_id

# Bad base64 and bad lengths: 400 invalid_key; nothing registered.
printf '{"identity_key":"not base64!","proof":"%s"}' "$(jq -r .proof "$reg")" >"$H_TMP/b1.json"
ks_req PUT /v1/identity/bob "$H_TMP/b1.json"
ks_expect 400 invalid_key
printf '{"identity_key":"AAAA","proof":"%s"}' "$(jq -r .proof "$reg")" >"$H_TMP/b2.json"
ks_req PUT /v1/identity/bob "$H_TMP/b2.json"
ks_expect 400 invalid_key
printf '{"identity_key":"%s","proof":"AAAA"}' "$(kstool pubkey "$C")" >"$H_TMP/b3.json"
ks_req PUT /v1/identity/bob "$H_TMP/b3.json"
ks_expect 400 invalid_key
printf '{"proof":"%s"}' "$(jq -r .proof "$reg")" >"$H_TMP/b4.json"
ks_req PUT /v1/identity/bob "$H_TMP/b4.json"
ks_expect 400 invalid_key
printf '{"identity_key":42,"proof":"x"}' >"$H_TMP/b5.json"
ks_req PUT /v1/identity/bob "$H_TMP/b5.json"
ks_expect 400 invalid_key
# base64url alphabet or missing padding is not standard padded base64.
jq -c '.identity_key |= (gsub("\\+";"-") | gsub("/";"_") | rtrimstr("="))' \
  "$(ks_body rb kstool register-body "$C" bob)" >"$H_TMP/b6.json"
ks_req PUT /v1/identity/bob "$H_TMP/b6.json"
ks_expect 400 invalid_key
printf '{"identity_key":"%s","proof":"%s","change_signature":"short"}' \
  "$(kstool pubkey "$C")" "$(jq -r .proof "$H_TMP/rb.json")" >"$H_TMP/b7.json"
ks_req PUT /v1/identity/bob "$H_TMP/b7.json"
ks_expect 400 invalid_key

# Bad proofs: a proof for another user id, and a proof by another key.
ks_req PUT /v1/identity/bob "$(ks_body pb kstool register-body "$C" carol)"
ks_expect 403 invalid_proof
jq -c --arg k "$(kstool pubkey "$A")" '.identity_key = $k' "$H_TMP/rb.json" >"$H_TMP/b8.json"
ks_req PUT /v1/identity/bob "$H_TMP/b8.json"
ks_expect 403 invalid_proof
ks_req GET /v1/identity/bob
ks_expect 404 unknown_user

# Malformed JSON: 400 invalid_json with jansson's text; a JSON array is not an object.
printf '{"identity_key": ' >"$H_TMP/j1.json"
ks_req PUT /v1/identity/bob "$H_TMP/j1.json"
ks_expect 400 invalid_json
h_assert_contains "$(ks_json .message)" "line 1" "jansson error position"
printf '[1,2]' >"$H_TMP/j2.json"
ks_req PUT /v1/identity/bob "$H_TMP/j2.json"
ks_expect 400 invalid_json
ks_req PUT /v1/identity/bob ""
ks_expect 400 invalid_json

# Finally bob registers for real.
ks_req PUT /v1/identity/bob "$H_TMP/rb.json"
ks_expect 201
h_pass
