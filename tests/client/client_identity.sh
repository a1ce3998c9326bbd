#!/usr/bin/env bash
# Identity keys through the real stack: a PreKey message whose identity key
# is not the one the keyserver serves is refused and reported; after a
# contact rotates its identity, our next message reaches it without it
# writing first (and we are warned); a PreKey message that arrives while the
# keyserver is unreachable is kept and delivered once it can be checked.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob
h_user carol

# forge CMID - publish, as alice (a genuine MQTT login: the broker stamps
# her as sender), a PreKey message carrying a random identity key instead
# of hers, as a malicious server or a stolen token could.
# A raw connection of alice's device (alice.{device}-raw); the envelope says
# it was encrypted to both device lists as they are (fields 14, 15: version
# 1 each), or the broker would refuse it as stale_devices.
ALICE_DEV="$(c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])')"
ALICE_RAW_PASS="$(c_parley alice token --json --client-id "alice.$ALICE_DEV-raw" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')"
forge() {
  python3 - "$H_TMP/forged.bin" "$1" <<'PY'
import os, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def ld(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data
def vi(num, v):
    return varint(num << 3) + varint(v)
header = ld(1, os.urandom(32)) + vi(2, 0) + vi(3, 0)
ratchet = ld(1, header) + ld(2, os.urandom(48))
prekey = ld(1, os.urandom(32)) + ld(2, os.urandom(32)) + vi(3, 1) + vi(4, 1) + vi(5, 7) + ld(6, ratchet)
e2e = ld(1, prekey)
open(sys.argv[1], "wb").write(ld(6, sys.argv[2].encode()) + ld(7, e2e) + vi(14, 1) + vi(15, 1))
PY
  local attempt
  for attempt in $(seq 1 30); do
    if mosquitto_pub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "alice.$ALICE_DEV-raw" -u alice -P "$ALICE_RAW_PASS" \
        -q 1 -t parley/u/bob/inbox -f "$H_TMP/forged.bin" 2>>"$H_TMP/pub.log"; then return 0; fi
    sleep 0.3
  done
  h_fail "cannot publish the forged message"
}

c_listen bob bob1 --timeout 300
BOB_PID=$C_LISTEN_PID
c_wait_line 60 "$H_TMP/bob1.out" '"synced"'

# 1. First contact with a forged identity key: refused, reported, nothing
#    pinned - the genuine alice is then accepted (the keyserver vouches).
forge forged-1
# (alice's device is in her signed device list: the key it names is the one
# a message from that device must carry)
c_wait_line 60 "$H_TMP/bob1.out" '"type":"undecryptable","chat_id":"d:alice:bob","seq":1,"sender":"alice","error":"refused: the key of device '"$ALICE_DEV"' of alice in this message is not the one its device list names"'
c_parley alice send bob "the real alice" --timeout 60 >/dev/null || h_fail "send failed"
c_wait_line 60 "$H_TMP/bob1.out" '"text":"the real alice"'
h_assert_not_contains "$(cat "$H_TMP/bob1.out")" '"identity_changed"' "no identity change on first contact"

# 2. Once alice is pinned, a PreKey message with another identity key is a
#    change the keyserver does not back: refused, alice's key stays pinned
#    (no identity_changed), her session keeps working.
sn_before="$(c_parley bob safety-number alice)"
forge forged-2
c_wait_line 60 "$H_TMP/bob1.out" '"seq":3,"sender":"alice","error":"refused: the key of device '"$ALICE_DEV"' of alice in this message is not the one its device list names"'
c_parley alice send bob "still the real alice" --timeout 60 >/dev/null || h_fail "send failed"
c_wait_line 60 "$H_TMP/bob1.out" '"text":"still the real alice"'
h_assert_not_contains "$(cat "$H_TMP/bob1.out")" '"identity_changed"' "a refused key is not a change"
h_assert_eq "$(c_parley bob safety-number alice)" "$sn_before" "bob's safety number with alice"
kill -TERM "$BOB_PID"
wait "$BOB_PID" 2>/dev/null || true

# 3. Bob rotates his identity. Alice writes first: her client sees the new
#    key on the keyserver, warns, drops the old session and starts a new
#    one (X3DH) - bob reads it without having written to her.
c_parley bob rotate-identity >/dev/null || h_fail "rotate-identity failed"
c_parley alice send bob "written after your rotation" --timeout 60 >/dev/null \
  2>"$H_TMP/alice-send.err" || h_fail "send after bob's rotation failed: $(cat "$H_TMP/alice-send.err")"
h_assert_contains "$(cat "$H_TMP/alice-send.err")" "WARNING: the identity key of bob changed" \
  "alice is warned of bob's new identity"
c_listen bob bob2 --count 1 --timeout 90
wait "$C_LISTEN_PID" || h_fail "bob did not get alice's message: $(cat "$H_TMP/bob2.out")"
h_assert_contains "$(cat "$H_TMP/bob2.out")" '"text":"written after your rotation"' "decrypted by bob"
h_assert_not_contains "$(cat "$H_TMP/bob2.out")" '"undecryptable"' "nothing undecryptable for bob"
[ "$(c_parley alice safety-number bob)" = "$(c_parley bob safety-number alice)" ] ||
  h_fail "safety numbers differ after the rotation"
# ... and the new session works both ways.
c_listen alice alice1 --count 1 --timeout 90
c_wait_line 60 "$H_TMP/alice1.out" '"synced"'
c_parley bob send alice "got it" --timeout 60 >/dev/null || h_fail "bob's reply failed"
wait "$C_LISTEN_PID" || h_fail "alice did not get bob's reply: $(cat "$H_TMP/alice1.out")"
h_assert_contains "$(cat "$H_TMP/alice1.out")" '"text":"got it"' "bob's reply decrypted"

# 4. Carol's first message reaches bob while the keyserver is down: bob
#    cannot check her identity key, reports the message and keeps it; when
#    the keyserver is back, the message is checked and delivered.
c_parley carol send bob "while the keyserver sleeps" --timeout 60 >/dev/null || h_fail "carol's send failed"
kill -TERM "$H_KS_PID"
wait "$H_KS_PID" 2>/dev/null || true
c_listen bob bob3 --timeout 200
c_wait_line 60 "$H_TMP/bob3.out" '"chat_id":"d:bob:carol","seq":1,"sender":"carol","error":"cannot check the identity key of carol with the keyserver'
h_assert_contains "$(grep d:bob:carol "$H_TMP/bob3.out")" "kept for a retry" "the reason says it is kept"
h_assert_not_contains "$(cat "$H_TMP/bob3.out")" '"text":"while the keyserver sleeps"' "not delivered unchecked"
h_bg keyserver "$PARLEY_BUILD_DIR/keyserver/parley-keyserver" \
  --listen "127.0.0.1:$H_KS_PORT" --store "$H_STORE"
h_wait_port "$H_KS_PORT"
c_wait_line 60 "$H_TMP/bob3.out" '"text":"while the keyserver sleeps"'
hist="$(c_parley bob history carol --offline)"
h_assert_contains "$hist" "while the keyserver sleeps" "bob's history has carol's message"
h_pass
