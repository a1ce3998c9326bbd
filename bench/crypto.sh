#!/usr/bin/env bash
# bench/crypto.sh - costs of the end-to-end encryption core (client-lib/src/crypto)
# next to libsodium's raw primitives, measured in the same run. Writes the
# "End-to-end crypto" section of docs/benchmarks.md (between
# <!-- crypto:begin --> and <!-- crypto:end -->; creates the file if needed).
#
#   bench/crypto.sh                 # build, run, write the doc
#   bench/crypto.sh --no-doc        # print the section instead
#
# Options:
#   --build-dir DIR   build tree (default: $PARLEY_BUILD_DIR or <repo>/build-crypto-bench)
#   --no-build        use the build tree as it is
#   --scale N         multiply the iteration counts (default 1: a few seconds)
#   --no-doc          print the section instead of writing docs/benchmarks.md
# Single-threaded; nothing here is a test; nothing asserts a speed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PARLEY_BUILD_DIR:-$ROOT/build-crypto-bench}"
DO_BUILD=1 SCALE=1 WRITE_DOC=1
CMDLINE="bench/crypto.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$2"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --scale) SCALE="$2"; shift ;;
    --no-doc) WRITE_DOC=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/crypto.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$DO_BUILD" = 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target bench_crypto -j2 >/dev/null
fi
BIN="$BUILD/bench/crypto/bench_crypto"
[ -x "$BIN" ] || { echo "bench/crypto.sh: $BIN not built" >&2; exit 1; }

TABLE="$("$BIN" "$SCALE")"
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
NCPU="$(nproc)"
SODIUM="$(pkg-config --modversion libsodium 2>/dev/null || echo unknown)"
SECTION="$(cat <<EOS
## End-to-end crypto

Per-operation cost (process CPU time, so waiting for a shared core is not counted) of the client
library's end-to-end core, single thread, next to the libsodium primitives it is built from,
measured in the same run (\`$CMDLINE\`, $(date -u +%Y-%m-%d),
$CPU, $NCPU cores shared with other work, libsodium $SODIUM, RelWithDebInfo).

$TABLE

How to read it: a message on an established chain costs two HMACs for the chain step, one HKDF
for the message key and nonce, the AEAD, and a copy of the session state (decryption is
transactional); a DH ratchet step adds two X25519 operations and a key generation on the receiving
side and one HKDF per root step. The X3DH handshake is dominated by the signed-prekey verification
and the eight X25519 operations (four per side, plus the Ed25519-to-X25519 conversions);
session setup adds the first ratchet steps and the PreKey message. Sender-key messages are
dominated by the Ed25519 signature and its verification. The safety number's 2 x 5200 SHA-512
iterations are deliberate (key-stretching as in Signal) and run once per contact view.
EOS
)"

if [ "$WRITE_DOC" = 0 ]; then
  printf '%s\n' "$SECTION"
  exit 0
fi
DOC="$ROOT/docs/benchmarks.md"
if [ ! -f "$DOC" ]; then
  printf '# Benchmarks\n\nMeasured results of the bench/*.sh scripts; each section is written by its script.\n' > "$DOC"
fi
python3 - "$DOC" "$SECTION" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2]
B, E = "<!-- crypto:begin -->", "<!-- crypto:end -->"
text = open(path).read()
block = B + "\n" + section.rstrip() + "\n" + E
if B in text and E in text:
    head, rest = text.split(B, 1)
    _, tail = rest.split(E, 1)
    text = head + block + tail
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
echo "bench/crypto.sh: wrote the crypto section of $DOC"
