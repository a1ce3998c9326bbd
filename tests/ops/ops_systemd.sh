#!/usr/bin/env bash
# deploy/systemd/ (docs/operations.md, "systemd"):
#   1. `systemd-analyze verify` accepts each unit (ExecStart pointed at this
#      build), and rejects a broken copy (the check has teeth);
#   2. `systemd-analyze security --offline` rates each unit's hardening at
#      exposure 2.0 or better (0 = locked down, 10 = none);
#   3. what the units run works: the keyserver and media gateway started
#      with their units' ExecStart and deploy/systemd/parley.env, and
#      mosquitto on deploy/systemd/mosquitto.conf (paths and ports
#      rewritten to this test's), all answer /healthz.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
command -v systemd-analyze >/dev/null || h_fail "systemd-analyze missing (package systemd)"
dir="$PARLEY_SOURCE_DIR/deploy/systemd"
b="$PARLEY_BUILD_DIR"
mkdir -p "$H_TMP/units"

# 1. verify, with the binaries of this build
for u in parley-broker parley-keyserver parley-media; do
  sed -e "s|/usr/local/bin/parley-keyserver|$b/keyserver/parley-keyserver|" \
      -e "s|/usr/local/bin/parley-media|$b/media-gateway/parley-media|" \
      "$dir/$u.service" >"$H_TMP/units/$u.service"
  out="$(systemd-analyze verify "$H_TMP/units/$u.service" 2>&1)" || h_fail "verify $u: $out"
  [ -z "$out" ] || h_fail "verify $u complains: $out"
done
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$H_TMP/units/parley-media.service" >"$H_TMP/units/broken.service"
out="$(systemd-analyze verify "$H_TMP/units/broken.service" 2>&1)" || true
h_assert_contains "$out" "Unknown key 'NoNewPrivilege'" "verify reports a misspelt directive"

# 2. hardening
for u in parley-broker parley-keyserver parley-media; do
  out="$(systemd-analyze security --offline=true --threshold=20 "$H_TMP/units/$u.service" 2>&1)" ||
    h_fail "$u: exposure above 2.0: $(tail -n 1 <<<"$out")"
  h_log "$(tail -n 1 <<<"$out")"
done

# 3. the units' commands and configuration
ks_port="$(h_port)" media_port="$(h_port)" mqtt_port="$(h_port)" metrics_port="$(h_port)"
sed -e "s|/var/lib/parley|$H_TMP/lib|g" \
    -e "s|^PARLEY_KEYSERVER_LISTEN=.*|PARLEY_KEYSERVER_LISTEN=127.0.0.1:$ks_port|" \
    -e "s|^PARLEY_MEDIA_LISTEN=.*|PARLEY_MEDIA_LISTEN=127.0.0.1:$media_port|" \
    "$dir/parley.env" >"$H_TMP/parley.env"
mkdir -p "$H_TMP/lib/media" "$H_TMP/lib/mosquitto" "$H_TMP/run"
# ExecStart of a unit, with ${VAR} from the environment file, as systemd does.
run_unit() {  # run_unit NAME UNIT
  local cmd
  cmd="$(sed -n 's/^ExecStart=//p' "$H_TMP/units/$2.service")"
  h_bg "$1" env -i PATH="$PATH" bash -c "set -a; . '$H_TMP/parley.env'; set +a; exec $cmd"
}
run_unit keyserver parley-keyserver
run_unit media parley-media
sed -e "s|^listener 1883$|listener $mqtt_port 127.0.0.1|" \
    -e "s|/var/lib/parley|$H_TMP/lib|g" \
    -e "s|/run/parley-broker|$H_TMP/run|g" \
    -e "s|^plugin /usr/local/lib/parley/parley_plugin.so$|plugin $H_PLUGIN|" \
    -e "s|^plugin_opt_metrics_listen 127.0.0.1:9883$|plugin_opt_metrics_listen 127.0.0.1:$metrics_port|" \
    "$dir/mosquitto.conf" >"$H_TMP/mosquitto.conf"
[ "$(diff "$dir/mosquitto.conf" "$H_TMP/mosquitto.conf" | grep -v '^> #' | grep -c '^>')" = 7 ] ||
  h_fail "mosquitto.conf: the rewrite did not find the 7 lines it rewrites"
if [ "$(id -u)" = 0 ]; then echo "user root" >>"$H_TMP/mosquitto.conf"; fi
h_bg mosquitto env -i PATH="$PATH" bash -c "set -a; . '$H_TMP/parley.env'; set +a; exec ${H_MOSQ_ENV[*]} $H_MOSQUITTO -c '$H_TMP/mosquitto.conf'"
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz")" = 200 ]; }
h_wait_for 30 healthy "$ks_port" || h_fail "keyserver of the unit: /healthz"
h_wait_for 30 healthy "$media_port" || h_fail "media gateway of the unit: /healthz"
h_wait_port "$mqtt_port"
h_wait_for 30 healthy "$metrics_port" || h_fail "broker of the unit: /healthz"
[ -f "$H_TMP/lib/parley.db" ] || h_fail "the store is not where parley.env says"
h_pass
