#!/usr/bin/env bash
# Rich messages through the `parley` CLI (issue 17) on real mosquitto +
# plugin + keyserver processes: one ctest entry per case.
#
#   client_rich.sh direct | group | late | timer | names
#
#  direct  two users: reply (--reply SEQ), reaction (set, replace, remove),
#          edit ("edited"), mention, delete for everyone (the broker's
#          stored copy loses its body: sqlite3 on the store), refusals (an
#          edit or a delete of someone else's message changes nothing),
#          export carrying the new fields;
#  group   alice (owner), bob on two linked devices, carol; the group named
#          by its name: every feature seen on both of bob's devices, an
#          admin deleting a member's message, a non-admin's delete and timer
#          refused, the timer announced and applied to later messages;
#  late    a message deleted while its recipient was offline: the recipient's
#          sync gets the tombstone, never the text;
#  timer   a disappearing timer of a few seconds: the message is gone from the
#          server store and from both local histories; the ones sent before
#          the timer stay;
#  names   CHAT as a group name: ambiguous names and bad chats refused.
#
# Absence is proven by a sentinel sent after the refused or removed thing,
# which must arrive first, never by a sleep.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

case_="${1:?usage: client_rich.sh CASE}"
H_NAME="client_rich_$case_"
command -v sqlite3 >/dev/null || h_fail "sqlite3 missing (package sqlite3)"

# run NAME USER ARGS... - the CLI in USER's home; stdout/stderr in
# $H_TMP/NAME.{out,err}, exit status in RC.
run() {
  local name="$1" u="$2"; shift 2
  set +e
  timeout 120 "$H_PARLEY" --home "$(h_home "$u")" "$@" >"$H_TMP/$name.out" 2>"$H_TMP/$name.err"
  RC=$?
  set -e
}
# sent USER ARGS... - run a sending command (send, react, edit, delete,
# timer), fail unless stored; prints the seq it got.
sent() {
  local u="$1"; shift
  local out
  out="$(c_parley "$u" "$@" --timeout 60 2>"$H_TMP/sent.err")" ||
    h_fail "$u $*: failed: $(cat "$H_TMP/sent.err")"
  sed -n 's/^stored .* seq \([0-9]*\) id .*/\1/p' <<<"$out"
}
outbox() { c_parley "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"])'; }
# sql QUERY - on the broker's store.
sql() { sqlite3 "$H_TMP/parley.db" "$1"; }
# hist USER CHAT - USER's local history of CHAT (no sync), JSON lines, into
# $H_TMP/hist-USER.json (also printed).
hist() {
  c_parley "$1" history "$2" --offline --limit 1000 --json >"$H_TMP/hist-$1.json" ||
    h_fail "history of $1 failed"
  cat "$H_TMP/hist-$1.json"
}
# field FILE SEQ EXPR - python expression over the message m of seq SEQ in
# the JSON lines of FILE ("None" when there is no such message).
field() {
  python3 - "$@" <<'EOF'
import json, sys
path, seq, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = None
for l in open(path):
    l = l.strip()
    if l:
        o = json.loads(l)
        if o.get("seq") == seq and o.get("type") in ("message", "system"):
            m = o
print(eval(expr, {"m": m, "json": json}) if m is not None else None)
EOF
}
# wait_kind FILE KIND [TEXT] - wait (bounded) for a listener line of that
# kind ("reaction", "edit", ...) holding TEXT (a fixed string).
wait_kind() {
  local file="$1" kind="$2" pat="${3:-}"
  h_wait_for 90 sh -c "grep -F '\"kind\":\"$kind\"' '$file' | grep -qF -- '$pat'" ||
    h_fail "no $kind line with '$pat' in $file: $(cat "$file")"
}
# line_of FILE TEXT [TEXT2] - the last line of FILE holding TEXT (and TEXT2).
line_of() { grep -F -- "$2" "$1" | grep -F -- "${3:-}" | tail -n 1; }
jget() { python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); print(eval(sys.argv[1], {"o": o}))' "$1"; }

listen_all() {
  for u in "$@"; do
    c_listen "$u" "$u" --timeout 500
    c_wait_line 60 "$H_TMP/$u.out" '"synced"'
  done
}

# link HOME - link home HOME to bob, approved on bob's primary.
link() {
  local home="$1"
  "$H_PARLEY" --home "$(h_home "$home")" link bob --name "$home" --wait 120 --json \
    >"$H_TMP/link-$home.out" 2>"$H_TMP/link-$home.log" &
  local pid=$!
  H_PIDS+=("$pid")
  c_wait_line 60 "$H_TMP/link-$home.out" '"link_code"'
  c_parley bob devices approve "$(c_field "$H_TMP/link-$home.out" code | head -n 1)" >/dev/null ||
    h_fail "approve of $home failed"
  wait "$pid" || h_fail "parley link for $home failed: $(cat "$H_TMP/link-$home.log")"
}

case "$case_" in
direct)
  h_start_keyserver
  h_start_mosquitto
  h_user alice
  h_user bob
  listen_all alice bob
  D=d:alice:bob

  # ---- reply ----
  s1="$(sent alice send bob "hello bob")"
  h_assert_eq "$s1" 1 "the first message is #1"
  s2="$(sent bob send alice "hi back" --reply "$s1")"
  c_wait_line 60 "$H_TMP/alice.out" '"text":"hi back"'
  hist alice bob >/dev/null
  cmid1="$(field "$H_TMP/hist-alice.json" "$s1" 'm["client_msg_id"]')"
  h_assert_eq "$(line_of "$H_TMP/alice.out" '"text":"hi back"' | jget 'o["reply_to"]')" \
    "{'sender': 'alice', 'client_msg_id': '$cmid1', 'seq': 1}" "the live reply names #1"
  h_assert_eq "$(field "$H_TMP/hist-alice.json" "$s2" 'm["reply_to"]["seq"]')" 1 "history: reply_to"
  h_assert_contains "$(c_parley alice history bob --offline)" \
    "[$D #$s2] bob: [↪ #1 alice: hello bob] hi back" "history shows the original"
  run badreply bob send alice "to nothing" --reply 99 --timeout 60
  h_assert_eq "$RC" 1 "--reply to a seq that does not exist"
  h_assert_contains "$(cat "$H_TMP/badreply.err")" "has no message #99" "--reply 99: the error"
  h_assert_eq "$(outbox bob)" 0 "nothing queued for a bad --reply"

  # ---- reactions: set, a second user's, replace, remove ----
  sent bob react alice "$s1" "👍" >/dev/null
  wait_kind "$H_TMP/alice.out" reaction '"emoji":"👍"'
  h_assert_eq "$(line_of "$H_TMP/alice.out" '"kind":"reaction"' '"emoji":"👍"' | jget 'o["target"]["seq"]')" 1 \
    "the live reaction names #1"
  hist alice bob >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-alice.json" 1 'm["reactions"]')" \
    "[{'user': 'bob', 'emoji': '👍'}]" "alice sees bob's reaction"
  sent alice react bob "$s1" "😂" >/dev/null
  sent bob react alice "$s1" "❤️" >/dev/null
  wait_kind "$H_TMP/alice.out" reaction '"emoji":"❤️"'
  wait_kind "$H_TMP/bob.out" reaction '"emoji":"😂"'
  h_assert_contains "$(c_parley alice history bob --offline)" "hello bob [" "reactions shown"
  hist bob alice >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-bob.json" 1 'sorted((r["user"], r["emoji"]) for r in m["reactions"])')" \
    "[('alice', '😂'), ('bob', '❤️')]" "one reaction per user, the later one wins"
  sent bob react alice "$s1" --remove >/dev/null
  wait_kind "$H_TMP/alice.out" reaction '"emoji":""'
  hist alice bob >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-alice.json" 1 'm["reactions"]')" \
    "[{'user': 'alice', 'emoji': '😂'}]" "bob's reaction removed, alice's kept"
  h_assert_eq "$(python3 -c 'import json,sys; print(sorted(json.loads(l)["seq"] for l in open(sys.argv[1]) if l.strip()))' "$H_TMP/hist-alice.json")" \
    "[1, 2]" "history lists no reaction rows"
  run noemoji bob react alice "$s1" ""
  h_assert_eq "$RC" 1 "an empty emoji"

  # ---- edit ----
  se="$(sent alice edit bob "$s1" "hello bob, edited")"
  wait_kind "$H_TMP/bob.out" edit '"text":"hello bob, edited"'
  hist bob alice >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-bob.json" 1 'm["text"]')" "hello bob, edited" "bob sees the edit"
  h_assert_eq "$(field "$H_TMP/hist-bob.json" 1 'm["edited_at"] > 0')" True "edited_at"
  h_assert_contains "$(c_parley bob history alice --offline)" "alice: hello bob, edited (edited)" \
    "history says edited"
  # Not allowed: bob edits alice's message; nothing is sent (the SDK refuses).
  run steal bob edit alice "$s1" "hijacked"
  h_assert_eq "$RC" 1 "editing someone else's message"
  h_assert_eq "$(outbox bob)" 0 "nothing queued for a refused edit"

  # ---- mentions ----
  sent alice send bob "@bob look at this, and mail@bob.example" >/dev/null
  c_wait_line 60 "$H_TMP/bob.out" '"text":"@bob look'
  h_assert_eq "$(line_of "$H_TMP/bob.out" '"text":"@bob look' | jget '(o["mentions"], o["mentioned"])')" \
    "(['bob'], True)" "bob is mentioned once (an address is no mention)"
  h_assert_contains "$(c_parley bob history alice --offline)" "mail@bob.example (mentions you)" \
    "history: (mentions you)"
  sm="$(sent alice send bob "no mention of @carol here")"
  c_wait_line 60 "$H_TMP/bob.out" '"text":"no mention of @carol'
  h_assert_not_contains "$(line_of "$H_TMP/bob.out" 'no mention of @carol')" '"mentions"' \
    "a user who is not in the chat is no mention"

  # Past the 15-minute window by this machine's clock (the client's clock 20
  # minutes ahead, libfaketime): refused before sending, nothing queued.
  if [ "$H_SANITIZE" = 0 ]; then # (an LD_PRELOAD before the ASan runtime is refused)
    command -v faketime >/dev/null || h_fail "faketime missing (package faketime)"
    set +e
    FAKETIME_DONT_FAKE_MONOTONIC=1 timeout 120 faketime -f +20m "$H_PARLEY" --home "$(h_home alice)" \
      edit bob "$sm" "too late" --timeout 60 >"$H_TMP/late.out" 2>"$H_TMP/late.err"
    RC=$?
    set -e
    h_assert_eq "$RC" 2 "an edit past the window: $(cat "$H_TMP/late.err")"
    h_assert_eq "$(outbox alice)" 0 "nothing queued for a late edit"
  fi

  # ---- delete for everyone ----
  # bob may not delete alice's message: refused before sending.
  run nodel bob delete alice "$sm"
  h_assert_eq "$RC" 2 "deleting someone else's message in a direct chat"
  h_assert_eq "$(outbox bob)" 0 "nothing queued for a refused delete"
  sd="$(sent alice delete bob "$s1")"
  wait_kind "$H_TMP/bob.out" delete
  h_assert_eq "$(line_of "$H_TMP/bob.out" '"kind":"delete"' | jget 'o["target"]["seq"]')" 1 \
    "the live delete names #1"
  for u in alice bob; do
    hist "$u" "$([ "$u" = alice ] && echo bob || echo alice)" >/dev/null
    h_assert_eq "$(field "$H_TMP/hist-$u.json" 1 '(m["kind"], m["text"], m["deleted_by"], "reactions" in m)')" \
      "('deleted', '', 'alice', False)" "$u: #1 is a tombstone"
    h_assert_eq "$(field "$H_TMP/hist-$u.json" "$s2" 'm["reply_to"]["seq"]')" 1 "$u: the reply still points at #1"
  done
  out="$(c_parley bob history alice --offline)"
  h_assert_contains "$out" "[$D #1] alice: This message was deleted" "history: the tombstone line"
  h_assert_contains "$out" "bob: [↪ #1 alice: This message was deleted] hi back" "history: reply to a deleted message"
  h_assert_not_contains "$out" "hello bob" "no trace of the deleted text"
  # The broker's copy: no body, kind TOMBSTONE (3); the edit of it removed too;
  # the reply and the rest untouched.
  h_wait_for 60 sh -c "[ \"\$(sqlite3 '$H_TMP/parley.db' \"SELECT kind FROM messages WHERE chat_id='$D' AND seq=$se\")\" = 3 ]" ||
    h_fail "the stored edit of #1 is not a tombstone: $(sql "SELECT seq, kind, length(body) FROM messages WHERE chat_id='$D'")"
  h_assert_eq "$(sql "SELECT kind, coalesce(length(body), 0), coalesce(media_id, '') FROM messages WHERE chat_id='$D' AND seq=1")" \
    "3|0|" "the stored #1 is a tombstone without body"
  h_assert_eq "$(sql "SELECT kind, length(body) > 0 FROM messages WHERE chat_id='$D' AND seq IN ($s2, $sm) ORDER BY seq")" \
    "$(printf '1|1\n1|1')" "other stored messages keep their body"
  h_assert_eq "$(sql "SELECT count(*) FROM messages WHERE chat_id='$D' AND seq=$sd AND kind=1")" 1 \
    "the delete itself is an ordinary stored message"
  # A sentinel after the refused delete: bob's message #sm is still there on alice's side.
  sent bob send alice "sentinel one" >/dev/null
  c_wait_line 60 "$H_TMP/alice.out" '"text":"sentinel one"'
  hist alice bob >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-alice.json" "$sm" 'm["kind"]')" normal "the refused delete changed nothing"
  h_assert_not_contains "$(cat "$H_TMP/alice.out")" '"text":"hijacked"' "the refused edit reached no one"
  h_assert_not_contains "$(cat "$H_TMP/bob.out")" '"text":"too late"' "the late edit reached no one"

  # ---- hostile text: a line break and a terminal escape stay on one line ----
  sh_="$(sent alice send bob "$(printf 'two\nlines \033[31mred')")"
  c_wait_line 60 "$H_TMP/bob.out" '"text":"two\\nlines'
  out="$(c_parley bob history alice --offline | grep -F "#$sh_]")"
  h_assert_eq "$(wc -l <<<"$out")" 1 "one line for a text with a line break"
  h_assert_contains "$out" "alice: two↵lines �[31mred" "the break and the escape shown, not sent to the terminal"

  # ---- export ----
  c_parley bob export alice --offline --output "$H_TMP/export.json" 2>/dev/null || h_fail "export failed"
  python3 - "$H_TMP/export.json" "$s2" <<'EOF' || h_fail "export misses the rich fields"
import json, sys
ms = {m["seq"]: m for m in json.load(open(sys.argv[1]))["messages"]}
s2 = int(sys.argv[2])
assert ms[1]["kind"] == "deleted" and ms[1]["deleted_by"] == "alice" and ms[1]["text"] == "", ms[1]
assert ms[s2]["kind"] == "normal" and ms[s2]["reply_to"]["seq"] == 1, ms[s2]
assert all(m["kind"] in ("normal", "deleted") for m in ms.values()), ms
EOF
  ;;

group)
  h_start_keyserver
  h_start_mosquitto
  h_user alice
  h_user bob
  h_user carol
  link bob2
  listen_all alice bob bob2 carol
  out="$(c_parley alice group create team bob carol 2>&1)" || h_fail "group create failed: $out"
  G="$(tail -n 1 <<<"$out")"
  [[ "$G" == g:* ]] || h_fail "no group id: $out"

  # The group by its name ("team"), as every CHAT argument may be.
  g1="$(sent alice send "$G" "team hello")"
  for u in bob bob2 carol; do c_wait_line 90 "$H_TMP/$u.out" '"text":"team hello"'; done
  g2="$(sent carol send team "carol replies" --reply "$g1")"
  for u in alice bob bob2; do c_wait_line 90 "$H_TMP/$u.out" '"text":"carol replies"'; done
  h_assert_eq "$(line_of "$H_TMP/bob2.out" '"text":"carol replies"' | jget '(o["reply_to"]["sender"], o["reply_to"]["seq"])')" \
    "('alice', $g1)" "bob's second device sees the reply"

  # Reactions from bob's two devices are one user's: the later one wins.
  sent bob react team "$g1" "👍" >/dev/null
  wait_kind "$H_TMP/bob2.out" reaction '"emoji":"👍"'
  hist bob2 "$G" >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-bob2.json" "$g1" 'm["reactions"]')" "[{'user': 'bob', 'emoji': '👍'}]" \
    "bob2 sees the reaction bob made on his phone"
  sent bob2 react team "$g1" "🎉" >/dev/null
  sent carol react team "$g1" "👀" >/dev/null
  for u in alice bob; do wait_kind "$H_TMP/$u.out" reaction '"emoji":"👀"'; done
  for u in alice bob bob2 carol; do
    hist "$u" "$G" >/dev/null
    h_assert_eq "$(field "$H_TMP/hist-$u.json" "$g1" 'sorted((r["user"], r["emoji"]) for r in m["reactions"])')" \
      "[('bob', '🎉'), ('carol', '👀')]" "$u: one reaction per member"
  done

  # Edit: every device shows the latest text and "edited".
  sent alice edit team "$g1" "team hello (edited once)" >/dev/null
  sent alice edit team "$g1" "team hello (edited twice)" >/dev/null
  for u in bob bob2 carol; do wait_kind "$H_TMP/$u.out" edit 'edited twice'; done
  for u in bob bob2 carol; do
    hist "$u" "$G" >/dev/null
    h_assert_eq "$(field "$H_TMP/hist-$u.json" "$g1" '(m["text"], m["edited_at"] > 0)')" \
      "('team hello (edited twice)', True)" "$u: the latest edit"
  done
  run steal carol edit team "$g1" "carol's words"
  h_assert_eq "$RC" 1 "a member edits someone else's message"

  # Mentions: carol and bob (on both devices), not alice who wrote it.
  sent alice send team "@carol and @bob, please; @nobody" >/dev/null
  for u in bob bob2 carol; do
    c_wait_line 90 "$H_TMP/$u.out" '"text":"@carol and @bob'
    h_assert_eq "$(line_of "$H_TMP/$u.out" '"text":"@carol and @bob' | jget '(o["mentions"], o.get("mentioned"))')" \
      "(['carol', 'bob'], True)" "$u is mentioned"
  done
  h_assert_contains "$(c_parley carol history team --offline | tail -n 1)" "(mentions you)" "carol's history"

  # Refusals: bob (a member) may not delete alice's message nor set the timer.
  gm="$(sent alice send team "alice's own words")"
  c_wait_line 90 "$H_TMP/carol.out" "\"text\":\"alice's own words\""
  run nodel bob delete team "$gm"
  h_assert_eq "$RC" 2 "a member deletes someone else's group message"
  run notimer carol timer team 7d
  h_assert_eq "$RC" 2 "a member sets the group's timer"
  h_assert_contains "$(cat "$H_TMP/notimer.err")" "timer" "the refusal is reported"
  for u in bob carol; do h_assert_eq "$(outbox "$u")" 0 "$u: nothing queued"; done
  sent carol send team "sentinel after the refusals" >/dev/null
  for u in alice bob bob2; do c_wait_line 90 "$H_TMP/$u.out" '"text":"sentinel after the refusals"'; done
  for u in alice bob2; do
    hist "$u" "$G" >/dev/null
    h_assert_eq "$(field "$H_TMP/hist-$u.json" "$gm" 'm["kind"]')" normal "$u: the refused delete changed nothing"
    h_assert_eq "$(c_parley "$u" timer team --offline --json)" "{\"chat_id\":\"$G\",\"timer_s\":0}" \
      "$u: the refused timer changed nothing"
  done
  h_assert_eq "$(sql "SELECT kind FROM messages WHERE chat_id='$G' AND seq=$gm")" 1 "the store keeps it"

  # An admin (alice, the owner) deletes carol's message.
  sent alice delete team "$g2" >/dev/null
  for u in bob bob2 carol; do wait_kind "$H_TMP/$u.out" delete; done
  for u in bob bob2 carol; do
    hist "$u" "$G" >/dev/null
    h_assert_eq "$(field "$H_TMP/hist-$u.json" "$g2" '(m["kind"], m["text"], m["deleted_by"])')" \
      "('deleted', '', 'alice')" "$u: carol's message deleted by alice"
  done
  h_assert_contains "$(c_parley bob2 history team --offline)" "carol: This message was deleted (by alice)" \
    "the tombstone says who"
  h_wait_for 60 sh -c "[ \"\$(sqlite3 '$H_TMP/parley.db' \"SELECT kind FROM messages WHERE chat_id='$G' AND seq=$g2\")\" = 3 ]" ||
    h_fail "the stored copy is not a tombstone"
  h_assert_eq "$(sql "SELECT coalesce(length(body), 0) FROM messages WHERE chat_id='$G' AND seq=$g2")" 0 "no body stored"

  # The admin's timer: announced on every device, applied to later messages.
  st="$(sent alice timer team 7d)"
  for u in bob bob2 carol; do wait_kind "$H_TMP/$u.out" timer '"timer_s":604800'; done
  h_assert_eq "$(c_parley bob2 timer team --offline)" "$G: disappearing messages after 7 days" "bob2's timer"
  h_assert_contains "$(c_parley carol history team --offline)" "[$G #$st] * alice set disappearing messages to 7 days" \
    "the announcement"
  sx="$(sent bob2 send team "under the timer")"
  for u in alice bob carol; do c_wait_line 90 "$H_TMP/$u.out" '"text":"under the timer"'; done
  h_assert_eq "$(line_of "$H_TMP/carol.out" '"text":"under the timer"' | jget 'o["expires_at"] - o["ts"]')" \
    604800000 "a later message expires 7 days after it was stored"
  h_assert_eq "$(sql "SELECT expires_at - server_ts FROM messages WHERE chat_id='$G' AND seq=$sx")" 604800000 \
    "the broker's copy expires too"
  h_assert_eq "$(sql "SELECT expires_at FROM messages WHERE chat_id='$G' AND seq=$gm")" 0 \
    "earlier messages do not expire"
  ;;

late)
  # bob is offline while alice sends and deletes a message; his sync gets the
  # tombstone and the delete, never the text.
  h_start_keyserver
  h_start_mosquitto
  h_user alice
  h_user bob
  sent alice send bob "first, to keep" >/dev/null
  s="$(sent alice send bob "secret, deleted before bob looked")"
  sent alice delete bob "$s" >/dev/null
  h_wait_for 60 sh -c "[ \"\$(sqlite3 '$H_TMP/parley.db' \"SELECT kind FROM messages WHERE chat_id='d:alice:bob' AND seq=$s\")\" = 3 ]" ||
    h_fail "the stored copy is not a tombstone"
  out="$(c_parley bob history alice --timeout 60)" || h_fail "bob's history failed: $out"
  h_assert_contains "$out" "[d:alice:bob #$s] alice: This message was deleted" "bob's sync shows the tombstone"
  h_assert_contains "$out" "alice: first, to keep" "the other message is there"
  h_assert_not_contains "$out" "secret" "bob never sees the deleted text"
  hist bob alice >/dev/null
  h_assert_eq "$(field "$H_TMP/hist-bob.json" "$s" '(m["kind"], m["deleted_by"])')" "('deleted', 'alice')" \
    "tombstone fields"
  h_assert_not_contains "$(c_parley bob export alice --offline)" "secret" "nor does bob's export"
  ;;

timer)
  # A timer of 3 s in a direct chat; the broker expires stored messages
  # every second (plugin_opt_expire_interval_s 1).
  h_start_keyserver
  h_start_mosquitto "plugin_opt_expire_interval_s 1"
  h_user alice
  h_user bob
  listen_all alice bob
  D=d:alice:bob
  s1="$(sent alice send bob "before the timer")"
  h_assert_eq "$(c_parley alice timer bob --offline)" "$D: disappearing messages off" "no timer yet"
  run badtimer alice timer bob 3x
  h_assert_eq "$RC" 1 "a malformed timer"
  run bigtimer alice timer bob 91d
  h_assert_eq "$RC" 1 "a timer over 90 days"
  st="$(sent alice timer bob 3s)"
  wait_kind "$H_TMP/bob.out" timer '"timer_s":3'
  h_assert_eq "$(c_parley bob timer alice --offline --json)" "{\"chat_id\":\"$D\",\"timer_s\":3}" "bob's timer"
  s3="$(sent alice send bob "this one disappears")"
  c_wait_line 60 "$H_TMP/bob.out" '"text":"this one disappears"'
  h_assert_eq "$(line_of "$H_TMP/bob.out" '"text":"this one disappears"' | jget 'o["expires_at"] - o["ts"]')" 3000 \
    "expires 3 s after it was stored"
  s4="$(sent bob send alice "bob's disappears too")"
  # Gone from the broker's store, then from both local histories.
  h_wait_for 60 sh -c "[ \"\$(sqlite3 '$H_TMP/parley.db' \"SELECT count(*) FROM messages WHERE chat_id='$D' AND seq IN ($s3, $s4)\")\" = 0 ]" ||
    h_fail "the broker still stores the expired messages: $(sql "SELECT seq, expires_at FROM messages WHERE chat_id='$D'")"
  for u in alice bob; do
    peer="$([ "$u" = alice ] && echo bob || echo alice)"
    h_wait_for 60 sh -c "! '$H_PARLEY' --home '$(h_home "$u")' history $peer --offline | grep -q disappears" ||
      h_fail "$u still shows an expired message: $(c_parley "$u" history "$peer" --offline)"
    out="$(c_parley "$u" history "$peer" --offline)"
    h_assert_contains "$out" "#$s1] alice: before the timer" "$u: the message before the timer stays"
    h_assert_contains "$out" "#$st] * alice set disappearing messages to 3 seconds" "$u: the announcement stays"
  done
  h_assert_eq "$(sql "SELECT count(*) FROM messages WHERE chat_id='$D' AND seq IN ($s1, $st)")" 2 \
    "the broker keeps what came before, and the timer message"
  # Off again: a later message does not expire (it is the sentinel: it
  # arrives after everything above and stays).
  sent bob timer alice off >/dev/null
  wait_kind "$H_TMP/alice.out" timer '"timer_s":0'
  s5="$(sent alice send bob "after the timer")"
  c_wait_line 60 "$H_TMP/bob.out" '"text":"after the timer"'
  h_assert_not_contains "$(line_of "$H_TMP/bob.out" '"text":"after the timer"')" expires_at "no expiry after off"
  h_assert_eq "$(sql "SELECT expires_at FROM messages WHERE chat_id='$D' AND seq=$s5")" 0 "the broker's copy neither"
  ;;

names)
  h_start_keyserver
  h_start_mosquitto
  h_user alice
  h_user bob
  h_user carol
  out="$(c_parley alice group create team bob 2>&1)" || h_fail "group create failed"
  G1="$(tail -n 1 <<<"$out")"
  s="$(sent alice send team "to the team")"
  h_assert_contains "$(c_parley bob history team --timeout 60)" "[$G1 #$s] alice: to the team" "bob: by name"
  h_assert_contains "$(c_parley bob group info team)" "$G1  \"team\"" "group info by name"
  # A second group of the same name: the name is ambiguous, the ids are listed.
  out="$(c_parley alice group create team carol 2>&1)" || h_fail "group create failed"
  G2="$(tail -n 1 <<<"$out")"
  c_parley alice groups >/dev/null
  run amb alice send team "which one?"
  h_assert_eq "$RC" 1 "an ambiguous group name"
  h_assert_contains "$(cat "$H_TMP/amb.err")" "names 2 groups" "the error"
  h_assert_contains "$(cat "$H_TMP/amb.err")" "$G1" "the first id"
  h_assert_contains "$(cat "$H_TMP/amb.err")" "$G2" "the second id"
  h_assert_eq "$(outbox alice)" 0 "nothing queued"
  run ambinfo alice group info team
  h_assert_eq "$RC" 1 "group info with an ambiguous name"
  # A group named like a contact: refused while both are known.
  out="$(c_parley alice group create bob carol 2>&1)" || h_fail "group create failed"
  c_parley alice groups >/dev/null
  sent alice send d:alice:bob "direct, by chat id" >/dev/null
  run both alice history bob --offline
  h_assert_eq "$RC" 1 "a name that is a contact and a group"
  h_assert_contains "$(cat "$H_TMP/both.err")" "both a contact and the group" "the error"
  run notmine alice history d:bob:carol --offline
  h_assert_eq "$RC" 1 "someone else's direct chat"
  run bad alice history "no such group" --offline
  h_assert_eq "$RC" 1 "an unknown name"
  h_assert_contains "$(cat "$H_TMP/bad.err")" "invalid recipient or chat" "the error"
  ;;
*) h_fail "unknown case $case_" ;;
esac
h_pass
