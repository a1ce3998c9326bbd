#!/usr/bin/env bash
# Prekeys: upload (signed + one-time), all-or-nothing validation (a bad
# signature, duplicates, too many, bad keys store nothing), count, bundle
# fetch consuming one-time prekeys, bundle without one when exhausted,
# signed prekey rotation.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

h_start_keyserver --rate-limit 0 --otpk-pair-limit 0 --otpk-target-limit 0
ks_user alice
ks_user bob
A="$(ks_keydir alice)"
ta="$(ks_token alice)"; tb="$(ks_token bob)"

count() { ks_req GET /v2/keys "" "$1"; ks_expect 200; ks_json .count; }

h_assert_eq "$(count "$ta")" 0 "initial count"
# No signed prekey yet: no bundle.
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 404 no_signed_prekey
ks_req GET /v2/keys/nobody "" "$tb"
ks_expect 404 unknown_user
ks_req GET "/v2/keys/bad!id" "" "$tb"
ks_expect 400 invalid_user_id

# One bad signature: 422 and nothing stored (the one-time prekeys neither).
ks_req PUT /v2/keys "$(ks_body bad kstool prekeys-body "$A" 10 --bad-sig)" "$ta"
ks_expect 422 invalid_signature
h_assert_eq "$(count "$ta")" 0 "count after refused upload"
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 404 no_signed_prekey
# A signed prekey signed by someone else's identity key: 422.
ks_req PUT /v2/keys "$(ks_body other kstool prekeys-body "$(ks_keydir bob)" 3)" "$ta"
ks_expect 422 invalid_signature
h_assert_eq "$(count "$ta")" 0 "count after foreign signature"

# Too many one-time prekeys in one request: 400, nothing stored.
ks_req PUT /v2/keys "$(ks_body many kstool prekeys-body "$A" 101)" "$ta"
ks_expect 400 too_many_prekeys
h_assert_eq "$(count "$ta")" 0 "count after too many"

# Duplicate key ids within a request: 409, nothing stored.
ks_req PUT /v2/keys "$(ks_body dup kstool prekeys-body "$A" 5 --dup)" "$ta"
ks_expect 409 duplicate_key_id
h_assert_eq "$(count "$ta")" 0 "count after in-request duplicate"

# Bad public keys and bad ids: 400 invalid_key, nothing stored.
jq -c '.one_time_prekeys[2].public_key = "AAAA"' "$(ks_body g kstool prekeys-body "$A" 4)" \
  >"$H_TMP/bk1.json"
ks_req PUT /v2/keys "$H_TMP/bk1.json" "$ta"
ks_expect 400 invalid_key
jq -c '.one_time_prekeys[0].key_id = -1' "$H_TMP/g.json" >"$H_TMP/bk2.json"
ks_req PUT /v2/keys "$H_TMP/bk2.json" "$ta"
ks_expect 400 invalid_key
jq -c '.one_time_prekeys[0].key_id = 4294967296' "$H_TMP/g.json" >"$H_TMP/bk3.json"
ks_req PUT /v2/keys "$H_TMP/bk3.json" "$ta"
ks_expect 400 invalid_key
jq -c '.signed_prekey.signature = "%%%"' "$H_TMP/g.json" >"$H_TMP/bk4.json"
ks_req PUT /v2/keys "$H_TMP/bk4.json" "$ta"
ks_expect 400 invalid_key
jq -c '.one_time_prekeys = {"a": 1}' "$H_TMP/g.json" >"$H_TMP/bk5.json"
ks_req PUT /v2/keys "$H_TMP/bk5.json" "$ta"
ks_expect 400 invalid_key
printf '{"signed_prekey": [' >"$H_TMP/bk6.json"
ks_req PUT /v2/keys "$H_TMP/bk6.json" "$ta"
ks_expect 400 invalid_json
h_assert_eq "$(count "$ta")" 0 "count after invalid bodies"

# A good upload: signed prekey id 1, one-time prekeys 1..5.
ks_req PUT /v2/keys "$(ks_body up1 kstool prekeys-body "$A" 5 --start-id 1)" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 5 "count in upload answer"
h_assert_eq "$(count "$ta")" 5 "count after upload"

# Uploading a stored id again: 409, nothing of that request stored.
ks_req PUT /v2/keys "$(ks_body up2 kstool prekeys-body "$A" 3 --start-id 5 --no-signed)" "$ta"
ks_expect 409 duplicate_key_id
h_assert_eq "$(count "$ta")" 5 "count after stored duplicate"

# More one-time prekeys only (6..8).
ks_req PUT /v2/keys "$(ks_body up3 kstool prekeys-body "$A" 3 --start-id 6 --no-signed)" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 8 "count after second upload"

# Bundles hand out one-time prekeys, lowest id first, each once.
spk="$(jq -r .signed_prekey.public_key "$H_TMP/up1.json")"
seen=""
for i in 1 2 3 4 5 6 7 8; do
  ks_req GET /v2/keys/alice "" "$tb"
  ks_expect 200
  h_assert_eq "$(ks_json .user_id)" alice "bundle user"
  h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "$A")" "bundle identity key"
  h_assert_eq "$(ks_json .signed_prekey.key_id)" 1 "bundle signed prekey id"
  h_assert_eq "$(ks_json .signed_prekey.public_key)" "$spk" "bundle signed prekey"
  h_assert_eq "$(ks_json .signed_prekey.signature)" \
    "$(jq -r .signed_prekey.signature "$H_TMP/up1.json")" "bundle signature"
  id="$(ks_json .one_time_prekey.key_id)"
  h_assert_eq "$id" "$i" "one-time prekey id"
  want="$(jq -r --argjson id "$id" '.one_time_prekeys[] | select(.key_id == $id) | .public_key' \
    "$H_TMP/up1.json" "$H_TMP/up3.json")"
  h_assert_eq "$(ks_json .one_time_prekey.public_key)" "$want" "one-time prekey $id"
  h_assert_not_contains " $seen " " $id " "one-time prekey $id handed out twice"
  seen="$seen $id"
  h_assert_eq "$(count "$ta")" "$((8 - i))" "count after bundle $i"
done

# Exhausted: the bundle comes without one_time_prekey.
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json 'has("one_time_prekey")')" false "no one-time prekey when exhausted"
h_assert_eq "$(ks_json .signed_prekey.key_id)" 1 "signed prekey still served"

# A user can fetch its own bundle too.
ks_req GET /v2/keys/alice "" "$ta"
ks_expect 200

# Signed prekey rotation: the bundle now carries the new one.
ks_req PUT /v2/keys "$(ks_body rot kstool prekeys-body "$A" 0 --start-id 2)" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 0 "count after rotation"
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json .signed_prekey.key_id)" 2 "rotated signed prekey id"
h_assert_eq "$(ks_json .signed_prekey.public_key)" \
  "$(jq -r .signed_prekey.public_key "$H_TMP/rot.json")" "rotated signed prekey"

# An empty upload changes nothing and answers the count.
printf '{}' >"$H_TMP/empty.json"
ks_req PUT /v2/keys "$H_TMP/empty.json" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 0 "empty upload"
h_pass
