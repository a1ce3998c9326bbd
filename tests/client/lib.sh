# shellcheck shell=bash
# tests/client/lib.sh - helpers for the client integration tests, on top of
# tests/lib/harness.sh (source that first).

# c_parley USER ARGS... - run the parley CLI in USER's home (bounded by timeout).
c_parley() {
  local user="$1"; shift
  timeout 120 "$H_PARLEY" --home "$(h_home "$user")" "$@"
}

# c_listen USER NAME ARGS... - start `parley listen --json ARGS` for USER in the
# background; output in $H_TMP/NAME.out (stdout) and NAME.log (stderr).
# Sets C_LISTEN_PID.
c_listen() {
  local user="$1" name="$2"; shift 2
  "$H_PARLEY" --home "$(h_home "$user")" listen --json "$@" >"$H_TMP/$name.out" 2>>"$H_TMP/$name.log" &
  C_LISTEN_PID=$!
  H_PIDS+=("$C_LISTEN_PID")
}

# c_wait_line SECONDS FILE PATTERN - wait until FILE has a line matching PATTERN.
c_wait_line() {
  h_wait_for "$1" grep -q -- "$3" "$2" || h_fail "no line matching '$3' in $2 after $1 s: $(cat "$2" 2>/dev/null)"
}

# c_count FILE PATTERN - number of lines of FILE matching PATTERN.
c_count() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# c_field JSON_LINES FIELD - values of FIELD, one per line (jq-free).
c_field() {
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l=l.strip()
    if l: o=json.loads(l); print(o.get(sys.argv[2],""))' "$1" "$2"
}

# c_messages FILE - "seq sender text" of every message line of FILE.
c_messages() {
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l=l.strip()
    if not l: continue
    o=json.loads(l)
    if o.get("type")=="message": print(o["seq"], o["sender"], o["text"])' "$1"
}
