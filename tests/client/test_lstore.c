/*
 * test_lstore.c - unit tests of the client's local store (lstore.c):
 * permissions, de-duplication of messages, cursors that never move back,
 * the outbox's retry bookkeeping, the key/value blobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lstore.h"

typedef struct {
    char dir[256];
    char path[300];
    lstore *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-lstore.XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/parley.db", f->dir);
    char err[256];
    f->s = lstore_open(f->path, err, sizeof err);
    if (!f->s)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[400];
    lstore_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_file_is_private(void **state)
{
    fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_bad_path(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(lstore_open("/nonexistent-dir/x/parley.db", err, sizeof err));
    assert_true(strlen(err) > 0);
}

static void test_meta(void **state)
{
    fixture *f = *state;
    char buf[64];
    int64_t v = 0;
    assert_int_equal(lstore_meta_get_str(f->s, "user_id", buf, sizeof buf), 0);
    assert_int_equal(lstore_meta_set(f->s, "user_id", "alice", 5), 0);
    assert_int_equal(lstore_meta_get_str(f->s, "user_id", buf, sizeof buf), 1);
    assert_string_equal(buf, "alice");
    /* Too small a buffer is an error, not a truncation. */
    assert_int_equal(lstore_meta_get_str(f->s, "user_id", buf, 3), -1);
    assert_int_equal(lstore_meta_set_int(f->s, "n", 1234567890123LL), 0);
    assert_int_equal(lstore_meta_get_int(f->s, "n", &v), 1);
    assert_int_equal(v, 1234567890123LL);
}

static lstore_msg msg(const char *server_id, uint64_t seq, const char *sender, const char *cmid)
{
    lstore_msg m = {
        .chat_id = "d:alice:bob",
        .seq = seq,
        .server_id = server_id,
        .sender = sender,
        .client_msg_id = cmid,
        .server_ts = 1000 + (int64_t)seq,
        .status = LSTORE_MSG_RECEIVED,
        .body = (const uint8_t *)"hi",
        .body_len = 2,
    };
    return m;
}

static int count_cb(void *ud, const lstore_msg *m)
{
    int *n = ud;
    assert_string_equal((const char *)m->body, "hi"); /* NUL-terminated text */
    (*n)++;
    return 0;
}

static void test_messages_dedup(void **state)
{
    fixture *f = *state;
    lstore_msg a = msg("S1", 1, "alice", "c1");
    lstore_msg same_server_id = msg("S1", 2, "alice", "c2");
    lstore_msg retry = msg("S2", 3, "alice", "c1");     /* same (sender, cmid) */
    lstore_msg restamped = msg("S3", 1, "alice", "c3"); /* seq reused after a crash */
    assert_int_equal(lstore_msg_insert(f->s, &a), 1);
    assert_int_equal(lstore_msg_insert(f->s, &same_server_id), 0);
    assert_int_equal(lstore_msg_insert(f->s, &retry), 0);
    assert_int_equal(lstore_msg_insert(f->s, &restamped), 1);
    assert_int_equal(lstore_msg_exists(f->s, "alice", "c1"), 1);
    assert_int_equal(lstore_msg_exists(f->s, "bob", "c1"), 0);
    assert_int_equal(lstore_msg_has_server_id(f->s, "S3"), 1);
    assert_int_equal(lstore_msg_has_server_id(f->s, "S2"), 0);
    int n = 0;
    assert_int_equal(lstore_msg_each(f->s, "d:alice:bob", count_cb, &n), 0);
    assert_int_equal(n, 2);
}

static void test_chat_cursors_never_go_back(void **state)
{
    fixture *f = *state;
    lstore_chat c;
    assert_int_equal(lstore_chat_get(f->s, "d:alice:bob", &c), 0);
    assert_int_equal(lstore_chat_ensure(f->s, "d:alice:bob", 1, "bob"), 0);
    assert_int_equal(lstore_chat_ensure(f->s, "d:alice:bob", 1, "other"), 0);
    assert_int_equal(lstore_chat_set_synced(f->s, "d:alice:bob", 5, 111), 0);
    assert_int_equal(lstore_chat_set_synced(f->s, "d:alice:bob", 3, 99), 0);
    assert_int_equal(lstore_chat_raise(f->s, "d:alice:bob", "read_seq", 4), 0);
    assert_int_equal(lstore_chat_raise(f->s, "d:alice:bob", "read_seq", 2), 0);
    /* Only known columns may be named. */
    assert_int_equal(lstore_chat_raise(f->s, "d:alice:bob", "name; DROP TABLE chats", 1), -1);
    assert_int_equal(lstore_chat_get(f->s, "d:alice:bob", &c), 1);
    assert_string_equal(c.name, "bob");
    assert_int_equal(c.synced_seq, 5);
    assert_int_equal(c.last_seq, 5);
    assert_int_equal(c.read_seq, 4);
    assert_int_equal(c.last_message_at, 111);
}

typedef struct {
    char ids[8][32];
    int n;
} ids_seen;

static int outbox_cb(void *ud, const lstore_outbox *o)
{
    ids_seen *s = ud;
    snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", o->client_msg_id);
    return 0;
}

static void outbox_add(lstore *s, const char *cmid, int64_t created)
{
    lstore_outbox o = {
        .client_msg_id = cmid,
        .chat_id = "d:alice:bob",
        .topic = "parley/u/bob/inbox",
        .body = (const uint8_t *)"\x01\x02",
        .body_len = 2,
        .plain = (const uint8_t *)"hello",
        .plain_len = 5,
        .created_at = created,
    };
    assert_int_equal(lstore_outbox_add(s, &o), 0);
}

static void test_outbox_retry_order(void **state)
{
    fixture *f = *state;
    outbox_add(f->s, "m2", 20);
    outbox_add(f->s, "m1", 10);
    outbox_add(f->s, "m3", 30);
    /* The same client message id cannot be queued twice. */
    lstore_outbox dup = {.client_msg_id = "m1",
                         .chat_id = "x",
                         .topic = "t",
                         .body = (const uint8_t *)"b",
                         .body_len = 1};
    assert_int_equal(lstore_outbox_add(f->s, &dup), -1);
    assert_int_equal(lstore_outbox_count(f->s), 3);

    /* A new entry counts as attempted when queued (its creator publishes it):
     * a retry scan older than that does not see it. */
    ids_seen s = {.n = 0};
    assert_int_equal(lstore_outbox_each(f->s, 15, outbox_cb, &s), 0);
    assert_int_equal(s.n, 1);
    s.n = 0;
    assert_int_equal(lstore_outbox_each(f->s, 100, outbox_cb, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "m1"); /* creation order */
    assert_string_equal(s.ids[2], "m3");

    /* Attempted at t=500: not due before, due after. */
    assert_int_equal(lstore_outbox_touch(f->s, "m1", 500), 0);
    s.n = 0;
    assert_int_equal(lstore_outbox_each(f->s, 400, outbox_cb, &s), 0);
    assert_int_equal(s.n, 2);
    s.n = 0;
    assert_int_equal(lstore_outbox_each(f->s, 501, outbox_cb, &s), 0);
    assert_int_equal(s.n, 3);

    assert_int_equal(lstore_outbox_del(f->s, "m1"), 0);
    assert_int_equal(lstore_outbox_count(f->s), 2);
}

static void test_transaction_rollback(void **state)
{
    fixture *f = *state;
    assert_int_equal(lstore_begin(f->s), 0);
    outbox_add(f->s, "tx", 1);
    lstore_rollback(f->s);
    assert_int_equal(lstore_outbox_count(f->s), 0);
}

static void test_blobs(void **state)
{
    fixture *f = *state;
    uint8_t *v = NULL;
    size_t n = 0;
    assert_int_equal(lstore_blob_get(f->s, "session", "bob", &v, &n), 0);
    assert_int_equal(lstore_blob_set(f->s, "session", "bob", "abc", 3), 0);
    assert_int_equal(lstore_blob_set(f->s, "session", "bob", "abcd", 4), 0);
    assert_int_equal(lstore_blob_set(f->s, "otk", "1", "k", 1), 0);
    assert_int_equal(lstore_blob_get(f->s, "session", "bob", &v, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "abcd", 4);
    free(v);
    assert_int_equal(lstore_blob_count(f->s, "session"), 1);
    assert_int_equal(lstore_blob_del(f->s, "session", "bob"), 0);
    assert_int_equal(lstore_blob_count(f->s, "session"), 0);
    assert_int_equal(lstore_blob_count(f->s, "otk"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_is_private, setup, teardown),
        cmocka_unit_test(test_open_bad_path),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_cursors_never_go_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_retry_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
