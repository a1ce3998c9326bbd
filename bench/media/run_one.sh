# shellcheck shell=bash
# bench/media/run_one.sh - one media gateway measurement, sourced by
# bench/media.sh (after tests/lib/harness.sh). Usage:
#   bench_media_one LABEL SIZE_MIB GATEWAY_ARGS...
# Starts a fresh gateway, uploads SIZE_MIB of random bytes with curl (streamed:
# -T, never loaded into curl's memory), downloads it back to /dev/null, checks
# the bytes by SHA-256, and appends a result line to $BENCH_OUT:
#   LABEL SIZE_MIB UPLOAD_MBps DOWNLOAD_MBps RSS_IDLE_KiB RSS_PEAK_KiB
bench_media_one() {
  local label="$1" mib="$2"; shift 2
  local file="$H_TMP/payload-$mib.bin"
  [ -f "$file" ] || head -c $((mib * 1024 * 1024)) /dev/urandom >"$file"
  local sum; sum="$(sha256sum <"$file" | cut -d' ' -f1)"

  h_start_media --max-size $(((mib + 1) * 1024 * 1024)) "$@"
  local pid="$H_MEDIA_PID"
  local idle; idle="$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
  local token; token="$("$MTOOL" token "$H_TMP/bench.key" bench)"

  local up
  up="$(curl -sS -T "$file" -X POST -H "Authorization: Bearer $token" \
    -H "X-Parley-SHA256: $sum" -o "$H_TMP/up.json" -w '%{http_code} %{speed_upload}' \
    "$H_MEDIA_URL/v1/media")"
  [ "${up%% *}" = 201 ] || h_fail "$label: upload answered ${up%% *}: $(cat "$H_TMP/up.json")"
  local id; id="$(sed -n 's/.*"media_id":"\([^"]*\)".*/\1/p' "$H_TMP/up.json")"

  local down
  down="$(curl -sS -H "Authorization: Bearer $token" -o >(sha256sum | cut -d' ' -f1 >"$H_TMP/down.sum") \
    -w '%{http_code} %{speed_download}' "$H_MEDIA_URL/v1/media/$id/download")"
  [ "${down%% *}" = 200 ] || h_fail "$label: download answered ${down%% *}"
  h_wait_for 30 test -s "$H_TMP/down.sum" || h_fail "$label: no download checksum"
  [ "$(cat "$H_TMP/down.sum")" = "$sum" ] || h_fail "$label: downloaded bytes differ"
  rm -f "$H_TMP/down.sum"

  local peak; peak="$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk -v l="$label" -v m="$mib" -v u="${up#* }" -v d="${down#* }" -v i="$idle" -v p="$peak" \
    'BEGIN { printf "%s %d %.1f %.1f %d %d\n", l, m, u / 1048576, d / 1048576, i, p }' >>"$BENCH_OUT"
  h_log "$(tail -n 1 "$BENCH_OUT")"
}
