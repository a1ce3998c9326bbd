/*
 * conformance_rich.c - the store conformance suite, rich messages (issue
 * 17): store_message_tombstone (delete for everyone: one write, fields
 * kept, idempotent, SYSTEM refused, hostile arguments), a copied tombstone
 * (store_message_put of kind 3, as parley-admin migrate does), the writer
 * ops STORE_OP_MESSAGE_TOMBSTONE and STORE_OP_MESSAGES_EXPIRE, and
 * (SQLite) the migration of a schema 3 file and the bytes left on disk.
 * Runs against every backend like conformance.c.
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

/* Append a CHAT message with a media id and an expiry; returns its seq. */
static uint64_t append(store_t *s, const char *chat, const char *sender, const char *cmid, int kind)
{
    store_message m;
    conf_make_msg(&m, chat, sender, cmid, 0, 16, 'x');
    m.kind = kind;
    m.media_id = strdup("media-1");
    m.sender_device = strdup("phone");
    m.expires_at = 0;
    ASSERT_RC(store_message_append(s, &m), STORE_OK);
    uint64_t seq = m.seq;
    store_message_free(&m);
    return seq;
}

static void test_tombstone(void **state)
{
    store_t *s = S(state);
    store_message got, again;
    conf_make_chat(s, "g:t", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:other", STORE_CHAT_GROUP);
    uint64_t seq = append(s, "g:t", "alice", "c1", STORE_KIND_CHAT);
    uint64_t next = append(s, "g:t", "bob", "c2", STORE_KIND_CHAT);
    ASSERT_RC(store_message_get(s, "g:t", seq, &again), STORE_OK);

    ASSERT_RC(store_message_tombstone(s, "g:t", seq, "carol", 777), STORE_OK);
    ASSERT_RC(store_message_get(s, "g:t", seq, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_TOMBSTONE);
    assert_int_equal(got.body_len, 0);
    assert_true(got.media_id == NULL || got.media_id[0] == '\0');
    assert_string_equal(got.deleted_by, "carol");
    assert_int_equal(got.deleted_at, 777);
    /* what identifies and orders it is kept */
    assert_int_equal(got.seq, seq);
    assert_string_equal(got.server_id, again.server_id);
    assert_string_equal(got.sender, "alice");
    assert_string_equal(got.client_msg_id, "c1");
    assert_string_equal(got.sender_device, "phone");
    assert_int_equal(got.server_ts, again.server_ts);
    store_message_free(&got);
    store_message_free(&again);

    /* idempotent: the first deleter stays */
    ASSERT_RC(store_message_tombstone(s, "g:t", seq, "alice", 999), STORE_OK);
    ASSERT_RC(store_message_get(s, "g:t", seq, &got), STORE_OK);
    assert_string_equal(got.deleted_by, "carol");
    assert_int_equal(got.deleted_at, 777);
    store_message_free(&got);

    /* the neighbour is untouched */
    ASSERT_RC(store_message_get(s, "g:t", next, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_CHAT);
    assert_int_equal(got.body_len, 16);
    assert_null(got.deleted_by);
    assert_int_equal(got.deleted_at, 0);
    store_message_free(&got);

    /* paging returns the tombstone in its place */
    store_message *page = NULL;
    size_t n = 0;
    ASSERT_RC(store_messages_after(s, "g:t", 0, 10, &page, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(page[0].kind, STORE_KIND_TOMBSTONE);
    assert_string_equal(page[0].deleted_by, "carol");
    assert_int_equal(page[1].kind, STORE_KIND_CHAT);
    store_message_array_free(page, n);

    /* a retry of the deleted message is still a duplicate with its seq */
    store_message retry;
    conf_make_msg(&retry, "g:t", "alice", "c1", 0, 3, 'y');
    ASSERT_RC(store_message_append(s, &retry), STORE_EDUP);
    assert_int_equal(retry.seq, seq);
    store_message_free(&retry);
}

static void test_tombstone_refusals(void **state)
{
    store_t *s = S(state);
    store_message got;
    conf_make_chat(s, "g:t", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:other", STORE_CHAT_GROUP);
    uint64_t sys = append(s, "g:t", "alice", "c-sys", STORE_KIND_SYSTEM);
    uint64_t msg = append(s, "g:t", "alice", "c-msg", STORE_KIND_CHAT);

    /* a SYSTEM event is never deletable, and stays as it was */
    ASSERT_RC(store_message_tombstone(s, "g:t", sys, "alice", 5), STORE_EINVAL);
    ASSERT_RC(store_message_get(s, "g:t", sys, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_SYSTEM);
    assert_int_equal(got.body_len, 16);
    store_message_free(&got);

    /* unknown seq, another chat's seq, unknown chat */
    ASSERT_RC(store_message_tombstone(s, "g:t", msg + 1, "alice", 5), STORE_ENOTFOUND);
    ASSERT_RC(store_message_tombstone(s, "g:other", msg, "alice", 5), STORE_ENOTFOUND);
    ASSERT_RC(store_message_tombstone(s, "g:nope", msg, "alice", 5), STORE_ENOTFOUND);
    /* hostile arguments */
    ASSERT_RC(store_message_tombstone(s, "g:t", 0, "alice", 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, "g:t", (uint64_t)INT64_MAX + 1, "alice", 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, "g:t", UINT64_MAX, "alice", 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, "g:t", INT64_MAX, "alice", 5), STORE_ENOTFOUND);
    ASSERT_RC(store_message_tombstone(s, "g:t", msg, "", 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, "g:t", msg, NULL, 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, NULL, msg, "alice", 5), STORE_EINVAL);
    ASSERT_RC(store_message_tombstone(s, "g:t", msg, "alice", -1), STORE_EINVAL);
    assert_int_equal(store_message_tombstone(NULL, "g:t", msg, "alice", 5), STORE_EINVAL);
    /* none of it changed the message */
    ASSERT_RC(store_message_get(s, "g:t", msg, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_CHAT);
    assert_int_equal(got.body_len, 16);
    assert_string_equal(got.media_id, "media-1");
    store_message_free(&got);
}

/* A tombstone expires like the message it replaces; inside a transaction a
 * rolled-back tombstone leaves the message as it was. */
static void test_tombstone_expiry_and_rollback(void **state)
{
    store_t *s = S(state);
    store_message m, got;
    size_t deleted = 0;
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    conf_make_msg(&m, "d:a:b", "a", "e1", 0, 8, 'e');
    m.expires_at = 9000;
    ASSERT_RC(store_message_append(s, &m), STORE_OK);
    ASSERT_RC(store_message_tombstone(s, "d:a:b", m.seq, "a", 100), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_OK);
    assert_int_equal(got.expires_at, 9000);
    store_message_free(&got);
    ASSERT_RC(store_messages_expire(s, 9000, &deleted), STORE_OK);
    assert_int_equal(deleted, 1);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_message_tombstone(s, "d:a:b", m.seq, "a", 100), STORE_ENOTFOUND);
    store_message_free(&m);

    conf_make_msg(&m, "d:a:b", "a", "e2", 0, 8, 'e');
    ASSERT_RC(store_message_append(s, &m), STORE_OK);
    ASSERT_RC(store_begin(s), STORE_OK);
    ASSERT_RC(store_message_tombstone(s, "d:a:b", m.seq, "b", 100), STORE_OK);
    ASSERT_RC(store_rollback(s), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_CHAT);
    assert_int_equal(got.body_len, 8);
    store_message_free(&got);
    store_message_free(&m);
}

/* store_message_put of a tombstone (parley-admin migrate copies them), and
 * the fields' rules for the other kinds. */
static void test_tombstone_put(void **state)
{
    store_t *s = S(state);
    store_message m, got;
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    conf_make_msg(&m, "d:a:b", "a", "t1", 3, 0, 0);
    m.kind = STORE_KIND_TOMBSTONE;
    m.deleted_by = strdup("a");
    m.deleted_at = 42;
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", 3, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_TOMBSTONE);
    assert_string_equal(got.deleted_by, "a");
    assert_int_equal(got.deleted_at, 42);
    store_message_free(&got);
    store_message_free(&m);

    /* a tombstone has a deleter and no content */
    conf_make_msg(&m, "d:a:b", "a", "t2", 4, 5, 'z');
    m.kind = STORE_KIND_TOMBSTONE;
    m.deleted_by = strdup("a");
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    conf_make_msg(&m, "d:a:b", "a", "t3", 4, 0, 0);
    m.kind = STORE_KIND_TOMBSTONE;
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    /* a CHAT message carries neither deleted_by nor deleted_at */
    conf_make_msg(&m, "d:a:b", "a", "t4", 4, 5, 'z');
    m.deleted_by = strdup("b");
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    free(m.deleted_by);
    m.deleted_by = NULL;
    m.deleted_at = 7;
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    m.kind = 4;
    m.deleted_at = 0;
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    ASSERT_RC(store_message_get(s, "d:a:b", 4, &got), STORE_ENOTFOUND);
}

static void record_cb(store_op *op, int rc, void *ctx)
{
    int *out = ctx;
    out[0] = rc;
    if (op->type == STORE_OP_MESSAGES_EXPIRE)
        out[1] = (int)op->u.expire.deleted;
}

/* The writer ops the broker plugin uses. */
static void test_writer_ops(void **state)
{
    conf_state *st = *state;
    store_t *s = st->s;
    store_writer *w = NULL;
    store_message m, got;
    int r_del[2] = {-1, -1}, r_sys[2] = {-1, -1}, r_exp[2] = {-1, -1};
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    uint64_t seq = append(s, "d:a:b", "a", "w1", STORE_KIND_CHAT);
    uint64_t sys = append(s, "d:a:b", "a", "w2", STORE_KIND_SYSTEM);
    conf_make_msg(&m, "d:a:b", "a", "w3", 0, 4, 'q');
    m.expires_at = 500;
    ASSERT_RC(store_message_append(s, &m), STORE_OK);

    ASSERT_RC(store_writer_start(st->uri, NULL, NULL, &w), STORE_OK);
    store_op *op = store_op_new(STORE_OP_MESSAGE_TOMBSTONE);
    assert_non_null(op);
    op->u.tombstone.chat_id = strdup("d:a:b");
    op->u.tombstone.seq = seq;
    op->u.tombstone.deleted_by = strdup("b");
    op->u.tombstone.deleted_at = 11;
    ASSERT_RC(store_writer_submit(w, op, record_cb, r_del), STORE_OK);
    op = store_op_new(STORE_OP_MESSAGE_TOMBSTONE);
    assert_non_null(op);
    op->u.tombstone.chat_id = strdup("d:a:b");
    op->u.tombstone.seq = sys;
    op->u.tombstone.deleted_by = strdup("b");
    ASSERT_RC(store_writer_submit(w, op, record_cb, r_sys), STORE_OK);
    op = store_op_new(STORE_OP_MESSAGES_EXPIRE);
    assert_non_null(op);
    op->u.expire.now = 500;
    ASSERT_RC(store_writer_submit(w, op, record_cb, r_exp), STORE_OK);
    store_writer_stop(w); /* commits and calls back everything queued */

    assert_int_equal(r_del[0], STORE_OK);
    assert_int_equal(r_sys[0], STORE_EINVAL);
    assert_int_equal(r_exp[0], STORE_OK);
    assert_int_equal(r_exp[1], 1);
    ASSERT_RC(store_message_get(s, "d:a:b", seq, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_TOMBSTONE);
    assert_string_equal(got.deleted_by, "b");
    store_message_free(&got);
    ASSERT_RC(store_message_get(s, "d:a:b", sys, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_SYSTEM);
    store_message_free(&got);
    ASSERT_RC(store_message_get(s, "d:a:b", m.seq, &got), STORE_ENOTFOUND);
    store_message_free(&m);
}

/* ------------------------------------------------------------ SQLite only */

/* Does the file at path hold needle? */
static bool file_holds(const char *path, const uint8_t *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    bool found = false;
    for (size_t i = 0; !found && len <= got && i <= got - len; i++)
        found = memcmp(buf + i, needle, len) == 0;
    free(buf);
    return found;
}

/* The deleted body's bytes leave the database file (secure_delete): a small
 * body stored in its row and a large one on overflow pages. Closing the last
 * connection checkpoints the WAL into the file and removes the WAL. */
static void test_sqlite_tombstone_bytes(void **state)
{
    conf_state *st = *state;
    if (!conf_is_sqlite)
        skip();
    store_t *s = st->s;
    const size_t sizes[2] = {200, 20000};
    uint8_t *bodies[2];
    uint64_t seqs[2];
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    for (int i = 0; i < 2; i++) {
        store_message m;
        conf_make_msg(&m, "d:a:b", "a", i ? "big" : "small", 0, 0, 0);
        bodies[i] = malloc(sizes[i]);
        assert_non_null(bodies[i]);
        for (size_t k = 0; k < sizes[i]; k++) /* not a pattern SQLite writes */
            bodies[i][k] = (uint8_t)("SECRET-body-"[k % 12] + i);
        m.body = malloc(sizes[i]);
        assert_non_null(m.body);
        memcpy(m.body, bodies[i], sizes[i]);
        m.body_len = sizes[i];
        ASSERT_RC(store_message_append(s, &m), STORE_OK);
        seqs[i] = m.seq;
        store_message_free(&m);
    }
    store_close(s);
    st->s = NULL;
    /* the sentinel: the bodies are in the file now */
    for (int i = 0; i < 2; i++)
        assert_true(file_holds(st->path, bodies[i], 64));

    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
    s = st->s;
    for (int i = 0; i < 2; i++)
        ASSERT_RC(store_message_tombstone(s, "d:a:b", seqs[i], "a", 1), STORE_OK);
    store_close(s);
    st->s = NULL;
    for (int i = 0; i < 2; i++) {
        assert_false(file_holds(st->path, bodies[i], 64));
        free(bodies[i]);
    }
    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
}

/* A schema 3 file (before issue 17) migrates to 4: existing messages read
 * with no deleter, and can be deleted. */
static void test_sqlite_migrate_from_3(void **state)
{
    conf_state *st = *state;
    if (!conf_is_sqlite)
        skip();
    char path[600], uri[700];
    sqlite3 *db = NULL;
    store_t *s = NULL;
    store_message got;
    snprintf(path, sizeof path, "%s.v3", st->path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    /* a schema 3 file: open a fresh one with this build, then take the
     * issue-17 columns away again (SQLite 3.35+ drops columns) */
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    conf_make_chat(s, "d:a:b", STORE_CHAT_DIRECT);
    uint64_t seq = append(s, "d:a:b", "a", "old", STORE_KIND_CHAT);
    store_close(s);
    s = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE messages DROP COLUMN deleted_by;"
                                  "ALTER TABLE messages DROP COLUMN deleted_at;"
                                  "PRAGMA user_version = 3;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:a:b", seq, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_KIND_CHAT);
    assert_null(got.deleted_by);
    assert_int_equal(got.deleted_at, 0);
    assert_int_equal(got.body_len, 16);
    store_message_free(&got);
    ASSERT_RC(store_message_tombstone(s, "d:a:b", seq, "b", 3), STORE_OK);
    store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), STORE_SQLITE_SCHEMA_VERSION);
    sqlite3_finalize(q);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT kind, body IS NULL, deleted_by FROM messages", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), STORE_KIND_TOMBSTONE);
    assert_int_equal(sqlite3_column_int(q, 1), 1);
    assert_string_equal((const char *)sqlite3_column_text(q, 2), "b");
    sqlite3_finalize(q);
    sqlite3_close(db);
    remove(path);
    snprintf(path, sizeof path, "%s.v3-wal", st->path);
    remove(path);
    snprintf(path, sizeof path, "%s.v3-shm", st->path);
    remove(path);
}

const struct CMUnitTest conf_rich_tests[] = {
    cmocka_unit_test_setup_teardown(test_tombstone, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_tombstone_refusals, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_tombstone_expiry_and_rollback, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_tombstone_put, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_ops, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_sqlite_tombstone_bytes, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_sqlite_migrate_from_3, conf_setup, conf_teardown),
};
const size_t conf_rich_tests_n = sizeof conf_rich_tests / sizeof conf_rich_tests[0];
