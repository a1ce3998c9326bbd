#!/usr/bin/env bash
# check_layers.sh SRC_DIR OBJECT... - libparley's modules call each other one
# way: fails if client-lib/src/ has a cycle in
#   1. the include graph: file -> the files of client-lib/src/ it #includes
#      ("...", resolved next to the file, then from SRC_DIR), modules named by
#      path without extension (x.c and x.h are one module);
#   2. the call graph: object -> the objects defining the global symbols it
#      uses (nm: U in one object, T/D/B/R in another), one node per object file.
# A cycle is whatever tsort(1) reports as a loop. Also fails if an object
# defines a cross-file internal symbol (name with "__") not prefixed with its
# file's name (order.c defines order__*, nothing else). Prints both graphs' sizes and
# the modules in a bottom-up order (callees first). Run by ctest
# (client_layers) with the objects of the parley_client_objs target.
set -euo pipefail
export LC_ALL=C

[ $# -ge 2 ] || { echo "usage: $0 SRC_DIR OBJECT..." >&2; exit 2; }
src="$(cd "$1" && pwd)"
shift
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0

# ---- 1. includes ------------------------------------------------------------
# "file include" pairs of every source of client-lib/src, in one pass
find "$src" -name '*.[ch]' | sort | xargs awk '
  match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]*"/) {
    s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
    print FILENAME, s
  }' >"$tmp/pairs"
: >"$tmp/inc"
while read -r f inc; do
  rel="${f#"$src"/}"
  dir="${rel%/*}"
  [ "$dir" = "$rel" ] && dir=.
  if [ -f "$src/$dir/$inc" ]; then
    target="$dir/$inc"
  elif [ -f "$src/$inc" ]; then
    target="$inc"
  else
    continue # a system, generated or common/ header
  fi
  target="${target#./}"
  while [[ "$target" == */../* ]]; do target="$(sed 's#[^/]*/\.\./##' <<<"$target")"; done
  a="${rel%.[ch]}" b="${target%.[ch]}" # x.c and x.h: one module
  [ "$a" = "$b" ] || echo "$b $a" >>"$tmp/inc" # tsort: "before after" = included includer
done <"$tmp/pairs"
sort -u -o "$tmp/inc" "$tmp/inc"
if ! tsort "$tmp/inc" >"$tmp/inc.order" 2>"$tmp/inc.err"; then
  echo "FAIL: include cycle in client-lib/src:" >&2
  cat "$tmp/inc.err" >&2
  fail=1
fi
echo "includes: $(wc -l <"$tmp/inc") edges between $(tr ' ' '\n' <"$tmp/inc" | sort -u | wc -l) modules"

# ---- 2. calls (symbols) -----------------------------------------------------
: >"$tmp/defs"
: >"$tmp/uses"
for o in "$@"; do
  case "$o" in *.o) ;; *) continue ;; esac
  rel="$(realpath "$o")"
  rel="${rel##*/parley_client_objs.dir/}"
  case "$rel" in src/*) rel="${rel#src/}" ;; *) continue ;; esac # common/ objects: not ours
  m="${rel%.o}"
  m="${m%.c}"
  nm -g --defined-only "$o" | awk -v m="$m" 'NF == 3 && $2 ~ /[TDBRV]/ { print $3, m }' >>"$tmp/defs"
  nm -u "$o" | awk -v m="$m" '{ print $NF, m }' >>"$tmp/uses"
done
[ -s "$tmp/defs" ] || { echo "FAIL: no object of client-lib/src given" >&2; exit 1; }
# "sym module": an internal symbol x__y belongs in x.c
if awk '$1 ~ /__/ { n = split($2, p, "/"); if (index($1, p[n] "__") != 1) print }' "$tmp/defs" |
   grep . >"$tmp/misnamed"; then
  echo "FAIL: internal symbols not named after their file:" >&2
  sed 's/^/  /' "$tmp/misnamed" >&2
  fail=1
fi
sort -u -o "$tmp/defs" "$tmp/defs"
sort -u -o "$tmp/uses" "$tmp/uses"
# symbol definer / symbol user -> "definer user" for symbols defined here
join "$tmp/defs" "$tmp/uses" | awk '$2 != $3 { print $2, $3 }' | sort -u >"$tmp/calls"
if ! tsort "$tmp/calls" >"$tmp/calls.order" 2>"$tmp/calls.err"; then
  echo "FAIL: call cycle between the objects of client-lib/src:" >&2
  cat "$tmp/calls.err" >&2
  # name the symbols behind each edge of the loop, for the one who fixes it
  join "$tmp/defs" "$tmp/uses" | awk '$2 != $3 { print "  " $3 " -> " $2 " (" $1 ")" }' |
    grep -F -f <(sed -n 's/^tsort: //p' "$tmp/calls.err" | grep -v loop | sed 's/.*/ & /') >&2 || true
  fail=1
fi
echo "calls: $(wc -l <"$tmp/calls") edges between $(tr ' ' '\n' <"$tmp/calls" | sort -u | wc -l) objects"
if [ "$fail" = 0 ]; then
  echo "no cycles; modules bottom-up (callees first):"
  tr '\n' ' ' <"$tmp/calls.order" | fold -s -w 100 | sed 's/^/  /'
  echo
fi
exit "$fail"
