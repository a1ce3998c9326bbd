/*
 * conformance.h - shared fixtures of the store conformance suite.
 *
 * The suite runs the same tests against every backend through store.h only.
 * The backend comes from argv[1]: "sqlite" (a fresh temporary file per
 * test) or "mongo" (PARLEY_TEST_MONGO_URI with a fresh database name per
 * test; the binary exits with CONF_SKIP when the variable is unset).
 */
#ifndef PARLEY_TEST_STORE_CONFORMANCE_H
#define PARLEY_TEST_STORE_CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store.h"
#include "store_writer.h"

#define CONF_SKIP 77    /* ctest SKIP_RETURN_CODE */

/* Per-test state: a fresh store URI and one open connection to it. */
typedef struct {
    char uri[1024];
    char path[512];     /* sqlite: the database file; "" for mongo */
    store_t *s;
} conf_state;

extern int conf_is_sqlite;

/* Make a fresh store URI (new file / new database name) into out. */
void conf_fresh_uri(char *out, size_t outlen, char *path, size_t pathlen);

/* cmocka setup/teardown: fresh URI + open connection; close + remove. */
int conf_setup(void **state);
int conf_teardown(void **state);

/* Test helpers. */
void conf_make_chat(store_t *s, const char *chat_id, store_chat_type type);
/* A message record with heap copies of every field (free with
 * store_message_free). body is body_len bytes of byte `fill`. */
void conf_make_msg(store_message *m, const char *chat_id, const char *sender,
                   const char *client_msg_id, uint64_t seq, size_t body_len, int fill);
int64_t conf_now_ms(void);
/* Wait (10 ms steps, at most limit_s seconds) until the writer has nothing
 * pending; the caller asserts what it needs. */
void conf_wait_drained(store_writer *w, int limit_s);

/* Writer and crash tests (conformance_writer.c). */
extern const struct CMUnitTest conf_writer_tests[];
extern const size_t conf_writer_tests_n;

/* The crash test's child ("store_conformance crash-child URI ACKFILE"):
 * writes messages through the writer until killed, logging every
 * acknowledged client message id to ACKFILE with one write(2) each. */
int conf_crash_child(const char *uri, const char *ackfile);

/* User administration tests (conformance_users.c). */
extern const struct CMUnitTest conf_users_tests[];
extern const size_t conf_users_tests_n;

/* Linked devices (conformance_devices.c): device lists, prekeys per device,
 * link codes, the SQLite migration from schema 2. */
extern const struct CMUnitTest conf_devices_tests[];
extern const size_t conf_devices_tests_n;

/* Rich messages (conformance_rich.c): tombstones (delete for everyone), the
 * writer's tombstone and expiry ops, the SQLite migration from schema 3. */
extern const struct CMUnitTest conf_rich_tests[];
extern const size_t conf_rich_tests_n;

/* Sequencer tests (conformance_seq.c) and their multi-process child
 * ("store_conformance append-child URI ID OUTFILE"). */
extern const struct CMUnitTest conf_seq_tests[];
extern const size_t conf_seq_tests_n;
int conf_append_child(const char *uri, int id, const char *outfile);

#endif
