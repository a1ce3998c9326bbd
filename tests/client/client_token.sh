#!/usr/bin/env bash
# `parley token --json` lets third-party MQTT clients (mosquitto_sub) connect
# as the user; what they see on the wire is ciphertext.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

# The client id names one of alice's devices: this home's, with a suffix
# (the form of a transient connection of the device, {user}.{device}-{x}).
dev="$(c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])')"
json="$(c_parley alice token --json --client-id "alice.$dev-sub")"
read -r cid user pass < <(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["client_id"], o["username"], o["password"])' "$json")
h_assert_eq "$cid" "alice.$dev-sub" "client id"
h_assert_eq "$user" alice "user name"

# mosquitto_sub connects as alice with a persistent session and subscribes
# (-E: exit once subscribed), retrying while the broker's key cache learns
# about the new registration; the message sent next waits in that session.
sub=(mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "$cid" -u "$user" -P "$pass" -c -q 1
  -t parley/u/alice/inbox)
ok=0
for attempt in $(seq 1 50); do
  if timeout 20 "${sub[@]}" -E >>"$H_TMP/sub.log" 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || h_fail "mosquitto_sub could not connect as alice: $(tail -3 "$H_TMP/sub.log")"

c_parley bob send alice "the secret is 4711" --timeout 60 >/dev/null || h_fail "send failed"
timeout 60 "${sub[@]}" -C 1 -W 30 -v >"$H_TMP/sub.out" 2>>"$H_TMP/sub.log" ||
  h_fail "mosquitto_sub got no message: $(tail -3 "$H_TMP/sub.log")"
grep -aq "^parley/u/alice/inbox " "$H_TMP/sub.out" || h_fail "no message on alice's inbox"
grep -aq "bob" "$H_TMP/sub.out" || h_fail "the envelope does not carry the stamped sender"
! grep -aq "4711" "$H_TMP/sub.out" || h_fail "plaintext visible on the wire"

# A token for another client id is refused, and so is a client id of alice
# that names no device of hers.
set +e
json="$(c_parley alice token --json --client-id alice.sub)"
read -r cid2 user2 pass2 < <(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["client_id"], o["username"], o["password"])' "$json")
mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i "$cid2" -u "$user2" -P "$pass2" \
  -t parley/u/alice/inbox -C 1 -W 5 >"$H_TMP/bad.out" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || h_fail "a client id naming no device of alice was accepted"

set +e
mosquitto_sub -h 127.0.0.1 -p "$H_MQTT_PORT" -i someone-else -u "$user" -P "$pass" \
  -t parley/u/alice/inbox -C 1 -W 5 >"$H_TMP/bad.out" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || h_fail "a token minted for another client id was accepted"

# Without an identity (a home that exists, as `parley init` would leave it
# after a failed start; a missing home is exit 1, client_cli_home): a clear
# error and exit code 2.
mkdir -m 700 "$H_TMP/empty-home"
set +e
err="$("$H_PARLEY" --home "$H_TMP/empty-home" token 2>&1)"; rc=$?
set -e
h_assert_eq "$rc" 2 "exit code without identity"
h_assert_contains "$err" "no identity" "error without identity"
h_pass
