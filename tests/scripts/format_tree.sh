#!/usr/bin/env bash
# The tree follows its .clang-format: scripts/format --check over every tracked
# *.c/*.h lists nothing (HACKING.md, "Layout"). A file laid out by hand
# otherwise fails here with its name; run ./scripts/format FILE and commit.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
git -C "$PARLEY_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1 ||
  h_fail "not a git checkout: scripts/format lists the tracked files with git"
rc=0
out="$(cd "$PARLEY_SOURCE_DIR" && ./scripts/format --check)" || rc=$?
[ "$rc" = 0 ] || h_fail "files whose layout differs from .clang-format (./scripts/format FILE lays them out):
$out"
h_pass
