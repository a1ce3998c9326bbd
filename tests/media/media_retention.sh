#!/usr/bin/env bash
# Retention: with --retention-s, media get expires_at = created_at + N s and
# the sweeper (at start, then every --retention-interval-s) deletes expired
# blobs and then their records; media without retention never expire.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"

m_user alice
DIR="$H_TMP/media"
head -c 100000 /dev/urandom >"$H_TMP/a.bin"

# A gateway without retention stores a medium that never expires.
h_start_media
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/a.bin")" 201 "upload kept"
h_assert_contains "$(cat "$H_TMP/body")" '"expires_at":0'
keep="$(sed -n 's/.*"media_id":"\([^"]*\)".*/\1/p' "$H_TMP/body")"
kill -TERM "$H_MEDIA_PID"; wait "$H_MEDIA_PID" 2>/dev/null || true

# Retention 2 s, sweeping every second.
h_start_media --retention-s 2 --retention-interval-s 1
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/a.bin")" 201 "upload expiring"
body="$(cat "$H_TMP/body")"
gone="$(sed -n 's/.*"media_id":"\([^"]*\)".*/\1/p' <<<"$body")"
created=$(sed -n 's/.*"created_at":\([0-9]*\).*/\1/p' <<<"$body")
expires=$(sed -n 's/.*"expires_at":\([0-9]*\).*/\1/p' <<<"$body")
h_assert_eq "$((expires - created))" 2000 "expires_at = created_at + 2 s (ms)"
[ -f "$DIR/$gone" ] || h_fail "blob missing right after upload"

expired() { [ "$(m_http GET "/v1/media/$gone" "$TOKEN_alice")" = 404 ] && [ ! -e "$DIR/$gone" ]; }
h_wait_for 60 expired || h_fail "expired media not deleted within 60 s"
h_assert_eq "$(sqlite3 "${H_STORE#sqlite:}" "SELECT count(*) FROM media WHERE media_id='$gone';")" 0 "record deleted"
h_assert_eq "$(m_http GET "/v1/media/$keep" "$TOKEN_alice")" 200 "media without expiry kept"
[ -f "$DIR/$keep" ] || h_fail "blob without expiry removed"
h_assert_eq "$(m_http GET /metrics '')" 200 "metrics"
h_assert_contains "$(cat "$H_TMP/body")" 'parley_media_expired_total{backend="file"} 1'

# The sweep at start: a record that expired while the gateway was down.
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" --data-binary @"$H_TMP/a.bin")" 201 "upload 3"
late="$(sed -n 's/.*"media_id":"\([^"]*\)".*/\1/p' "$H_TMP/body")"
kill -TERM "$H_MEDIA_PID"; wait "$H_MEDIA_PID" 2>/dev/null || true
sqlite3 "${H_STORE#sqlite:}" "UPDATE media SET expires_at = 1 WHERE media_id='$late';"
h_start_media --retention-interval-s 3600
h_wait_for 30 test ! -e "$DIR/$late" || h_fail "start-up sweep did not delete expired media"
h_assert_eq "$(m_http GET "/v1/media/$late" "$TOKEN_alice")" 404 "expired at start"
h_assert_eq "$(m_http GET "/v1/media/$keep" "$TOKEN_alice")" 200 "still kept"
h_pass
