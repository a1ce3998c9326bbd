#!/usr/bin/env bash
# Garbage in: a fixed pseudo-random corpus (seeded, so every run sends the
# same bytes) published to an inbox, to ctl and to typing. Every inbox
# publish is answered by exactly one REJECTED receipt, every request by
# exactly one Response, typing garbage is dropped; nothing is stored or
# delivered, and the broker keeps serving.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

N=40
p_user alice bob
h_start_mosquitto
# No NUL or newline bytes: mosquitto_pub -l sends one C-string line per message.
python3 - "$H_TMP/corpus" "$N" <<'PY'
import random, sys
random.seed(20261127)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        n = random.randint(1, 300)
        line = bytes(random.choice([b for b in range(1, 256) if b != 10]) for _ in range(n))
        f.write(line + b"\n")
PY
h_assert_eq "$(wc -l <"$H_TMP/corpus")" "$N" "corpus lines"

p_sub al_rc alice alice-r "$N" parley/u/alice/receipts
p_sub al_rsp alice alice-p "$N" parley/u/alice/rsp
p_sub bob_all bob bob-all 1 'parley/u/bob/#'
# shellcheck disable=SC2046
timeout 60 mosquitto_pub $(p_auth alice alice-1) -q 1 -t parley/u/bob/inbox -l <"$H_TMP/corpus" || h_fail "inbox storm"
# shellcheck disable=SC2046
timeout 60 mosquitto_pub $(p_auth alice alice-2) -q 1 -t parley/u/alice/ctl -l <"$H_TMP/corpus" || h_fail "ctl storm"
# shellcheck disable=SC2046
timeout 60 mosquitto_pub $(p_auth alice alice-3) -q 1 -t parley/u/bob/typing -l <"$H_TMP/corpus" || h_fail "typing storm"
p_wait_sub al_rc
p_wait_sub al_rsp

p_decode receipt al_rc >"$H_TMP/rc.json"
p_decode response al_rsp >"$H_TMP/rsp.json"
h_assert_eq "$(p_json_field status <"$H_TMP/rc.json" | sort -u)" "rejected" "every garbage envelope rejected"
h_assert_eq "$(grep -c '"error":""' "$H_TMP/rc.json" || true)" 0 "every rejection has an error code"
h_assert_eq "$(grep -c undecodable "$H_TMP/rsp.json" || true)" 0 "responses decode"
h_assert_eq "$(p_json_field status <"$H_TMP/rsp.json" | grep -vc '^400$' || true)" 0 "every garbage request answered 400"

# Nothing stored; bob's first message is the valid sentinel sent last.
p_env "$H_TMP/ok" ok1 --body sentinel
p_pub alice alice-4 parley/u/bob/inbox "$H_TMP/ok"
p_wait_sub bob_all
h_assert_eq "$(p_decode envelope bob_all | p_json_field client_msg_id)" "ok1" "bob received only the sentinel"
h_wait_for 20 p_sql_eq 'select count(*) from messages' 1 || h_fail "garbage was stored"
h_pass
