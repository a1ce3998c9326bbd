#!/usr/bin/env bash
# Nothing acknowledged is lost when a broker node dies (docs/cluster.md,
# "Failures"): three nats-server and three broker nodes on one SQLite store.
#  1. kill -9 of the nats-server that node 2's bus uses: the bus reconnects
#     to another server, tells its clients to sync (a RESYNC receipt) and
#     deliveries to node 2 go on.
#  2. three senders on node 1 publish to dave (on node 2) one message after
#     the other; node 1 is killed with kill -9 mid-stream. Every message
#     that got a STORED receipt is in the store exactly once; the senders
#     retry what was not acknowledged through node 3 (as libparley's outbox
#     does) and every retry is stored once (a retry of a message node 1
#     committed before it died gets its original seq); each chat's seqs have
#     no gap and no duplicate; dave, reconnecting on node 3 and syncing,
#     ends with every stored message exactly once (live and synced copies
#     de-duplicated by seq).
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"

export P_SUB_WAIT=150
SENDERS=(alice bob carol)
N=60
p_user admin dave erin "${SENDERS[@]}"
c_start_cluster 3 "plugin_opt_metrics_interval 1
plugin_opt_rate_messages 1000
plugin_opt_rate_user_messages 1000"

# dave listens on node 2 for the whole test.
c_on 2
p_sub dave_live dave dave-live 100000 parley/u/dave/inbox

# ---- 1. kill -9 of the nats-server node 2 uses -----------------------------------
p_sub dave_rc dave dave-rc 1 parley/u/dave/receipts
n2="$(c_nats_of 2)"
[ -n "$n2" ] || h_fail "node 2's NATS server not found in its log"
kill -9 "${H_NATS_PIDS[$n2]}"
h_wait_for 30 grep -q "node node2 reconnected to NATS" "$H_TMP/node2.log" ||
  h_fail "node 2's bus did not reconnect after kill -9 of nats$n2"
p_wait_sub dave_rc
h_assert_eq "$(p_decode receipt dave_rc | p_json_field status)" resync "node 2 told dave to sync"
c_on 3
p_env "$H_TMP/n1" after-nats-kill --body "after the nats-server died"
p_pub erin erin-p parley/u/dave/inbox "$H_TMP/n1" || h_fail "publish on node 3"
got_live() { p_decode envelope dave_live | p_json_field client_msg_id | grep -qx "$1"; }
h_wait_for 30 got_live after-nats-kill || h_fail "node 2 no longer receives deliveries after nats$n2 died"
h_start_nats "$n2" # back for the rest

# ---- 2. kill -9 of node 1 mid-stream ----------------------------------------------
c_on 1
for s in "${SENDERS[@]}"; do
  p_sub "rc_$s" "$s" "$s-rc" 100000 "parley/u/$s/receipts"
  for ((i = 1; i <= N; i++)); do p_env "$H_TMP/$s-$i" "$s-$i" --body "$s says $i"; done
done
send_loop() { # SENDER: publish its messages one after the other until node 1 is gone
  local i
  for ((i = 1; i <= N; i++)); do
    p_pub "$1" "$1-p" parley/u/dave/inbox "$H_TMP/$1-$i" 2>/dev/null || return 0
    echo "$1-$i" >>"$H_TMP/sent-$1"
  done
}
pids=()
for s in "${SENDERS[@]}"; do send_loop "$s" & pids+=($!); done
# Mid-stream: once the store holds some messages of every sender.
some_of_each() {
  local s
  for s in "${SENDERS[@]}"; do
    [ "$(p_sql "SELECT count(*) FROM messages WHERE sender='$s'")" -ge 5 ] || return 1
  done
}
h_wait_for 60 some_of_each || h_fail "the senders did not get going"
kill -9 "${H_NODE_PIDS[1]}"
for p in "${pids[@]}"; do wait "$p" || true; done
h_log "node 1 killed after $(p_sql "SELECT count(*) FROM messages WHERE chat_id LIKE 'd:%dave%'") stored messages"

# Every message acknowledged with STORED is in the store, once.
acked=0
for s in "${SENDERS[@]}"; do
  p_decode receipt "rc_$s" | grep '"status":"stored"' | p_json_field client_msg_id >"$H_TMP/acked-$s" || true
  while read -r id; do
    acked=$((acked + 1))
    h_assert_eq "$(p_sql "SELECT count(*) FROM messages WHERE sender='$s' AND client_msg_id='$id'")" 1 \
      "acknowledged $id in the store"
  done <"$H_TMP/acked-$s"
done
[ "$acked" -gt 0 ] || h_fail "no STORED receipt before the kill"
h_log "$acked acknowledged messages, all in the store"

# The senders retry everything not acknowledged through node 3, as an
# outbox would (the message being published when node 1 died included).
c_on 3
for s in "${SENDERS[@]}"; do
  p_sub "rc3_$s" "$s" "$s-rc3" "$((N - $(wc -l <"$H_TMP/acked-$s")))" "parley/u/$s/receipts"
  for ((i = 1; i <= N; i++)); do
    grep -qx "$s-$i" "$H_TMP/acked-$s" && continue
    # An outbox retries until the broker takes it (a connection attempt
    # can fail on a loaded machine; the store de-duplicates).
    for try in 1 2 3; do
      p_pub "$s" "$s-p3" parley/u/dave/inbox "$H_TMP/$s-$i" && break
      h_log "retry $s-$i on node 3: attempt $try failed"
      [ "$try" -lt 3 ] || h_fail "retry $s-$i on node 3"
    done
  done
done
for s in "${SENDERS[@]}"; do
  p_wait_sub "rc3_$s"
  h_assert_eq "$(p_decode receipt "rc3_$s" | p_json_field status | sort -u)" stored "$s's retries on node 3"
  h_wait_for 30 p_sql_eq "SELECT count(*) FROM messages WHERE sender='$s'" "$N" ||
    h_fail "$s: $(p_sql "SELECT count(*) FROM messages WHERE sender='$s'") of $N messages stored"
  h_assert_eq "$(p_sql "SELECT count(*) || ':' || count(DISTINCT client_msg_id) || ':' || count(DISTINCT seq) || ':' || max(seq) FROM messages WHERE sender='$s'")" \
    "$N:$N:$N:$N" "$s's chat: every message once, seqs 1..$N"
done

# dave reconnects on node 3 and syncs each chat from 0: live and synced
# copies together hold every stored message, each seq once.
kill "$P_PID_dave_live" 2>/dev/null || true
p_decode envelope dave_live >"$H_TMP/live.json" || true
for s in "${SENDERS[@]}"; do
  chat="$(printf '%s\n' "$s" dave | sort | tr '\n' ':' | sed 's/:$//')"
  p_request dave dave-q "sync_$s" sync "q-$s" "d:$chat" 0 500
  synced="$(p_seqs "$H_TMP/sync_$s.json" | wc -w)"
  h_assert_eq "$synced" "$N" "dave's sync of d:$chat"
  live="$(grep "\"chat_id\":\"d:$chat\"" "$H_TMP/live.json" | p_json_field seq | sort -n | uniq | tr '\n' ' ')"
  all="$( (p_seqs "$H_TMP/sync_$s.json" | tr ' ' '\n'; echo "$live" | tr ' ' '\n') | grep . | sort -n | uniq | tr '\n' ' ')"
  h_assert_eq "$all" "$(seq 1 "$N" | tr '\n' ' ')" "dave holds every message of d:$chat once"
done
h_pass
