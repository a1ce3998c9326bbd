#!/usr/bin/env bash
# parley-admin users / groups / invite on a SQLite store, without servers:
# listings and details, the refusals and their exit statuses (1 refused or
# failed, 2 bad usage), --yes for the irreversible commands, a store path
# that does not exist refused (not created), $PARLEY_STORE and --store.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
command -v sqlite3 >/dev/null || h_fail "sqlite3 missing (package sqlite3)"
ADMIN="$PARLEY_BUILD_DIR/tools/parley-admin"
DB="$H_TMP/parley.db"

# expect_rc WANT CMD... - run CMD, its exit status must be WANT; output in $OUT.
expect_rc() {
  local want="$1" rc=0; shift
  OUT="$("$@" 2>&1)" || rc=$?
  [ "$rc" = "$want" ] || h_fail "$*: exit $rc, want $want: $OUT"
}

# A store that does not exist is refused and not created.
expect_rc 1 "$ADMIN" users list --store "sqlite:$H_TMP/typo.db"
h_assert_contains "$OUT" "no store at" "missing store"
[ ! -e "$H_TMP/typo.db" ] || h_fail "parley-admin created the mistyped store"
expect_rc 2 env -u PARLEY_STORE "$ADMIN" users list
h_assert_contains "$OUT" "PARLEY_STORE" "no store given"

ptool keygen "$H_TMP/k" >/dev/null || h_fail keygen
for u in alice bob carol; do ptool register "$H_STORE" "$u" "$H_TMP/k" || h_fail "register $u"; done
now="$(date +%s%3N)"
sqlite3 "$DB" "INSERT INTO chats (chat_id, type, name, created_by, created_at, last_seq) VALUES
                 ('g:team', 2, 'the team', 'alice', $now, 7), ('d:alice:bob', 1, NULL, NULL, $now, 2);
               INSERT INTO members VALUES ('g:team', 'alice', 3, $now, 0, 0, 0),
                 ('g:team', 'bob', 1, $now, 0, 0, 0), ('d:alice:bob', 'alice', 1, $now, 0, 0, 0),
                 ('d:alice:bob', 'bob', 1, $now, 0, 0, 0);" || h_fail "seed"
export PARLEY_STORE="$H_STORE"

expect_rc 0 "$ADMIN" users list
for u in alice bob carol; do h_assert_contains "$OUT" "$u" "users list"; done
h_assert_contains "$OUT" "3 user(s)" "users list count"
expect_rc 0 "$ADMIN" users show alice
h_assert_contains "$OUT" "status:        active" "users show"
h_assert_contains "$OUT" "g:team" "users show lists groups"
h_assert_contains "$OUT" "owner" "users show lists roles"
expect_rc 1 "$ADMIN" users show Alice
h_assert_contains "$OUT" "did you mean alice" "users show with the wrong case"
expect_rc 1 "$ADMIN" users disable nobody
expect_rc 2 "$ADMIN" users disable "no/such"
expect_rc 2 "$ADMIN" users frobnicate alice
expect_rc 2 "$ADMIN" users show
expect_rc 2 "$ADMIN" users list --status sleeping
expect_rc 0 "$ADMIN" users disable carol --store "$H_STORE"
expect_rc 0 "$ADMIN" users list --status disabled
h_assert_contains "$OUT" "carol" "disabled listed"
h_assert_contains "$OUT" "1 user(s)" "only carol is disabled"
h_assert_eq "$(sqlite3 "$DB" "SELECT status FROM users WHERE user_id = 'carol'")" 1 "carol's status"
expect_rc 0 "$ADMIN" users enable carol
h_assert_eq "$(sqlite3 "$DB" "SELECT status FROM users WHERE user_id = 'carol'")" 0 "carol enabled"

expect_rc 0 "$ADMIN" groups list
h_assert_contains "$OUT" "g:team" "groups list"
h_assert_contains "$OUT" "the team" "groups list name"
h_assert_not_contains "$OUT" "d:alice:bob" "groups list shows groups only"
h_assert_contains "$OUT" "1 group(s)" "groups list count"
expect_rc 0 "$ADMIN" groups show team
h_assert_contains "$OUT" "last seq:    7" "groups show"
h_assert_contains "$OUT" "members:     2" "groups show members"
expect_rc 2 "$ADMIN" groups show "d:alice:bob"
expect_rc 2 "$ADMIN" groups delete g:team
h_assert_contains "$OUT" "--yes" "groups delete asks for --yes"
h_assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM chats WHERE chat_id = 'g:team'")" 1 "kept without --yes"
expect_rc 0 "$ADMIN" groups delete g:team --yes
h_assert_contains "$OUT" "restart the broker" "groups delete says what the brokers need"
h_assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM members WHERE chat_id = 'g:team'")" 0 "members gone"
expect_rc 1 "$ADMIN" groups show g:team
expect_rc 1 "$ADMIN" groups delete g:team --yes

expect_rc 0 "$ADMIN" users delete bob --yes
expect_rc 0 "$ADMIN" users list --status deleted
h_assert_contains "$OUT" "bob" "deleted listed"
expect_rc 1 "$ADMIN" users disable bob
h_assert_contains "$OUT" "deleted" "disable a deleted user"
h_assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM members WHERE chat_id = 'd:alice:bob'")" 2 \
  "direct chat kept"

expect_rc 2 "$ADMIN" invite --ttl 0
expect_rc 2 "$ADMIN" invite --ttl 400d
expect_rc 2 "$ADMIN" invite --ttl 5x
expect_rc 2 "$ADMIN" invite --count 0
expect_rc 2 "$ADMIN" invite list --ttl 1h
expect_rc 2 "$ADMIN" invite revoke
expect_rc 1 "$ADMIN" invite revoke nosuchid
expect_rc 0 "$ADMIN" invite --count 3 --ttl 90m --note batch
h_assert_eq "$(wc -l <<<"$OUT")" 3 "three tokens"
h_assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM invites WHERE note = 'batch'")" 3 "three invites stored"
expect_rc 0 "$ADMIN" invite list
h_assert_contains "$OUT" "3 invite(s)" "invite list"
expect_rc 0 "$ADMIN" help
h_assert_contains "$OUT" "users delete USER --yes" "help lists the commands"
h_pass
