#!/usr/bin/env bash
# --listen of both HTTP services (issue 14; http/listen.c, shared):
#  - the media gateway listens on IPv6 ([::1]:PORT) as the keyserver does:
#    /healthz, an upload and its download over IPv6;
#  - a port out of range (0, 65536, 99999, 20 digits, empty, not a number)
#    is refused by both services at start: exit status 2, a message naming
#    the range, nothing listening.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/media/lib.sh"
MEDIA="$PARLEY_BUILD_DIR/media-gateway/parley-media"
KS="$PARLEY_BUILD_DIR/keyserver/parley-keyserver"

# A free IPv6 loopback port.
port6="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$H_TMP/media"
h_bg media "$MEDIA" --listen "[::1]:$port6" --store "$H_STORE" --backend "file:$H_TMP/media"
h_wait_for 20 curl -sf -g "http://[::1]:$port6/healthz" || h_fail "parley-media does not answer on [::1]:$port6"
H_MEDIA_URL="http://[::1]:$port6"
h_assert_eq "$(curl -s -g "$H_MEDIA_URL/healthz" | jq -r .status)" ok "healthz over IPv6"
m_user alice
head -c 5000 /dev/urandom >"$H_TMP/obj.bin"
h_assert_eq "$(m_http POST /v1/media "$TOKEN_alice" -g --data-binary @"$H_TMP/obj.bin")" 201 "upload over IPv6"
id="$(jq -r .media_id "$H_TMP/body")"
h_assert_eq "$(m_http GET "/v1/media/$id/download" "$TOKEN_alice" -g)" 200 "download over IPv6"
cmp -s "$H_TMP/body" "$H_TMP/obj.bin" || h_fail "downloaded bytes differ"
# The IPv4 loopback is not served by an IPv6-only listener.
if curl -sf "http://127.0.0.1:$port6/healthz" >/dev/null 2>&1; then h_fail "[::1] listener answered on 127.0.0.1"; fi

# The keyserver on IPv6 too.
port6k="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1]); s.close()')"
h_bg keyserver "$KS" --listen "[::1]:$port6k" --store "$H_STORE"
h_wait_for 20 curl -sf -g "http://[::1]:$port6k/healthz" || h_fail "parley-keyserver does not answer on [::1]:$port6k"

# Ports out of range: refused at start with exit status 2, by both services.
for listen in 127.0.0.1:0 127.0.0.1:65536 127.0.0.1:99999 "[::1]:70000" \
  127.0.0.1:18446744073709551617 127.0.0.1: 127.0.0.1:80x 127.0.0.1:-1; do
  set +e
  "$MEDIA" --listen "$listen" --store "$H_STORE" --backend "file:$H_TMP/media" >"$H_TMP/out" 2>&1
  rc=$?
  "$KS" --listen "$listen" --store "$H_STORE" >"$H_TMP/outk" 2>&1
  rck=$?
  set -e
  h_assert_eq "$rc" 2 "parley-media --listen $listen exit status"
  h_assert_eq "$rck" 2 "parley-keyserver --listen $listen exit status"
  for f in out outk; do
    msg="$(cat "$H_TMP/$f")"
    case "$listen" in
      *:) h_assert_contains "$msg" "expected HOST:PORT" "$f: --listen $listen" ;;
      *) h_assert_contains "$msg" "from 1 to 65535" "$f: --listen $listen" ;;
    esac
  done
done
# The highest port is accepted (the address is parsed; binding may fail if taken).
set +e
timeout 2 "$MEDIA" --listen 127.0.0.1:65535 --store "$H_STORE" --backend "file:$H_TMP/media" >"$H_TMP/out" 2>&1
rc=$?
set -e
[ "$rc" != 2 ] || h_fail "port 65535 refused as a bad command line: $(cat "$H_TMP/out")"

h_pass
