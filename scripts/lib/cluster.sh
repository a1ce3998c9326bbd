# shellcheck shell=bash
# Configuration of a local cluster (docs/cluster.md), shared by
# ./scripts/run --nodes N and the tests' harness (tests/lib/harness.sh).

# parley_nats_conf NAME ADDR PORT CLUSTER_PORT ROUTES [HTTP_PORT] - a
# nats-server config: clients on ADDR:PORT, routes on ADDR:CLUSTER_PORT to
# ROUTES (comma-separated nats-route:// URLs, this server's own included:
# nats-server skips it), monitoring on ADDR:HTTP_PORT if given.
parley_nats_conf() {
  local name="$1" addr="$2" port="$3" cport="$4" routes="$5" http="${6:-}"
  cat <<CONF
# generated - docs/cluster.md
server_name: $name
listen: $addr:$port
${http:+http: $addr:$http}
cluster {
  name: parley
  listen: $addr:$cport
  routes: [ ${routes//,/, } ]
}
CONF
}

# parley_haproxy_cfg BIND SERVER... - HAProxy 2.6 in TCP mode on BIND
# (ADDR:PORT) in front of the broker nodes SERVER (ADDR:PORT each). A
# client's CONNECT must arrive within 5 s and be valid MQTT; the node is
# chosen by a consistent hash of the CONNECT username, so a user's
# connections go to the same node while it is up (correctness never depends
# on it: docs/cluster.md).
parley_haproxy_cfg() {
  local bind="$1" i=0 s lim maxconn; shift
  # Two sockets per client: at most 4096 clients, fewer if the hard limit
  # on open files (which HAProxy raises its soft limit to) is lower.
  lim="$(ulimit -Hn)"; [ "$lim" = unlimited ] && lim=1048576
  maxconn=$(((lim - 100) / 2)); [ "$maxconn" -le 4096 ] || maxconn=4096
  maxconn="${PARLEY_HAPROXY_MAXCONN:-$maxconn}"
  cat <<CFG
# generated - docs/cluster.md
global
    maxconn $maxconn
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mqtt
    bind $bind
    tcp-request inspect-delay 5s
    # The username is taken here, once the CONNECT is complete: HAProxy 2.6's
    # "balance hash req.payload(0,0),mqtt_field_value(connect,username)" in
    # the backend finds no data there and falls back to round robin.
    tcp-request content set-var(txn.mqtt_user) req.payload(0,0),mqtt_field_value(connect,username) if { req.payload(0,0),mqtt_is_valid }
    tcp-request content accept if { req.payload(0,0),mqtt_is_valid }
    tcp-request content reject
    default_backend brokers
backend brokers
    balance hash var(txn.mqtt_user)
    hash-type consistent
CFG
  for s in "$@"; do
    i=$((i + 1))
    echo "    server node$i $s check inter 1s"
  done
}
