#!/usr/bin/env bash
# Three `parley` clients (real keyserver, mosquitto + plugin): alice creates
# a group with bob and carol, they talk (Sender Keys over the pairwise
# sessions), alice removes carol; carol then sees nothing new, and even
# handed the ciphertext of a later message she cannot decrypt it (every
# remaining sender started a new chain she never received). dave, added
# later, gets what follows but nothing from before he joined, not even by
# decrypting an earlier ciphertext.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"
export PATH="$PARLEY_BUILD_DIR/tests:$PATH"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob
h_user carol
h_user dave

c_listen bob bob --timeout 150
c_listen carol carol --timeout 150
c_wait_line 60 "$H_TMP/bob.out" '"synced"'
c_wait_line 60 "$H_TMP/carol.out" '"synced"'
c_listen dave dave --timeout 150
c_wait_line 60 "$H_TMP/dave.out" '"synced"'

out="$(c_parley alice group create Trio bob carol --timeout 60)" || h_fail "group create: $out"
G="$(tail -n 1 <<<"$out")"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "group create did not end with the id: $out"
info="$(c_parley alice group info "$G" --timeout 60)" || h_fail "group info: $info"
h_assert_contains "$info" "Trio" "info names the group"
h_assert_contains "$info" "carol" "info lists carol"

out="$(c_parley alice group send "$G" "hello trio" --timeout 60)" || h_fail "group send: $out"
c_wait_line 60 "$H_TMP/bob.out" '"text":"hello trio"'
c_wait_line 60 "$H_TMP/carol.out" '"text":"hello trio"'
out="$(c_parley alice send "$G" "second, via send" --timeout 60)" || h_fail "send to g: id: $out"
c_wait_line 60 "$H_TMP/carol.out" '"text":"second, via send"'

# dave joins: he reads what follows, not what came before.
c_parley alice group add "$G" dave --timeout 60 >/dev/null || h_fail "group add dave"
c_parley alice group send "$G" "welcome dave" --timeout 60 >/dev/null || h_fail "send to dave"
c_wait_line 60 "$H_TMP/dave.out" '"text":"welcome dave"'
h_assert_not_contains "$(cat "$H_TMP/dave.out")" "hello trio" "dave saw a message from before he joined"
first="$(sqlite3 "$H_TMP/parley.db" "select hex(body) from messages where chat_id='$G' and kind=1 order by seq limit 1")"
set +e
res="$(gdecrypt "$(h_home dave)" "$G" alice "$first")"; rc=$?
set -e
h_assert_eq "$rc" 1 "dave's decrypt of the first message: $res"
# He holds alice's chain, but only from the iteration he was given on.
h_assert_contains "$res" "duplicate or expired" "dave cannot decrypt what was sent before he joined"

groups="$(c_parley carol groups --timeout 60)" || h_fail "groups: $groups"
h_assert_contains "$groups" "$G" "carol's groups"

# A member cannot remove; the owner can.
set +e
c_parley bob group remove "$G" carol --timeout 60 >/dev/null 2>"$H_TMP/err.txt"; rc=$?
set -e
h_assert_eq "$rc" 2 "exit code of a refused removal"
h_assert_contains "$(cat "$H_TMP/err.txt")" "forbidden" "refusal reason"
out="$(c_parley alice group remove "$G" carol --timeout 60)" || h_fail "group remove: $out"

out="$(c_parley alice group send "$G" "after carol left" --timeout 60)" || h_fail "send after removal: $out"
c_wait_line 60 "$H_TMP/bob.out" '"text":"after carol left"'
# Sentinel: a direct message to carol sent after the group message.
c_parley alice send carol "sentinel" --timeout 60 >/dev/null || h_fail "sentinel"
c_wait_line 60 "$H_TMP/carol.out" '"text":"sentinel"'
h_assert_not_contains "$(cat "$H_TMP/carol.out")" "after carol left" "carol saw a message after her removal"

# Handed the ciphertext, carol still cannot read it.
seq="$(sqlite3 "$H_TMP/parley.db" "select max(seq) from messages where chat_id='$G' and kind=1")"
hex="$(sqlite3 "$H_TMP/parley.db" "select hex(body) from messages where chat_id='$G' and seq=$seq")"
[ -n "$hex" ] || h_fail "no stored ciphertext"
set +e
res="$(gdecrypt "$(h_home carol)" "$G" alice "$hex")"; rc=$?
set -e
h_assert_eq "$rc" 1 "carol's decrypt of the later message: $res"
h_assert_contains "$res" "no sender key from alice" "carol never got alice's new chain"
# bob holds that chain: the same attempt fails only because he already used
# the message's key when it arrived (keys are single-use).
set +e
res="$(gdecrypt "$(h_home bob)" "$G" alice "$hex")"; rc=$?
set -e
h_assert_contains "$res" "duplicate" "bob's chain has the message"
h_pass
