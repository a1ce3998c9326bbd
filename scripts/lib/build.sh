# shellcheck shell=bash
# parley_build [cmake args...] - configure and build into $PARLEY_BUILD_DIR (default build/);
# prints the build directory. With PARLEY_BUILD_TARGETS set (space-separated),
# builds only those targets.
parley_build() {
  local root; root="$(parley_src_dir)"
  local bdir="${PARLEY_BUILD_DIR:-$root/build}"
  local targets=() t
  for t in ${PARLEY_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
  # Explicit returns: errexit does not apply inside the command substitution
  # that callers use ("bdir=$(parley_build)").
  cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >&2 ||
    { echo "parley: cmake configure failed" >&2; return 1; }
  cmake --build "$bdir" -j "$(nproc)" "${targets[@]}" >&2 ||
    { echo "parley: build failed" >&2; return 1; }
  echo "$bdir"
}
