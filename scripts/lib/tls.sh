# shellcheck shell=bash
# Certificates for scripts/run --tls and the TLS tests (openssl): a local CA
# and server certificates it signs. Keys are EC P-256, mode 0600.
#
#   parley_tls_ca DIR NAME             DIR/ca.crt + DIR/ca.key (kept when present)
#   parley_tls_server_cert DIR CA_DIR NAMES...
#                                      DIR/server.crt + DIR/server.key for the host
#                                      names and IP addresses NAMES, signed by CA_DIR's CA
# Both print nothing on success and fail with openssl's reason.

# parley_tls_san NAMES... - "DNS:a,IP:127.0.0.1,..." (IP literals as IP entries).
parley_tls_san() {
  local n out=""
  for n in "$@"; do
    n="${n#[}"; n="${n%]}"
    case "$n" in
      *:* | [0-9]*.[0-9]*.[0-9]*.[0-9]*) [ -z "${n//[0-9a-fA-F:.]/}" ] && out+="${out:+,}IP:$n" && continue ;;
    esac
    out+="${out:+,}DNS:$n"
  done
  echo "$out"
}

parley_tls_ca() {
  local dir="$1" name="$2"
  mkdir -p "$dir"
  [ -s "$dir/ca.crt" ] && [ -s "$dir/ca.key" ] && return 0
  (umask 077 && openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=$name" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$dir/openssl.err") ||
    { cat "$dir/openssl.err" >&2; return 1; }
  chmod 0644 "$dir/ca.crt"
}

parley_tls_server_cert() {
  local dir="$1" ca="$2"; shift 2
  local san; san="$(parley_tls_san "$@")"
  mkdir -p "$dir"
  (umask 077 &&
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=$1" 2>"$dir/openssl.err" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
      -CAcreateserial -out "$dir/server.crt" -days 825 -extfile <(printf '%s\n' \
        "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth") \
      2>>"$dir/openssl.err") || { cat "$dir/openssl.err" >&2; return 1; }
  rm -f "$dir/server.csr"
  chmod 0644 "$dir/server.crt"
  echo "$san" >"$dir/server.san"
}
