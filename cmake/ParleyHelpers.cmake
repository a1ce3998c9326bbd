# One helper per kind of target (after mosquitto's add_mosquitto_plugin and
# libssh's add_cmocka_test).

# parley_add_plugin(NAME SOURCES...) - a mosquitto plugin: MODULE, no "lib" prefix.
function(parley_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name} PRIVATE ${MOSQUITTO_BROKER_INCLUDE_DIR})
endfunction()

# parley_sanitizer_timeout(VAR) - a sanitizer build runs everything two to
# three times slower: its test time limits are three times the normal ones
# (limits only stop a hung test; a passing test ends when it is done).
macro(parley_sanitizer_timeout var)
  if(PARLEY_SANITIZE)
    math(EXPR ${var} "${${var}} * 3")
  endif()
endmacro()

# parley_add_cmocka_test(NAME SOURCES... [LIBS libs...] [LABELS labels...] [TIMEOUT s])
# Builds a CMocka test executable and registers it with ctest under NAME.
function(parley_add_cmocka_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  parley_sanitizer_timeout(T_TIMEOUT)
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
    ENVIRONMENT "${PARLEY_TEST_ENV}")
endfunction()

# parley_add_script_test(NAME SCRIPT [LABELS ...] [TIMEOUT s])
# An integration test: a shell script run against real processes. The script
# receives PARLEY_BUILD_DIR / PARLEY_SOURCE_DIR in its environment and sources
# tests/lib/harness.sh for free ports, process start/stop and assertions.
function(parley_add_script_test name script)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
  add_test(NAME ${name} COMMAND bash ${script})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  parley_sanitizer_timeout(T_TIMEOUT)
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "integration;${T_LABELS}"
    ENVIRONMENT "${PARLEY_TEST_ENV}")
endfunction()
