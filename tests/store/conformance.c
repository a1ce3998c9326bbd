/*
 * conformance.c - the store conformance suite: every store.h function,
 * written once against the interface, run against each backend.
 *
 *   store_conformance sqlite   fresh temp file per test
 *   store_conformance mongo    PARLEY_TEST_MONGO_URI, fresh database per test;
 *                              exits 77 (ctest SKIP) when the variable is unset
 */
#include "conformance.h"
#include "store_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int conf_is_sqlite;
static char tmpdir[256];
static const char *mongo_base;
static unsigned counter;

int64_t conf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Put db into a mongodb:// URI in place of its database path segment. */
static void mongo_uri_with_db(const char *base, const char *db, char *out, size_t outlen)
{
    const char *hosts = strstr(base, "://");
    const char *slash, *q;
    hosts = hosts ? hosts + 3 : base;
    slash = strchr(hosts, '/');
    q = strchr(hosts, '?');
    if (slash && (!q || slash < q)) {
        const char *rest = strchr(slash, '?');
        snprintf(out, outlen, "%.*s/%s%s", (int)(slash - base), base, db, rest ? rest : "");
    } else if (q) {
        snprintf(out, outlen, "%.*s/%s%s", (int)(q - base), base, db, q);
    } else {
        snprintf(out, outlen, "%s/%s", base, db);
    }
}

void conf_fresh_uri(char *out, size_t outlen, char *path, size_t pathlen)
{
    unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    if (conf_is_sqlite) {
        snprintf(path, pathlen, "%s/t%u.db", tmpdir, n);
        snprintf(out, outlen, "sqlite:%s", path);
    } else {
        char db[64];
        snprintf(db, sizeof db, "parley_conf_%ld_%u_%ld", (long)getpid(), n,
                 (long)(conf_now_ms() % 1000000));
        path[0] = '\0';
        mongo_uri_with_db(mongo_base, db, out, outlen);
    }
}

int conf_setup(void **state)
{
    conf_state *st = calloc(1, sizeof *st);
    int rc;
    if (!st)
        return -1;
    conf_fresh_uri(st->uri, sizeof st->uri, st->path, sizeof st->path);
    rc = store_open(st->uri, NULL, &st->s);
    if (rc != STORE_OK) {
        fprintf(stderr, "store_open(%s): %s: %s\n", st->uri, store_strerror(rc),
                store_last_error(NULL));
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

int conf_teardown(void **state)
{
    conf_state *st = *state;
    char f[600];
    if (!st)
        return 0;
    store_close(st->s);
    if (st->path[0]) {
        unlink(st->path);
        snprintf(f, sizeof f, "%s-wal", st->path);
        unlink(f);
        snprintf(f, sizeof f, "%s-shm", st->path);
        unlink(f);
    }
    free(st);
    return 0;
}

void conf_make_chat(store_t *s, const char *chat_id, store_chat_type type)
{
    store_chat c = {.chat_id = (char *)chat_id, .type = type, .created_at = 1000};
    int rc = store_chat_put(s, &c);
    if (rc != STORE_OK)
        fail_msg("chat_put %s: %s (%s)", chat_id, store_strerror(rc), store_last_error(s));
}

void conf_wait_drained(store_writer *w, int limit_s)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int i = 0; i < limit_s * 100 && store_writer_pending(w) > 0; i++)
        nanosleep(&pause, NULL);
}

void conf_make_msg(store_message *m, const char *chat_id, const char *sender,
                   const char *client_msg_id, uint64_t seq, size_t body_len, int fill)
{
    char sid[64];
    memset(m, 0, sizeof *m);
    snprintf(sid, sizeof sid, "srv-%s-%s", sender, client_msg_id);
    m->chat_id = strdup(chat_id);
    m->sender = strdup(sender);
    m->client_msg_id = strdup(client_msg_id);
    m->server_id = strdup(sid);
    m->seq = seq;
    m->server_ts = 5000 + (int64_t)seq;
    m->kind = 1;
    m->body_len = body_len;
    if (body_len) {
        m->body = malloc(body_len);
        assert_non_null(m->body);
        memset(m->body, fill, body_len);
    }
    assert_non_null(m->chat_id);
    assert_non_null(m->server_id);
}

#define S(state) (((conf_state *)*(state))->s)
#define ASSERT_RC(expr, want) \
    do { \
        int rc_ = (expr); \
        if (rc_ != (want)) \
            fail_msg("%s: got %s (%d), want %s: %s", #expr, store_strerror(rc_), rc_, \
                     store_strerror(want), store_last_error(s)); \
    } while (0)

/* ------------------------------------------------------------------ open */

static void test_open_bad_uri(void **state)
{
    store_t *x = (store_t *)0x1;
    (void)state;
    assert_int_equal(store_open("redis://localhost", NULL, &x), STORE_EINVAL);
    assert_null(x);
    assert_true(strlen(store_last_error(NULL)) > 0);
    assert_int_equal(store_open("", NULL, &x), STORE_EINVAL);
    assert_int_equal(store_open(NULL, NULL, &x), STORE_EINVAL);
    assert_int_equal(store_open("sqlite:", NULL, &x), STORE_EINVAL);
    assert_int_equal(store_open("sqlite:x.db", NULL, NULL), STORE_EINVAL);
    assert_int_equal(store_open("sqlite:/nonexistent-dir/sub/x.db", NULL, &x), STORE_EIO);
    assert_null(x);
    assert_non_null(strstr(store_last_error(NULL), "nonexistent"));
    store_close(NULL);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int rc = STORE_OK; rc >= STORE_ECLOSED; rc--)
        assert_true(strlen(store_strerror(rc)) > 0);
    assert_string_equal(store_strerror(STORE_ENOTFOUND), "not found");
    assert_string_equal(store_strerror(42), "unknown store error");
}

/* ----------------------------------------------------------------- users */

static void test_users(void **state)
{
    store_t *s = S(state);
    store_user u = {.user_id = "alice", .created_at = 100, .updated_at = 100}, got;
    store_user b = {.user_id = "bob", .created_at = 200, .updated_at = 200};
    store_user c = {.user_id = "carol", .created_at = 300, .updated_at = 300};
    store_user *arr = NULL;
    size_t n = 0;
    uint8_t k2[STORE_KEY_LEN];

    memset(u.identity_key, 0xA1, STORE_KEY_LEN);
    memset(b.identity_key, 0xB2, STORE_KEY_LEN);
    memset(c.identity_key, 0xC3, STORE_KEY_LEN);
    memset(k2, 0x5A, sizeof k2);
    ASSERT_RC(store_user_put(s, &u), STORE_OK);
    ASSERT_RC(store_user_put(s, &b), STORE_OK);
    ASSERT_RC(store_user_put(s, &c), STORE_OK);
    ASSERT_RC(store_user_put(s, &u), STORE_EEXIST);

    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_string_equal(got.user_id, "alice");
    assert_memory_equal(got.identity_key, u.identity_key, STORE_KEY_LEN);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.updated_at, 100);
    store_user_free(&got);
    assert_null(got.user_id);
    ASSERT_RC(store_user_get(s, "nobody", &got), STORE_ENOTFOUND);
    assert_null(got.user_id);

    /* key change */
    ASSERT_RC(store_user_set_key(s, "alice", k2, 400), STORE_OK);
    ASSERT_RC(store_user_set_key(s, "nobody", k2, 400), STORE_ENOTFOUND);
    ASSERT_RC(store_user_get(s, "alice", &got), STORE_OK);
    assert_memory_equal(got.identity_key, k2, STORE_KEY_LEN);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.updated_at, 400);
    store_user_free(&got);

    /* changed_since: inclusive, ascending by updated_at */
    ASSERT_RC(store_users_changed_since(s, 300, &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].user_id, "carol");
    assert_string_equal(arr[1].user_id, "alice");
    assert_memory_equal(arr[1].identity_key, k2, STORE_KEY_LEN);
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_changed_since(s, 0, &arr, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(arr[0].user_id, "bob");
    store_user_array_free(arr, n);
    ASSERT_RC(store_users_changed_since(s, 401, &arr, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_user_array_free(arr, n);
}

/* --------------------------------------------------------------- prekeys */

static void test_signed_prekeys(void **state)
{
    store_t *s = S(state);
    store_prekey p = {.user_id = "alice", .key_id = 7, .created_at = 10}, got;

    memset(p.public_key, 0x11, STORE_KEY_LEN);
    memset(p.signature, 0x22, STORE_SIG_LEN);
    ASSERT_RC(store_signed_prekey_get(s, "alice", NULL, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_signed_prekey_put(s, &p), STORE_OK);
    ASSERT_RC(store_signed_prekey_get(s, "alice", NULL, &got), STORE_OK);
    assert_string_equal(got.user_id, "alice");
    assert_int_equal(got.key_id, 7);
    assert_memory_equal(got.public_key, p.public_key, STORE_KEY_LEN);
    assert_memory_equal(got.signature, p.signature, STORE_SIG_LEN);
    assert_int_equal(got.created_at, 10);
    store_prekey_free(&got);

    /* replacing twice: the newest is current */
    for (uint32_t id = 8; id <= 9; id++) {
        p.key_id = id;
        memset(p.public_key, (int)id, STORE_KEY_LEN);
        ASSERT_RC(store_signed_prekey_put(s, &p), STORE_OK);
    }
    ASSERT_RC(store_signed_prekey_get(s, "alice", NULL, &got), STORE_OK);
    assert_int_equal(got.key_id, 9);
    assert_int_equal(got.public_key[0], 9);
    store_prekey_free(&got);
}

static void test_otpk(void **state)
{
    store_t *s = S(state);
    store_prekey keys[5], got;
    size_t count = 99;

    memset(keys, 0, sizeof keys);
    for (int i = 0; i < 5; i++) {
        keys[i].user_id = "alice";
        keys[i].key_id = (uint32_t)(50 - i * 10);  /* 50 40 30 20 10 */
        memset(keys[i].public_key, 50 - i * 10, STORE_KEY_LEN);
        keys[i].created_at = 1;
    }
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 0);
    ASSERT_RC(store_otpk_pop(s, "alice", NULL, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_otpk_add(s, keys, 5), STORE_OK);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 5);
    /* a batch with one existing key_id adds nothing */
    keys[0].key_id = 60;
    ASSERT_RC(store_otpk_add(s, keys, 2), STORE_EEXIST);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 5);
    ASSERT_RC(store_otpk_add(s, keys, 0), STORE_OK);

    /* lowest key_id first */
    ASSERT_RC(store_otpk_pop(s, "alice", NULL, &got), STORE_OK);
    assert_string_equal(got.user_id, "alice");
    assert_int_equal(got.key_id, 10);
    assert_int_equal(got.public_key[0], 10);
    store_prekey_free(&got);
    ASSERT_RC(store_otpk_pop(s, "alice", NULL, &got), STORE_OK);
    assert_int_equal(got.key_id, 20);
    store_prekey_free(&got);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 3);
    ASSERT_RC(store_otpk_count(s, "bob", NULL, &count), STORE_OK);
    assert_int_equal(count, 0);

    ASSERT_RC(store_otpk_clear(s, "alice"), STORE_OK);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 0);
    ASSERT_RC(store_otpk_pop(s, "alice", NULL, &got), STORE_ENOTFOUND);
    assert_null(got.user_id);
}

#define POP_THREADS 4
#define POP_KEYS 1000

struct popper {
    const char *uri;
    uint32_t got[POP_KEYS];
    size_t n;
    int err;
};

static void *pop_thread(void *arg)
{
    struct popper *p = arg;
    /* a slow disk must not fail the test: wait as long as it takes for the
     * write lock (atomicity is what is tested, not latency) */
    store_options so = {.busy_timeout_ms = 300000};
    store_t *s = NULL;
    store_prekey k;
    int rc;
    if (store_open(p->uri, &so, &s) != STORE_OK) {
        p->err = -1;
        return NULL;
    }
    while ((rc = store_otpk_pop(s, "alice", NULL, &k)) == STORE_OK) {
        if (p->n < POP_KEYS)
            p->got[p->n++] = k.key_id;
        store_prekey_free(&k);
    }
    if (rc != STORE_ENOTFOUND) {
        fprintf(stderr, "pop thread: %s: %s\n", store_strerror(rc), store_last_error(s));
        p->err = rc;
    }
    store_close(s);
    return NULL;
}

/* 4 threads, each on its own connection, pop 1000 keys: every key is
 * handed out exactly once overall. */
static void test_otpk_concurrent_pop(void **state)
{
    conf_state *st = *state;
    store_t *s = st->s;
    store_prekey *keys = calloc(POP_KEYS, sizeof *keys);
    struct popper *pp = calloc(POP_THREADS, sizeof *pp);
    pthread_t th[POP_THREADS];
    unsigned char *seen = calloc(POP_KEYS + 1, 1);
    size_t total = 0, count = 1;

    assert_non_null(keys);
    assert_non_null(pp);
    assert_non_null(seen);
    for (uint32_t i = 0; i < POP_KEYS; i++) {
        keys[i].user_id = "alice";
        keys[i].key_id = i + 1;
        keys[i].public_key[0] = (uint8_t)i;
    }
    ASSERT_RC(store_otpk_add(s, keys, POP_KEYS), STORE_OK);
    for (int t = 0; t < POP_THREADS; t++) {
        pp[t].uri = st->uri;
        assert_int_equal(pthread_create(&th[t], NULL, pop_thread, &pp[t]), 0);
    }
    for (int t = 0; t < POP_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < POP_THREADS; t++) {
        assert_int_equal(pp[t].err, 0);
        for (size_t i = 0; i < pp[t].n; i++) {
            uint32_t id = pp[t].got[i];
            assert_true(id >= 1 && id <= POP_KEYS);
            if (seen[id])
                fail_msg("key %u handed out twice", id);
            seen[id] = 1;
        }
        total += pp[t].n;
    }
    assert_int_equal(total, POP_KEYS);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &count), STORE_OK);
    assert_int_equal(count, 0);
    free(keys);
    free(pp);
    free(seen);
}

/* ----------------------------------------------------------------- chats */

static void test_chats(void **state)
{
    store_t *s = S(state);
    store_chat c = {.chat_id = "g:group1",
                    .type = STORE_CHAT_GROUP,
                    .name = "Team",
                    .description = "desc",
                    .created_by = "alice",
                    .settings = "{\"a\":1}",
                    .created_at = 123,
                    .last_seq = 77};
    store_chat d = {.chat_id = "d:alice:bob", .type = STORE_CHAT_DIRECT, .created_at = 5};
    store_chat got;

    ASSERT_RC(store_chat_put(s, &c), STORE_OK);
    ASSERT_RC(store_chat_put(s, &c), STORE_EEXIST);
    ASSERT_RC(store_chat_put(s, &d), STORE_OK);
    ASSERT_RC(store_chat_get(s, "g:group1", &got), STORE_OK);
    assert_string_equal(got.chat_id, "g:group1");
    assert_int_equal(got.type, STORE_CHAT_GROUP);
    assert_string_equal(got.name, "Team");
    assert_string_equal(got.description, "desc");
    assert_string_equal(got.created_by, "alice");
    assert_string_equal(got.settings, "{\"a\":1}");
    assert_int_equal(got.created_at, 123);
    assert_int_equal(got.last_seq, 0);  /* read-only: not taken from the put */
    store_chat_free(&got);

    ASSERT_RC(store_chat_get(s, "d:alice:bob", &got), STORE_OK);
    assert_int_equal(got.type, STORE_CHAT_DIRECT);
    assert_null(got.name);
    assert_null(got.description);
    assert_null(got.settings);
    store_chat_free(&got);

    c.name = "Renamed";
    c.description = NULL;
    c.settings = "{\"b\":2}";
    ASSERT_RC(store_chat_update(s, &c), STORE_OK);
    ASSERT_RC(store_chat_get(s, "g:group1", &got), STORE_OK);
    assert_string_equal(got.name, "Renamed");
    assert_null(got.description);
    assert_string_equal(got.settings, "{\"b\":2}");
    assert_string_equal(got.created_by, "alice");
    store_chat_free(&got);
    c.chat_id = "g:missing";
    ASSERT_RC(store_chat_update(s, &c), STORE_ENOTFOUND);
    ASSERT_RC(store_chat_get(s, "g:missing", &got), STORE_ENOTFOUND);

    ASSERT_RC(store_chat_delete(s, "d:alice:bob"), STORE_OK);
    ASSERT_RC(store_chat_get(s, "d:alice:bob", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_chat_delete(s, "d:alice:bob"), STORE_ENOTFOUND);
}

static void test_chat_delete_cascades(void **state)
{
    store_t *s = S(state);
    store_member m = {.chat_id = "g:x", .user_id = "alice", .role = STORE_ROLE_OWNER};
    store_message msg, got;
    store_member *arr;
    size_t n;

    conf_make_chat(s, "g:x", STORE_CHAT_GROUP);
    ASSERT_RC(store_member_put(s, &m), STORE_OK);
    conf_make_msg(&msg, "g:x", "alice", "c1", 0, 10, 'a');
    ASSERT_RC(store_message_put(s, &msg), STORE_OK);
    ASSERT_RC(store_chat_delete(s, "g:x"), STORE_OK);
    ASSERT_RC(store_message_get(s, "g:x", msg.seq, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_chats_of_user(s, "alice", &arr, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_member_array_free(arr, n);
    store_message_free(&msg);
}

/* --------------------------------------------------------------- members */

static void test_members(void **state)
{
    store_t *s = S(state);
    store_member a = {.chat_id = "g:one",
                      .user_id = "alice",
                      .role = STORE_ROLE_OWNER,
                      .joined_at = 10,
                      .joined_seq = 0};
    store_member b = {.chat_id = "g:one",
                      .user_id = "bob",
                      .role = STORE_ROLE_MEMBER,
                      .joined_at = 20,
                      .joined_seq = 4,
                      .delivered_seq = 4,
                      .read_seq = 4};
    store_member a2 = {.chat_id = "g:two", .user_id = "alice", .role = STORE_ROLE_MEMBER};
    store_member got, *arr = NULL;
    size_t n = 0;

    conf_make_chat(s, "g:one", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:two", STORE_CHAT_GROUP);
    ASSERT_RC(store_member_put(s, &b), STORE_OK);
    ASSERT_RC(store_member_put(s, &a), STORE_OK);
    ASSERT_RC(store_member_put(s, &a2), STORE_OK);
    ASSERT_RC(store_member_put(s, &a), STORE_EEXIST);

    ASSERT_RC(store_member_get(s, "g:one", "bob", &got), STORE_OK);
    assert_string_equal(got.chat_id, "g:one");
    assert_string_equal(got.user_id, "bob");
    assert_int_equal(got.role, STORE_ROLE_MEMBER);
    assert_int_equal(got.joined_at, 20);
    assert_int_equal(got.joined_seq, 4);
    assert_int_equal(got.delivered_seq, 4);
    assert_int_equal(got.read_seq, 4);
    store_member_free(&got);
    ASSERT_RC(store_member_get(s, "g:one", "carol", &got), STORE_ENOTFOUND);

    /* roles */
    ASSERT_RC(store_member_set_role(s, "g:one", "bob", STORE_ROLE_ADMIN), STORE_OK);
    ASSERT_RC(store_member_get(s, "g:one", "bob", &got), STORE_OK);
    assert_int_equal(got.role, STORE_ROLE_ADMIN);
    store_member_free(&got);
    ASSERT_RC(store_member_set_role(s, "g:one", "carol", STORE_ROLE_ADMIN), STORE_ENOTFOUND);

    /* listings */
    ASSERT_RC(store_members_of_chat(s, "g:one", &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].user_id, "alice");
    assert_string_equal(arr[1].user_id, "bob");
    assert_int_equal(arr[1].role, STORE_ROLE_ADMIN);
    store_member_array_free(arr, n);
    ASSERT_RC(store_chats_of_user(s, "alice", &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].chat_id, "g:one");
    assert_string_equal(arr[1].chat_id, "g:two");
    store_member_array_free(arr, n);
    ASSERT_RC(store_chats_of_user(s, "nobody", &arr, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_null(arr);

    /* remove */
    ASSERT_RC(store_member_remove(s, "g:one", "bob"), STORE_OK);
    ASSERT_RC(store_member_remove(s, "g:one", "bob"), STORE_ENOTFOUND);
    ASSERT_RC(store_members_of_chat(s, "g:one", &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_member_array_free(arr, n);
}

static void test_member_cursors_never_move_backwards(void **state)
{
    store_t *s = S(state);
    store_member m = {.chat_id = "g:c", .user_id = "bob", .role = STORE_ROLE_MEMBER}, got;

    conf_make_chat(s, "g:c", STORE_CHAT_GROUP);
    ASSERT_RC(store_member_put(s, &m), STORE_OK);
    ASSERT_RC(store_member_advance(s, "g:c", "bob", 10, 5), STORE_OK);
    ASSERT_RC(store_member_advance(s, "g:c", "bob", 7, 3), STORE_OK);      /* backwards */
    ASSERT_RC(store_member_get(s, "g:c", "bob", &got), STORE_OK);
    assert_int_equal(got.delivered_seq, 10);
    assert_int_equal(got.read_seq, 5);
    store_member_free(&got);
    ASSERT_RC(store_member_advance(s, "g:c", "bob", 0, 9), STORE_OK);      /* 0 leaves it */
    ASSERT_RC(store_member_advance(s, "g:c", "bob", 12, 0), STORE_OK);
    ASSERT_RC(store_member_get(s, "g:c", "bob", &got), STORE_OK);
    assert_int_equal(got.delivered_seq, 12);
    assert_int_equal(got.read_seq, 9);
    store_member_free(&got);
    ASSERT_RC(store_member_advance(s, "g:c", "carol", 1, 1), STORE_ENOTFOUND);
    ASSERT_RC(store_member_advance(s, "g:nochat", "bob", 1, 1), STORE_ENOTFOUND);
}

/* -------------------------------------------------------------- messages */

static void test_message_crud(void **state)
{
    store_t *s = S(state);
    store_message m, got;

    conf_make_chat(s, "d:alice:bob", STORE_CHAT_DIRECT);
    conf_make_msg(&m, "d:alice:bob", "alice", "cm-1", 0, 100, 'x');
    free(m.media_id);
    m.media_id = strdup("media-1");
    m.expires_at = 99999;
    m.kind = 2;
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 1);

    ASSERT_RC(store_message_get(s, "d:alice:bob", 1, &got), STORE_OK);
    assert_string_equal(got.chat_id, "d:alice:bob");
    assert_int_equal(got.seq, 1);
    assert_string_equal(got.server_id, m.server_id);
    assert_string_equal(got.sender, "alice");
    assert_string_equal(got.client_msg_id, "cm-1");
    assert_int_equal(got.server_ts, m.server_ts);
    assert_int_equal(got.body_len, 100);
    assert_memory_equal(got.body, m.body, 100);
    assert_string_equal(got.media_id, "media-1");
    assert_int_equal(got.expires_at, 99999);
    assert_int_equal(got.kind, 2);
    store_message_free(&got);

    ASSERT_RC(store_message_get_by_client_id(s, "alice", "cm-1", &got), STORE_OK);
    assert_int_equal(got.seq, 1);
    assert_memory_equal(got.body, m.body, 100);
    store_message_free(&got);
    ASSERT_RC(store_message_get_by_client_id(s, "bob", "cm-1", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_message_get(s, "d:alice:bob", 2, &got), STORE_ENOTFOUND);
    store_message_free(&m);

    /* an empty body round-trips as empty */
    conf_make_msg(&m, "d:alice:bob", "bob", "cm-empty", 0, 0, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    ASSERT_RC(store_message_get(s, "d:alice:bob", m.seq, &got), STORE_OK);
    assert_int_equal(got.body_len, 0);
    assert_null(got.media_id);
    store_message_free(&got);
    store_message_free(&m);
}

static void test_message_seq(void **state)
{
    store_t *s = S(state);
    store_message m;
    store_chat c;
    char id[32];
    uint64_t prev = 0;

    conf_make_chat(s, "g:seq", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:other", STORE_CHAT_GROUP);
    /* assigned seqs: 1, 2, 3 ... strictly increasing */
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "a%d", i);
        conf_make_msg(&m, "g:seq", "alice", id, 0, 8, i);
        ASSERT_RC(store_message_put(s, &m), STORE_OK);
        assert_int_equal(m.seq, prev + 1);
        prev = m.seq;
        store_message_free(&m);
    }
    /* explicit seq above last: accepted, with a gap */
    conf_make_msg(&m, "g:seq", "alice", "e10", 10, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 10);
    store_message_free(&m);
    /* explicit seq not above last: refused */
    conf_make_msg(&m, "g:seq", "alice", "e10b", 10, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    conf_make_msg(&m, "g:seq", "alice", "e7", 7, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    /* assigned after explicit continues from the highest */
    conf_make_msg(&m, "g:seq", "alice", "a-next", 0, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 11);
    store_message_free(&m);
    /* per-chat: another chat starts at 1 */
    conf_make_msg(&m, "g:other", "alice", "o1", 0, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 1);
    store_message_free(&m);

    ASSERT_RC(store_chat_get(s, "g:seq", &c), STORE_OK);
    assert_int_equal(c.last_seq, 11);
    assert_int_equal(c.last_message_at, 5000 + 10);  /* newest server_ts (of seq 10) */
    store_chat_free(&c);

    /* unknown chat */
    conf_make_msg(&m, "g:nochat", "alice", "x1", 0, 8, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_ENOTFOUND);
    store_message_free(&m);
}

static void test_message_dedup(void **state)
{
    store_t *s = S(state);
    store_message m, retry, got;
    store_chat c;

    conf_make_chat(s, "g:dup", STORE_CHAT_GROUP);
    conf_make_msg(&m, "g:dup", "alice", "same-id", 0, 16, 'a');
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 1);

    /* the retry carries a new server id and seq 0: stored once, EDUP gives
     * the original seq and server id */
    conf_make_msg(&retry, "g:dup", "alice", "same-id", 0, 16, 'b');
    free(retry.server_id);
    retry.server_id = strdup("a-different-server-id");
    ASSERT_RC(store_message_put(s, &retry), STORE_EDUP);
    assert_int_equal(retry.seq, 1);
    assert_string_equal(retry.server_id, m.server_id);
    store_message_free(&retry);

    /* same with an explicit (new) seq */
    conf_make_msg(&retry, "g:dup", "alice", "same-id", 5, 16, 'b');
    free(retry.server_id);
    retry.server_id = strdup("third-server-id");
    ASSERT_RC(store_message_put(s, &retry), STORE_EDUP);
    assert_int_equal(retry.seq, 1);
    assert_string_equal(retry.server_id, m.server_id);
    store_message_free(&retry);

    /* and with an explicit old seq */
    conf_make_msg(&retry, "g:dup", "alice", "same-id", 1, 16, 'b');
    ASSERT_RC(store_message_put(s, &retry), STORE_EDUP);
    assert_int_equal(retry.seq, 1);
    store_message_free(&retry);

    ASSERT_RC(store_chat_get(s, "g:dup", &c), STORE_OK);
    assert_int_equal(c.last_seq, 1);
    store_chat_free(&c);
    ASSERT_RC(store_message_get(s, "g:dup", 1, &got), STORE_OK);
    assert_int_equal(got.body[0], 'a');
    store_message_free(&got);

    /* the same client id from another sender is a different message */
    conf_make_msg(&retry, "g:dup", "bob", "same-id", 0, 16, 'c');
    ASSERT_RC(store_message_put(s, &retry), STORE_OK);
    assert_int_equal(retry.seq, 2);
    store_message_free(&retry);
    store_message_free(&m);
}

static void test_messages_after_paging(void **state)
{
    store_t *s = S(state);
    store_message m, *page = NULL;
    size_t n = 0, total = 0;
    uint64_t after = 0;
    char id[32];

    conf_make_chat(s, "g:page", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:noise", STORE_CHAT_GROUP);
    for (int i = 1; i <= 25; i++) {
        snprintf(id, sizeof id, "p%d", i);
        conf_make_msg(&m, "g:page", "alice", id, 0, 4, i);
        ASSERT_RC(store_message_put(s, &m), STORE_OK);
        store_message_free(&m);
        snprintf(id, sizeof id, "n%d", i);
        conf_make_msg(&m, "g:noise", "bob", id, 0, 4, i);
        ASSERT_RC(store_message_put(s, &m), STORE_OK);
        store_message_free(&m);
    }
    for (int pageno = 0; pageno < 10; pageno++) {
        ASSERT_RC(store_messages_after(s, "g:page", after, 10, &page, &n), STORE_OK);
        if (n == 0)
            break;
        assert_true(n <= 10);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(page[i].seq, after + 1);   /* ascending, no gaps */
            assert_string_equal(page[i].chat_id, "g:page");
            assert_int_equal(page[i].body[0], (int)page[i].seq);
            after = page[i].seq;
        }
        total += n;
        store_message_array_free(page, n);
    }
    assert_int_equal(total, 25);
    assert_int_equal(after, 25);
    ASSERT_RC(store_messages_after(s, "g:page", 20, 1000, &page, &n), STORE_OK);
    assert_int_equal(n, 5);
    store_message_array_free(page, n);
    ASSERT_RC(store_messages_after(s, "g:page", 0, 0, &page, &n), STORE_OK);
    assert_int_equal(n, 0);
    ASSERT_RC(store_messages_after(s, "g:unknown", 0, 10, &page, &n), STORE_OK);
    assert_int_equal(n, 0);
}

static void test_chat_last_seqs(void **state)
{
    store_t *s = S(state);
    store_message m;
    char **ids = NULL;
    uint64_t *seqs = NULL;
    size_t n = 0;
    int found = 0;

    conf_make_chat(s, "g:a", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:b", STORE_CHAT_GROUP);
    conf_make_chat(s, "g:empty", STORE_CHAT_GROUP);
    conf_make_msg(&m, "g:a", "alice", "1", 3, 1, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    store_message_free(&m);
    conf_make_msg(&m, "g:b", "alice", "2", 0, 1, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    store_message_free(&m);
    ASSERT_RC(store_chat_last_seqs(s, &ids, &seqs, &n), STORE_OK);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], "g:a") == 0) {
            assert_int_equal(seqs[i], 3);
            found++;
        } else if (strcmp(ids[i], "g:b") == 0) {
            assert_int_equal(seqs[i], 1);
            found++;
        } else {
            /* chats without messages may be listed, with 0 */
            assert_int_equal(seqs[i], 0);
        }
        free(ids[i]);
    }
    free(ids);
    free(seqs);
    assert_int_equal(found, 2);
}

static void test_message_expiry(void **state)
{
    store_t *s = S(state);
    store_message m, got;
    size_t deleted = 99;
    int64_t exp[4] = {0, 1000, 2000, 3000};
    char id[16];

    conf_make_chat(s, "g:exp", STORE_CHAT_GROUP);
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "x%d", i);
        conf_make_msg(&m, "g:exp", "alice", id, 0, 4, i);
        m.expires_at = exp[i];
        ASSERT_RC(store_message_put(s, &m), STORE_OK);
        store_message_free(&m);
    }
    ASSERT_RC(store_messages_expire(s, 999, &deleted), STORE_OK);
    assert_int_equal(deleted, 0);
    ASSERT_RC(store_messages_expire(s, 2000, &deleted), STORE_OK);  /* (0, now] */
    assert_int_equal(deleted, 2);
    ASSERT_RC(store_message_get(s, "g:exp", 1, &got), STORE_OK);    /* never expires */
    store_message_free(&got);
    ASSERT_RC(store_message_get(s, "g:exp", 2, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_message_get(s, "g:exp", 3, &got), STORE_ENOTFOUND);
    ASSERT_RC(store_message_get(s, "g:exp", 4, &got), STORE_OK);
    store_message_free(&got);
    ASSERT_RC(store_messages_expire(s, 1000000, NULL), STORE_OK);
    ASSERT_RC(store_message_get(s, "g:exp", 4, &got), STORE_ENOTFOUND);

    /* seqs are not reused after expiry */
    conf_make_msg(&m, "g:exp", "alice", "after", 0, 4, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    assert_int_equal(m.seq, 5);
    store_message_free(&m);
}

/* ----------------------------------------------------------------- media */

static void test_media(void **state)
{
    store_t *s = S(state);
    store_media m = {.media_id = "m1",
                     .owner = "alice",
                     .size = 12345,
                     .content_type = "image/png",
                     .backend_key = "obj/m1",
                     .created_at = 10,
                     .expires_at = 0};
    store_media m2 = {.media_id = "m2",
                      .owner = "bob",
                      .size = 1,
                      .created_at = 11,
                      .expires_at = 500};
    store_media m3 = {.media_id = "m3",
                      .owner = "bob",
                      .size = 1,
                      .created_at = 12,
                      .expires_at = 400};
    store_media m4 = {.media_id = "m4",
                      .owner = "bob",
                      .size = 1,
                      .created_at = 13,
                      .expires_at = 900};
    store_media got, *arr = NULL;
    size_t n = 0;

    memset(m.sha256, 0xEE, STORE_SHA256_LEN);
    ASSERT_RC(store_media_put(s, &m), STORE_OK);
    ASSERT_RC(store_media_put(s, &m), STORE_EEXIST);
    ASSERT_RC(store_media_put(s, &m2), STORE_OK);
    ASSERT_RC(store_media_put(s, &m3), STORE_OK);
    ASSERT_RC(store_media_put(s, &m4), STORE_OK);

    ASSERT_RC(store_media_get(s, "m1", &got), STORE_OK);
    assert_string_equal(got.media_id, "m1");
    assert_string_equal(got.owner, "alice");
    assert_int_equal(got.size, 12345);
    assert_memory_equal(got.sha256, m.sha256, STORE_SHA256_LEN);
    assert_string_equal(got.content_type, "image/png");
    assert_string_equal(got.backend_key, "obj/m1");
    assert_int_equal(got.created_at, 10);
    assert_int_equal(got.expires_at, 0);
    store_media_free(&got);
    ASSERT_RC(store_media_get(s, "m2", &got), STORE_OK);
    assert_null(got.content_type);
    store_media_free(&got);
    ASSERT_RC(store_media_get(s, "nope", &got), STORE_ENOTFOUND);

    /* expired: expires_at in (0, now], at most limit */
    ASSERT_RC(store_media_expired(s, 600, 10, &arr, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_true((strcmp(arr[0].media_id, "m3") == 0 && strcmp(arr[1].media_id, "m2") == 0) ||
                (strcmp(arr[0].media_id, "m2") == 0 && strcmp(arr[1].media_id, "m3") == 0));
    store_media_array_free(arr, n);
    ASSERT_RC(store_media_expired(s, 1000, 1, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_media_array_free(arr, n);
    ASSERT_RC(store_media_expired(s, 100, 10, &arr, &n), STORE_OK);
    assert_int_equal(n, 0);

    ASSERT_RC(store_media_delete(s, "m2"), STORE_OK);
    ASSERT_RC(store_media_delete(s, "m2"), STORE_ENOTFOUND);
    ASSERT_RC(store_media_get(s, "m2", &got), STORE_ENOTFOUND);
    ASSERT_RC(store_media_expired(s, 600, 10, &arr, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].media_id, "m3");
    store_media_array_free(arr, n);
}

/* ------------------------------------------------------- SQLite specifics */

/* The schema version, the URI options and WAL mode of the SQLite backend. */
static void test_sqlite_schema_and_options(void **state)
{
    conf_state *st = *state;
    store_t *s = st->s, *x = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char uri[1100];
    store_chat c;

    if (!conf_is_sqlite)
        skip();
    conf_make_chat(s, "g:kept", STORE_CHAT_GROUP);
    store_close(st->s);
    st->s = NULL;

    assert_int_equal(sqlite3_open(st->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), STORE_SQLITE_SCHEMA_VERSION);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);

    /* reopening an up-to-date file keeps its data */
    snprintf(uri, sizeof uri, "sqlite:%s?synchronous=normal", st->path);
    assert_int_equal(store_open(uri, NULL, &x), STORE_OK);
    assert_int_equal(store_chat_get(x, "g:kept", &c), STORE_OK);
    store_chat_free(&c);
    store_close(x);
    snprintf(uri, sizeof uri, "sqlite:%s?cache=shared", st->path);
    assert_int_equal(store_open(uri, NULL, &x), STORE_EINVAL);
    assert_non_null(strstr(store_last_error(NULL), "cache=shared"));

    /* a file written by a newer build is refused, untouched */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_open(st->uri, NULL, &x), STORE_EIO);
    assert_null(x);
    assert_non_null(strstr(store_last_error(NULL), "newer"));
    snprintf(uri, sizeof uri, "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION);
    assert_int_equal(sqlite3_exec(db, uri, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
}

/* ------------------------------------------------------------ enumeration */

static void test_enumeration(void **state)
{
    store_t *s = S(state);
    store_chat *chats = NULL;
    store_prekey *keys = NULL, spk = {.user_id = "alice", .created_at = 1}, got;
    store_prekey add[3];
    store_media *media = NULL;
    store_media md = {.owner = "alice", .size = 1, .created_at = 1};
    store_message msg;
    store_chat c;
    size_t n = 0, total = 0;
    char id[32], after[32] = "";

    /* chats, paged by chat_id */
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "g:c%02d", 6 - i);
        conf_make_chat(s, id, STORE_CHAT_GROUP);
    }
    for (int page = 0; page < 10; page++) {
        ASSERT_RC(store_chats_list(s, after, 3, &chats, &n), STORE_OK);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            snprintf(id, sizeof id, "g:c%02zu", total + i);
            assert_string_equal(chats[i].chat_id, id);
        }
        snprintf(after, sizeof after, "%s", chats[n - 1].chat_id);
        total += n;
        store_chat_array_free(chats, n);
    }
    assert_int_equal(total, 7);
    ASSERT_RC(store_chats_list(s, NULL, 100, &chats, &n), STORE_OK);
    assert_int_equal(n, 7);
    store_chat_array_free(chats, n);

    /* raise_seq never lowers; message_put continues above it */
    ASSERT_RC(store_chat_raise_seq(s, "g:c00", 40, 9000), STORE_OK);
    ASSERT_RC(store_chat_raise_seq(s, "g:c00", 10, 10), STORE_OK);
    ASSERT_RC(store_chat_get(s, "g:c00", &c), STORE_OK);
    assert_int_equal(c.last_seq, 40);
    assert_int_equal(c.last_message_at, 9000);
    store_chat_free(&c);
    ASSERT_RC(store_chat_raise_seq(s, "g:none", 1, 1), STORE_ENOTFOUND);
    conf_make_msg(&msg, "g:c00", "alice", "r1", 0, 4, 0);
    ASSERT_RC(store_message_put(s, &msg), STORE_OK);
    assert_int_equal(msg.seq, 41);
    store_message_free(&msg);

    /* one-time prekeys listed without being removed */
    memset(add, 0, sizeof add);
    for (int i = 0; i < 3; i++) {
        add[i].user_id = "alice";
        add[i].key_id = (uint32_t)(30 - i * 10);
    }
    ASSERT_RC(store_otpk_add(s, add, 3), STORE_OK);
    ASSERT_RC(store_otpk_list(s, "alice", &keys, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(keys[0].key_id, 10);
    assert_int_equal(keys[2].key_id, 30);
    store_prekey_array_free(keys, n);
    ASSERT_RC(store_otpk_count(s, "alice", NULL, &n), STORE_OK);
    assert_int_equal(n, 3);

    /* the previous signed prekey is kept until replaced again */
    ASSERT_RC(store_signed_prekey_get_previous(s, "alice", NULL, &got), STORE_ENOTFOUND);
    for (uint32_t k = 1; k <= 3; k++) {
        spk.key_id = k;
        ASSERT_RC(store_signed_prekey_put(s, &spk), STORE_OK);
    }
    ASSERT_RC(store_signed_prekey_get_previous(s, "alice", NULL, &got), STORE_OK);
    assert_int_equal(got.key_id, 2);
    store_prekey_free(&got);

    /* media, paged by media_id */
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "m%d", i);
        md.media_id = id;
        ASSERT_RC(store_media_put(s, &md), STORE_OK);
    }
    ASSERT_RC(store_media_list(s, "m1", 2, &media, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(media[0].media_id, "m2");
    assert_string_equal(media[1].media_id, "m3");
    store_media_array_free(media, n);
    ASSERT_RC(store_media_list(s, "", 0, &media, &n), STORE_OK);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------- transactions */

static void test_transactions(void **state)
{
    store_t *s = S(state);
    store_chat c;
    store_message m;

    ASSERT_RC(store_commit(s), STORE_EINVAL);
    ASSERT_RC(store_rollback(s), STORE_EINVAL);
    ASSERT_RC(store_begin(s), STORE_OK);
    conf_make_chat(s, "g:tx", STORE_CHAT_GROUP);
    ASSERT_RC(store_rollback(s), STORE_OK);
    ASSERT_RC(store_chat_get(s, "g:tx", &c), STORE_ENOTFOUND);

    ASSERT_RC(store_begin(s), STORE_OK);
    conf_make_chat(s, "g:tx", STORE_CHAT_GROUP);
    /* a failing write inside a transaction changes nothing and leaves the
     * transaction usable */
    conf_make_msg(&m, "g:missing", "alice", "t0", 0, 4, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_ENOTFOUND);
    store_message_free(&m);
    conf_make_msg(&m, "g:tx", "alice", "t1", 0, 4, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_OK);
    store_message_free(&m);
    conf_make_msg(&m, "g:tx", "alice", "t2", 1, 4, 0);
    ASSERT_RC(store_message_put(s, &m), STORE_EINVAL);
    store_message_free(&m);
    ASSERT_RC(store_commit(s), STORE_OK);
    ASSERT_RC(store_chat_get(s, "g:tx", &c), STORE_OK);
    assert_int_equal(c.last_seq, 1);
    store_chat_free(&c);
}

/* ------------------------------------------------------------- bad input */

static void test_bad_input(void **state)
{
    store_t *s = S(state);
    store_user u = {0}, ug;
    store_chat c = {.chat_id = "g:bad", .type = 3}, cg;
    store_member m = {.chat_id = "g:ok", .user_id = "bob", .role = 0}, mg;
    store_message msg, mget;
    store_prekey pk = {0}, pg;
    store_media md = {.media_id = "x", .owner = NULL};
    uint8_t key[STORE_KEY_LEN] = {0};
    char longid[400];
    size_t cnt;

    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';

    assert_int_equal(store_user_put(NULL, &u), STORE_EINVAL);
    ASSERT_RC(store_user_put(s, NULL), STORE_EINVAL);
    ASSERT_RC(store_user_put(s, &u), STORE_EINVAL);           /* NULL user_id */
    assert_true(strlen(store_last_error(s)) > 0);
    u.user_id = "";
    ASSERT_RC(store_user_put(s, &u), STORE_EINVAL);           /* empty */
    u.user_id = longid;
    ASSERT_RC(store_user_put(s, &u), STORE_EINVAL);           /* too long */
    ASSERT_RC(store_user_get(s, NULL, &ug), STORE_EINVAL);
    ASSERT_RC(store_user_get(s, "a", NULL), STORE_EINVAL);
    ASSERT_RC(store_user_set_key(s, "a", NULL, 1), STORE_EINVAL);
    ASSERT_RC(store_user_set_key(s, "", key, 1), STORE_EINVAL);
    ASSERT_RC(store_users_changed_since(s, 0, NULL, &cnt), STORE_EINVAL);

    ASSERT_RC(store_signed_prekey_put(s, &pk), STORE_EINVAL);
    ASSERT_RC(store_signed_prekey_get(s, "", NULL, &pg), STORE_EINVAL);
    ASSERT_RC(store_otpk_add(s, NULL, 3), STORE_EINVAL);
    ASSERT_RC(store_otpk_add(s, &pk, 1), STORE_EINVAL);
    ASSERT_RC(store_otpk_pop(s, NULL, NULL, &pg), STORE_EINVAL);
    ASSERT_RC(store_otpk_count(s, "a", NULL, NULL), STORE_EINVAL);
    ASSERT_RC(store_otpk_clear(s, ""), STORE_EINVAL);
    {
        store_prekey two[2] = {{.user_id = "a", .key_id = 1}, {.user_id = "b", .key_id = 2}};
        size_t k = 9;
        ASSERT_RC(store_otpk_add(s, two, 2), STORE_EINVAL);  /* mixed users */
        ASSERT_RC(store_otpk_count(s, "a", NULL, &k), STORE_OK);
        assert_int_equal(k, 0);
    }

    ASSERT_RC(store_chat_put(s, &c), STORE_EINVAL);           /* type 3 */
    c.type = 0;
    ASSERT_RC(store_chat_put(s, &c), STORE_EINVAL);
    c.type = STORE_CHAT_GROUP;
    c.chat_id = NULL;
    ASSERT_RC(store_chat_put(s, &c), STORE_EINVAL);
    ASSERT_RC(store_chat_get(s, "g:bad", &cg), STORE_ENOTFOUND);
    ASSERT_RC(store_chat_update(s, NULL), STORE_EINVAL);
    ASSERT_RC(store_chat_delete(s, NULL), STORE_EINVAL);

    conf_make_chat(s, "g:ok", STORE_CHAT_GROUP);
    ASSERT_RC(store_member_put(s, &m), STORE_EINVAL);         /* role 0 */
    m.role = 4;
    ASSERT_RC(store_member_put(s, &m), STORE_EINVAL);
    m.role = STORE_ROLE_MEMBER;
    m.chat_id = "g:nochat";
    ASSERT_RC(store_member_put(s, &m), STORE_ENOTFOUND);      /* unknown chat */
    m.chat_id = "g:ok";
    ASSERT_RC(store_member_put(s, &m), STORE_OK);
    ASSERT_RC(store_member_set_role(s, "g:ok", "bob", (store_role)9), STORE_EINVAL);
    ASSERT_RC(store_member_get(s, "g:ok", "bob", &mg), STORE_OK);
    assert_int_equal(mg.role, STORE_ROLE_MEMBER);
    store_member_free(&mg);
    ASSERT_RC(store_member_advance(s, "g:ok", NULL, 1, 1), STORE_EINVAL);

    conf_make_msg(&msg, "g:ok", "bob", "b1", 0, 4, 0);
    msg.kind = 0;
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);      /* kind */
    msg.kind = 7;
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    msg.kind = 1;
    free(msg.body);
    msg.body = NULL;                                          /* body_len 4, no body */
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    msg.body_len = 0;
    free(msg.client_msg_id);
    msg.client_msg_id = strdup("");
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    free(msg.client_msg_id);
    msg.client_msg_id = NULL;
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    msg.client_msg_id = strdup("b1");
    free(msg.server_id);
    msg.server_id = NULL;
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    msg.server_id = strdup("sid");
    msg.body_len = (size_t)64 * 1024 * 1024;                  /* oversized body */
    msg.body = malloc(1);
    ASSERT_RC(store_message_put(s, &msg), STORE_EINVAL);
    free(msg.body);
    msg.body = NULL;
    msg.body_len = 0;
    ASSERT_RC(store_message_put(s, NULL), STORE_EINVAL);
    ASSERT_RC(store_message_get(s, "g:ok", 1, &mget), STORE_ENOTFOUND);  /* nothing stored */
    ASSERT_RC(store_message_put(s, &msg), STORE_OK);          /* the fixed one is fine */
    ASSERT_RC(store_message_get(s, "g:ok", 0, &mget), STORE_EINVAL);
    ASSERT_RC(store_message_get_by_client_id(s, "bob", NULL, &mget), STORE_EINVAL);
    ASSERT_RC(store_messages_after(s, NULL, 0, 10, NULL, NULL), STORE_EINVAL);
    store_message_free(&msg);

    ASSERT_RC(store_media_put(s, &md), STORE_EINVAL);         /* no owner */
    ASSERT_RC(store_media_get(s, "", NULL), STORE_EINVAL);
    ASSERT_RC(store_media_delete(s, longid), STORE_EINVAL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sqlite";
    struct CMUnitTest all[128];
    size_t n = 0;
    int rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_bad_uri),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test_setup_teardown(test_users, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_signed_prekeys, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_otpk, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_otpk_concurrent_pop, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_chats, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_chat_delete_cascades, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_members, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_member_cursors_never_move_backwards, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_message_crud, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_message_seq, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_message_dedup, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_messages_after_paging, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_chat_last_seqs, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_message_expiry, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_media, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_enumeration, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_schema_and_options, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_transactions, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, conf_setup, conf_teardown),
    };

    if (strcmp(mode, "crash-child") == 0 && argc == 4)
        return conf_crash_child(argv[2], argv[3]);
    if (strcmp(mode, "append-child") == 0 && argc == 5)
        return conf_append_child(argv[2], atoi(argv[3]), argv[4]);
    if (strcmp(mode, "sqlite") == 0) {
        conf_is_sqlite = 1;
        snprintf(tmpdir, sizeof tmpdir, "%s/parley-store-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 1;
        }
    } else if (strcmp(mode, "mongo") == 0) {
        mongo_base = getenv("PARLEY_TEST_MONGO_URI");
        if (!mongo_base || !mongo_base[0]) {
            printf(
                "SKIP: PARLEY_TEST_MONGO_URI is not set; the MongoDB conformance run "
                "needs a MongoDB server (e.g. PARLEY_TEST_MONGO_URI=mongodb://127.0.0.1:27017)\n");
            return CONF_SKIP;
        }
    } else {
        fprintf(stderr, "usage: %s sqlite|mongo\n", argv[0]);
        return 2;
    }

    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        all[n++] = tests[i];
    for (size_t i = 0; i < conf_writer_tests_n && n < sizeof all / sizeof all[0]; i++)
        all[n++] = conf_writer_tests[i];
    for (size_t i = 0; i < conf_seq_tests_n && n < sizeof all / sizeof all[0]; i++)
        all[n++] = conf_seq_tests[i];
    for (size_t i = 0; i < conf_users_tests_n && n < sizeof all / sizeof all[0]; i++)
        all[n++] = conf_users_tests[i];
    for (size_t i = 0; i < conf_devices_tests_n && n < sizeof all / sizeof all[0]; i++)
        all[n++] = conf_devices_tests[i];
    for (size_t i = 0; i < conf_rich_tests_n && n < sizeof all / sizeof all[0]; i++)
        all[n++] = conf_rich_tests[i];
    rc = _cmocka_run_group_tests(conf_is_sqlite ? "store_conformance_sqlite"
                                                : "store_conformance_mongo",
                                 all, n, NULL, NULL);
    if (conf_is_sqlite)
        rmdir(tmpdir);  /* empty unless a test failed and left files */
    return rc;
}
