/*
 * conformance_users.c - the store conformance suite, user administration:
 * account status (disable, enable), deletion (tombstone, prekeys and group
 * memberships removed, messages kept), the user id case rule, paging of
 * users, registration invites, and (SQLite) the migration of a schema 1
 * file. Runs against every backend like conformance.c.
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

static void add_member(store_t *s, const char *chat_id, const char *user_id)
{
    store_member m = {.chat_id = (char *)chat_id,
                      .user_id = (char *)user_id,
                      .role = STORE_ROLE_MEMBER,
                      .joined_at = 1};
    ASSERT_RC(store_member_put(s, &m), STORE_OK);
}

/* Disable and enable: the status is stored and updated_at moves, so a key
 * cache refreshing with users_changed_since sees the change. */
static void test_user_status(void **state)
{
    store_t *s = S(state);
    store_user got;
    store_user *arr = NULL;
    size_t n = 0;

    put_user(s, "alice", 0xA1, 100);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_ACTIVE);
    store_user_free(&got);

    ASSERT_RC(store_user_set_status(s, "alice", STORE_USER_DISABLED, 500), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_DISABLED);
    assert_int_equal(got.updated_at, 500);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.identity_key[0], 0xA1); /* the key stays */
    store_user_free(&got);
    ASSERT_RC(store_users_changed_since(s, 500, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(arr[0].status, STORE_USER_DISABLED);
    store_user_array_free(arr, n);

    ASSERT_RC(store_user_set_status(s, "alice", STORE_USER_ACTIVE, 600), STORE_OK);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_ACTIVE);
    assert_int_equal(got.updated_at, 600);
    store_user_free(&got);

    ASSERT_RC(store_user_set_status(s, "nobody", STORE_USER_DISABLED, 700), STORE_ENOTFOUND);
    ASSERT_RC(store_user_set_status(s, "alice", STORE_USER_DELETED, 700), STORE_EINVAL);
    ASSERT_RC(store_user_set_status(s, "alice", (store_user_status)7, 700), STORE_EINVAL);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_ACTIVE); /* the refused calls changed nothing */
    store_user_free(&got);

    /* a record put with a status keeps it (parley-admin migrate copies it) */
    store_user d = {.user_id = "dora",
                    .created_at = 1,
                    .updated_at = 1,
                    .status = STORE_USER_DISABLED};
    ASSERT_RC(store_user_put(s, &d), STORE_OK);
    ASSERT_RC(store_user_get(s, "dora", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_DISABLED);
    store_user_free(&got);
    d.user_id = "eve";
    d.status = (store_user_status)3;
    ASSERT_RC(store_user_put(s, &d), STORE_EINVAL);
}

/* Delete: a tombstone with a zero key, no prekeys, no group memberships;
 * direct-chat memberships and messages stay; final and idempotent. */
static void test_user_delete(void **state)
{
    store_t *s = S(state);
    static const uint8_t zero[STORE_KEY_LEN];
    store_user got;
    store_prekey spk = {.user_id = "bob", .key_id = 1, .created_at = 5}, otpk[2], pk;
    store_member mem;
    store_message msg, mget;
    size_t count = 9;

    put_user(s, "alice", 0xA1, 100);
    put_user(s, "bob", 0xB2, 100);
    memset(spk.public_key, 0x11, STORE_KEY_LEN);
    ASSERT_RC(store_signed_prekey_put(s, &spk), STORE_OK);
    spk.key_id = 2;
    ASSERT_RC(store_signed_prekey_put(s, &spk), STORE_OK); /* a previous one too */
    memset(otpk, 0, sizeof otpk);
    for (int i = 0; i < 2; i++) {
        otpk[i].user_id = "bob";
        otpk[i].key_id = (uint32_t)(10 + i);
        memset(otpk[i].public_key, 0x20 + i, STORE_KEY_LEN);
    }
    ASSERT_RC(store_otpk_add(s, otpk, 2), STORE_OK);
    conf_make_chat(s, "g:team", STORE_CHAT_GROUP);
    conf_make_chat(s, "d:alice:bob", STORE_CHAT_DIRECT);
    add_member(s, "g:team", "alice");
    add_member(s, "g:team", "bob");
    add_member(s, "d:alice:bob", "alice");
    add_member(s, "d:alice:bob", "bob");
    conf_make_msg(&msg, "d:alice:bob", "bob", "m1", 0, 8, 0x33);
    ASSERT_RC(store_message_append(s, &msg), STORE_OK);

    ASSERT_RC(store_user_delete(s, "bob", 900), STORE_OK);
    ASSERT_RC(store_user_get(s, "bob", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_DELETED);
    assert_memory_equal(got.identity_key, zero, STORE_KEY_LEN);
    assert_int_equal(got.updated_at, 900);
    store_user_free(&got);
    ASSERT_RC(store_signed_prekey_get(s, "bob", NULL, &pk), STORE_ENOTFOUND);
    ASSERT_RC(store_signed_prekey_get_previous(s, "bob", NULL, &pk), STORE_ENOTFOUND);
    ASSERT_RC(store_otpk_count(s, "bob", NULL, &count), STORE_OK);
    assert_int_equal(count, 0);
    ASSERT_RC(store_member_get(s, "g:team", "bob", &mem), STORE_ENOTFOUND);
    ASSERT_RC(store_member_get(s, "g:team", "alice", &mem), STORE_OK); /* others stay */
    store_member_free(&mem);
    ASSERT_RC(store_member_get(s, "d:alice:bob", "bob", &mem), STORE_OK);
    store_member_free(&mem);
    ASSERT_RC(store_message_get(s, "d:alice:bob", 1, &mget), STORE_OK); /* history stays */
    assert_string_equal(mget.sender, "bob");
    store_message_free(&mget);
    store_message_free(&msg);

    /* final: no enable, no re-registration (any case), deleting again is fine */
    ASSERT_RC(store_user_set_status(s, "bob", STORE_USER_ACTIVE, 1000), STORE_EINVAL);
    ASSERT_RC(store_user_delete(s, "bob", 1000), STORE_OK);
    put_user(s, "carol", 0xC3, 1);
    store_user again = {.user_id = "Bob", .created_at = 1, .updated_at = 1};
    ASSERT_RC(store_user_put(s, &again), STORE_EEXIST);
    again.user_id = "bob";
    ASSERT_RC(store_user_put(s, &again), STORE_EEXIST);
    ASSERT_RC(store_user_delete(s, "nobody", 1000), STORE_ENOTFOUND);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK); /* untouched */
    assert_int_equal(got.status, STORE_USER_ACTIVE);
    store_user_free(&got);
}

/* No two users differ only by ASCII case; lookups stay exact. */
static void test_user_case_rule(void **state)
{
    store_t *s = S(state);
    store_user got, u = {.user_id = "bob", .created_at = 2, .updated_at = 2};

    put_user(s, "Bob", 0xB2, 1);
    ASSERT_RC(store_user_put(s, &u), STORE_EEXIST);
    u.user_id = "BOB";
    ASSERT_RC(store_user_put(s, &u), STORE_EEXIST);
    u.user_id = "bob_";
    ASSERT_RC(store_user_put(s, &u), STORE_OK); /* only case folds, nothing else */
    ASSERT_RC(store_user_get(s, "bob", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_user_get(s, "Bob", &got), STORE_OK);
    store_user_free(&got);
    ASSERT_RC(store_user_get_fold(s, "bOB", &got), STORE_OK);
    assert_string_equal(got.user_id, "Bob");
    assert_int_equal(got.identity_key[0], 0xB2);
    store_user_free(&got);
    ASSERT_RC(store_user_get_fold(s, "carol", &got), STORE_ENOTFOUND);
    assert_null(got.user_id);
    ASSERT_RC(store_user_get_fold(s, "", &got), STORE_EINVAL);
}

static void test_users_list(void **state)
{
    store_t *s = S(state);
    store_user *arr = NULL;
    size_t n = 0;
    const char *ids[] = {"dave", "alice", "carol", "bob", "erin"};

    for (size_t i = 0; i < 5; i++)
        put_user(s, ids[i], (int)i + 1, (int64_t)i + 1);
    ASSERT_RC(store_user_delete(s, "carol", 50), STORE_OK);
    ASSERT_RC(store_users_list(s, NULL, 2, &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].user_id, "alice");
    assert_string_equal(arr[1].user_id, "bob");
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_list(s, "bob", 2, &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].user_id, "carol");
    assert_int_equal(arr[0].status, STORE_USER_DELETED); /* tombstones are listed */
    assert_string_equal(arr[1].user_id, "dave");
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_list(s, "dave", 100, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].user_id, "erin");
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_list(s, "erin", 100, &arr, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_list(s, NULL, 0, &arr, &n), STORE_OK);
    assert_int_equal(n, 0);
    ASSERT_RC(store_users_list(s, NULL, 10, NULL, &n), STORE_EINVAL);
}

/* Invites: single use, expiring, listed, revocable. */
static void test_invites(void **state)
{
    store_t *s = S(state);
    store_invite i = {.invite_id = "inv-a",
                      .created_at = 100,
                      .expires_at = 1000,
                      .note = "for alice"};
    store_invite got, *arr = NULL;
    size_t n = 0;

    ASSERT_RC(store_invite_put(s, &i), STORE_OK);
    ASSERT_RC(store_invite_put(s, &i), STORE_EEXIST);
    ASSERT_RC(store_invite_get(s, "inv-a", &got), STORE_OK);
    assert_string_equal(got.invite_id, "inv-a");
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.expires_at, 1000);
    assert_int_equal(got.used_at, 0);
    assert_null(got.used_by);
    assert_string_equal(got.note, "for alice");
    store_invite_free(&got);

    ASSERT_RC(store_invite_use(s, "inv-a", "alice", 999), STORE_OK);
    ASSERT_RC(store_invite_use(s, "inv-a", "mallory", 999), STORE_ENOTFOUND); /* used */
    ASSERT_RC(store_invite_get(s, "inv-a", &got), STORE_OK);
    assert_int_equal(got.used_at, 999);
    assert_string_equal(got.used_by, "alice");
    store_invite_free(&got);

    i.invite_id = "inv-b";
    i.note = NULL;
    ASSERT_RC(store_invite_put(s, &i), STORE_OK);
    ASSERT_RC(store_invite_use(s, "inv-b", "bob", 1000), STORE_ENOTFOUND); /* expired */
    ASSERT_RC(store_invite_get(s, "inv-b", &got), STORE_OK);
    assert_int_equal(got.used_at, 0);
    assert_null(got.note);
    store_invite_free(&got);
    ASSERT_RC(store_invite_use(s, "inv-none", "bob", 10), STORE_ENOTFOUND);

    i.invite_id = "inv-c";
    ASSERT_RC(store_invite_put(s, &i), STORE_OK);
    ASSERT_RC(store_invites_list(s, NULL, 2, &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].invite_id, "inv-a");
    assert_string_equal(arr[1].invite_id, "inv-b");
    store_invite_array_free(arr, n);
    ASSERT_RC(store_invites_list(s, "inv-b", 10, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].invite_id, "inv-c");
    store_invite_array_free(arr, n);

    ASSERT_RC(store_invite_delete(s, "inv-c"), STORE_OK);
    ASSERT_RC(store_invite_delete(s, "inv-c"), STORE_ENOTFOUND);
    ASSERT_RC(store_invite_get(s, "inv-c", &got), STORE_ENOTFOUND);

    i.invite_id = "inv-d";
    i.expires_at = 0;
    ASSERT_RC(store_invite_put(s, &i), STORE_EINVAL);
    i.invite_id = NULL;
    i.expires_at = 5;
    ASSERT_RC(store_invite_put(s, &i), STORE_EINVAL);
    ASSERT_RC(store_invite_use(s, "inv-a", "", 5), STORE_EINVAL);
}

/* The keyserver's registration transaction: using the invite and putting
 * the user commit together or not at all. */
static void test_invite_with_registration_rolls_back(void **state)
{
    store_t *s = S(state);
    store_invite i = {.invite_id = "inv-r", .created_at = 1, .expires_at = 1000};
    store_user u = {.user_id = "alice", .created_at = 2, .updated_at = 2}, got;
    store_invite gi;

    put_user(s, "Alice", 0xA1, 1);
    ASSERT_RC(store_invite_put(s, &i), STORE_OK);
    ASSERT_RC(store_begin(s), STORE_OK);
    ASSERT_RC(store_invite_use(s, "inv-r", "alice", 10), STORE_OK);
    ASSERT_RC(store_user_put(s, &u), STORE_EEXIST); /* the case rule */
    ASSERT_RC(store_rollback(s), STORE_OK);
    ASSERT_RC(store_invite_get(s, "inv-r", &gi), STORE_OK);
    assert_int_equal(gi.used_at, 0); /* the invite is still usable */
    store_invite_free(&gi);

    u.user_id = "bob";
    ASSERT_RC(store_begin(s), STORE_OK);
    ASSERT_RC(store_invite_use(s, "inv-r", "bob", 10), STORE_OK);
    ASSERT_RC(store_user_put(s, &u), STORE_OK);
    ASSERT_RC(store_commit(s), STORE_OK);
    ASSERT_RC(store_user_get(s, "bob", &got), STORE_OK);
    store_user_free(&got);
    ASSERT_RC(store_invite_get(s, "inv-r", &gi), STORE_OK);
    assert_string_equal(gi.used_by, "bob");
    store_invite_free(&gi);
}

/* SQLite: a schema 1 file (written before statuses) is migrated in place:
 * its users become active, ids that already differ only by case stay
 * readable, and the case rule holds for new ones. */
static void test_sqlite_migrate_from_1(void **state)
{
    conf_state *st = *state;
    store_t *s = NULL;
    sqlite3 *db = NULL;
    store_user got;
    char path[600], uri[700];

    if (!conf_is_sqlite)
        skip();
    snprintf(path, sizeof path, "%s.v1", st->path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE users (user_id TEXT PRIMARY KEY, identity_key "
                                  "BLOB NOT NULL, created_at INTEGER NOT NULL, updated_at "
                                  "INTEGER NOT NULL);"
                                  "CREATE INDEX users_updated_at ON users(updated_at);"
                                  "CREATE TABLE signed_prekeys (user_id TEXT NOT NULL, slot "
                                  "INTEGER NOT NULL, key_id INTEGER NOT NULL, public_key BLOB "
                                  "NOT NULL, signature BLOB NOT NULL, created_at INTEGER NOT "
                                  "NULL, PRIMARY KEY (user_id, slot)) WITHOUT ROWID;"
                                  "CREATE TABLE one_time_prekeys (user_id TEXT NOT NULL, key_id "
                                  "INTEGER NOT NULL, public_key BLOB NOT NULL, created_at "
                                  "INTEGER NOT NULL, PRIMARY KEY (user_id, key_id)) WITHOUT "
                                  "ROWID;"
                                  "CREATE TABLE messages (id INTEGER PRIMARY KEY, chat_id TEXT);"
                                  "INSERT INTO users VALUES ('Bob', zeroblob(32), 1, 1);"
                                  "INSERT INTO users VALUES ('bob', zeroblob(32), 2, 2);"
                                  "PRAGMA user_version = 1;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    /* The rest of schema 1 (chats, members, media; messages only as far as
     * 2->3 needs it) is missing from this hand-made file, so migration 0->1
     * is not what runs here: open must apply only 1->2 (then 2->3). */
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    ASSERT_RC(store_user_get(s, "Bob", &got), STORE_OK);
    assert_int_equal(got.status, STORE_USER_ACTIVE);
    store_user_free(&got);
    ASSERT_RC(store_user_get(s, "bob", &got), STORE_OK);
    store_user_free(&got);
    ASSERT_RC(store_user_set_status(s, "bob", STORE_USER_DISABLED, 3), STORE_OK);
    store_user nu = {.user_id = "BOB", .created_at = 3, .updated_at = 3};
    ASSERT_RC(store_user_put(s, &nu), STORE_EEXIST);
    store_invite i = {.invite_id = "x", .created_at = 1, .expires_at = 2};
    ASSERT_RC(store_invite_put(s, &i), STORE_OK);
    store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), STORE_SQLITE_SCHEMA_VERSION); /* 1 -> ... */
    sqlite3_finalize(q);
    sqlite3_close(db);
    remove(path);
    snprintf(path, sizeof path, "%s.v1-wal", st->path);
    remove(path);
    snprintf(path, sizeof path, "%s.v1-shm", st->path);
    remove(path);
}

const struct CMUnitTest conf_users_tests[] = {
    cmocka_unit_test_setup_teardown(test_user_status, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_user_delete, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_user_case_rule, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_users_list, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_invites, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_invite_with_registration_rolls_back, conf_setup,
                                    conf_teardown),
    cmocka_unit_test_setup_teardown(test_sqlite_migrate_from_1, conf_setup, conf_teardown),
};
const size_t conf_users_tests_n = sizeof conf_users_tests / sizeof conf_users_tests[0];
