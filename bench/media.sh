#!/usr/bin/env bash
# bench/media.sh - media gateway throughput and memory: upload and download
# MB/s (curl, loopback) and the gateway's peak RSS (VmHWM) on the filesystem
# backend and on s3rver, each for a small and a large object (flat memory
# means the same peak for both).
#
#   bench/media.sh [LARGE_MIB (default 1024)] [S3_LARGE_MIB (default LARGE_MIB)] [--update-doc]
#
# Needs a build (PARLEY_BUILD_DIR, default ./build) with parley-media and mtool,
# and s3rver under .tools/ (scripts/test installs it). --update-doc rewrites the
# media section of docs/benchmarks.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PARLEY_SOURCE_DIR="${PARLEY_SOURCE_DIR:-$(cd "$here/.." && pwd)}"
export PARLEY_BUILD_DIR="${PARLEY_BUILD_DIR:-$PARLEY_SOURCE_DIR/build}"
update=0; args=()
for a in "$@"; do if [ "$a" = --update-doc ]; then update=1; else args+=("$a"); fi; done
LARGE="${args[0]:-1024}"
S3_LARGE="${args[1]:-$LARGE}"
SMALL=64

. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$here/media/run_one.sh"
MTOOL="$PARLEY_BUILD_DIR/tests/mtool"
[ -x "$MTOOL" ] || h_fail "build mtool and parley-media first"
"$MTOOL" user "$H_STORE" bench "$H_TMP/bench.key" || h_fail "mtool user"
BENCH_OUT="$H_TMP/results"
: >"$BENCH_OUT"

mkdir -p "$H_TMP/media"
bench_media_one file "$SMALL"
bench_media_one file "$LARGE"
rm -rf "$H_TMP/media"/*
h_start_s3rver
bench_media_one s3rver "$SMALL" --backend "s3:$H_S3_URL/parley" --s3-access-key S3RVER --s3-secret-key S3RVER
bench_media_one s3rver "$S3_LARGE" --backend "s3:$H_S3_URL/parley" --s3-access-key S3RVER --s3-secret-key S3RVER

# Client side: streaming encryption and verify+decrypt of the large payload
# (mtool = the client library's media_crypto.c), wall time and peak RSS.
crypto_row() { # LABEL CMD... -> "| LABEL | MB/s | peak RSS |"
  local label="$1"; shift
  python3 - "$label" "$LARGE" "$@" <<'PY'
import resource, subprocess, sys, time
label, mib, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
t = time.monotonic()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
dt = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("| %s | %d MiB | %.1f | %.1f MiB |" % (label, mib, mib / dt, rss / 1024))
PY
}
plain="$H_TMP/payload-$LARGE.bin"
enc="$("$MTOOL" encrypt "$plain" "$H_TMP/enc.bin")"
crypto="$(printf '| client step | plaintext | MB/s | peak RSS |\n|---|---|---|---|\n')"
crypto+=$'\n'"$(crypto_row "encrypt (secretstream + SHA-256)" "$MTOOL" encrypt "$plain" "$H_TMP/enc2.bin")"
crypto+=$'\n'"$(crypto_row "verify SHA-256 + decrypt" "$MTOOL" decrypt "$H_TMP/enc.bin" "$H_TMP/dec.bin" \
  "$(tr ' ' '\n' <<<"$enc" | sed -n 's/^key=//p')" "$(tr ' ' '\n' <<<"$enc" | sed -n 's/^sha256=//p')")"
cmp -s "$plain" "$H_TMP/dec.bin" || h_fail "client decrypt differs"
rm -f "$H_TMP/enc.bin" "$H_TMP/enc2.bin" "$H_TMP/dec.bin"
echo "$crypto"

table="$(awk 'BEGIN { print "| backend | object | upload MB/s | download MB/s | gateway RSS idle | gateway peak RSS (VmHWM) |";
                       print "|---|---|---|---|---|---|" }
              { printf "| %s | %d MiB | %s | %s | %.1f MiB | %.1f MiB |\n", $1, $2, $3, $4, $5 / 1024, $6 / 1024 }' "$BENCH_OUT")"
echo "$table"
if [ "$update" = 1 ]; then
  doc="$PARLEY_SOURCE_DIR/docs/benchmarks.md"
  python3 - "$doc" "$table" "$(date -u +%Y-%m-%d)" "$(nproc)" "$LARGE" "$S3_LARGE" "$crypto" <<'PY'
import sys, re
doc, table, day, cpus, large, s3large, crypto = sys.argv[1:]
body = f"""<!-- media:begin -->
## Media gateway

Command: `bench/media.sh {large} {s3large} --update-doc` ({day}, {cpus} shared cores, loopback, one
client; curl streams the upload with `-T`, the download goes to `sha256sum`, which checks it). The
gateway runs with its defaults (thread per connection; S3 parts of 8 MiB). MB/s = MiB/s.

{table}

Memory is flat in the object size: the peak for the large object is within a few MiB of the 64 MiB
one on each backend (per transfer the gateway holds MHD's 256 KiB buffer, plus at most one 8 MiB
part for an S3 upload). An upload's time runs until the 201, so the file backend's figure includes
writing the whole object to disk and `fsync`ing it (durable before it is acknowledged): it is disk
bound, the download (page cache) is not. Through s3rver the upload is bounded by s3rver itself
(Node.js, writing every part to disk and concatenating the parts at completion), not by the gateway.
The build machine is shared with other jobs, so throughput varies by up to 2x between runs; the
memory figures do not.

The client side (`client-lib/src/media/media_crypto.c`, driven by `tests/mtool`) on the same large
file, streaming in 64 KiB records (memory flat as well). Both steps write their output file and
`fsync` it, and decrypt reads the ciphertext twice (hash first, then decrypt), so on this disk they
measure I/O more than XChaCha20-Poly1305:

{crypto}
<!-- media:end -->"""
try:
    text = open(doc).read()
except FileNotFoundError:
    text = "# Benchmarks\n\nMeasured results of the `bench/*.sh` scripts, one section per component.\n"
if "<!-- media:begin -->" in text:
    text = re.sub(r"<!-- media:begin -->.*?<!-- media:end -->", lambda m: body, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + body + "\n"
open(doc, "w").write(text)
PY
  h_log "updated $doc"
fi
h_pass
