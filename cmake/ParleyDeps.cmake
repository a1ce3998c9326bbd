# Every third-party dependency, found once, as an imported target.
# Debian 12 packages: see scripts/lib/deps.sh.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(SODIUM      REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(SQLITE3     REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(JANSSON     REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(MHD         REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(CURL        REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(PROTOBUFC   REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(CMOCKA      REQUIRED IMPORTED_TARGET cmocka)
pkg_check_modules(LIBMOSQ     REQUIRED IMPORTED_TARGET libmosquitto)
pkg_check_modules(NATS        REQUIRED IMPORTED_TARGET libnats)   # libnats-dev: the broker nodes' bus
if(PARLEY_MONGO)
  pkg_check_modules(MONGOC    REQUIRED IMPORTED_TARGET libmongoc-1.0)
endif()
# paho-mqtt3as (Paho's async client with TLS, for libparley) links OpenSSL's
# imported targets: find them first (libssl-dev).
find_package(OpenSSL REQUIRED)
find_package(eclipse-paho-mqtt-c REQUIRED)   # eclipse-paho-mqtt-c::paho-mqtt3a, ::paho-mqtt3as
find_path(MOSQUITTO_BROKER_INCLUDE_DIR mosquitto_broker.h REQUIRED)
find_program(PROTOC_C protoc-c REQUIRED)
find_program(MOSQUITTO_BIN mosquitto PATHS /usr/sbin /usr/local/sbin REQUIRED)
