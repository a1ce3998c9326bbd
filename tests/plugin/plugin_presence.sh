#!/usr/bin/env bash
# Presence and typing (docs/protocol.md, "Presence and typing"): a user's
# first connection publishes a retained ONLINE on parley/presence/{user}, the
# end of its last connection a retained OFFLINE with last_seen; typing events
# are relayed with the server's user/chat_id/ts and never stored.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob carol
h_start_mosquitto

# carol watches alice: ONLINE (first connection), OFFLINE (after the last).
p_sub watch carol carol-w 3 parley/presence/alice
p_sub al1 alice alice-1 1 parley/u/alice/inbox
p_sub al2 alice alice-2 1 parley/u/alice/inbox
# Retained: a late subscriber sees alice online at once.
p_sub late bob bob-late 1 parley/presence/alice
p_wait_sub late
h_assert_eq "$(p_decode presence late | p_json_field state)" "online" "retained online"

# End alice's first connection: she is still online. Then the second ends
# (OFFLINE) and she comes back (ONLINE): carol must see exactly
# online, offline, online - an OFFLINE after the first disconnect would
# show up as online, offline, offline.
kill "$P_PID_al1"; wait "$P_PID_al1" 2>/dev/null || true
h_wait_for 20 grep -q "Client alice\.alice-1 .*disconnect\|Socket error on client alice\.alice-1\|Client alice\.alice-1 closed" "$H_TMP/mosquitto.log" ||
  h_fail "alice-1 did not disconnect"
p_env "$H_TMP/m" m1 --body wake
p_pub bob bob-1 parley/u/alice/inbox "$H_TMP/m"    # ends alice-2 (-C 1)
p_wait_sub al2
p_sub late2 bob bob-late2 1 parley/presence/alice
p_wait_sub late2
h_assert_eq "$(p_decode presence late2 | p_json_field state)" "offline" "retained offline"
p_sub al3 alice alice-3 1 parley/u/alice/inbox
p_wait_sub watch
kill "$P_PID_al3" 2>/dev/null || true
p_decode presence watch >"$H_TMP/watch.json"
h_assert_eq "$(p_json_field state <"$H_TMP/watch.json" | tr '\n' ' ')" "online offline online " "presence sequence"
h_assert_eq "$(p_json_field user <"$H_TMP/watch.json" | sort -u)" "alice" "presence user"
on="$(sed -n 1p "$H_TMP/watch.json" | p_json_field last_seen)"
off="$(sed -n 2p "$H_TMP/watch.json" | p_json_field last_seen)"
[ "$off" -ge "$on" ] && [ "$on" -gt 0 ] || h_fail "last_seen: online $on, offline $off"

# Typing: forged user replaced, relayed to bob, never stored.
before="$(p_sql 'select count(*) from messages')"
p_sub bob_ty bob bob-t 1 parley/u/bob/typing
ptool typing --on --user mallory >"$H_TMP/typing"
p_pub alice alice-3 parley/u/bob/typing "$H_TMP/typing"
p_wait_sub bob_ty
p_decode typing bob_ty >"$H_TMP/typing.json"
h_assert_eq "$(p_json_field user <"$H_TMP/typing.json")" "alice" "typing user"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/typing.json")" "d:alice:bob" "typing chat"
h_assert_eq "$(p_json_field typing <"$H_TMP/typing.json")" "1" "typing flag"
h_assert_eq "$(p_sql 'select count(*) from messages')" "$before" "typing not stored"
h_pass
