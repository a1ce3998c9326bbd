#!/usr/bin/env bash
# test_compose_config.sh - the production compose stack stays valid and true
# to the code:
#   1. `docker-compose config -q` accepts docker-compose.yml (no Docker engine
#      needed) and the check really catches errors (a broken copy fails);
#   2. the six services exist and MQTT 1883 / WebSocket 8083 / keyserver 8081 / media 8082 are
#      published;
#   3. every --flag the compose file passes to parley-keyserver, parley-media
#      and the plugin_opt_* keys of docker/mosquitto.conf exist in the code;
#   4. the plugin path of docker/mosquitto.conf is where docker/Dockerfile
#      installs the plugin.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"

src="$PARLEY_SOURCE_DIR"
compose_file="$src/docker-compose.yml"
command -v docker-compose >/dev/null || h_fail "docker-compose is not installed (scripts/lib/deps.sh)"

# 1. valid, and the validation has teeth
out="$(cd "$src" && docker-compose -f "$compose_file" config -q 2>&1)" ||
  h_fail "docker-compose config rejected docker-compose.yml: $out"
cp "$compose_file" "$H_TMP/broken.yml"
printf '  bogus:\n    image: [not, a, string]\n' >>"$H_TMP/broken.yml"
if (cd "$src" && docker-compose -f "$H_TMP/broken.yml" config -q) >"$H_TMP/broken.log" 2>&1; then
  h_fail "docker-compose config accepted a broken file"
fi

# 2. services and published ports
services="$(cd "$src" && docker-compose -f "$compose_file" config --services)"
for s in mongo minio minio-init mosquitto keyserver media; do
  grep -qx "$s" <<<"$services" || h_fail "service $s missing from docker-compose.yml"
done
full="$(cd "$src" && docker-compose -f "$compose_file" config)"
for p in 1883 8083 8081 8082; do
  grep -Eq "published: ['\"]?$p['\"]?\$" <<<"$full" || h_fail "port $p is not published"
done
# the published WebSocket port is mosquitto's websockets listener
grep -A1 -x "listener 8083 0.0.0.0" "$src/docker/mosquitto.conf" | grep -qx "protocol websockets" ||
  h_fail "docker/mosquitto.conf has no websockets listener on 8083"
h_assert_contains "$full" "--replSet" "mongo runs as a replica set"
h_assert_contains "$full" "rs.initiate" "mongo healthcheck initiates the replica set"

# 3. flags and options exist in the code
check_flags() {  # check_flags SERVICE MAIN_C
  local svc="$1" main="$2" flag
  [ -f "$main" ] || h_fail "$main missing"
  # The service's command block: lines "- --flag" up to the next key.
  for flag in $(awk -v svc="  $svc:" '
      $0 == svc {on = 1; next}
      on && /^  [a-z]/ {on = 0}
      on && /^      - --/ {sub(/^      - --/, ""); print}' "$compose_file"); do
    grep -q "{\"$flag\"," "$main" || h_fail "compose passes --$flag to $svc, but $main has no such option"
  done
}
check_flags keyserver "$src/keyserver/main.c"
check_flags media "$src/media-gateway/main.c"
for key in $(sed -n 's/^plugin_opt_\([a-z_]*\).*/\1/p' "$src/docker/mosquitto.conf"); do
  grep -q "\"$key\"" "$src/broker-plugin/config.c" ||
    h_fail "docker/mosquitto.conf sets plugin_opt_$key, unknown to broker-plugin/config.c"
done

# 4. plugin path consistent between the image and its broker config
plugin="$(sed -n 's/^plugin \(.*\)$/\1/p' "$src/docker/mosquitto.conf")"
[ -n "$plugin" ] || h_fail "docker/mosquitto.conf loads no plugin"
grep -q "parley_plugin.so $plugin\$" "$src/docker/Dockerfile" ||
  h_fail "docker/Dockerfile does not install the plugin at $plugin"

h_pass
