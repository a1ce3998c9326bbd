#!/usr/bin/env bash
# Answers of the `parley` CLI that can be trusted (issue 14, item 5): one ctest
# entry per reproduced defect, each running one case of this script against
# real mosquitto + plugin + keyserver (+ media gateway) processes:
#
#   client_cli.sh outbox | rejected | read_seq | refused | help | json | time |
#                 history | home | send_file | migrate
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

case_="${1:?usage: client_cli.sh CASE}"
H_NAME="client_cli_$case_"

# run NAME CMD... - run CMD, keep stdout/stderr in $H_TMP/NAME.{out,err}, set RC.
# CMD may start with "P USER": the parley CLI in USER's home.
run() {
  local name="$1"; shift
  if [ "$1" = P ]; then
    local u="$2"; shift 2
    set -- "$H_PARLEY" --home "$(h_home "$u")" "$@"
  fi
  set +e
  timeout 120 "$@" >"$H_TMP/$name.out" 2>"$H_TMP/$name.err"; RC=$?
  set -e
}
outbox() { c_parley "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"])'; }
stack() { h_start_keyserver; h_start_mosquitto "${1:-}"; h_user alice; h_user bob; }
P() { local u="$1"; shift; "$H_PARLEY" --home "$(h_home "$u")" "$@"; }

case "$case_" in
outbox)
  # A send that fails before anything is sent leaves nothing in the outbox.
  # Before the fix the message was queued first and the failure came after.
  stack
  run badurl P alice --mqtt "nonsense://x" send bob "never sent"
  h_assert_eq "$RC" 1 "exit code with a bad broker URL"
  h_assert_eq "$(outbox alice)" 0 "outbox after a bad URL"
  run badopt P alice send bob "never sent" --no-such-option
  h_assert_eq "$RC" 1 "exit code with a bad option"
  h_assert_eq "$(outbox alice)" 0 "outbox after a bad option"
  run down P alice --mqtt "tcp://127.0.0.1:$(h_port)" send bob "never sent" --timeout 300
  h_assert_eq "$RC" 2 "exit code with nothing listening"
  h_assert_eq "$(outbox alice)" 0 "outbox after a refused connection"
  # And the next connection publishes nothing: bob never gets it.
  out="$(c_parley alice send bob "the only one" --timeout 60)" || h_fail "send failed: $out"
  h_assert_contains "$out" "stored d:alice:bob seq 1 " "the first stored message is seq 1"
  ;;
rejected)
  # A message over the broker's limit: REJECTED too_large names it, the CLI
  # says so (exit 2) and the outbox drops it for good.
  stack "plugin_opt_max_payload 1000"
  big="$(python3 -c 'print("x" * 3000)')"
  run big P alice send bob "$big" --timeout 60
  h_assert_eq "$RC" 2 "exit code of a too large message"
  h_assert_contains "$(cat "$H_TMP/big.err")" "too_large" "the refusal is reported"
  h_assert_eq "$(outbox alice)" 0 "outbox after too_large"
  # Once the client has heard the broker's limit (list_chats answers carry
  # it), a message over it is refused before it is encrypted or sent.
  c_parley alice chats --timeout 60 >/dev/null || h_fail "chats failed"
  publishes="$(grep -c "Received PUBLISH from alice\..*parley/u/bob/inbox" "$H_TMP/mosquitto.log" || true)"
  run big2 P alice send bob "$big" --timeout 60
  h_assert_eq "$RC" 1 "exit code of a message over the limit the server announced"
  h_assert_contains "$(cat "$H_TMP/big2.err")" "the server accepts at most 1000" "the local refusal"
  h_assert_eq "$(outbox alice)" 0 "outbox after the local refusal"
  out="$(c_parley alice send bob "small" --timeout 60)" || h_fail "send failed: $out"
  h_assert_contains "$out" "stored d:alice:bob seq 1 " "nothing took a seq before"
  # The small message is the only publish to bob's inbox since: the big one
  # never left the client.
  h_assert_eq "$(grep -c "Received PUBLISH from alice\..*parley/u/bob/inbox" "$H_TMP/mosquitto.log")" \
    "$((publishes + 1))" "publishes to bob's inbox after the local refusal"
  ;;
read_seq)
  # `read CHAT SEQ` beyond the chat's last message is refused (it used to say
  # "read ... up to 5" while the broker refused the ack).
  stack
  c_parley alice send bob "one" --timeout 60 >/dev/null || h_fail "send failed"
  run beyond P bob read alice 5 --timeout 60
  h_assert_eq "$RC" 1 "exit code of read beyond the last message"
  h_assert_contains "$(cat "$H_TMP/beyond.err")" "has no message 5 (its last is 1)" "error"
  run nochat P bob read d:bob:carol --timeout 60
  h_assert_eq "$RC" 1 "exit code of read in an unknown chat"
  run ok P bob read alice 1 --timeout 60 --json
  h_assert_eq "$RC" 0 "read 1"
  h_assert_eq "$(cat "$H_TMP/ok.out")" '{"chat_id":"d:alice:bob","read_seq":1}' "read --json"
  ;;
refused)
  # A refused TCP connection fails at once with exit 2 (not after --timeout),
  # and chats/history fall back to the local copy.
  stack
  c_parley alice send bob "before the outage" --timeout 60 >/dev/null || h_fail "send failed"
  c_parley alice history bob >/dev/null || h_fail "history failed"
  kill -TERM "$H_MOSQ_PID"; wait "$H_MOSQ_PID" 2>/dev/null || true
  # --timeout 300 > the 120 s bound of run(): only failing fast passes.
  run send P alice send bob "during the outage" --timeout 300
  h_assert_eq "$RC" 2 "exit code of send with the broker down"
  h_assert_contains "$(cat "$H_TMP/send.err")" "cannot connect to the broker" "send error"
  h_assert_eq "$(outbox alice)" 0 "nothing queued"
  run typing P alice typing bob --timeout 300
  h_assert_eq "$RC" 2 "exit code of typing with the broker down"
  run chats P alice chats --timeout 300
  h_assert_eq "$RC" 0 "chats falls back"
  h_assert_contains "$(cat "$H_TMP/chats.out")" "d:alice:bob" "chats: the local copy"
  h_assert_contains "$(cat "$H_TMP/chats.err")" "showing the local copy" "chats: the warning"
  run hist P alice history bob --timeout 300
  h_assert_eq "$RC" 0 "history falls back"
  h_assert_contains "$(cat "$H_TMP/hist.out")" "alice: before the outage" "history: the local copy"
  h_assert_contains "$(cat "$H_TMP/hist.err")" "showing the local copy" "history: the warning"
  ;;
help)
  # --version on every program; -h, --help, CMD --help, help CMD: usage on stdout, exit 0.
  for p in "$H_PARLEY" "$PARLEY_BUILD_DIR/keyserver/parley-keyserver" \
           "$PARLEY_BUILD_DIR/media-gateway/parley-media" "$PARLEY_BUILD_DIR/tools/parley-admin"; do
    run v "$p" --version
    h_assert_eq "$RC" 0 "$p --version"
    grep -qE '^parley(-[a-z]+)? [0-9]+\.[0-9]+\.[0-9]+' "$H_TMP/v.out" || h_fail "$p --version: $(cat "$H_TMP/v.out")"
    run h "$p" -h
    h_assert_eq "$RC" 0 "$p -h"
    h_assert_contains "$(cat "$H_TMP/h.out")" "usage:" "$p -h prints usage on stdout"
  done
  for args in "--help" "send --help" "send -h" "group --help" "group create --help" "help send" "help group create"; do
    # shellcheck disable=SC2086
    run h "$H_PARLEY" $args
    h_assert_eq "$RC" 0 "parley $args"
    h_assert_contains "$(cat "$H_TMP/h.out")" "usage:" "parley $args prints usage on stdout"
  done
  run h "$H_PARLEY" send
  h_assert_eq "$RC" 1 "parley send without arguments"
  ;;
json)
  # --json only where it works; working on init, read, safety-number, send-file.
  h_start_keyserver; h_start_mosquitto; h_start_media
  run init P alice init alice --json
  h_assert_eq "$RC" 0 "init --json"
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["user"]=="alice" and o["client_id"].startswith("alice.")' "$H_TMP/init.out" ||
    h_fail "init --json: $(cat "$H_TMP/init.out")"
  h_user bob
  run sn P alice safety-number bob --json
  h_assert_eq "$RC" 0 "safety-number --json"
  sn="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["safety_number"])' "$H_TMP/sn.out")"
  h_assert_eq "$sn" "$(P bob safety-number alice)" "safety number (both sides)"
  head -c 3000 /dev/urandom >"$H_TMP/f.bin"
  run sf P alice send-file bob "$H_TMP/f.bin" --json --timeout 60
  h_assert_eq "$RC" 0 "send-file --json"
  h_assert_contains "$(cat "$H_TMP/sf.out")" '"status":"stored","chat_id":"d:alice:bob","seq":1' "send-file --json"
  run rd P bob read alice --json --timeout 60
  h_assert_eq "$(cat "$H_TMP/rd.out")" '{"chat_id":"d:alice:bob","read_seq":1}' "read --json"
  for cmd in "typing bob" "rotate-identity" "fetch x" "group leave g:x" "group create x"; do
    # shellcheck disable=SC2086
    run nj P alice $cmd --json
    h_assert_eq "$RC" 1 "$cmd --json is refused"
    h_assert_contains "$(cat "$H_TMP/nj.err")" "unknown option --json" "$cmd --json"
  done
  ;;
time)
  # Human-readable listen and history carry a readable time; presence too.
  stack
  c_parley alice send bob "hello" --timeout 60 >/dev/null || h_fail "send failed"
  P bob listen --timeout 60 --count 1 --presence alice >"$H_TMP/l.out" 2>"$H_TMP/l.log" &
  L=$!; H_PIDS+=("$L")
  wait "$L" || h_fail "listen failed: $(cat "$H_TMP/l.log")"
  re='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[d:alice:bob #1\] alice: hello$'
  grep -qE "$re" "$H_TMP/l.out" || h_fail "listen line without a time: $(cat "$H_TMP/l.out")"
  grep -qE '^\[presence\] alice is offline \(last seen [0-9]{4}-[0-9]{2}-[0-9]{2} ' "$H_TMP/l.out" ||
    h_fail "presence without a readable time: $(cat "$H_TMP/l.out")"
  grep -qE "$re" <<<"$(c_parley bob history alice --offline)" || h_fail "history line without a time"
  ;;
history)
  # history --limit N (the last N) and --since (relative or a date).
  stack
  for i in 1 2 3; do c_parley alice send bob "m$i" --timeout 60 >/dev/null || h_fail "send $i"; done
  out="$(c_parley bob history alice --limit 2 --timeout 60)" || h_fail "history --limit"
  h_assert_eq "$(grep -c 'alice: m' <<<"$out")" 2 "--limit 2 prints two"
  h_assert_contains "$out" "#2] alice: m2" "--limit 2: m2"
  h_assert_contains "$out" "#3] alice: m3" "--limit 2: m3"
  h_assert_eq "$(c_parley bob history alice --offline --since 1h | grep -c 'alice: m')" 3 "--since 1h"
  h_assert_eq "$(c_parley bob history alice --offline --since 2999-01-01 | grep -c 'alice: m' || true)" 0 "--since the future"
  h_assert_eq "$(c_parley bob history alice --offline --since 2000-01-01T00:00 --limit 1 | grep -c 'alice: m3')" 1 "--since and --limit"
  run bad P bob history alice --offline --since yesterday
  h_assert_eq "$RC" 1 "a bad --since"
  run bad P bob history alice --offline --limit 0
  h_assert_eq "$RC" 1 "--limit 0"
  ;;
home)
  # A mistyped --home is an error, and is not created.
  stack
  run typo P alice-typo status
  h_assert_eq "$RC" 1 "exit code of a missing home"
  h_assert_contains "$(cat "$H_TMP/typo.err")" "no Parley home at $(h_home alice-typo)" "error"
  [ ! -e "$(h_home alice-typo)" ] || h_fail "the mistyped home was created"
  run typo2 env PARLEY_HOME="$H_TMP/nope" "$H_PARLEY" send bob hi
  h_assert_eq "$RC" 1 "exit code of a missing PARLEY_HOME"
  [ ! -e "$H_TMP/nope" ] || h_fail "the mistyped PARLEY_HOME was created"
  h_assert_contains "$(c_parley alice status)" "user:      alice" "the real home still works"
  ;;
send_file)
  # send-file refuses a file over the gateway's limit before uploading, and
  # shows progress on a terminal only.
  stack
  h_start_media --max-size 5000
  head -c 6000 /dev/urandom >"$H_TMP/big.bin"
  run big P alice send-file bob "$H_TMP/big.bin" --timeout 60
  h_assert_eq "$RC" 2 "exit code of a file over the limit"
  h_assert_contains "$(cat "$H_TMP/big.err")" "too large" "error"
  h_assert_contains "$(cat "$H_TMP/big.err")" "nothing was uploaded" "error"
  h_assert_eq "$(curl -s "$H_MEDIA_URL/metrics" | awk '/^parley_media_errors_total\{.*too_large/ {s += $2} END {print s + 0}')" 0 \
    "the gateway saw no upload (no 413)"
  h_assert_eq "$(find "$H_TMP/media" -type f | wc -l)" 0 "no object in the gateway"
  h_assert_eq "$(outbox alice)" 0 "outbox"
  head -c 4000 /dev/urandom >"$H_TMP/ok.bin"
  run notty P alice send-file bob "$H_TMP/ok.bin" --timeout 60
  h_assert_eq "$RC" 0 "send-file without a terminal"
  h_assert_not_contains "$(cat "$H_TMP/notty.err")" "uploading" "no progress without a terminal"
  run tty script -qec "'$H_PARLEY' --home '$(h_home alice)' send-file bob '$H_TMP/ok.bin' --timeout 60" /dev/null
  h_assert_eq "$RC" 0 "send-file on a terminal"
  h_assert_contains "$(cat "$H_TMP/tty.out")" "send-file: uploading 100%" "progress on a terminal"
  ;;
migrate)
  # parley-admin migrate opens its source read-only: a missing one is refused
  # and not created (it used to be created empty and "migrated").
  admin="$PARLEY_BUILD_DIR/tools/parley-admin"
  run m "$admin" migrate --from "sqlite:$H_TMP/typo.db" --to "sqlite:$H_TMP/out.db"
  h_assert_eq "$RC" 1 "exit code of a missing source"
  h_assert_contains "$(cat "$H_TMP/m.err")" "cannot open source" "error"
  [ ! -e "$H_TMP/typo.db" ] || h_fail "the missing source was created"
  : >"$H_TMP/empty.db"
  run e "$admin" migrate --from "sqlite:$H_TMP/empty.db" --to "sqlite:$H_TMP/out2.db"
  h_assert_eq "$RC" 1 "exit code of an empty source"
  h_assert_contains "$(cat "$H_TMP/e.err")" "not a Parley store" "error"
  h_assert_eq "$(stat -c %s "$H_TMP/empty.db")" 0 "the empty source stays untouched"
  # A real source migrates, and is not written (its bytes do not change).
  h_start_keyserver; h_user alice; kill -TERM "$H_KS_PID"; wait "$H_KS_PID" 2>/dev/null || true
  sqlite3 "$H_TMP/parley.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
  before="$(sha256sum <"$H_TMP/parley.db")"
  run ok "$admin" migrate --from "$H_STORE" --to "sqlite:$H_TMP/copy.db"
  h_assert_eq "$RC" 0 "migrate of a real store: $(cat "$H_TMP/ok.err")"
  h_assert_contains "$(cat "$H_TMP/ok.out")" "migration complete" "output"
  h_assert_eq "$(sha256sum <"$H_TMP/parley.db")" "$before" "the source is unchanged"
  ;;
*) h_fail "unknown case $case_" ;;
esac
h_pass
