#!/usr/bin/env bash
# Concurrent bundle fetches: 8 parallel clients fetch 160 bundles of a user
# holding 100 one-time prekeys. Every one-time prekey must be handed out
# exactly once - never twice - and the remaining 60 bundles come without one.
# Then parallel uploads and parallel first registrations.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

h_start_keyserver --rate-limit 0 --threads 8 --otpk-pair-limit 0 --otpk-target-limit 0
ks_user alice
ks_user bob
A="$(ks_keydir alice)"
ta="$(ks_token alice)"; tb="$(ks_token bob)"

ks_req PUT /v2/keys "$(ks_body up kstool prekeys-body "$A" 100 --start-id 1000)" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 100 "uploaded"

# Each client: one curl process, 20 sequential requests on a kept-alive
# connection, one JSON document (then the status) per line.
CLIENTS=8 PER_CLIENT=20
urls=()
for ((i = 0; i < PER_CLIENT; i++)); do urls+=("$H_KS_URL/v2/keys/alice"); done
pids=()
for ((c = 0; c < CLIENTS; c++)); do
  curl -sS --max-time 120 -H "Authorization: Bearer $tb" -w '\n%{http_code}\n' "${urls[@]}" \
    >"$H_TMP/client-$c.out" 2>"$H_TMP/client-$c.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || h_fail "a fetching client failed"; done

cat "$H_TMP"/client-*.out >"$H_TMP/all.out"
statuses="$(awk 'NR % 2 == 0' "$H_TMP/all.out" | sort | uniq -c | tr -s ' ')"
h_assert_eq "$statuses" " $((CLIENTS * PER_CLIENT)) 200" "every fetch answered 200"
awk 'NR % 2 == 1' "$H_TMP/all.out" >"$H_TMP/bundles.jsonl"
h_assert_eq "$(jq -s 'length' "$H_TMP/bundles.jsonl")" "$((CLIENTS * PER_CLIENT))" "bundles"
h_assert_eq "$(jq -s 'map(select(.identity_key != null and .signed_prekey.key_id == 1000))
  | length' "$H_TMP/bundles.jsonl")" "$((CLIENTS * PER_CLIENT))" "complete bundles"

jq -r 'select(has("one_time_prekey")) | .one_time_prekey.key_id' "$H_TMP/bundles.jsonl" \
  | sort -n >"$H_TMP/ids"
dups="$(uniq -d "$H_TMP/ids" | tr '\n' ' ')"
[ -z "$dups" ] || h_fail "one-time prekeys handed out more than once: $dups"
h_assert_eq "$(wc -l <"$H_TMP/ids" | tr -d ' ')" 100 "one-time prekeys handed out"
h_assert_eq "$(head -1 "$H_TMP/ids"),$(tail -1 "$H_TMP/ids")" "1000,1099" "id range"
# Each handed-out public key is the one uploaded under that id.
jq -r '.one_time_prekeys[] | "\(.key_id) \(.public_key)"' "$H_TMP/up.json" | sort >"$H_TMP/want"
jq -r 'select(has("one_time_prekey")) | "\(.one_time_prekey.key_id) \(.one_time_prekey.public_key)"' \
  "$H_TMP/bundles.jsonl" | sort >"$H_TMP/got"
cmp -s "$H_TMP/want" "$H_TMP/got" || h_fail "handed-out public keys differ from the uploaded ones"
h_assert_eq "$(jq -s 'map(select(has("one_time_prekey") | not)) | length' "$H_TMP/bundles.jsonl")" \
  "$((CLIENTS * PER_CLIENT - 100))" "bundles without a one-time prekey"

ks_req GET /v2/keys "" "$ta"
ks_expect 200
h_assert_eq "$(ks_json .count)" 0 "nothing left"

# Parallel uploads by one user: 8 disjoint batches of 50 all land; 8 uploads
# of the same ids: exactly one lands, the others are 409 and add nothing.
pids=()
for ((c = 0; c < 8; c++)); do
  kstool prekeys-body "$A" 50 --start-id $((5000 + c * 50)) --no-signed >"$H_TMP/par-$c.json"
done
for ((c = 0; c < 8; c++)); do
  curl -sS --max-time 120 -o /dev/null -w '%{http_code}\n' -X PUT -H "Authorization: Bearer $ta" \
    --data-binary "@$H_TMP/par-$c.json" "$H_KS_URL/v2/keys" >"$H_TMP/par-$c.status" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || h_fail "an uploading client failed"; done
h_assert_eq "$(sort "$H_TMP"/par-*.status | uniq -c | tr -s ' ')" " 8 200" "disjoint uploads"
ks_req GET /v2/keys "" "$ta"
h_assert_eq "$(ks_json .count)" 400 "count after disjoint parallel uploads"

kstool prekeys-body "$A" 20 --start-id 9000 --no-signed >"$H_TMP/same.json"
pids=()
for ((c = 0; c < 8; c++)); do
  curl -sS --max-time 120 -o /dev/null -w '%{http_code}\n' -X PUT -H "Authorization: Bearer $ta" \
    --data-binary "@$H_TMP/same.json" "$H_KS_URL/v2/keys" >"$H_TMP/same-$c.status" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || h_fail "an uploading client failed"; done
h_assert_eq "$(sort "$H_TMP"/same-*.status | uniq -c | tr -s ' ' | tr '\n' ,)" " 1 200, 7 409," \
  "same-id uploads"
ks_req GET /v2/keys "" "$ta"
h_assert_eq "$(ks_json .count)" 420 "count after same-id parallel uploads"

# Parallel first registrations of one user id with different keys: exactly
# one binds (201), the rest are 409; the bound key is the winner's.
pids=()
for ((c = 0; c < 6; c++)); do
  kstool keygen "$H_TMP/race-$c" >/dev/null
  kstool register-body "$H_TMP/race-$c" carol >"$H_TMP/race-$c.json"
done
for ((c = 0; c < 6; c++)); do
  curl -sS --max-time 120 -o /dev/null -w '%{http_code}\n' -X PUT \
    --data-binary "@$H_TMP/race-$c.json" "$H_KS_URL/v1/identity/carol" >"$H_TMP/race-$c.status" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || h_fail "a registering client failed"; done
h_assert_eq "$(sort "$H_TMP"/race-*.status | uniq -c | tr -s ' ' | tr '\n' ,)" " 1 201, 5 409," \
  "racing registrations"
winner="$(grep -l 201 "$H_TMP"/race-*.status)"
ks_req GET /v1/identity/carol
h_assert_eq "$(ks_json .identity_key)" "$(kstool pubkey "${winner%.status}")" "bound key"
h_pass
