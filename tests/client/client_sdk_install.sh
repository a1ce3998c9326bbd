#!/usr/bin/env bash
# The installable SDK (docs/client.md, "Installing the SDK"): `cmake --install`
# into a temporary prefix puts every program, the plugin, libparley with its
# versioned SONAME, the public headers only and parley.pc in place; the example
# examples/echo.c is compiled with nothing but `pkg-config --cflags --libs
# parley` from that prefix, and two copies of it talk to each other through
# mosquitto with the INSTALLED plugin and the INSTALLED keyserver.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/client/lib.sh"

prefix="$H_TMP/prefix"
cmake --install "$PARLEY_BUILD_DIR" --prefix "$prefix" >"$H_TMP/install.log" 2>&1 ||
  h_fail "cmake --install failed: $(cat "$H_TMP/install.log")"

# Every program and the plugin.
for p in parley parley-keyserver parley-media parley-admin; do
  [ -x "$prefix/bin/$p" ] || h_fail "bin/$p not installed"
  out="$("$prefix/bin/$p" --version)" || h_fail "$p --version failed"
  h_assert_contains "$out" "0." "$p --version prints a version"
done
plugin="$(find "$prefix" -name parley_plugin.so)"
h_assert_eq "$plugin" "$prefix/lib/mosquitto/parley_plugin.so" "plugin location"

# libparley: a real file with its version, the SONAME link, the dev link.
libdir="$(dirname "$(find "$prefix" -name 'libparley.so.*.*.*')")"
real="$(cd "$libdir" && ls libparley.so.*.*.*)"
soname="$(readelf -d "$libdir/$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
h_assert_eq "$soname" "libparley.so.0" "SONAME"
[ "$(readlink "$libdir/libparley.so.0")" = "$real" ] || h_fail "libparley.so.0 -> $real missing"
[ -L "$libdir/libparley.so" ] || h_fail "libparley.so (for -lparley) missing"
# Only parley_* symbols are exported.
stray="$(nm -D --defined-only "$libdir/$real" | awk '$2 ~ /[TDB]/ && $3 !~ /^parley_/ {print $3}')"
h_assert_eq "$stray" "" "symbols other than parley_* exported"

# The public headers, and nothing else.
headers="$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')"
h_assert_eq "$headers" "./parley/export.h ./parley/group.h ./parley/media.h ./parley/parley.h ./parley/version.h " "installed headers"

# pkg-config from the prefix; the example compiles with its flags only (no path
# into the source or build tree), warnings as errors.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
h_assert_eq "$(pkg-config --modversion parley)" "$("$prefix/bin/parley" --version | awk '{print $2}')" \
  "parley.pc version = parley --version"
flags="$(pkg-config --cflags --libs parley)" || h_fail "pkg-config --cflags --libs parley failed"
h_assert_not_contains "$flags" "$PARLEY_SOURCE_DIR" "pkg-config flags point into the source tree"
h_assert_not_contains "$flags" "$PARLEY_BUILD_DIR" "pkg-config flags point into the build tree"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$H_TMP/parley-echo" \
  "$prefix/share/doc/parley/examples/echo.c" $flags \
  -Wl,-rpath,"$(pkg-config --variable=libdir parley)" 2>"$H_TMP/cc.log" ||
  h_fail "the example does not build against the installed tree: $(cat "$H_TMP/cc.log")"
linked="$(ldd "$H_TMP/parley-echo" | awk '$1 == "libparley.so.0" {print $3}')"
[ -n "$linked" ] && [ "$(readlink -f "$linked")" = "$(readlink -f "$libdir/libparley.so.0")" ] ||
  h_fail "the example is not linked to the installed libparley: $(ldd "$H_TMP/parley-echo")"

# A real stack from the installed tree: keyserver and plugin.
H_KS_PORT="$(h_port)"
h_bg keyserver "$prefix/bin/parley-keyserver" --listen "127.0.0.1:$H_KS_PORT" --store "$H_STORE"
h_wait_port "$H_KS_PORT"
export PARLEY_KEYSERVER_URL="http://127.0.0.1:$H_KS_PORT"
H_PLUGIN="$plugin"
h_start_mosquitto

# bob echoes; alice sends and waits for the echo.
"$H_TMP/parley-echo" "$H_TMP/home-bob" bob alice >"$H_TMP/bob.out" 2>"$H_TMP/bob.log" &
BOB=$!
H_PIDS+=("$BOB")
c_wait_line 60 "$H_TMP/bob.out" "ready as bob"
out="$(timeout 120 "$H_TMP/parley-echo" "$H_TMP/home-alice" alice bob "hello through the SDK" \
  2>"$H_TMP/alice.log")" || h_fail "alice's echo run failed: $out"
h_assert_contains "$out" "stored d:alice:bob seq 1" "alice's message stored"
h_assert_contains "$out" "reply from bob: echo: hello through the SDK" "bob's echo"
wait "$BOB" || h_fail "bob's echo run failed"
h_assert_contains "$(cat "$H_TMP/bob.out")" "got from alice: hello through the SDK" "bob got it"
h_assert_contains "$(cat "$H_TMP/bob.out")" "stored d:alice:bob seq 2" "bob's echo stored"

# The installed CLI reads the conversation from the same homes, with the installed library.
hist="$("$prefix/bin/parley" --home "$H_TMP/home-alice" history bob --offline)" ||
  h_fail "installed parley history failed"
h_assert_contains "$hist" "alice: hello through the SDK" "history (installed CLI)"
h_assert_contains "$hist" "bob: echo: hello through the SDK" "history (installed CLI)"
h_pass
