#!/bin/sh
# docker/broker-start.sh - start one broker node of the compose stack
# (docker-compose.yml): mosquitto on /etc/parley/mosquitto.conf with this
# node's own plugin_opt_node_id, taken from PARLEY_NODE_ID.
#
# mosquitto 2.0.11 has no variables in its configuration, and plugin_opt_*
# lines must sit in the file of their "plugin" line (an include_dir file
# cannot add one), so the node's copy is written here, with the node id line
# replaced, and run. Installed in the image as /usr/local/bin/parley-broker-start.
# PARLEY_BROKER_CONF / PARLEY_BROKER_CONF_OUT / PARLEY_MOSQUITTO override the
# paths (tests/compose/compose_run.sh runs this script outside Docker).
set -eu
in="${PARLEY_BROKER_CONF:-/etc/parley/mosquitto.conf}"
out="${PARLEY_BROKER_CONF_OUT:-/tmp/parley-mosquitto.conf}"
id="${PARLEY_NODE_ID:-}"
case "$id" in
  "" | *[!A-Za-z0-9_-]*)
    echo "parley-broker-start: PARLEY_NODE_ID must be 1..64 of [A-Za-z0-9_-], got '$id'" >&2
    exit 2 ;;
esac
if [ "${#id}" -gt 64 ]; then
  echo "parley-broker-start: PARLEY_NODE_ID is longer than 64 characters" >&2
  exit 2
fi
n="$(grep -c '^plugin_opt_node_id ' "$in" || true)"
if [ "$n" != 1 ]; then
  echo "parley-broker-start: $in must have exactly one plugin_opt_node_id line (has $n)" >&2
  exit 2
fi
sed "s/^plugin_opt_node_id .*/plugin_opt_node_id $id/" "$in" >"$out"
exec "${PARLEY_MOSQUITTO:-mosquitto}" -c "$out"
