#!/usr/bin/env bash
# User administration against real processes (mosquitto + plugin, keyserver,
# media gateway, parley-admin, one SQLite store):
#  - parley-admin users disable closes the user's open mosquitto_sub
#    connection, refuses its next CONNECT (mosquitto_pub: "not authorised"),
#    and the keyserver and media gateway answer 403 user_disabled; another
#    user's connection is untouched and messages to the disabled user are
#    still stored;
#  - users enable restores access everywhere;
#  - users delete closes the connection, refuses CONNECT and HTTP (403
#    user_deleted), removes keys, prekeys and group memberships, keeps the
#    messages; the id cannot be registered again; sends to it are refused
#    as unknown_recipient;
#  - users list / show and the auth/failed/user_disabled|user_deleted counters;
#  - after a broker restart disabled and deleted users are refused at once.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
command -v sqlite3 >/dev/null || h_fail "sqlite3 missing (package sqlite3)"
command -v jq >/dev/null || h_fail "jq missing"

ADMIN="$PARLEY_BUILD_DIR/tools/parley-admin"
export PARLEY_STORE="$H_STORE"

p_user alice bob admin
# A group with both, and bob's prekeys, written before the broker loads them.
now="$(date +%s%3N)"
p_sql "INSERT INTO chats (chat_id, type, name, created_by, created_at) VALUES ('g:team', 2, 'team', 'alice', $now);
       INSERT INTO members VALUES ('g:team', 'alice', 3, $now, 0, 0, 0), ('g:team', 'bob', 1, $now, 0, 0, 0);
       INSERT INTO signed_prekeys (user_id, slot, key_id, public_key, signature, created_at)
         VALUES ('bob', 0, 1, zeroblob(32), zeroblob(64), $now);
       INSERT INTO one_time_prekeys (user_id, key_id, public_key, created_at)
         VALUES ('bob', 5, zeroblob(32), $now), ('bob', 6, zeroblob(32), $now);"
h_start_mosquitto "plugin_opt_metrics_interval 1"
h_start_keyserver
h_start_media

# http NAME URL TOKEN - GET with a Bearer token; sets HTTP_STATUS, HTTP_ERROR.
http() {
  HTTP_STATUS="$(curl -sS -o "$H_TMP/$1.body" -w '%{http_code}' --max-time 30 \
    -H "Authorization: Bearer $3" "$2")" || h_fail "curl $2"
  HTTP_ERROR="$(jq -r '.error // empty' "$H_TMP/$1.body" 2>/dev/null || true)"
}
expect_http() { # NAME URL TOKEN STATUS [ERROR]
  http "$1" "$2" "$3"
  [ "$HTTP_STATUS" = "$4" ] || h_fail "$1: expected HTTP $4, got $HTTP_STATUS: $(cat "$H_TMP/$1.body")"
  [ -z "${5:-}" ] || [ "$HTTP_ERROR" = "$5" ] || h_fail "$1: expected error $5, got '$HTTP_ERROR'"
}
ks_tok() { p_token "$1" "$1.ks" 3600 keyserver; }
media_tok() { p_token "$1" "$1.m" 3600 media; }

# Before: bob works everywhere.
expect_http ks_before "$H_KS_URL/v2/keys" "$(ks_tok bob)" 200
expect_http media_before "$H_MEDIA_URL/v1/media/nonexistent" "$(media_tok bob)" 404

# ---------------------------------------------------------------- disable
p_sub bob_on bob bob.on 1 parley/u/bob/typing
p_sub alice_on alice alice.on 1 parley/u/alice/typing
out="$("$ADMIN" users disable bob)" || h_fail "users disable: $out"
h_wait_for 20 bash -c "! kill -0 $P_PID_bob_on" || h_fail "bob's connection survived his disabling"
grep -q "closing connection of client bob.on: user disabled" "$H_TMP/mosquitto.log" ||
  h_fail "no log line for the disable close"
p_expect_refused bob bob.2 "$(p_token bob bob.2)" "CONNECT of a disabled user"
expect_http ks_disabled "$H_KS_URL/v2/keys" "$(ks_tok bob)" 403 user_disabled
expect_http media_disabled "$H_MEDIA_URL/v1/media/nonexistent" "$(media_tok bob)" 403 user_disabled
expect_http ks_identity "$H_KS_URL/v1/identity/bob" "" 200   # still a user: messages wait
# Messages to a disabled user are stored (they wait until enable). The STORED
# receipt comes before the typing sentinel that alice's subscriber must get:
# alice's connection was never closed.
p_sub al_rc alice alice-r 1 parley/u/alice/receipts
p_env "$H_TMP/m1" m1 --body "to disabled bob"
p_pub alice alice.s parley/u/bob/inbox "$H_TMP/m1" || h_fail "send to disabled bob"
p_wait_sub al_rc
h_assert_eq "$(p_decode receipt al_rc | p_json_field status)" stored "send to a disabled user"
printf '' >"$H_TMP/empty"
p_pub admin admin.t parley/u/alice/typing "$H_TMP/empty" || h_fail "typing to alice"
p_wait_sub alice_on
out="$("$ADMIN" users list --status disabled)"
h_assert_contains "$out" "bob" "users list --status disabled"
h_assert_not_contains "$out" "alice" "users list --status disabled"

# ----------------------------------------------------------------- enable
"$ADMIN" users enable bob >/dev/null || h_fail "users enable"
# The broker learns it at its next key refresh (250 ms): bounded retries.
ok=0
for ((i = 0; i < 100; i++)); do
  if p_connect bob bob.3 "$(p_token bob bob.3)" >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || h_fail "bob refused after enable"
expect_http ks_enabled "$H_KS_URL/v2/keys" "$(ks_tok bob)" 200
expect_http media_enabled "$H_MEDIA_URL/v1/media/nonexistent" "$(media_tok bob)" 404
# bob's stored message is there for him (sync from the store).
[ "$(p_sql "SELECT count(*) FROM messages WHERE chat_id = 'd:alice:bob'")" = 1 ] ||
  h_fail "the message to disabled bob is not stored"

# ----------------------------------------------------------------- delete
p_sub bob_on2 bob bob.on2 1 parley/u/bob/typing
out="$("$ADMIN" users delete bob 2>&1)" && h_fail "delete without --yes was accepted"
h_assert_contains "$out" "--yes" "delete asks for --yes"
"$ADMIN" users delete bob --yes >/dev/null || h_fail "users delete"
h_wait_for 20 bash -c "! kill -0 $P_PID_bob_on2" || h_fail "bob's connection survived his deletion"
grep -q "closing connection of client bob.on2: user deleted" "$H_TMP/mosquitto.log" ||
  h_fail "no log line for the delete close"
p_expect_refused bob bob.4 "$(p_token bob bob.4)" "CONNECT of a deleted user"
expect_http ks_deleted "$H_KS_URL/v2/keys" "$(ks_tok bob)" 403 user_deleted
expect_http media_deleted "$H_MEDIA_URL/v1/media/nonexistent" "$(media_tok bob)" 403 user_deleted
expect_http identity_deleted "$H_KS_URL/v1/identity/bob" "" 410 user_deleted
expect_http bundle_deleted "$H_KS_URL/v2/keys/bob" "$(ks_tok alice)" 410 user_deleted
h_assert_eq "$(p_sql "SELECT count(*) FROM signed_prekeys WHERE user_id = 'bob'")" 0 "signed prekeys"
h_assert_eq "$(p_sql "SELECT count(*) FROM one_time_prekeys WHERE user_id = 'bob'")" 0 "one-time prekeys"
h_assert_eq "$(p_sql "SELECT count(*) FROM members WHERE chat_id = 'g:team'")" 1 "group membership"
h_assert_eq "$(p_sql "SELECT count(*) FROM messages WHERE chat_id = 'd:alice:bob'")" 1 "messages kept"
out="$("$ADMIN" users show bob)"
h_assert_contains "$out" "deleted" "users show bob"
h_assert_contains "$out" "one-time prekeys: 0" "users show bob"
# Sends to a deleted user are refused (the store is asked: a tombstone is no user).
p_sub al_rc2 alice alice-r2 1 parley/u/alice/receipts
p_env "$H_TMP/m2" m2 --body "to deleted bob"
p_pub alice alice.s parley/u/bob/inbox "$H_TMP/m2" || h_fail "send to deleted bob"
p_wait_sub al_rc2
h_assert_eq "$(p_decode receipt al_rc2 | p_json_field error)" unknown_recipient "send to a deleted user"
# The id stays taken: no re-registration, in any case.
kstool keygen "$H_TMP/kbob" >/dev/null || h_fail keygen
for id in bob Bob; do
  kstool register-body "$H_TMP/kbob" "$id" >"$H_TMP/reg.json"
  st="$(curl -sS -o "$H_TMP/reg.out" -w '%{http_code}' -X PUT --data-binary @"$H_TMP/reg.json" \
    "$H_KS_URL/v1/identity/$id")"
  case "$id" in
    bob) [ "$st" = 403 ] && [ "$(jq -r .error "$H_TMP/reg.out")" = user_deleted ] ||
           h_fail "re-registering bob: $st $(cat "$H_TMP/reg.out")" ;;
    Bob) [ "$st" = 409 ] && [ "$(jq -r .error "$H_TMP/reg.out")" = user_id_taken ] ||
           h_fail "registering Bob: $st $(cat "$H_TMP/reg.out")" ;;
  esac
done
out="$("$ADMIN" users enable bob 2>&1)" && h_fail "enabling a deleted user was accepted"
h_assert_contains "$out" "deleted" "enable a deleted user"

p_wait_metric auth/failed/user_disabled 1
p_wait_metric auth/failed/user_deleted 1

# A restart loads the statuses with the keys: carol disabled, bob deleted,
# both refused from the first CONNECT on; alice connects.
p_user carol
"$ADMIN" users disable carol >/dev/null || h_fail "users disable carol"
kill -TERM "$H_MOSQ_PID"
wait "$H_MOSQ_PID" 2>/dev/null || true
h_restart_mosquitto
out="$(p_connect alice alice.r "$(p_token alice alice.r)")" || h_fail "alice after the restart: $out"
p_expect_refused carol carol.r "$(p_token carol carol.r)" "disabled user after a restart"
p_expect_refused bob bob.r "$(p_token bob bob.r)" "deleted user after a restart"
h_pass
