#!/usr/bin/env bash
# Media over the filesystem backend: encrypted round trip, the stored bytes
# never hold the plaintext, metadata, Range downloads and resume, tampered and
# truncated ciphertext refused by the client, bad tokens, owner-only delete,
# hash mismatch, health and metrics.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"

h_start_media
DIR="$H_TMP/media"
m_user alice
m_user bob

h_assert_eq "$(m_http GET /healthz '')" 200 "healthz"
h_assert_contains "$(cat "$H_TMP/body")" '"status":"ok"'

# --- round trip: encrypt + upload as alice, download + verify + decrypt as bob
m_plaintext "$H_TMP/plain.bin" 3
out="$("$MTOOL" send "$H_MEDIA_URL" "$TOKEN_alice" "$H_TMP/plain.bin")" || h_fail "send"
id="$(m_field media_id "$out")"; key="$(m_field key "$out")"; sha="$(m_field sha256 "$out")"
h_log "uploaded $id"
[ -f "$DIR/$id" ] || h_fail "blob $DIR/$id missing"
h_assert_eq "$(m_rows)" 1 "one media record"
! grep -rqF "$M_MARKER" "$DIR" || h_fail "plaintext marker found in the stored blobs"
h_assert_eq "$(sha256sum <"$DIR/$id" | cut -d' ' -f1)" "$sha" "stored bytes hash to the sha256"

m_fetch "$H_MEDIA_URL" "$TOKEN_bob" "$out" "$H_TMP/got.bin" || h_fail "fetch"
h_assert_eq "$(m_field file_name "$out")" plain.bin "file name in the reference"
h_assert_eq "$(m_field size "$out")" "$(stat -c %s "$H_TMP/plain.bin")" "plaintext size in the reference"
[ ! -e "$H_TMP/got.bin.download" ] || h_fail "ciphertext left after fetch"
# a reference announcing another size is refused, nothing written
if "$MTOOL" fetch "$H_MEDIA_URL" "$TOKEN_bob" "$id" "$key" "$sha" 5 "$H_TMP/wrong-size.bin" 2>"$H_TMP/err"; then
  h_fail "fetch with a wrong size passed"
fi
h_assert_contains "$(cat "$H_TMP/err")" "announced 5"
[ ! -e "$H_TMP/wrong-size.bin" ] || h_fail "plaintext written for a wrong-size reference"
cmp -s "$H_TMP/plain.bin" "$H_TMP/got.bin" || h_fail "decrypted file differs from the original"

# --- concurrent uploads (one thread and one store connection per connection)
pids=()
for i in 1 2 3 4; do
  head -c $((200000 + i * 70000)) /dev/urandom >"$H_TMP/c$i.bin"
  "$MTOOL" send "$H_MEDIA_URL" "$TOKEN_alice" "$H_TMP/c$i.bin" >"$H_TMP/c$i.out" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || h_fail "a concurrent upload failed"; done
for i in 1 2 3 4; do
  o="$(cat "$H_TMP/c$i.out")"
  m_fetch "$H_MEDIA_URL" "$TOKEN_bob" "$o" "$H_TMP/c$i.got" || h_fail "fetch of concurrent upload $i"
  cmp -s "$H_TMP/c$i.bin" "$H_TMP/c$i.got" || h_fail "concurrent upload $i differs"
  h_assert_eq "$(m_http DELETE "/v1/media/$(m_field media_id "$o")" "$TOKEN_alice")" 204 "cleanup $i"
done
h_assert_eq "$(m_rows)" 1 "one media record after the concurrent ones were deleted"

# --- metadata
h_assert_eq "$(m_http GET "/v1/media/$id" "$TOKEN_bob")" 200 "metadata"
meta="$(cat "$H_TMP/body")"
size=$(stat -c %s "$DIR/$id")
h_assert_contains "$meta" "\"media_id\":\"$id\""
h_assert_contains "$meta" "\"sha256\":\"$sha\""
h_assert_contains "$meta" "\"size\":$size"
h_assert_contains "$meta" '"expires_at":0'

# --- Range downloads
blob="$DIR/$id"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_bob" -r 100-199)" 206 "range a-b"
cmp -s "$H_TMP/body" <(tail -c +101 "$blob" | head -c 100) || h_fail "range 100-199 bytes differ"
h_assert_contains "$(cat "$H_TMP/headers")" "Content-Range: bytes 100-199/$size"
h_assert_contains "$(cat "$H_TMP/headers")" "ETag: \"$sha\""
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_bob" -H 'Range: bytes=-50')" 206 "suffix"
cmp -s "$H_TMP/body" <(tail -c 50 "$blob") || h_fail "suffix range differs"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_bob" -r "$((size - 10))-")" 206 "open"
cmp -s "$H_TMP/body" <(tail -c 10 "$blob") || h_fail "open range differs"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_bob" -r "$size-")" 416 "unsatisfiable"
h_assert_contains "$(cat "$H_TMP/headers")" "Content-Range: bytes */$size"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_bob")" 200 "full download"
cmp -s "$H_TMP/body" "$blob" || h_fail "full download differs"
h_assert_contains "$(cat "$H_TMP/headers")" "Content-Length: $size"

# --- resume: a partial earlier download is completed with a Range request
head -c 1000000 "$blob" >"$H_TMP/partial.cipher"
r="$("$MTOOL" download "$H_MEDIA_URL" "$TOKEN_bob" "$id" "$H_TMP/partial.cipher" "$sha")" ||
  h_fail "resume download"
h_assert_eq "$r" "resumed_from=1000000" "download resumed"
cmp -s "$H_TMP/partial.cipher" "$blob" || h_fail "resumed download differs"
# a corrupt prefix is caught by the hash and removed
head -c 5000 /dev/urandom >"$H_TMP/bad.cipher"
if "$MTOOL" download "$H_MEDIA_URL" "$TOKEN_bob" "$id" "$H_TMP/bad.cipher" "$sha" 2>"$H_TMP/err"; then
  h_fail "download over a corrupt prefix passed"
fi
h_assert_contains "$(cat "$H_TMP/err")" "hash mismatch"
[ ! -e "$H_TMP/bad.cipher" ] || h_fail "corrupt download kept"

# --- tampered and truncated ciphertext is refused by the client
cp "$blob" "$H_TMP/t.cipher"
h_flip_byte "$H_TMP/t.cipher" 200000
if "$MTOOL" decrypt "$H_TMP/t.cipher" "$H_TMP/t.out" "$key" "$sha" 2>"$H_TMP/err"; then h_fail "tampered (hash) accepted"; fi
h_assert_contains "$(cat "$H_TMP/err")" "hash mismatch"
if "$MTOOL" decrypt "$H_TMP/t.cipher" "$H_TMP/t.out" "$key" 2>"$H_TMP/err"; then h_fail "tampered (auth) accepted"; fi
h_assert_contains "$(cat "$H_TMP/err")" "failed authentication"
head -c $((size - 100)) "$blob" >"$H_TMP/short.cipher"
if "$MTOOL" decrypt "$H_TMP/short.cipher" "$H_TMP/t.out" "$key" 2>"$H_TMP/err"; then h_fail "truncated accepted"; fi
h_assert_contains "$(cat "$H_TMP/err")" "failed authentication"
# cut exactly after the first full record: no final record
head -c $((24 + 65536 + 17)) "$blob" >"$H_TMP/cut.cipher"
if "$MTOOL" decrypt "$H_TMP/cut.cipher" "$H_TMP/t.out" "$key" 2>"$H_TMP/err"; then h_fail "record-cut accepted"; fi
h_assert_contains "$(cat "$H_TMP/err")" "final record"
cat "$blob" <(printf 'junk') >"$H_TMP/long.cipher"
if "$MTOOL" decrypt "$H_TMP/long.cipher" "$H_TMP/t.out" "$key" 2>"$H_TMP/err"; then h_fail "extended accepted"; fi
[ ! -e "$H_TMP/t.out" ] || h_fail "partial plaintext left behind"
ls "$H_TMP" | grep -q 't.out.partial' && h_fail "temporary plaintext left behind"
# a wrong key fails too
if "$MTOOL" decrypt "$blob" "$H_TMP/t.out" "$(printf '%064d' 0)" 2>/dev/null; then h_fail "wrong key accepted"; fi

# --- bad tokens: 401
h_assert_eq "$(m_http GET "/v1/media/$id" '')" 401 "no token"
h_assert_contains "$(cat "$H_TMP/body")" '"error":"unauthorized"'
h_assert_contains "$(cat "$H_TMP/body")" 'missing Authorization header'
h_assert_contains "$(cat "$H_TMP/headers")" 'WWW-Authenticate: Bearer realm="parley"'
h_assert_eq "$(m_http GET "/v1/media/$id" 'garbage.token')" 401 "garbage token"
h_assert_eq "$(m_http GET "/v1/media/$id" "$("$MTOOL" token "$H_TMP/alice.key" alice keyserver)")" 401 "wrong audience"
h_assert_eq "$(m_http GET "/v1/media/$id" "$("$MTOOL" token "$H_TMP/alice.key" alice media -30)")" 401 "expired"
h_assert_eq "$(m_http GET "/v1/media/$id" "$("$MTOOL" token "$H_TMP/alice.key" alice media 200000)")" 401 "too long-lived"
h_assert_eq "$(m_http GET "/v1/media/$id" "$("$MTOOL" token "$H_TMP/bob.key" alice)")" 401 "bob's key for alice"
h_assert_eq "$(m_http GET "/v1/media/$id" "$("$MTOOL" token "$H_TMP/alice.key" mallory)")" 401 "unknown user"
h_assert_eq "$(m_http POST /v1/media '' -H 'Expect: 100-continue' --data-binary @"$H_TMP/plain.bin")" 401 "upload without token"
h_assert_eq "$(m_rows)" 1 "no record from refused requests"

# --- unknown / malformed ids, unknown routes, methods
h_assert_eq "$(m_http GET /v1/media/AAAAAAAAAAAAAAAAAAAAAA "$TOKEN_bob")" 404 "unknown id"
h_assert_eq "$(m_http GET /v1/media/..%2Fetc "$TOKEN_bob")" 404 "malformed id"
h_assert_eq "$(m_http GET /v1/nothing "$TOKEN_bob")" 404 "unknown route"
h_assert_eq "$(m_http PUT "/v1/media/$id" "$TOKEN_bob")" 405 "PUT"
h_assert_contains "$(cat "$H_TMP/headers")" "Allow: GET, DELETE"
h_assert_eq "$(m_http GET /v1/media "$TOKEN_bob")" 405 "GET on the upload route"
h_assert_contains "$(cat "$H_TMP/headers")" "Allow: POST"

# --- hash mismatch: 422 and nothing kept
files_before=$(m_files "$DIR")
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/plain.bin" \
  -H "X-Parley-SHA256: $(printf '%064d' 0)")" 422 "hash mismatch"
h_assert_contains "$(cat "$H_TMP/body")" '"error":"hash_mismatch"'
h_assert_eq "$(m_files "$DIR")" "$files_before" "no blob after a hash mismatch"
h_assert_eq "$(m_rows)" 1 "no record after a hash mismatch"
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/plain.bin" \
  -H 'Expect: 100-continue' -H "X-Parley-SHA256: xyz")" 400 "malformed X-Parley-SHA256"

# --- delete: owner only
h_assert_eq "$(m_http DELETE "/v1/media/$id" "$TOKEN_bob")" 403 "non-owner delete"
h_assert_contains "$(cat "$H_TMP/body")" '"error":"forbidden"'
[ -f "$blob" ] || h_fail "blob removed by a refused delete"
h_assert_eq "$(m_http DELETE "/v1/media/$id" "$TOKEN_alice")" 204 "owner delete"
[ ! -e "$blob" ] || h_fail "blob still present after delete"
h_assert_eq "$(m_rows)" 0 "record removed"
h_assert_eq "$(m_http GET "/v1/media/$id" "$TOKEN_alice")" 404 "gone"
h_assert_eq "$(m_http DELETE "/v1/media/$id" "$TOKEN_alice")" 404 "second delete"

# --- metrics
h_assert_eq "$(m_http GET /metrics '')" 200 "metrics"
m="$(cat "$H_TMP/body")"
h_assert_contains "$m" 'parley_media_uploads_total{backend="file"} 5'
h_assert_contains "$m" 'parley_media_deletes_total{backend="file"} 5'
h_assert_contains "$m" 'parley_media_errors_total{backend="file",code="hash_mismatch"} 1'
h_assert_contains "$m" 'parley_media_active_uploads{backend="file"} 0'
h_pass
