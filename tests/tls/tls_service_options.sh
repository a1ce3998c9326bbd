#!/usr/bin/env bash
# tls_service_options.sh - the HTTP services' --tls-cert / --tls-key
# (docs/operations.md, "Certificates"): a bad pair stops parley-keyserver and
# parley-media at start with the reason, and nothing listens; a good pair
# serves HTTPS (and only HTTPS) on the same port.
. "$(dirname "$0")/../lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/tls/lib.sh"

t_ca good
t_cert one good localhost 127.0.0.1
t_cert two good localhost 127.0.0.1
one="$H_TMP/cert-one" two="$H_TMP/cert-two"
ks="$PARLEY_BUILD_DIR/keyserver/parley-keyserver"
media="$PARLEY_BUILD_DIR/media-gateway/parley-media"
port=$(h_port)

# refused SERVICE_CMD EXIT PATTERN ARGS... - exits with EXIT, says PATTERN, never listens.
refused() {
  local want="$1" pattern="$2"; shift 2
  t_run "$H_TMP/out" "$H_TMP/err" "$@"
  [ "$T_RC" = "$want" ] || h_fail "$*: exit $T_RC, expected $want: $(cat "$H_TMP/err")"
  h_assert_contains "$(cat "$H_TMP/err")" "$pattern" "$*"
  ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || h_fail "something listens on $port after: $*"
  h_log "refused: $(grep -F -- "$pattern" "$H_TMP/err" | head -n 1)"
}
for svc in keyserver media; do
  if [ "$svc" = keyserver ]; then cmd=("$ks"); else cmd=("$media" --backend "file:$H_TMP/m"); fi
  base=("${cmd[@]}" --listen "127.0.0.1:$port" --store "$H_STORE")
  refused 1 "The certificate and the given key do not match" \
    "${base[@]}" --tls-cert "$one/server.crt" --tls-key "$two/server.key"
  refused 1 "--tls-key /etc/hostname: not a PEM file" \
    "${base[@]}" --tls-cert "$one/server.crt" --tls-key /etc/hostname
  refused 1 "--tls-cert $H_TMP/missing.crt: No such file or directory" \
    "${base[@]}" --tls-cert "$H_TMP/missing.crt" --tls-key "$one/server.key"
  refused 2 "--tls-cert and --tls-key go together" "${base[@]}" --tls-cert "$one/server.crt"
  # The good pair: HTTPS with that certificate, no plain HTTP.
  h_bg "$svc" "${base[@]}" --tls-cert "$one/server.crt" --tls-key "$one/server.key"
  pid=$H_LAST_PID
  h_wait_port "$port"
  h_assert_eq "$(curl -sS --cacert "$H_TMP/ca-good/ca.crt" -o /dev/null -w '%{http_code}' "https://localhost:$port/healthz")" \
    200 "$svc over HTTPS"
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/healthz" 2>/dev/null || true)"
  [ "$code" != 200 ] || h_fail "$svc answered plain HTTP on its HTTPS port"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  h_wait_for 20 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port)" || h_fail "$svc still listens after SIGTERM"
done
h_pass
