#!/usr/bin/env bash
# mosquitto's memory count ($SYS/broker/heap/current, checked against
# memory_limit) stays true under the plugin's own publishes
# (docs/broker-plugin.md, "mosquitto 2.0.11 behaviour", memory count).
# mosquitto_broker_publish_copy() of 2.0.11 copies with plain calloc() and the
# broker frees the copy with mosquitto__free(), so each such publish lowered
# the count by the payload's size until it wrapped below zero; the broker then
# refused every allocation and dropped clients "due to out of memory" with an
# RSS of 15 MB. Before the fix, the idle metrics of part 1 lowered the count by
# about 1.4 kB a second (it wrapped after about a minute), and the first sync
# of part 2 wrapped it at once.
#  1. Idle, with metrics every second: the count does not drift down (by more
#     than 8 kB: a client connection's own allocations) across
#     fifteen metrics rounds.
#  2. Sync responses of about 240 kB, five times: each is answered and the
#     count stays a plausible size afterwards (a wrapped count is near 2^64).
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

p_user admin alice bob
h_start_mosquitto "plugin_opt_metrics_interval 1
sys_interval 1"

# heap - the broker's memory count, as last published (retained) in $SYS.
heap() {
  # shellcheck disable=SC2046
  timeout 20 mosquitto_sub $(p_auth admin "admin-h$RANDOM") -t "\$SYS/broker/heap/current" -C 1 -W 15
}
# heap_sane WHAT - print the count; fail unless it is between 1 byte and 256 MiB.
heap_sane() {
  local v
  v="$(heap)" || h_fail "$1: cannot read \$SYS/broker/heap/current (broker out of memory?)"
  if ! [[ "$v" =~ ^[0-9]{1,9}$ ]] || [ "$v" -eq 0 ] || [ "$v" -ge 268435456 ]; then
    h_fail "$1: \$SYS/broker/heap/current is '$v'"
  fi
  echo "$v"
}
# metric_rounds N - wait until N more metrics rounds have been published
# (a retained value, then one per round).
metric_rounds() {
  # shellcheck disable=SC2046
  timeout 30 mosquitto_sub $(p_auth admin "admin-r$RANDOM") -t "\$SYS/parley/auth/ok" \
    -C $(($1 + 1)) -W 25 >/dev/null ||
    h_fail "fewer than $1 metrics rounds (broker out of memory?)"
}

# ---- 1. idle metrics ----------------------------------------------------------------
p_wait_metric auth/ok 1 # the admin's own connection; the metrics are retained by now
metric_rounds 1
h1="$(heap_sane "before the idle rounds")"
metric_rounds 15
h2="$(heap_sane "after fifteen idle metrics rounds")"
h_log "heap/current: $h1 before, $h2 after fifteen metrics rounds"
[ "$h2" -ge $((h1 - 8192)) ] ||
  h_fail "memory count drifted down by $((h1 - h2)) bytes over fifteen metrics rounds"

# ---- 2. large sync responses ----------------------------------------------------------
for i in 1 2 3 4; do
  p_env "$H_TMP/m$i" "m$i" --body-size 60000
  p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/m$i" || h_fail "send m$i"
done
h_wait_for 30 p_sql_eq 'select count(*) from messages' 4 || h_fail "not all 4 messages stored"
for i in 1 2 3 4 5; do
  p_request bob bob-1 "sync$i" sync "q$i" d:alice:bob 0 10
  h_assert_eq "$(p_json_field status <"$H_TMP/sync$i.json")" 0 "sync $i status"
  h_assert_eq "$(p_seqs "$H_TMP/sync$i.json")" "1 2 3 4 " "sync $i pages every message"
  metric_rounds 1 # the count of the sync's moment has been published
  h="$(heap_sane "after sync $i")"
  h_log "heap/current after sync $i: $h"
done

# The broker still takes publishes.
p_env "$H_TMP/last" last --body "still there"
p_pub alice alice-1 parley/u/bob/inbox "$H_TMP/last" || h_fail "publish after the syncs"
h_wait_for 30 p_sql_eq 'select count(*) from messages' 5 || h_fail "last message not stored"
if grep -q "out of memory" "$H_TMP/mosquitto.log"; then
  h_fail "the broker logged: $(grep -m1 "out of memory" "$H_TMP/mosquitto.log")"
fi
h_pass
