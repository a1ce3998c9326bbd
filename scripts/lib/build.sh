# shellcheck shell=bash
# parley_build [cmake args...] - configure and build into $PARLEY_BUILD_DIR (default build/).
parley_build() {
  local root; root="$(parley_src_dir)"
  local bdir="${PARLEY_BUILD_DIR:-$root/build}"
  cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >&2
  cmake --build "$bdir" -j "$(nproc)" >&2
  echo "$bdir"
}
