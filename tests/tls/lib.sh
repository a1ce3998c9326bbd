# shellcheck shell=bash
# tests/tls/lib.sh - certificates and TLS listeners for the TLS and WebSocket
# tests, on tests/lib/harness.sh and tests/client/lib.sh (source those first).
# Certificates come from scripts/lib/tls.sh, the code ./scripts/run --tls uses.
. "$PARLEY_SOURCE_DIR/scripts/lib/tls.sh"

# t_ca NAME - a CA in $H_TMP/ca-NAME (ca.crt, ca.key).
t_ca() { parley_tls_ca "$H_TMP/ca-$1" "Parley test CA $1" || h_fail "openssl: CA $1"; }

# t_cert NAME CA NAMES... - a server certificate in $H_TMP/cert-NAME
# (server.crt, server.key) for NAMES, signed by CA (made by t_ca).
t_cert() {
  local name="$1" ca="$2"; shift 2
  parley_tls_server_cert "$H_TMP/cert-$name" "$H_TMP/ca-$ca" "$@" || h_fail "openssl: cert $name"
}

# t_listener PORT PROTOCOL [CERT] - mosquitto listener lines: PROTOCOL mqtt or
# websockets, over TLS with the certificate CERT (made by t_cert) if given.
t_listener() {
  printf 'listener %s 127.0.0.1\nprotocol %s\n' "$1" "$2"
  [ -n "${3:-}" ] || return 0
  printf 'certfile %s\nkeyfile %s\n' "$H_TMP/cert-$3/server.crt" "$H_TMP/cert-$3/server.key"
}

# t_tls_args CERT - the --tls-cert/--tls-key arguments of the HTTP services.
t_tls_args() { echo --tls-cert "$H_TMP/cert-$1/server.crt" --tls-key "$H_TMP/cert-$1/server.key"; }

# t_https_ks CERT - a keyserver serving HTTPS with CERT on $H_STORE; sets
# T_KS_PORT (the harness's h_start_keyserver speaks plain HTTP).
t_https_ks() {
  T_KS_PORT="$(h_port)"
  # shellcheck disable=SC2046
  h_bg "keyserver-$1" "$PARLEY_BUILD_DIR/keyserver/parley-keyserver" \
    --listen "127.0.0.1:$T_KS_PORT" --store "$H_STORE" $(t_tls_args "$1")
  h_wait_port "$T_KS_PORT"
}

# t_https_media CERT - a media gateway serving HTTPS with CERT; sets T_MEDIA_PORT.
t_https_media() {
  T_MEDIA_PORT="$(h_port)"
  mkdir -p "$H_TMP/media"
  # shellcheck disable=SC2046
  h_bg "media-$1" "$PARLEY_BUILD_DIR/media-gateway/parley-media" \
    --listen "127.0.0.1:$T_MEDIA_PORT" --store "$H_STORE" --backend "file:$H_TMP/media" \
    $(t_tls_args "$1")
  h_wait_port "$T_MEDIA_PORT"
}

# t_run OUT ERR CMD... - run CMD (bounded), stdout to OUT, stderr to ERR;
# sets T_RC to its exit code.
t_run() {
  local out="$1" err="$2"; shift 2
  T_RC=0
  timeout 120 "$@" >"$out" 2>"$err" || T_RC=$?
}
