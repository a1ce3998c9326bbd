/*
 * conformance_devices.c - the store conformance suite, linked devices
 * (schema 3): the device list on the user record (a compare-and-set that
 * bumps updated_at; dropped by a key change and by deletion), prekeys per
 * device (isolation, delete, move from the implicit device), link codes,
 * and (SQLite) the migration of a schema 2 file. Runs against every backend
 * like conformance.c.
 */
#include "conformance.h"
#include "store_sqlite.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_RC(expr, want) \
    do { \
        int rc_ = (expr); \
        if (rc_ != (want)) \
            fail_msg("%s: got %s (%d), want %s: %s", #expr, store_strerror(rc_), rc_, \
                     store_strerror(want), store_last_error(s)); \
    } while (0)

static store_t *S(void **state)
{
    return ((conf_state *)*state)->s;
}

static void put_user(store_t *s, const char *id, int fill, int64_t t)
{
    store_user u = {.user_id = (char *)id, .created_at = t, .updated_at = t};
    memset(u.identity_key, fill, STORE_KEY_LEN);
    ASSERT_RC(store_user_put(s, &u), STORE_OK);
}

static void put_spk(store_t *s, const char *user, const char *dev, uint32_t key_id, int fill)
{
    store_prekey p = {.user_id = (char *)user,
                      .device_id = (char *)dev,
                      .key_id = key_id,
                      .created_at = 5};
    memset(p.public_key, fill, STORE_KEY_LEN);
    memset(p.signature, fill, STORE_SIG_LEN);
    ASSERT_RC(store_signed_prekey_put(s, &p), STORE_OK);
}

static void put_otpks(store_t *s, const char *user, const char *dev, uint32_t first, int n,
                      int fill)
{
    store_prekey k[8];
    memset(k, 0, sizeof k);
    for (int i = 0; i < n; i++) {
        k[i].user_id = (char *)user;
        k[i].device_id = (char *)dev;
        k[i].key_id = first + (uint32_t)i;
        memset(k[i].public_key, fill + i, STORE_KEY_LEN);
    }
    ASSERT_RC(store_otpk_add(s, k, (size_t)n), STORE_OK);
}

static size_t otpks(store_t *s, const char *user, const char *dev)
{
    size_t n = 999;
    ASSERT_RC(store_otpk_count(s, user, dev, &n), STORE_OK);
    return n;
}

/* The list is a compare-and-set on the version; every change bumps
 * updated_at (users_changed_since sees it); the bytes come back verbatim. */
static void test_device_list(void **state)
{
    store_t *s = S(state);
    static const uint8_t l1[] = "parley-devices-v1\nalice\n1\nA key 1 phone\n";
    static const uint8_t l2[] = "parley-devices-v1\nalice\n2\n...\n";
    uint8_t sig[STORE_SIG_LEN];
    store_user got, *arr = NULL;
    size_t n = 0;
    memset(sig, 0x5a, sizeof sig);

    put_user(s, "alice", 0xA1, 100);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 0); /* implicit */
    assert_null(got.devices_list);
    store_user_free(&got);

    ASSERT_RC(store_user_set_devices(s, "alice", 0, 1, l1, sizeof l1 - 1, sig, 200), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 1);
    assert_int_equal(got.devices_list_len, sizeof l1 - 1);
    assert_memory_equal(got.devices_list, l1, sizeof l1 - 1);
    assert_memory_equal(got.devices_sig, sig, STORE_SIG_LEN);
    assert_int_equal(got.updated_at, 200);
    assert_int_equal(got.identity_key[0], 0xA1);
    store_user_free(&got);
    ASSERT_RC(store_users_changed_since(s, 200, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(arr[0].devices_version, 1);
    assert_memory_equal(arr[0].devices_list, l1, sizeof l1 - 1);
    store_user_array_free(arr, n);

    /* a writer that verified against version 0 lost the race: stale */
    ASSERT_RC(store_user_set_devices(s, "alice", 0, 2, l2, sizeof l2 - 1, sig, 300), STORE_EEXIST);
    /* not above the expected version, empty, too large: refused */
    ASSERT_RC(store_user_set_devices(s, "alice", 1, 1, l2, sizeof l2 - 1, sig, 300), STORE_EINVAL);
    ASSERT_RC(store_user_set_devices(s, "alice", 1, 2, l2, 0, sig, 300), STORE_EINVAL);
    uint8_t *big = calloc(1, STORE_DEVICES_LIST_MAX + 1);
    assert_non_null(big);
    ASSERT_RC(store_user_set_devices(s, "alice", 1, 2, big, STORE_DEVICES_LIST_MAX + 1, sig, 300),
              STORE_EINVAL);
    free(big);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 1); /* the refused calls changed nothing */
    assert_int_equal(got.updated_at, 200);
    store_user_free(&got);

    ASSERT_RC(store_user_set_devices(s, "alice", 1, 7, l2, sizeof l2 - 1, sig, 300), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 7);
    assert_memory_equal(got.devices_list, l2, sizeof l2 - 1);
    store_user_free(&got);
    ASSERT_RC(store_user_set_devices(s, "nobody", 0, 1, l1, sizeof l1 - 1, sig, 300),
              STORE_ENOTFOUND);

    /* a new account key drops the list the old key signed */
    uint8_t key[STORE_KEY_LEN];
    memset(key, 0xC3, sizeof key);
    ASSERT_RC(store_user_set_key(s, "alice", key, 400), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 0);
    assert_null(got.devices_list);
    store_user_free(&got);
    ASSERT_RC(store_user_set_devices(s, "alice", 0, 1, l1, sizeof l1 - 1, sig, 500), STORE_OK);

    /* deletion drops it too, and a tombstone takes no list */
    ASSERT_RC(store_user_delete(s, "alice", 600), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.devices_version, 0);
    assert_null(got.devices_list);
    store_user_free(&got);
    ASSERT_RC(store_user_set_devices(s, "alice", 0, 2, l1, sizeof l1 - 1, sig, 700), STORE_EINVAL);
}

/* Prekeys per device: each device has its own signed prekey (with its
 * previous one) and one-time prekeys; key ids may repeat across devices. */
static void test_prekeys_per_device(void **state)
{
    store_t *s = S(state);
    store_prekey got, *all = NULL;
    size_t n = 0;

    put_user(s, "bob", 0xB2, 1);
    put_spk(s, "bob", NULL, 1, 0x10);      /* the implicit device "" */
    put_spk(s, "bob", "phone", 1, 0x20);
    put_spk(s, "bob", "phone", 2, 0x21);
    put_spk(s, "bob", "lap-top", 1, 0x30);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "", &got), STORE_OK);
    assert_int_equal(got.public_key[0], 0x10);
    assert_string_equal(got.device_id, "");
    store_prekey_free(&got);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "phone", &got), STORE_OK);
    assert_int_equal(got.public_key[0], 0x21);
    assert_string_equal(got.device_id, "phone");
    store_prekey_free(&got);
    ASSERT_RC(store_signed_prekey_get_previous(s, "bob", "phone", &got), STORE_OK);
    assert_int_equal(got.public_key[0], 0x20);
    store_prekey_free(&got);
    ASSERT_RC(store_signed_prekey_get_previous(s, "bob", "lap-top", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "tablet", &got), STORE_ENOTFOUND);

    put_otpks(s, "bob", NULL, 1, 2, 0x40);
    put_otpks(s, "bob", "phone", 1, 3, 0x50);  /* the same key ids, another device */
    put_otpks(s, "bob", "lap-top", 7, 1, 0x60);
    assert_int_equal(otpks(s, "bob", NULL), 2);
    assert_int_equal(otpks(s, "bob", "phone"), 3);
    assert_int_equal(otpks(s, "bob", "lap-top"), 1);
    /* a duplicate within one device is refused, the batch adds nothing */
    store_prekey dup[2] = {{.user_id = "bob", .device_id = "phone", .key_id = 9},
                           {.user_id = "bob", .device_id = "phone", .key_id = 1}};
    ASSERT_RC(store_otpk_add(s, dup, 2), STORE_EEXIST);
    assert_int_equal(otpks(s, "bob", "phone"), 3);
    /* one batch is one device */
    store_prekey mixed[2] = {{.user_id = "bob", .device_id = "phone", .key_id = 20},
                             {.user_id = "bob", .device_id = "lap-top", .key_id = 21}};
    ASSERT_RC(store_otpk_add(s, mixed, 2), STORE_EINVAL);

    ASSERT_RC(store_otpk_pop(s, "bob", "phone", &got), STORE_OK);
    assert_int_equal(got.key_id, 1);
    assert_int_equal(got.public_key[0], 0x50);
    assert_string_equal(got.device_id, "phone");
    store_prekey_free(&got);
    ASSERT_RC(store_otpk_pop(s, "bob", "lap-top", &got), STORE_OK);
    assert_int_equal(got.key_id, 7);
    store_prekey_free(&got);
    ASSERT_RC(store_otpk_pop(s, "bob", "lap-top", &got), STORE_ENOTFOUND);
    assert_int_equal(otpks(s, "bob", ""), 2);   /* untouched */

    /* the list of every device's keys names each key's device */
    ASSERT_RC(store_otpk_list(s, "bob", &all, &n), STORE_OK);
    assert_int_equal(n, 4);
    assert_string_equal(all[0].device_id, "");
    assert_string_equal(all[2].device_id, "phone");
    store_prekey_array_free(all, n);

    /* a removed device's prekeys go, the others stay */
    ASSERT_RC(store_prekeys_delete_device(s, "bob", "phone"), STORE_OK);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "phone", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_signed_prekey_get_previous(s, "bob", "phone", &got), STORE_ENOTFOUND);
    assert_int_equal(otpks(s, "bob", "phone"), 0);
    assert_int_equal(otpks(s, "bob", ""), 2);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "lap-top", &got), STORE_OK);
    store_prekey_free(&got);
    ASSERT_RC(store_prekeys_delete_device(s, "bob", "phone"), STORE_OK); /* idempotent */

    /* the first explicit list: the implicit device's prekeys become the primary's */
    put_spk(s, "bob", "prim", 9, 0x70);     /* replaced by the move */
    put_otpks(s, "bob", "prim", 50, 1, 0x71);
    ASSERT_RC(store_prekeys_move_device(s, "bob", "", "prim"), STORE_OK);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "prim", &got), STORE_OK);
    assert_int_equal(got.public_key[0], 0x10);
    assert_string_equal(got.device_id, "prim");
    store_prekey_free(&got);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "", &got), STORE_ENOTFOUND);
    assert_int_equal(otpks(s, "bob", "prim"), 2);
    assert_int_equal(otpks(s, "bob", ""), 0);
    ASSERT_RC(store_otpk_pop(s, "bob", "prim", &got), STORE_OK);
    assert_int_equal(got.key_id, 1);
    assert_int_equal(got.public_key[0], 0x40);
    store_prekey_free(&got);
    ASSERT_RC(store_prekeys_move_device(s, "bob", "", "prim"), STORE_OK); /* nothing left */
    ASSERT_RC(store_signed_prekey_get(s, "bob", "prim", &got), STORE_OK);
    store_prekey_free(&got);

    /* a user's deletion and key change clear every device */
    ASSERT_RC(store_otpk_clear(s, "bob"), STORE_OK);
    assert_int_equal(otpks(s, "bob", "prim"), 0);
    ASSERT_RC(store_user_delete(s, "bob", 5), STORE_OK);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "lap-top", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "prim", &got), STORE_ENOTFOUND);
}

/* Link codes: stored once, read back, counted while unexpired, deleted. */
static void test_link_codes(void **state)
{
    store_t *s = S(state);
    store_link l = {.code = "ABCD-EFGH",
                    .user_id = "bob",
                    .device_id = "lap",
                    .name = "my laptop",
                    .created_at = 100,
                    .expires_at = 700},
               got;
    size_t n = 9, del = 9;
    memset(l.device_key, 0x44, sizeof l.device_key);

    ASSERT_RC(store_link_put(s, &l), STORE_OK);
    ASSERT_RC(store_link_put(s, &l), STORE_EEXIST);
    ASSERT_RC(store_link_get(s, "ABCD-EFGH", &got), STORE_OK);
    assert_string_equal(got.user_id, "bob");
    assert_string_equal(got.device_id, "lap");
    assert_string_equal(got.name, "my laptop");
    assert_int_equal(got.device_key[31], 0x44);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.expires_at, 700);
    store_link_free(&got);
    ASSERT_RC(store_link_get(s, "ZZZZ-ZZZZ", &got), STORE_ENOTFOUND);

    store_link l2 = l;
    l2.code = "MNPQ-RSTV";
    l2.name = NULL;
    l2.expires_at = 300;
    ASSERT_RC(store_link_put(s, &l2), STORE_OK);
    ASSERT_RC(store_link_get(s, "MNPQ-RSTV", &got), STORE_OK);
    assert_true(got.name == NULL || got.name[0] == '\0');
    store_link_free(&got);
    ASSERT_RC(store_link_count(s, "bob", 200, &n), STORE_OK);
    assert_int_equal(n, 2);
    ASSERT_RC(store_link_count(s, "bob", 300, &n), STORE_OK);
    assert_int_equal(n, 1);     /* expired at 300 */
    ASSERT_RC(store_link_count(s, "carol", 200, &n), STORE_OK);
    assert_int_equal(n, 0);
    ASSERT_RC(store_links_expire(s, 300, &del), STORE_OK);
    assert_int_equal(del, 1);
    ASSERT_RC(store_link_get(s, "MNPQ-RSTV", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_link_delete(s, "ABCD-EFGH"), STORE_OK);
    ASSERT_RC(store_link_delete(s, "ABCD-EFGH"), STORE_ENOTFOUND);
    /* approving a device consumes its codes, not the others' */
    l2.expires_at = 900;
    ASSERT_RC(store_link_put(s, &l2), STORE_OK);
    l2.code = "WXYZ-0123";
    l2.device_id = "other";
    ASSERT_RC(store_link_put(s, &l2), STORE_OK);
    ASSERT_RC(store_links_delete_device(s, "bob", "lap"), STORE_OK);
    ASSERT_RC(store_link_get(s, "MNPQ-RSTV", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_link_get(s, "WXYZ-0123", &got), STORE_OK);
    store_link_free(&got);
    ASSERT_RC(store_links_delete_device(s, "bob", "lap"), STORE_OK);

    /* bad input */
    store_link bad = l;
    bad.device_id = NULL;
    ASSERT_RC(store_link_put(s, &bad), STORE_EINVAL);
    bad = l;
    bad.expires_at = 0;
    ASSERT_RC(store_link_put(s, &bad), STORE_EINVAL);
}

/* SQLite: a schema 2 file is migrated in place: users get the implicit list,
 * existing prekeys belong to the implicit device "". */
static void test_sqlite_migrate_from_2(void **state)
{
    conf_state *st = *state;
    store_t *s = NULL;
    store_user got;
    store_prekey pk;
    sqlite3 *db = NULL;
    char path[600], uri[700];

    if (!conf_is_sqlite)
        skip();
    snprintf(path, sizeof path, "%s.v2", st->path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE users (user_id TEXT PRIMARY KEY, identity_key BLOB NOT NULL, "
                     "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, status INTEGER "
                     "NOT NULL DEFAULT 0);"
                     "CREATE TABLE signed_prekeys (user_id TEXT NOT NULL, slot INTEGER NOT "
                     "NULL, key_id INTEGER NOT NULL, public_key BLOB NOT NULL, signature BLOB "
                     "NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (user_id, slot)) "
                     "WITHOUT ROWID;"
                     "CREATE TABLE one_time_prekeys (user_id TEXT NOT NULL, key_id INTEGER NOT "
                     "NULL, public_key BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY "
                     "(user_id, key_id)) WITHOUT ROWID;"
                     "CREATE TABLE messages (id INTEGER PRIMARY KEY, chat_id TEXT);"
                     "INSERT INTO users VALUES ('bob', zeroblob(32), 1, 1, 0);"
                     "INSERT INTO signed_prekeys VALUES ('bob', 0, 5, zeroblob(32), "
                     "zeroblob(64), 1);"
                     "INSERT INTO one_time_prekeys VALUES ('bob', 1, zeroblob(32), 1);"
                     "INSERT INTO one_time_prekeys VALUES ('bob', 2, zeroblob(32), 1);"
                     "PRAGMA user_version = 2;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    ASSERT_RC(store_user_get(s, "bob", &got), STORE_OK);
    assert_int_equal(got.devices_version, 0);
    assert_null(got.devices_list);
    store_user_free(&got);
    ASSERT_RC(store_signed_prekey_get(s, "bob", "", &pk), STORE_OK);
    assert_int_equal(pk.key_id, 5);
    store_prekey_free(&pk);
    assert_int_equal(otpks(s, "bob", ""), 2);
    ASSERT_RC(store_prekeys_move_device(s, "bob", "", "p1"), STORE_OK);
    assert_int_equal(otpks(s, "bob", "p1"), 2);
    store_link l = {.code = "C", .user_id = "bob", .device_id = "d", .expires_at = 1};
    ASSERT_RC(store_link_put(s, &l), STORE_OK);
    store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), STORE_SQLITE_SCHEMA_VERSION); /* 2 -> 3 -> ... */
    sqlite3_finalize(q);
    sqlite3_close(db);
    remove(path);
    snprintf(path, sizeof path, "%s.v2-wal", st->path);
    remove(path);
    snprintf(path, sizeof path, "%s.v2-shm", st->path);
    remove(path);
}

/* A message keeps the device it was sent from (Envelope.sender_device on sync). */
static void test_message_sender_device(void **state)
{
    store_t *s = S(state);
    store_message m, got;
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    conf_make_msg(&m, "d:a:b", "a", "c1", 0, 4, 1);
    m.sender_device = strdup("lap-top");
    ASSERT_RC(store_message_append(s, &m), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_OK);
    assert_string_equal(got.sender_device, "lap-top");
    store_message_free(&got);
    store_message_free(&m);
    conf_make_msg(&m, "d:a:b", "a", "c2", 0, 4, 1); /* none (an implicit device) */
    ASSERT_RC(store_message_append(s, &m), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_OK);
    assert_true(got.sender_device == NULL || got.sender_device[0] == '\0');
    store_message_free(&got);
    store_message_free(&m);
}

const struct CMUnitTest conf_devices_tests[] = {
    cmocka_unit_test_setup_teardown(test_message_sender_device, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_device_list, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_prekeys_per_device, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_link_codes, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_sqlite_migrate_from_2, conf_setup, conf_teardown),
};
const size_t conf_devices_tests_n = sizeof conf_devices_tests / sizeof conf_devices_tests[0];
