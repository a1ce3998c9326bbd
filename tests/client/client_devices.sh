#!/usr/bin/env bash
# Linked devices through the real broker (mosquitto + plugin), keyserver and
# CLI: bob on three homes (bob = the primary, bob2, bob3 linked with
# `parley link` + `parley devices approve`), alice on one.
#  - a message to bob is decrypted on all three homes;
#  - one sent from bob2 appears on bob and bob3 as sent by bob (live), and
#    on bob by sync when bob was offline;
#  - a read on bob2 marks the chat read on bob and bob3;
#  - a group whose member bob has several devices: every device reads it,
#    what bob2 sends shows on bob as his own;
#  - bob3 removed: it can no longer connect; alice's next message carries no
#    ciphertext for it;
#  - a device linked late (bob4) reads nothing sent before its link;
#  - a device list not signed by the account key (written into the store
#    behind the keyserver's back) is refused by the client;
#  - "done means": alice and bob's phone+laptop pair (bob, bob2) talk 1:1 and
#    in a group, and both of bob's devices show the same conversation,
#    including what each sent itself.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

h_start_keyserver
h_start_mosquitto
h_user alice
h_user bob

# link HOME NAME - link home HOME to bob (name NAME), approved on bob's primary.
link() {
  local home="$1" name="$2"
  "$H_PARLEY" --home "$(h_home "$home")" link bob --name "$name" --wait 120 --json \
    >"$H_TMP/link-$home.out" 2>"$H_TMP/link-$home.log" &
  local pid=$!
  H_PIDS+=("$pid")
  c_wait_line 60 "$H_TMP/link-$home.out" '"link_code"'
  local code fpr
  code="$(c_field "$H_TMP/link-$home.out" code | head -n 1)"
  fpr="$(c_field "$H_TMP/link-$home.out" fingerprint | head -n 1)"
  local approved
  approved="$(c_parley bob devices approve "$code" --json)" || h_fail "approve $code failed"
  # The primary shows the fingerprint the new device printed.
  h_assert_contains "$approved" "\"fingerprint\":\"$fpr\"" "fingerprint shown on approval"
  wait "$pid" || h_fail "parley link for $home failed: $(cat "$H_TMP/link-$home.log")"
  h_assert_contains "$(cat "$H_TMP/link-$home.out")" '"type":"linked"' "$home linked"
}

link bob2 laptop
link bob3 tablet
list="$(c_parley bob devices --json)" || h_fail "devices failed"
h_assert_contains "$list" '"version":3' "list version after two approvals"
h_assert_contains "$list" '"name":"laptop"' "laptop listed"
h_assert_contains "$list" '"name":"tablet"' "tablet listed"
h_assert_eq "$(grep -o '"device_id"' <<<"$list" | wc -l)" 3 "three devices"
# alice sees the same list, verified against bob's account key.
h_assert_contains "$(c_parley alice devices --user bob --json)" '"version":3' "alice's view"
# A linked device does not sign lists.
set +e
c_parley bob2 devices remove whatever >/dev/null 2>"$H_TMP/err.txt"; rc=$?
set -e
h_assert_eq "$rc" 1 "remove on a linked device"
h_assert_contains "$(cat "$H_TMP/err.txt")" "primary" "error names the primary"

declare -A LISTENER
for u in alice bob bob2 bob3; do
  c_listen "$u" "$u" --timeout 400
  LISTENER[$u]=$C_LISTEN_PID
  c_wait_line 60 "$H_TMP/$u.out" '"synced"'
done

# 1. A message to bob reaches all three of his devices.
c_parley alice send bob "hello all of bob" --timeout 60 >/dev/null || h_fail "alice's send failed"
for u in bob bob2 bob3; do
  c_wait_line 60 "$H_TMP/$u.out" '"text":"hello all of bob"'
done

# 2. Sent from bob2: alice reads it; bob and bob3 show it as bob's own.
c_parley bob2 send alice "from the laptop" --timeout 60 >/dev/null || h_fail "bob2's send failed"
c_wait_line 60 "$H_TMP/alice.out" '"sender":"bob".*"text":"from the laptop"'
for u in bob bob3; do
  c_wait_line 60 "$H_TMP/$u.out" '"sender":"bob".*"text":"from the laptop".*"own":true'
done
h_assert_contains "$(c_parley bob history alice --offline)" "] bob: from the laptop" \
  "bob's history holds the laptop's message"

# 3. Read on bob2: bob and bob3 move their read state.
seq="$(c_parley bob2 read alice --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_seq"])')"
[ "$seq" -ge 2 ] || h_fail "read_seq $seq"
for u in bob bob3; do
  h_wait_for 60 sh -c "'$H_PARLEY' --home '$(h_home "$u")' chats --offline --json | grep -q '\"read_seq\":$seq'" ||
    h_fail "$u did not follow the read on bob2: $(c_parley "$u" chats --offline --json)"
done

# 4. A group with a member on several devices.
out="$(c_parley alice group create team bob 2>&1)" || h_fail "group create failed: $out"
G="$(tail -n 1 <<<"$out")"
[[ "$G" == g:* ]] || h_fail "no group id: $out"
c_parley alice send "$G" "hello team" --timeout 60 >/dev/null || h_fail "group send failed"
for u in bob bob2 bob3; do
  c_wait_line 90 "$H_TMP/$u.out" "\"chat_id\":\"$G\".*\"text\":\"hello team\""
done
c_parley bob2 send "$G" "team reply from the laptop" --timeout 60 >/dev/null || h_fail "bob2's group send failed"
c_wait_line 90 "$H_TMP/alice.out" '"text":"team reply from the laptop"'
for u in bob bob3; do
  c_wait_line 90 "$H_TMP/$u.out" '"text":"team reply from the laptop".*"own":true'
done

# 5. bob3 removed: it cannot connect; later messages carry nothing for it.
dev3="$(c_parley bob3 status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"].split(".",1)[1])')"
c_parley bob devices remove "$dev3" >/dev/null || h_fail "remove failed"
h_assert_contains "$(c_parley alice devices --user bob --json)" '"version":4' "alice sees the removal"
set +e
c_parley bob3 send alice "from a removed device" --timeout 20 >/dev/null 2>"$H_TMP/err.txt"; rc=$?
set -e
h_assert_eq "$rc" 2 "a removed device is refused"
c_parley alice send bob "after the removal" --timeout 60 >/dev/null || h_fail "send after removal failed"
c_wait_line 60 "$H_TMP/bob2.out" '"text":"after the removal"'
# bob3's own copy of the store (sync by hand: refused) cannot hold it; its
# listener, cut off by the broker, never printed it.
h_assert_not_contains "$(cat "$H_TMP/bob3.out")" "after the removal" "removed device"

# 6. A device linked late reads from its link on.
link bob4 phone2
hist="$(c_parley bob4 history alice --json 2>&1)" || h_fail "bob4 history failed: $hist"
h_assert_not_contains "$hist" "hello all of bob" "late device, earlier message"
h_assert_not_contains "$hist" "undecryptable" "late device reports nothing"
c_parley alice send bob "after bob4 joined" --timeout 60 >/dev/null || h_fail "send failed"
h_wait_for 60 sh -c "'$H_PARLEY' --home '$(h_home bob4)' history alice --json | grep -q 'after bob4 joined'" ||
  h_fail "bob4 does not read what follows its link"

# 7. A forged list: a keyserver in the middle (here a proxy in front of the
# real one) serves bob's list with a device of its own, not signed by bob's
# account key. alice refuses it, keeps the list she verified, and her
# messages still go to bob's real devices only.
MITM_PORT="$(h_port)"
python3 - "$MITM_PORT" "$H_KS_URL" >"$H_TMP/mitm.log" 2>&1 <<'PY' &
import base64, http.server, json, sys, urllib.error, urllib.request
port, upstream = int(sys.argv[1]), sys.argv[2]
def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class H(http.server.BaseHTTPRequestHandler):
    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        req = urllib.request.Request(upstream + self.path, data=body, method=self.command)
        for k in ("Authorization", "Content-Type", "Accept"):
            if self.headers.get(k): req.add_header(k, self.headers[k])
        try:
            with urllib.request.urlopen(req) as r: status, data = r.status, r.read()
        except urllib.error.HTTPError as e: status, data = e.code, e.read()
        if self.command == "GET" and self.path == "/v2/devices/bob" and status == 200:
            o = json.loads(data)
            lines = b64d(o["list"]).decode().split("\n")
            lines[2] = str(int(lines[2]) + 1)
            text = "\n".join(lines) + "evil " + b64e(b"\x07" * 32) + " 1 evil\n"
            o["list"], o["signature"], o["version"] = b64e(text.encode()), b64e(b"\x01" * 64), int(lines[2])
            data = json.dumps(o).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_PUT = do_POST = do_DELETE = relay
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
H_PIDS+=("$!")
h_wait_port "$MITM_PORT" 30
set +e
out="$(c_parley alice --keyserver "http://127.0.0.1:$MITM_PORT" devices --user bob 2>&1)"; rc=$?
set -e
h_assert_eq "$rc" 2 "a forged list is refused"
h_assert_contains "$out" "not signed by its account key" "forged list message"
c_parley alice --keyserver "http://127.0.0.1:$MITM_PORT" send bob "despite the forgery" --timeout 60 \
  >/dev/null 2>"$H_TMP/forged.err" || h_fail "send with a forged list served: $(cat "$H_TMP/forged.err")"
c_wait_line 60 "$H_TMP/bob2.out" '"text":"despite the forgery"'
h_assert_contains "$(c_parley alice devices --user bob --json)" '"version":5' "the real list is untouched"

# By sync: bob's primary is offline while the laptop writes; its next
# connection (history syncs first) shows the message as bob's own.
kill "${LISTENER[bob]}"
wait "${LISTENER[bob]}" 2>/dev/null || true
c_parley bob2 send alice "while the phone was off" --timeout 60 >/dev/null || h_fail "bob2's send failed"
c_wait_line 60 "$H_TMP/alice.out" '"text":"while the phone was off"'
h_assert_contains "$(c_parley bob history alice --timeout 60)" "] bob: while the phone was off" \
  "the laptop's message reaches the phone by sync"

# Done means: bob's two devices (bob, bob2) show the same conversation with
# alice, their own messages included.
c_parley bob history alice --json >"$H_TMP/h-bob.json"
c_parley bob2 history alice --json >"$H_TMP/h-bob2.json"
c_messages "$H_TMP/h-bob.json" >"$H_TMP/m-bob.txt"
c_messages "$H_TMP/h-bob2.json" >"$H_TMP/m-bob2.txt"
diff "$H_TMP/m-bob.txt" "$H_TMP/m-bob2.txt" >&2 || h_fail "bob's devices disagree about the conversation"
grep -q "from the laptop" "$H_TMP/m-bob.txt" || h_fail "own message missing"
grep -q "hello all of bob" "$H_TMP/m-bob.txt" || h_fail "alice's message missing"
c_parley bob history "$G" --json >"$H_TMP/g-bob.json"
c_parley bob2 history "$G" --json >"$H_TMP/g-bob2.json"
diff <(c_messages "$H_TMP/g-bob.json") <(c_messages "$H_TMP/g-bob2.json") >&2 ||
  h_fail "bob's devices disagree about the group"
h_pass
