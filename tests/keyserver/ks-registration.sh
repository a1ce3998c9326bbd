#!/usr/bin/env bash
# Registration policy and the user id case rule, against the real keyserver
# and parley-admin on one SQLite store:
#  - open (the default): anyone registers; an id that differs from a
#    registered one only by case is 409 user_id_taken, also after restarts;
#  - invite: without an invite 403 invite_required; a token from
#    parley-admin invite registers once; reused 403 invite_used; expired
#    403 invite_expired; unknown 403 invalid_invite; a refused registration
#    (case rule) leaves its invite usable; existing users still confirm and
#    change keys; revoked invites are refused;
#  - closed: every new id is 403 registration_closed, existing users work;
#  - the policy comes from --registration or PARLEY_REGISTRATION; a bad
#    value is refused at start;
#  - parley init --invite TOKEN (or PARLEY_INVITE) registers on an
#    invite-only server; without one it prints the keyserver's reason.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"

ADMIN="$PARLEY_BUILD_DIR/tools/parley-admin"
export PARLEY_STORE="$H_STORE"

# reg_body NAME USER [INVITE] - a registration body for USER with NAME's keys
# (keys made on first use), with "invite" when given; prints the file.
reg_body() {
  local dir; dir="$(ks_keydir "$1")"
  [ -e "$dir/pk" ] || kstool keygen "$dir" >/dev/null || h_fail "keygen $1"
  local f="$H_TMP/body-$1-$2.json"
  kstool register-body "$dir" "$2" >"$f" || h_fail "register-body $2"
  if [ $# -ge 3 ]; then
    jq -c --arg inv "$3" '. + {invite: $inv}' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# invite [ARGS] - a fresh invite token from parley-admin (first word of its line).
invite() { "$ADMIN" invite "$@" | awk '{print $1}'; }

# ------------------------------------------------------------------- open
h_start_keyserver
ks_req PUT /v1/identity/Bob "$(reg_body bob Bob)"
ks_expect 201
for variant in bob BOB bOb; do
  ks_req PUT "/v1/identity/$variant" "$(reg_body "m-$variant" "$variant")"
  ks_expect 409 user_id_taken
  h_assert_contains "$KS_BODY" "Bob" "the taken message names the registered id"
done
ks_req PUT /v1/identity/Bob "$(reg_body bob Bob)"
ks_expect 200                                   # the owner confirms, unchanged
ks_req GET /v1/identity/bob
ks_expect 404 unknown_user                      # lookups are exact
ks_req PUT /v1/identity/bob_2 "$(reg_body bob2 bob_2)"
ks_expect 201                                   # only case folds
[ "$(sqlite3 "$H_TMP/parley.db" "SELECT count(*) FROM users WHERE lower(user_id) = 'bob'")" = 1 ] ||
  h_fail "a case variant of Bob was stored"
kill "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

# A bad policy is refused at start, from the option and from the environment.
out="$(parley-keyserver --listen 127.0.0.1:1 --store "$H_STORE" --registration invited 2>&1)" &&
  h_fail "a bad --registration was accepted"
h_assert_contains "$out" "bad registration policy" "bad --registration"
out="$(PARLEY_REGISTRATION=shut parley-keyserver --listen 127.0.0.1:1 --store "$H_STORE" 2>&1)" &&
  h_fail "a bad PARLEY_REGISTRATION was accepted"
h_assert_contains "$out" "PARLEY_REGISTRATION" "bad PARLEY_REGISTRATION"

# ----------------------------------------------------------------- invite
PARLEY_REGISTRATION=invite h_start_keyserver
h_wait_for 10 grep -q "registration invite" "$H_TMP/keyserver.log" ||
  h_fail "the keyserver did not log its policy"
ks_req PUT /v1/identity/carol "$(reg_body carol carol)"
ks_expect 403 invite_required
ks_req PUT /v1/identity/carol "$(reg_body carol carol not-a-real-invite)"
ks_expect 403 invalid_invite
ks_req PUT /v1/identity/carol "$(reg_body carol carol "")"
ks_expect 400 invalid_invite

tok="$(invite --ttl 1h --note "for carol")"
[ "${#tok}" = 43 ] || h_fail "invite token has an unexpected form: $tok"
# The store holds the token's SHA-256 only, never the token.
[ "$(sqlite3 "$H_TMP/parley.db" "SELECT count(*) FROM invites WHERE invite_id = '$tok'")" = 0 ] ||
  h_fail "the invite token is stored in clear"
# A registration the case rule refuses does not use the invite up.
ks_req PUT /v1/identity/BOB "$(reg_body m-BOB BOB "$tok")"
ks_expect 409 user_id_taken
ks_req PUT /v1/identity/carol "$(reg_body carol carol "$tok")"
ks_expect 201
ks_req PUT /v1/identity/dave "$(reg_body dave dave "$tok")"
ks_expect 403 invite_used
ks_req GET /v1/identity/dave
ks_expect 404 unknown_user
out="$("$ADMIN" invite list)"
h_assert_contains "$out" "used" "invite list shows the use"
h_assert_contains "$out" "carol" "invite list shows who used it"
h_assert_contains "$out" "for carol" "invite list shows the note"

# Existing users need no invite: confirm and key change.
ks_req PUT /v1/identity/carol "$(reg_body carol carol)"
ks_expect 200
kstool keygen "$H_TMP/keys-carol2" >/dev/null
ks_req PUT /v1/identity/carol "$(ks_body change kstool change-body "$(ks_keydir carol)" "$H_TMP/keys-carol2" carol)"
ks_expect 200

# Expired: a 1 s invite, used only once the clock is past its expiry.
line="$("$ADMIN" invite --ttl 1s)"
etok="$(awk '{print $1}' <<<"$line")"
exp_ms="$(sed -E 's/.*\(([0-9]+)\)$/\1/' <<<"$line")"
[[ "$exp_ms" =~ ^[0-9]+$ ]] || h_fail "invite did not print its expiry: $line"
h_wait_for 10 bash -c "[ \$(date +%s%3N) -gt $exp_ms ]" || h_fail "clock did not pass the expiry"
ks_req PUT /v1/identity/dave "$(reg_body dave dave "$etok")"
ks_expect 403 invite_expired

# Revoked.
rtok="$(invite)"
rid="$("$ADMIN" invite list | awk '$2 == "open" {print $1}' | head -1)"
[ -n "$rid" ] || h_fail "no open invite listed"
"$ADMIN" invite revoke "$rid" >/dev/null || h_fail "revoke"
ks_req PUT /v1/identity/dave "$(reg_body dave dave "$rtok")"
ks_expect 403 invalid_invite

# The CLI: parley init without an invite is refused with the keyserver's
# reason; with --invite (or PARLEY_INVITE) it registers and uploads prekeys.
PARLEY_KEYSERVER_URL="$H_KS_URL"
out="$("$H_PARLEY" --home "$H_TMP/home-hana" init hana 2>&1)" && h_fail "init without an invite: $out"
h_assert_contains "$out" "invite" "init without an invite says why"
ctok="$(invite)"
"$H_PARLEY" --home "$H_TMP/home-hana" init hana --invite "$ctok" >"$H_TMP/init-hana.log" 2>&1 ||
  h_fail "parley init --invite: $(cat "$H_TMP/init-hana.log")"
ks_req GET /v1/identity/hana
ks_expect 200
ctok2="$(invite)"
PARLEY_INVITE="$ctok2" "$H_PARLEY" --home "$H_TMP/home-ivan" init ivan >"$H_TMP/init-ivan.log" 2>&1 ||
  h_fail "parley init with PARLEY_INVITE: $(cat "$H_TMP/init-ivan.log")"
out="$("$H_PARLEY" --home "$H_TMP/home-jo" init jo --invite "$ctok" 2>&1)" && h_fail "reused invite accepted by init"
h_assert_contains "$out" "already used" "init with a used invite"

# Several invites at once, each usable once by a different user.
mapfile -t toks < <(invite --count 2)
[ "${#toks[@]}" = 2 ] && [ "${toks[0]}" != "${toks[1]}" ] || h_fail "--count 2: ${toks[*]}"
ks_req PUT /v1/identity/erin "$(reg_body erin erin "${toks[0]}")"
ks_expect 201
ks_req PUT /v1/identity/frank "$(reg_body frank frank "${toks[1]}")"
ks_expect 201
kill "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true

# ----------------------------------------------------------------- closed
h_start_keyserver --registration closed
tok="$(invite)"
ks_req PUT /v1/identity/gina "$(reg_body gina gina "$tok")"
ks_expect 403 registration_closed
ks_req PUT /v1/identity/gina "$(reg_body gina gina)"
ks_expect 403 registration_closed
ks_req PUT /v1/identity/erin "$(reg_body erin erin)"
ks_expect 200                                   # existing users keep working
ks_req GET /v2/keys "" "$(ks_token erin)"
ks_expect 200
h_pass
