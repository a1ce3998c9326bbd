#!/usr/bin/env bash
# Linked devices at the broker (docs/protocol.md "Devices"): alice has a
# signed device list (primary p1 = her account key, laptop "lap" with its own
# key); bob and carol have implicit lists.
#  - CONNECT is verified with the key of the device the client id names: the
#    client-id takeover (another user's id; a device's id with another
#    device's key or the account key; a device not in the list) is refused by
#    mosquitto_pub, a device's own and transient ids are accepted;
#  - a direct message from p1 reaches bob AND alice's own inbox (her laptop),
#    stamped with sender_device p1 (also on sync);
#  - a message encrypted to an older list (of the recipient or the sender) is
#    REJECTED stale_devices, a current one is stored;
#  - alice's READ goes to bob's receipts and to her own (by = alice);
#  - a removed device's live connection is closed at the next refresh and its
#    reconnect refused; carol (implicit) keeps today's behaviour throughout.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"
command -v devtool >/dev/null || h_fail "devtool not built ($PARLEY_BUILD_DIR/tests/devtool)"

p_user alice bob carol
ptool keygen "$H_TMP/keys-lap" || h_fail keygen
ptool keygen "$H_TMP/keys-tab" || h_fail keygen
A="$H_TMP/keys-alice" LAP="$H_TMP/keys-lap" TAB="$H_TMP/keys-tab"
devtool store-list "$H_STORE" alice 1 "$A" p1="$A"=phone lap="$LAP"=laptop || h_fail "alice's list"
h_start_mosquitto "plugin_opt_key_refresh_ms 250"

# dtok KEYDIR USER CLIENT_ID - an mqtt token of USER signed by KEYDIR's key
dtok() { devtool token "$1" "$2" "$3" mqtt; }
# d_sub NAME KEYDIR CLIENT_ID COUNT TOPIC - p_sub for alice's device KEYDIR
d_sub() {
  local name="$1" key="$2" cid="$3" count="$4" topic="$5"
  local before; before="$(p_grep_count "Received SUBSCRIBE from $cid\$" "$H_TMP/mosquitto.log")"
  : >"$H_TMP/$name.out"
  timeout 70 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "$cid" -u alice \
    -P "$(dtok "$key" alice "$cid")" -q 1 -F %x -C "$count" -W 60 -t "$topic" \
    >"$H_TMP/$name.out" 2>"$H_TMP/$name.err" &
  H_PIDS+=($!)
  eval "P_PID_$name=$! P_COUNT_$name=$count"
  h_wait_for 20 p_count_gt "Received SUBSCRIBE from $cid\$" "$H_TMP/mosquitto.log" "$before" ||
    h_fail "subscription of $cid did not start: $(cat "$H_TMP/$name.err")"
}

# --- the client-id takeover
p_expect_refused alice bob.p1 "$(p_token alice bob.p1)" "another user's client id"
p_expect_refused alice alice.lap "$(dtok "$A" alice alice.lap)" "the laptop's id with the account key"
p_expect_refused alice alice.p1 "$(dtok "$LAP" alice alice.p1)" "the primary's id with the laptop's key"
p_expect_refused alice alice.tab "$(dtok "$TAB" alice alice.tab)" "a device not in the list"
p_expect_refused alice alice.other "$(dtok "$A" alice alice.other)" "any tag: over once a list exists"
out="$(p_connect alice alice.lap "$(dtok "$LAP" alice alice.lap)")" || h_fail "laptop refused: $out"
out="$(p_connect alice alice.lap-cli7 "$(dtok "$LAP" alice alice.lap-cli7)")" ||
  h_fail "a transient id of the laptop refused: $out"
out="$(p_connect alice alice.p1 "$(dtok "$A" alice alice.p1)")" || h_fail "primary refused: $out"
out="$(p_connect carol carol.anything "$(p_token carol carol.anything)")" ||
  h_fail "an implicit list's user refused: $out"
grep -q "refused CONNECT of client alice.tab (user alice): unknown_device" "$H_TMP/mosquitto.log" ||
  h_fail "no unknown_device reason logged"

# --- own-inbox copy, stamped with the sending device
d_sub lapin "$LAP" alice.lap 1 parley/u/alice/inbox
p_sub bobin bob bob.b1 1 parley/u/bob/inbox
p_sub arc1 alice alice.p1-r 1 parley/u/alice/receipts
p_env "$H_TMP/m1.env" m1 --body hi-bob --devices-version 0 --own-devices-version 1
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m1.env" || h_fail "publish m1"
p_wait_sub bobin
p_wait_sub lapin
p_wait_sub arc1
bob_env="$(p_decode envelope bobin)"
lap_env="$(p_decode envelope lapin)"
h_assert_contains "$bob_env" '"client_msg_id":"m1"' "bob got m1"
h_assert_contains "$bob_env" '"sender_device":"p1"' "sender_device on bob's copy"
h_assert_contains "$lap_env" '"client_msg_id":"m1"' "alice's laptop got her own m1"
h_assert_contains "$lap_env" '"sender_device":"p1"' "sender_device on the own copy"
h_assert_contains "$lap_env" '"recipient":"bob"' "the own copy names the recipient"
h_assert_contains "$(p_decode receipt arc1)" '"status":"stored"' "STORED for m1"
h_assert_eq "$(p_sql "SELECT sender_device FROM messages WHERE client_msg_id='m1'")" p1 \
  "the store keeps the sending device"
# client-controlled sender_device is overwritten
p_sub bobin2 bob bob.b2 1 parley/u/bob/inbox
p_env "$H_TMP/m1b.env" m1b --own-devices-version 1 --sender-device lap
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m1b.env" || h_fail "publish m1b"
p_wait_sub bobin2
h_assert_contains "$(p_decode envelope bobin2)" '"sender_device":"p1"' "spoofed sender_device"

# --- stale device lists
p_sub arc2 alice alice.p1-r2 1 parley/u/alice/receipts
p_env "$H_TMP/m2.env" m2 --own-devices-version 0
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m2.env" || h_fail "publish m2"
p_wait_sub arc2
r2="$(p_decode receipt arc2)"
h_assert_contains "$r2" '"status":"rejected"' "m2 rejected"
h_assert_contains "$r2" '"error":"stale_devices"' "m2 error code"
h_assert_contains "$r2" 'device list of alice is at version 1' "m2 names whose list"
P_SUB_WAIT=30 p_sub brc bob bob.b1-r 2 parley/u/bob/receipts
p_env "$H_TMP/m3.env" m3 --devices-version 0
p_pub bob bob.b1 parley/u/alice/inbox "$H_TMP/m3.env" || h_fail "publish m3"
p_env "$H_TMP/m4.env" m4 --devices-version 1
p_pub bob bob.b1 parley/u/alice/inbox "$H_TMP/m4.env" || h_fail "publish m4"
p_wait_sub brc
rb="$(p_decode receipt brc)"
h_assert_contains "$(sed -n 1p <<<"$rb")" '"error":"stale_devices"' "bob's m3 to an old list"
h_assert_contains "$(sed -n 1p <<<"$rb")" 'device list of alice' "m3 names alice's list"
h_assert_contains "$(sed -n 2p <<<"$rb")" '"status":"stored"' "bob's m4 stored"
h_assert_eq "$(p_sql "SELECT count(*) FROM messages WHERE client_msg_id IN ('m2','m3')")" 0 \
  "nothing stored for stale sends"
# carol (implicit) to bob (implicit): version 0 is current
P_SUB_WAIT=30 p_sub crc carol carol.c-r 1 parley/u/carol/receipts
p_env "$H_TMP/m5.env" m5
p_pub carol carol.c1 parley/u/bob/inbox "$H_TMP/m5.env" || h_fail "publish m5"
p_wait_sub crc
h_assert_contains "$(p_decode receipt crc)" '"status":"stored"' "implicit lists unchanged"

# --- sync carries sender_device
p_request alice alice.p1 sync1 sync s1 d:alice:bob 0 10
h_assert_contains "$(cat "$H_TMP/sync1.json")" '"sender_device":"p1"' "sender_device on sync"

# --- alice reads on p1: bob and alice's laptop both get READ by alice
seq="$(p_sql "SELECT seq FROM messages WHERE client_msg_id='m4'")"
d_sub laprc "$LAP" alice.lap 1 parley/u/alice/receipts
p_sub bobrc bob bob.b1-rr 1 parley/u/bob/receipts
p_request alice alice.p1 ack1 ack a1 d:alice:bob "$seq" read
h_assert_contains "$(cat "$H_TMP/ack1.json")" '"status":0' "ack accepted"
p_wait_sub laprc
p_wait_sub bobrc
lr="$(p_decode receipt laprc)"
h_assert_contains "$lr" '"status":"read"' "READ on alice's own receipts"
h_assert_contains "$lr" '"by":"alice"' "by alice"
h_assert_contains "$lr" "\"seq\":$seq" "the read cursor"
h_assert_contains "$(p_decode receipt bobrc)" '"by":"alice"' "READ to bob as before"

# --- remove the laptop: its live connection ends, its reconnect is refused
P_SUB_WAIT=60 d_sub lapgone "$LAP" alice.lap 1 parley/u/alice/typing
laptok="$(dtok "$LAP" alice alice.lap)"
devtool store-list "$H_STORE" alice 2 "$A" p1="$A"=phone || h_fail "alice's list v2"
h_wait_for 20 bash -c "! kill -0 $P_PID_lapgone" || h_fail "the removed laptop stayed connected"
grep -q "closing connection of client alice.lap: device removed" "$H_TMP/mosquitto.log" ||
  h_fail "no log line for the device removal"
p_expect_refused alice alice.lap "$laptok" "the removed laptop's reconnect"
out="$(p_connect alice alice.p1 "$(dtok "$A" alice alice.p1)")" ||
  h_fail "the primary was cut off with the laptop: $out"
# one device left: no own-inbox copy, the own version moved to 2
p_sub arc3 alice alice.p1-r3 1 parley/u/alice/receipts
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m1.env" || h_fail "publish m1 again"
p_wait_sub arc3
h_assert_contains "$(p_decode receipt arc3)" 'device list of alice is at version 2' "stale after v2"
h_pass
