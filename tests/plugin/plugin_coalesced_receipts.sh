#!/usr/bin/env bash
# Coalesced STORED receipts (docs/protocol.md, "Coalesced STORED receipts";
# issue 16) and the stamping of client envelopes:
# - messages sent with Envelope.coalesce_receipts are each covered exactly
#   once by alice's STORED receipts (a receipt's own fields or Receipt.more),
#   with the seq and server_id the store gave them;
# - a message without the flag gets a STORED of its own (old clients);
# - a retry is covered again with its original seq and is not delivered twice;
# - the flag is never delivered, and the server fields a client forges
#   (sender, seq, server_id, chat_id, server_ts, kind, recipient,
#   sender_client_id) never survive into the delivered envelope.
# (That receipts really share a packet when commits batch is shown by
# plugin_unit_receipts and by the benchmark, which counts receipt packets.)
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user alice bob mallory
h_start_mosquitto

p_sub al_rc alice alice-r 100 parley/u/alice/receipts
p_sub bob_in bob bob-1 7 parley/u/bob/inbox

forge=(--sender mallory --seq 999 --server-id forgedforgedforgedforg --chat-id d:bob:mallory
       --server-ts 42 --kind 2 --recipient mallory --sender-client-id evil-cid)
for i in 1 2 3 4 5; do
  p_env "$H_TMP/m$i" "m$i" --body "body $i" --coalesce 1 "${forge[@]}"
  p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m$i"
done
p_env "$H_TMP/m6" m6 --body "body 6"                    # no flag: a STORED of its own
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m6"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m2"      # a retry of m2
p_env "$H_TMP/m7" m7 --body "body 7" --coalesce 1       # bob's sentinel: after the retry
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m7"

# Every message alice sent is covered: 7, plus the retry of m2.
covered() {
  p_decode receipt al_rc >"$H_TMP/rc.json"
  { p_json_field client_msg_id <"$H_TMP/rc.json"
    p_json_field more_client_msg_ids <"$H_TMP/rc.json" | tr ' ' '\n'; } | grep -c . || true
}
covered_ge() { [ "$(covered)" -ge "$1" ]; }
h_wait_for 30 covered_ge 8 || h_fail "not every message got its STORED: $(cat "$H_TMP/rc.json")"
p_wait_sub bob_in

python3 - "$H_TMP/rc.json" >"$H_TMP/covered.txt" <<'PY' || h_fail "receipts: $(cat "$H_TMP/rc.json")"
import json, sys
seen = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["status"] == "stored", r
    ids = [r["client_msg_id"]] + (r.get("more_client_msg_ids") or "").split()
    seqs = [r["seq"]] + [int(s) for s in (r.get("more_seqs") or "").split()]
    chats = [r["chat_id"]] + (r.get("more_chat_ids") or "").split()
    assert len(ids) == len(seqs) == len(chats), r
    if "m6" in ids:
        assert ids == ["m6"], "m6 (no flag) shares a receipt: %r" % r
    for i, s, c in zip(ids, seqs, chats):
        assert c == "d:alice:bob", r
        seen.append((i, s))
for i, s in sorted(seen):
    print(i, s)
PY
h_assert_eq "$(tr '\n' ' ' <"$H_TMP/covered.txt")" "m1 1 m2 2 m2 2 m3 3 m4 4 m5 5 m6 6 m7 7 " "messages covered, with their seqs"

p_decode envelope bob_in >"$H_TMP/bob.json"
h_assert_eq "$(p_json_field client_msg_id <"$H_TMP/bob.json" | tr '\n' ' ')" "m1 m2 m3 m4 m5 m6 m7 " "bob's deliveries (the retry not again)"
h_assert_eq "$(p_json_field seq <"$H_TMP/bob.json" | tr '\n' ' ')" "1 2 3 4 5 6 7 " "seqs"
h_assert_eq "$(p_json_field sender <"$H_TMP/bob.json" | sort -u)" alice "sender is the publisher"
h_assert_eq "$(p_json_field chat_id <"$H_TMP/bob.json" | sort -u)" d:alice:bob "chat id"
h_assert_eq "$(p_json_field kind <"$H_TMP/bob.json" | sort -u)" 1 "kind CHAT"
h_assert_eq "$(p_json_field recipient <"$H_TMP/bob.json" | sort -u)" bob "recipient"
h_assert_eq "$(p_json_field sender_client_id <"$H_TMP/bob.json" | sort -u)" "" "no client id"
h_assert_eq "$(p_json_field server_id <"$H_TMP/bob.json" | grep -c forged || true)" 0 "server ids"
h_assert_eq "$(p_json_field server_ts <"$H_TMP/bob.json" | awk '$1 < 1000000000000' | wc -l)" 0 "server_ts"
if grep -q coalesce_receipts "$H_TMP/bob.json"; then h_fail "the flag was delivered"; fi
# The forged values appear nowhere in what bob received, not even as an
# earlier occurrence of a field.
for v in mallory forgedforgedforgedforg evil-cid; do
  if python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().replace("\n", "")))' \
      "$H_TMP/bob_in.out" | grep -aq "$v"; then h_fail "forged $v delivered"; fi
done
# The server ids alice learnt are the ones bob got.
h_assert_eq "$(p_json_field server_id <"$H_TMP/rc.json" | head -n1)" "$(p_json_field server_id <"$H_TMP/bob.json" | head -n1)" "server id of m1"
h_pass
