#!/usr/bin/env bash
# ws_session.sh - MQTT over WebSocket (issue 14, item 2): mosquitto's
# built-in "protocol websockets" listener with the Parley plugin. A CLI
# session over ws:// (register, send, receive, a reply over plain MQTT to a
# listener on WebSocket), then a third-party WebSocket client (paho-mqtt for
# Python) shows that the plugin's authentication and ACLs hold on that
# listener: a bad password is refused at CONNECT, and a subscription to
# another user's inbox is refused while the same SUBSCRIBE's own topic is
# granted (the sentinel in the same packet).
. "$(dirname "$0")/../lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/tls/lib.sh"

WS=$(h_port)
h_start_mosquitto "$(t_listener "$WS" websockets)"
h_wait_port "$WS"
h_start_keyserver
h_user alice
h_user bob

# ---- a CLI session over ws:// ----------------------------------------------------
export PARLEY_MQTT_URL="ws://127.0.0.1:$WS"
c_listen bob bob --count 2 --timeout 90
out="$(c_parley alice send bob "hello over websocket")" || h_fail "send over ws:// failed: $out"
h_assert_contains "$out" "stored d:alice:bob seq 1" "send over ws://"
out="$(c_parley alice --mqtt "ws://localhost:$WS/mqtt" send bob "again, with a path")" ||
  h_fail "send over ws://HOST:PORT/mqtt failed: $out"
h_assert_contains "$out" "seq 2" "send over ws:// with a path"
wait "$C_LISTEN_PID" || h_fail "bob's listener over ws:// failed: $(cat "$H_TMP/bob.log")"
h_assert_eq "$(c_messages "$H_TMP/bob.out")" "1 alice hello over websocket
2 alice again, with a path" "bob's messages over ws://"
# bob answers over plain MQTT; alice listens over WebSocket.
c_listen alice alice --count 1 --timeout 60
out="$(c_parley bob --mqtt "$H_MQTT_URL" send alice "hi alice")" || h_fail "send over tcp:// failed: $out"
wait "$C_LISTEN_PID" || h_fail "alice's listener over ws:// failed: $(cat "$H_TMP/alice.log")"
h_assert_eq "$(c_messages "$H_TMP/alice.out")" "3 bob hi alice" "alice's message over ws://"
h_log "CLI session over ws:// ok"

# ---- the plugin's auth and ACLs on the WebSocket listener ----------------------
# Debian's python3 (package python3-paho-mqtt, scripts/lib/deps.sh), not another one on PATH.
# A connection of alice's device: {user}.{device}-{suffix}.
dev="$(c_parley alice status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])')"
token="$(c_parley alice token --json --client-id "alice.$dev-ws")" || h_fail "parley token: $token"
out="$(/usr/bin/python3 - "$WS" "$token" <<'PY'
import json, sys, threading
import paho.mqtt.client as mqtt

port, tok = int(sys.argv[1]), json.loads(sys.argv[2])

def attempt(password, topics):
    """CONNECT over WebSocket; returns (connack rc, granted qos list or None)."""
    res = {"rc": None, "granted": None}
    done = threading.Event()
    c = mqtt.Client(client_id=tok["client_id"], transport="websockets",
                    protocol=mqtt.MQTTv311, clean_session=True)
    c.username_pw_set(tok["username"], password)
    def on_connect(cl, ud, flags, rc):
        res["rc"] = rc
        if rc == 0:
            cl.subscribe([(t, 1) for t in topics])
        else:
            done.set()
    def on_subscribe(cl, ud, mid, granted):
        res["granted"] = list(granted)
        done.set()
    def on_disconnect(cl, ud, rc):
        done.set()
    c.on_connect, c.on_subscribe, c.on_disconnect = on_connect, on_subscribe, on_disconnect
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    done.wait(30)
    c.loop_stop()
    c.disconnect()
    return res["rc"], res["granted"]

rc, _ = attempt("not-a-token", [])
print("bad-password rc", rc)
rc, granted = attempt(tok["password"], ["parley/u/alice/receipts", "parley/u/bob/inbox"])
print("token rc", rc, "granted", granted)
PY
)" || h_fail "paho-mqtt over WebSocket: $out"
h_log "paho-mqtt over ws://: $(tr '\n' ';' <<<"$out")"
h_assert_contains "$out" "bad-password rc 5" "a bad password on the WebSocket listener (5: not authorized)"
h_assert_contains "$out" "token rc 0 granted [1, 128]" \
  "own receipts granted, bob's inbox refused (0x80) on the WebSocket listener"
h_pass
