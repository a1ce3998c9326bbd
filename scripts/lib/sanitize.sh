# shellcheck shell=bash
# scripts/lib/sanitize.sh - what a sanitizer build (-DPARLEY_SANITIZE=ON, HACKING.md
# "Sanitizers") needs from the scripts that start its programs. Sourced by
# scripts/run and tests/lib/harness.sh.

# The compiler flags of a sanitizer build (CMakeLists.txt, PARLEY_SANITIZE), for a
# program built outside CMake against its libparley (tests/client/client_sdk_install.sh).
PARLEY_SANITIZE_FLAGS="-fsanitize=address,undefined"

# parley_sanitized FILE - true when FILE (a program or library of a build) links
# the ASan runtime. ldd's output is captured, not piped into "grep -q": under
# pipefail, grep -q exiting at the first match can kill ldd with SIGPIPE and make
# the check fail at random.
parley_sanitized() { [[ "$(ldd "$1" 2>/dev/null)" == *libasan* ]]; }

# parley_mosq_env PLUGIN - sets the array PARLEY_MOSQ_ENV to the command prefix
# mosquitto needs to load PLUGIN: nothing for a normal build; for a sanitizer
# build, the ASan runtime preloaded (mosquitto itself is not instrumented and ASan
# must come first in the library list) and leak detection off for the broker
# process unless PARLEY_SANITIZE_BROKER_LEAKS=1 (it comes last so that it wins
# over a detect_leaks in the caller's ASAN_OPTIONS; HACKING.md, "Sanitizers").
# Every other option of the caller's ASAN_OPTIONS (log_path, ...) is kept.
parley_mosq_env() {
  local leaks=0
  [ "${PARLEY_SANITIZE_BROKER_LEAKS:-0}" = 1 ] && leaks=1
  PARLEY_MOSQ_ENV=()
  if [ -e "$1" ] && parley_sanitized "$1"; then
    PARLEY_MOSQ_ENV=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
      "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=$leaks")
  fi
}
