# shellcheck shell=bash
# Installs what Parley needs on Debian 12, idempotently: a second call installs nothing.
# Sourced by scripts/run and scripts/test.

PARLEY_APT_BUILD=(build-essential cmake pkg-config git
  libmosquitto-dev mosquitto-dev libpaho-mqtt-dev libsodium-dev libmongoc-dev libbson-dev
  libcurl4-openssl-dev libcmocka-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev
  libprotobuf-c-dev protobuf-c-compiler libnats-dev libssl-dev)
PARLEY_APT_RUN=(mosquitto mosquitto-clients nats-server sqlite3 curl ca-certificates iproute2 procps
  openssl)
# The pinned formatter of scripts/format (a developers' tool; tests/scripts/format.sh tests it).
PARLEY_CLANG_FORMAT=clang-format-19
PARLEY_APT_DEV=("$PARLEY_CLANG_FORMAT")
# faketime: tests/client/client_rich.sh runs a client with its clock ahead (an edit past its window).
PARLEY_APT_TEST=(nodejs docker-compose python3 psmisc jq haproxy python3-prometheus-client systemd
  python3-paho-mqtt faketime "${PARLEY_APT_DEV[@]}")

parley_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# parley_apt_install PKG... - install the packages that are not installed yet.
parley_apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "parley: installing ${missing[*]}" >&2
  parley_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  parley_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# parley_npm_tools - the npm test tools (s3rver), under .tools/ in the tree, at
# exactly the versions of the committed lockfile scripts/npm/package-lock.json
# (npm ci: every dependency pinned by version and integrity hash). Installs
# again only when the lockfile changed since the last install.
parley_npm_tools() {
  local root; root="$(parley_src_dir)"
  local lock="$root/scripts/npm/package-lock.json" tools="$root/.tools"
  if [ -x "$tools/node_modules/.bin/s3rver" ] && cmp -s "$lock" "$tools/package-lock.json" &&
     cmp -s "$root/scripts/npm/package.json" "$tools/package.json"; then
    return 0
  fi
  # nodejs from NodeSource bundles npm; Debian's nodejs needs the separate npm package.
  command -v npm >/dev/null 2>&1 || parley_apt_install npm
  echo "parley: installing the npm test tools of scripts/npm/package-lock.json into .tools/" >&2
  mkdir -p "$tools"
  cp "$root/scripts/npm/package.json" "$lock" "$tools/"
  # npm ci removes node_modules first, so an older install cannot leave strays.
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
    { echo "parley: npm ci in .tools/ failed" >&2; rm -f "$tools/package-lock.json"; return 1; }
}

parley_src_dir() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }
