#!/usr/bin/env bash
# scripts/format and .clang-format: --check lists a file whose layout differs and
# exits 1; without --check the file is laid out in place (4 spaces, Linux braces);
# the tree's own habits are left as they are (hand-aligned trailing comments,
# include order, a one-line case); a missing file is refused (exit 2).
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
fmt="$PARLEY_SOURCE_DIR/scripts/format"
# --style=file finds the nearest .clang-format above the file: the tree's.
cp "$PARLEY_SOURCE_DIR/.clang-format" "$H_TMP/"

printf 'int f(int a){if(a) return 1;\n  return 0;}\n' >"$H_TMP/bad.c"
rc=0; out="$("$fmt" --check "$H_TMP/bad.c")" || rc=$?
[ "$rc" = 1 ] || h_fail "--check on a misformatted file: status $rc, want 1"
[ "$out" = "$H_TMP/bad.c" ] || h_fail "--check listed '$out', want $H_TMP/bad.c"

"$fmt" "$H_TMP/bad.c" || h_fail "scripts/format FILE failed"
want="$(printf 'int f(int a)\n{\n    if (a)\n        return 1;\n    return 0;\n}')"
[ "$(cat "$H_TMP/bad.c")" = "$want" ] || h_fail "laid out as:
$(cat "$H_TMP/bad.c")
want:
$want"
out="$("$fmt" --check "$H_TMP/bad.c")" || h_fail "--check after formatting: status $?"
[ -z "$out" ] || h_fail "--check after formatting listed '$out'"

cat >"$H_TMP/house.c" <<'C'
#include <stdio.h>
#include <assert.h>

struct pair {
    int a;          /* the first */
    long bb;        /* the second */
};

static int kind(int c)
{
    switch (c) {
    case 1: return 10;
    default: return 0;
    }
}
C
cp "$H_TMP/house.c" "$H_TMP/house.orig"
out="$("$fmt" --check "$H_TMP/house.c")" || h_fail "--check on the house style: status $?, listed '$out'"
"$fmt" "$H_TMP/house.c"
cmp -s "$H_TMP/house.c" "$H_TMP/house.orig" || h_fail "the house style was changed:
$(diff "$H_TMP/house.orig" "$H_TMP/house.c")"

rc=0; "$fmt" --check "$H_TMP/none.c" 2>"$H_TMP/err" || rc=$?
[ "$rc" = 2 ] || h_fail "a missing file: status $rc, want 2"
h_assert_contains "$(cat "$H_TMP/err")" "no such file: $H_TMP/none.c" "the error"
h_pass
