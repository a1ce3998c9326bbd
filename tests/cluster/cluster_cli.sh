#!/usr/bin/env bash
# `parley` clients on different broker nodes (docs/cluster.md): three
# nats-server, three nodes on one SQLite store, the keyserver. alice uses
# node 1, bob node 2, carol node 3 (PARLEY_MQTT_URL). They were registered
# after the nodes started (the nodes learn of them from the store). 1:1:
# alice -> bob and bob -> alice, end-to-end encrypted, each shown once;
# alice's read reaches bob as a READ receipt. A group of the three: alice
# creates it through node 1, every member gets her message, bob's answer
# through node 2 reaches alice and carol.
. "$PARLEY_SOURCE_DIR/tests/cluster/lib.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

p_user admin
c_start_cluster 3
h_start_keyserver
h_user alice
h_user bob
h_user carol
node_url() { echo "tcp://127.0.0.1:${H_NODE_PORTS[$1]}"; }
on() { # on NODE USER ARGS... - the parley CLI of USER through NODE
  local n="$1"; shift
  PARLEY_MQTT_URL="$(node_url "$n")" c_parley "$@"
}
listen_on() { # listen_on NODE USER NAME
  PARLEY_MQTT_URL="$(node_url "$1")" c_listen "$2" "$3" --timeout 150
  c_wait_line 60 "$H_TMP/$3.out" '"synced"'
}

listen_on 1 alice alice
listen_on 2 bob bob
listen_on 3 carol carol

# ---- 1:1 across nodes --------------------------------------------------------------
out="$(on 1 alice send bob "hello from node 1" --timeout 60)" || h_fail "alice's send through node 1: $out"
c_wait_line 60 "$H_TMP/bob.out" '"text":"hello from node 1"'
out="$(on 2 bob send alice "hello from node 2" --timeout 60)" || h_fail "bob's send through node 2: $out"
c_wait_line 60 "$H_TMP/alice.out" '"text":"hello from node 2"'
h_assert_eq "$(c_count "$H_TMP/bob.out" '"text":"hello from node 1"')" 1 "bob saw alice's message once"
h_assert_eq "$(c_count "$H_TMP/alice.out" '"text":"hello from node 2"')" 1 "alice saw bob's message once"
# alice reads bob's message (through node 1): bob, on node 2, is told.
seq="$(c_messages "$H_TMP/alice.out" | awk '$2 == "bob" {print $1}' | tail -n 1)"
[ -n "$seq" ] || h_fail "no seq for bob's message in alice's listen"
on 1 alice read d:alice:bob "$seq" --timeout 60 >/dev/null || h_fail "alice's read through node 1"
c_wait_line 60 "$H_TMP/bob.out" '"status":"read"'

# ---- a group across three nodes ------------------------------------------------------
out="$(on 1 alice group create Spread bob carol --timeout 60)" || h_fail "group create through node 1: $out"
G="$(tail -n 1 <<<"$out")"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "group create did not end with the id: $out"
out="$(on 1 alice group send "$G" "hello spread" --timeout 60)" || h_fail "group send through node 1: $out"
c_wait_line 90 "$H_TMP/bob.out" '"text":"hello spread"'
c_wait_line 90 "$H_TMP/carol.out" '"text":"hello spread"'
out="$(on 2 bob group send "$G" "answer from node 2" --timeout 60)" || h_fail "group send through node 2: $out"
c_wait_line 90 "$H_TMP/alice.out" '"text":"answer from node 2"'
c_wait_line 90 "$H_TMP/carol.out" '"text":"answer from node 2"'
for who in bob carol; do
  h_assert_eq "$(c_count "$H_TMP/$who.out" '"text":"hello spread"')" 1 "$who saw the group message once"
done
h_assert_eq "$(c_count "$H_TMP/carol.out" '"text":"answer from node 2"')" 1 "carol saw bob's answer once"
h_pass
