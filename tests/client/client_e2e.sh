#!/usr/bin/env bash
# End-to-end encryption through the real stack: the plaintext never reaches
# the broker's store; a message that does not decrypt is reported (and the
# session survives it); a contact's identity key change is surfaced.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

c_listen bob bob1 --timeout 200
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob1.out" '"synced"'

SECRET="plain-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
c_parley alice send bob "first $SECRET" --timeout 60 >/dev/null || h_fail "send failed"
c_parley alice send bob "second $SECRET" --timeout 60 >/dev/null || h_fail "send failed"
c_wait_line 60 "$H_TMP/bob1.out" "\"text\":\"second $SECRET\""

# Bob's init uploaded 100 one-time prekeys; alice's first contact used one.
ks_count() {
  local tok
  tok="$(c_parley "$1" token --audience keyserver --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')"
  curl -sf -H "Authorization: Bearer $tok" "$H_KS_URL/v2/keys"
}
h_assert_eq "$(ks_count bob)" '{"count":99}' "bob's one-time prekeys on the keyserver"

# 1. The broker's store (SQLite database and WAL) and mosquitto's own
#    persistence hold the messages, never their plaintext.
sleep 2 # let mosquitto's autosave (1 s) write its database
broker_files=("$H_TMP"/parley.db* "$H_TMP"/mosq/*)
[ -e "${broker_files[0]}" ] || h_fail "no broker store files in $H_TMP"
grep -aq "d:alice:bob" "${broker_files[@]}" || h_fail "the messages are not in the broker's store files"
if grep -alq "$SECRET" "${broker_files[@]}"; then
  h_fail "plaintext found in $(grep -al "$SECRET" "${broker_files[@]}" | tr '\n' ' ')"
fi
# ... while bob's own local store has it (the check above can find text).
grep -aq "$SECRET" "$(h_home bob)"/parley.db* || h_fail "bob's local history lacks the message"

# 2. Garbage in an envelope body, published as alice with a raw MQTT client:
#    bob reports it undecryptable, keeps running, and alice's next message
#    still decrypts.
# The raw client is a connection of alice's device (alice.{device}-raw), and
# the envelope says it was encrypted to both device lists as they are
# (version 1 each: fields 14 and 15), or the broker would refuse it as
# stale_devices.
dev="$(c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])')"
read -r pass < <(c_parley alice token --json --client-id "alice.$dev-raw" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
python3 - "$H_TMP/garbage.bin" <<'PY'
import os, sys
def field(num, data):
    return bytes([num << 3 | 2, len(data)]) + data
body = os.urandom(60)
open(sys.argv[1], "wb").write(field(6, b"garbage-1") + field(7, body) + bytes([14 << 3, 1, 15 << 3, 1]))
PY
for attempt in $(seq 1 30); do
  if mosquitto_pub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "alice.$dev-raw" -u alice -P "$pass" -q 1 \
      -t parley/u/bob/inbox -f "$H_TMP/garbage.bin" 2>>"$H_TMP/pub.log"; then break; fi
  sleep 0.3
done
c_wait_line 60 "$H_TMP/bob1.out" '"type":"undecryptable","chat_id":"d:alice:bob","seq":3,"sender":"alice"'
c_parley alice send bob "after the garbage" --timeout 60 >/dev/null || h_fail "send failed"
c_wait_line 60 "$H_TMP/bob1.out" '"text":"after the garbage"'
kill -0 "$BOB_PID" || h_fail "bob's listener died"
hist="$(c_parley bob history alice --offline)"
h_assert_contains "$hist" "(message could not be decrypted)" "history marks the bad message"

# 3. Bob replaces his identity key. Alice is warned when she next hears from
#    him, the safety number changes, and both directions work again.
kill -TERM "$BOB_PID"
wait "$BOB_PID" 2>/dev/null || true
sn_before="$(c_parley alice safety-number bob)"
[ "$(c_parley bob safety-number alice)" = "$sn_before" ] || h_fail "safety numbers differ between the two sides"
c_parley bob rotate-identity >/dev/null || h_fail "rotate-identity failed"

c_listen alice alice1 --timeout 200
ALICE_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/alice1.out" '"synced"'
c_parley bob send alice "new key, same bob" --timeout 60 >/dev/null || h_fail "send after rotation failed"
c_wait_line 60 "$H_TMP/alice1.out" '"type":"identity_changed","user":"bob"'
c_wait_line 60 "$H_TMP/alice1.out" '"text":"new key, same bob"'
sn_after="$(c_parley alice safety-number bob)"
[ "$sn_after" != "$sn_before" ] || h_fail "the safety number did not change"
[ "$(c_parley bob safety-number alice)" = "$sn_after" ] || h_fail "new safety numbers differ"

c_listen bob bob2 --count 1 --timeout 90
c_wait_line 60 "$H_TMP/bob2.out" '"synced"'
c_parley alice send bob "welcome back" --timeout 60 >/dev/null || h_fail "reply failed"
wait "$C_LISTEN_PID" || h_fail "bob did not get alice's reply"
h_assert_contains "$(cat "$H_TMP/bob2.out")" '"text":"welcome back"' "reply decrypted"
kill -TERM "$ALICE_PID" 2>/dev/null || true
h_pass
