#!/usr/bin/env bash
# History tools of the CLI (issue 17, item 6) on real mosquitto + plugin +
# keyserver: alice and bob exchange messages (with %, _ and \ in them), then
# `history` (--limit, --before, --since, --json), `search` (literal
# wildcards, case, --chat, nothing found) and `export` (JSON checked with
# python3; written atomically, no overwrite without --force) show exactly them.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob
h_user carol

c_listen bob bob --count 4 --timeout 120
BOB_PID=$C_LISTEN_PID
c_listen alice alice --timeout 120
ALICE_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob.out" '"synced"'
c_wait_line 60 "$H_TMP/alice.out" '"synced"'

TEXTS=("hello bob" "100% sure" "snake_case here" "back\\slash")
for t in "${TEXTS[@]}"; do
  c_parley alice send bob "$t" --timeout 60 >/dev/null || h_fail "send '$t' failed"
done
wait "$BOB_PID" || h_fail "bob's listener did not get 4 messages"
c_parley bob send alice "Hi Alice, SURE thing" --timeout 60 >/dev/null || h_fail "bob's reply failed"
c_wait_line 60 "$H_TMP/alice.out" '"text":"Hi Alice, SURE thing"'
# A message in another chat of alice's, which only --chat-less search sees.
c_parley carol send alice "carol is sure too" --timeout 60 >/dev/null || h_fail "carol's send failed"
c_wait_line 60 "$H_TMP/alice.out" '"text":"carol is sure too"'
kill "$ALICE_PID" 2>/dev/null || true
wait "$ALICE_PID" 2>/dev/null || true

# ---- history ----
# All five, oldest first, each line with a local time.
out="$(c_parley bob history alice --timeout 60)" || h_fail "history failed: $out"
h_assert_eq "$(wc -l <<<"$out")" 5 "history: five lines"
re='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})? \[d:alice:bob #1\] alice: hello bob$'
grep -qE "$re" <<<"$out" || h_fail "history: first line without a time: $out"
h_assert_contains "$(tail -1 <<<"$out")" "#5] bob: Hi Alice, SURE thing" "history: newest last"

c_parley bob history alice --offline --limit 2 --json >"$H_TMP/h2.json"
h_assert_eq "$(c_messages "$H_TMP/h2.json")" \
  "$(printf '4 alice back\\slash\n5 bob Hi Alice, SURE thing')" "history --limit 2: the newest two"
c_parley bob history alice --offline --limit 2 --before 4 --json >"$H_TMP/hb.json"
h_assert_eq "$(c_messages "$H_TMP/hb.json")" \
  "$(printf '2 alice 100%% sure\n3 alice snake_case here')" "history --before 4 --limit 2"
c_parley bob history alice --offline --since 3 --json >"$H_TMP/hs.json"
h_assert_eq "$(c_field "$H_TMP/hs.json" seq | tr '\n' ' ')" "4 5 " "history --since 3"
h_assert_eq "$(c_parley bob history alice --offline --since 5 | wc -c)" 0 "history --since the last: nothing"
h_assert_eq "$(c_parley bob history alice --offline --before 1 | wc -c)" 0 "history --before 1: nothing"
h_assert_eq "$(c_parley bob history alice --offline --since 2000-01-01 | wc -l)" 5 "history --since a date"
set +e
c_parley bob history alice --offline --before x >/dev/null 2>"$H_TMP/bad.err"; rc=$?
set -e
h_assert_eq "$rc" 1 "history --before x: usage"
h_assert_contains "$(cat "$H_TMP/bad.err")" "--before wants a seq" "history --before x: the error"

# ---- search ----
c_parley bob search % --offline --json >"$H_TMP/s1.json"
h_assert_eq "$(c_messages "$H_TMP/s1.json")" "2 alice 100% sure" "search %: literal"
c_parley bob search _ --offline --json >"$H_TMP/s2.json"
h_assert_eq "$(c_messages "$H_TMP/s2.json")" "3 alice snake_case here" "search _: literal"
c_parley bob search '\' --offline --json >"$H_TMP/s3.json"
h_assert_eq "$(c_field "$H_TMP/s3.json" seq)" "4" "search backslash"
c_parley alice search sure --offline --json >"$H_TMP/s4.json"
h_assert_eq "$(c_field "$H_TMP/s4.json" text)" \
  "$(printf '100%% sure\nHi Alice, SURE thing\ncarol is sure too')" "search sure: every chat, any case"
c_parley alice search SURE --chat bob --offline --json >"$H_TMP/s5.json"
h_assert_eq "$(c_field "$H_TMP/s5.json" chat_id | sort -u)" "d:alice:bob" "search --chat bob"
h_assert_eq "$(c_field "$H_TMP/s5.json" seq | tr '\n' ' ')" "2 5 " "search --chat bob: seqs"
c_parley alice search sure --limit 1 --offline --json >"$H_TMP/s6.json"
h_assert_eq "$(c_field "$H_TMP/s6.json" text)" "carol is sure too" "search --limit 1: the newest"
out="$(c_parley bob search "no such words" --offline 2>"$H_TMP/s7.err")" || h_fail "empty search failed"
h_assert_eq "$out" "" "search: nothing found prints no line"
h_assert_contains "$(cat "$H_TMP/s7.err")" "no message contains" "search: nothing found is said"
out="$(c_parley bob search "Hello" --offline)"
grep -qE "$re" <<<"$out" || h_fail "search line without a time: $out"

# ---- export ----
c_parley alice export bob --offline --output "$H_TMP/a.json" 2>"$H_TMP/e.err" || h_fail "export failed: $(cat "$H_TMP/e.err")"
h_assert_eq "$(stat -c %a "$H_TMP/a.json")" 600 "export: the file is private"
python3 - "$H_TMP/a.json" <<'EOF' || h_fail "export JSON is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["chat_id"] == "d:alice:bob", d["chat_id"]
assert d["user"] == "alice"
ms = d["messages"]
got = [(m["seq"], m["sender"], m["text"], m["own"], m["type"]) for m in ms]
want = [(1, "alice", "hello bob", True, "message"), (2, "alice", "100% sure", True, "message"),
        (3, "alice", "snake_case here", True, "message"), (4, "alice", "back\\slash", True, "message"),
        (5, "bob", "Hi Alice, SURE thing", False, "message")]
assert got == want, got
for m in ms:
    assert m["server_id"] and m["client_msg_id"] and m["server_ts"] > 1500000000000, m
    assert "media" not in m
EOF
# bob's export of the same chat: the same messages, own flipped.
c_parley bob export alice --offline >"$H_TMP/b.json" || h_fail "export to stdout failed"
python3 - "$H_TMP/a.json" "$H_TMP/b.json" <<'EOF' || h_fail "alice's and bob's exports differ"
import json, sys
a, b = (json.load(open(p))["messages"] for p in sys.argv[1:3])
key = lambda m: (m["seq"], m["server_id"], m["sender"], m["text"])
assert [key(m) for m in a] == [key(m) for m in b]
assert [m["own"] for m in a] == [not m["own"] for m in b]
EOF
# No overwrite without --force: the file keeps its content; --force replaces it.
echo "keep me" >"$H_TMP/exists.json"
set +e
c_parley alice export bob --offline --output "$H_TMP/exists.json" 2>"$H_TMP/e2.err"; rc=$?
set -e
h_assert_eq "$rc" 2 "export over an existing file: refused"
h_assert_contains "$(cat "$H_TMP/e2.err")" "exists (--force replaces it)" "export: the refusal says why"
h_assert_eq "$(cat "$H_TMP/exists.json")" "keep me" "export: the existing file is untouched"
c_parley alice export bob --offline --output "$H_TMP/exists.json" --force 2>/dev/null || h_fail "export --force failed"
cmp -s "$H_TMP/exists.json" "$H_TMP/a.json" ||
  python3 -c 'import json,sys; a,b=(json.load(open(p))["messages"] for p in sys.argv[1:]); assert a==b' \
    "$H_TMP/exists.json" "$H_TMP/a.json" || h_fail "export --force wrote something else"
h_assert_eq "$(ls "$H_TMP" | grep -c '\.tmp\.' || true)" 0 "export leaves no temporary file"
# A chat without messages: an empty array.
c_parley carol export bob --offline >"$H_TMP/empty.json" || h_fail "empty export failed"
h_assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["messages"]))' "$H_TMP/empty.json")" 0 \
  "export of an empty chat"

h_pass
