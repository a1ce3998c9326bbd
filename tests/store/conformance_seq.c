/*
 * conformance_seq.c - "the store is the sequencer" (store_message_append,
 * STORE_OP_MESSAGE_PUT with seq 0) against each backend:
 *
 *  - a batch with failing ops in the middle consumes no seq (no gaps), and
 *    the completion of every append carries its seq / server_id;
 *  - a whole-batch failure gives the assigned seqs back (seq 0 again);
 *  - several writers on separate connections (threads) and several
 *    processes (each its own store_writer on the same store) appending to
 *    one chat: every message stored once, seqs 1..N without gaps, retries of
 *    the same (sender, client_msg_id) from every writer get the one original
 *    seq and server_id, and a concurrent reader never sees seq k+1 without k;
 *  - a retry after a restart (new writer / reopened store) gets the original;
 *  - SQLite: a write lock held past the busy timeout is retried, not failed.
 */
#include "conformance.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_S 180    /* generous bound for anything waited on */

/* ------------------------------------------------------------- helpers */

static store_op *append_op(const char *chat_id, const char *sender, const char *cmid,
                           const char *server_id)
{
    store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
    assert_non_null(op);
    conf_make_msg(&op->u.message, chat_id, sender, cmid, 0, 40, 'a');
    if (server_id) {
        free(op->u.message.server_id);
        op->u.message.server_id = strdup(server_id);
        assert_non_null(op->u.message.server_id);
    }
    return op;
}

struct res {
    int calls;
    int rc;
    uint64_t seq;
    char server_id[96];
};

/* Completions: the writer thread writes, the test reads after stop(). */
static void res_cb(store_op *op, int rc, void *ctx)
{
    struct res *r = ctx;
    r->calls++;
    r->rc = rc;
    if (op->type == STORE_OP_MESSAGE_PUT) {
        r->seq = op->u.message.seq;
        snprintf(r->server_id, sizeof r->server_id, "%s",
                 op->u.message.server_id ? op->u.message.server_id : "");
    }
}

/* A callback that holds the writer thread until released, so the ops queued
 * meanwhile form one batch (deterministic, never timing-dependent). */
struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
};

static void hold_cb(store_op *op, int rc, void *ctx)
{
    struct hold *h = ctx;
    struct timespec dl;
    (void)op;
    (void)rc;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_LIMIT_S;
    pthread_mutex_lock(&h->mu);
    h->entered = 1;
    pthread_cond_broadcast(&h->cv);
    while (!h->released)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&h->mu);
}

static void hold_wait(struct hold *h)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_LIMIT_S;
    pthread_mutex_lock(&h->mu);
    while (!h->entered)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&h->mu);
    assert_true(h->entered);
}

static void hold_release(struct hold *h)
{
    pthread_mutex_lock(&h->mu);
    h->released = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void submit(store_writer *w, store_op *op, store_done_cb cb, void *ctx)
{
    int rc;
    while ((rc = store_writer_submit(w, op, cb, ctx)) == STORE_ENOMEM)
        usleep(1000);
    if (rc != STORE_OK)
        fail_msg("submit: %s", store_strerror(rc));
}

/* Read the whole chat and check seqs are exactly 1..count; returns count.
 * If cmids is non-NULL, stores a strdup of each message's client_msg_id at
 * index seq-1 (cmids has room for cap entries). */
static size_t check_gapless(store_t *s, const char *chat_id, char **cmids, size_t cap)
{
    uint64_t after = 0;
    for (;;) {
        store_message *a = NULL;
        size_t n = 0;
        assert_int_equal(store_messages_after(s, chat_id, after, 1000, &a, &n), STORE_OK);
        for (size_t i = 0; i < n; i++) {
            if (a[i].seq != after + 1)
                fail_msg("chat %s: seq %llu follows %llu (gap)", chat_id,
                         (unsigned long long)a[i].seq, (unsigned long long)after);
            after = a[i].seq;
            if (cmids) {
                assert_true(after <= cap);
                cmids[after - 1] = strdup(a[i].client_msg_id);
            }
        }
        store_message_array_free(a, n);
        if (n == 0)
            return (size_t)after;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every client_msg_id at most once. */
static void check_unique(char **cmids, size_t n)
{
    qsort(cmids, n, sizeof *cmids, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(cmids[i - 1], cmids[i]) == 0)
            fail_msg("client_msg_id %s stored twice", cmids[i]);
}

/* ------------------------------------------------------ reader (poller) */

/* Polls messages_after on its own connection while writers run, and checks
 * that each page continues the last one seen without a hole: a seq k+1 is
 * never visible without k. */
struct reader {
    const char *uri;
    const char *chat_id;
    int stop;           /* __atomic: set by the test thread */
    uint64_t seen;      /* highest seq seen */
    long polls;
    int error;          /* 0 ok, 1 gap seen, 2 store error */
    char msg[160];
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    store_t *s = NULL;
    if (store_open(r->uri, NULL, &s) != STORE_OK) {
        r->error = 2;
        snprintf(r->msg, sizeof r->msg, "open: %s", store_last_error(NULL));
        return NULL;
    }
    while (!r->error) {
        int last_round = __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); /* one more full read */
        for (;;) {
            store_message *a = NULL;
            size_t n = 0;
            int rc = store_messages_after(s, r->chat_id, r->seen, 500, &a, &n);
            if (rc != STORE_OK) {
                r->error = 2;
                snprintf(r->msg, sizeof r->msg, "messages_after: %s", store_last_error(s));
                break;
            }
            for (size_t i = 0; i < n && !r->error; i++) {
                if (a[i].seq != r->seen + 1) {
                    r->error = 1;
                    snprintf(r->msg, sizeof r->msg, "reader saw seq %llu right after %llu",
                             (unsigned long long)a[i].seq, (unsigned long long)r->seen);
                }
                r->seen = a[i].seq;
            }
            store_message_array_free(a, n);
            r->polls++;
            if (n < 500)
                break;
        }
        if (last_round)
            break;
        usleep(200);
    }
    store_close(s);
    return NULL;
}

/* ------------------------------------------------------------------ tests */

/* store_message_append: seq must be 0; assigns 1, 2, ...; a retry gets the
 * original seq and server_id (also on another connection and after the
 * store is closed and reopened); nothing new is stored. */
static void test_append_api(void **state)
{
    conf_state *st = *state;
    store_message m, r;
    store_t *other = NULL;
    store_chat c;

    conf_make_chat(st->s, "g:ap", STORE_CHAT_GROUP);
    conf_make_msg(&m, "g:ap", "alice", "ap-1", 5, 10, 'x');
    assert_int_equal(store_message_append(st->s, &m), STORE_EINVAL);   /* seq != 0 */
    m.seq = 0;
    assert_int_equal(store_message_append(st->s, &m), STORE_OK);
    assert_int_equal(m.seq, 1);
    store_message_free(&m);
    conf_make_msg(&m, "g:ap", "bob", "ap-2", 0, 10, 'x');
    assert_int_equal(store_message_append(st->s, &m), STORE_OK);
    assert_int_equal(m.seq, 2);
    store_message_free(&m);
    conf_make_msg(&m, "g:nochat", "bob", "ap-3", 0, 10, 'x');
    assert_int_equal(store_message_append(st->s, &m), STORE_ENOTFOUND);
    assert_int_equal(m.seq, 0);
    store_message_free(&m);

    /* the retry, on another connection, with another server_id */
    assert_int_equal(store_open(st->uri, NULL, &other), STORE_OK);
    conf_make_msg(&r, "g:ap", "alice", "ap-1", 0, 10, 'y');
    free(r.server_id);
    r.server_id = strdup("retry-server-id");
    assert_int_equal(store_message_append(other, &r), STORE_EDUP);
    assert_int_equal(r.seq, 1);
    assert_string_not_equal(r.server_id, "retry-server-id");
    assert_int_equal(store_message_get(other, "g:ap", 1, &m), STORE_OK);
    assert_string_equal(r.server_id, m.server_id);
    store_message_free(&m);
    store_message_free(&r);
    store_close(other);

    /* after a restart */
    store_close(st->s);
    st->s = NULL;
    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
    conf_make_msg(&r, "g:ap", "bob", "ap-2", 0, 10, 'z');
    assert_int_equal(store_message_append(st->s, &r), STORE_EDUP);
    assert_int_equal(r.seq, 2);
    store_message_free(&r);
    assert_int_equal(store_chat_get(st->s, "g:ap", &c), STORE_OK);
    assert_int_equal(c.last_seq, 2);
    store_chat_free(&c);
    assert_int_equal(check_gapless(st->s, "g:ap", NULL, 0), 2);
}

/* One batch: appends interleaved with ops that fail (unknown chat, invalid
 * message, duplicate, existing chat, seq not above last). The failures
 * consume no seq: the appends get 1..5 in submission order, and the
 * completions carry the assigned seq and the stored server_id. */
static void test_append_batch_with_failures_has_no_gaps(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = 64, .max_delay_ms = 20};
    store_writer *w = NULL;
    struct hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct res r[12];
    store_op *op;
    store_chat c;
    store_message m;

    memset(r, 0, sizeof r);
    conf_make_chat(st->s, "g:bf", STORE_CHAT_GROUP);
    conf_make_chat(st->s, "g:hold", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit(w, append_op("g:hold", "h", "hold", NULL), hold_cb, &h);
    hold_wait(&h);      /* everything below is one batch */
    submit(w, append_op("g:bf", "alice", "bf-1", "sid-1"), res_cb, &r[0]);
    submit(w, append_op("g:none", "alice", "bf-x1", NULL), res_cb, &r[1]);  /* no chat */
    op = append_op("g:bf", "alice", "bf-x2", NULL);
    op->u.message.kind = 9;                                                   /* invalid */
    submit(w, op, res_cb, &r[2]);
    submit(w, append_op("g:bf", "alice", "bf-2", "sid-2"), res_cb, &r[3]);
    submit(w, append_op("g:bf", "alice", "bf-1", "sid-dup"), res_cb, &r[4]); /* retry */
    op = store_op_new(STORE_OP_CHAT_PUT);                                     /* exists */
    assert_non_null(op);
    op->u.chat.chat_id = strdup("g:bf");
    op->u.chat.type = STORE_CHAT_GROUP;
    op->u.chat.created_at = 1;
    submit(w, op, res_cb, &r[5]);
    submit(w, append_op("g:bf", "bob", "bf-3", "sid-3"), res_cb, &r[6]);
    op = append_op("g:bf", "bob", "bf-x3", NULL);
    op->u.message.seq = 1;                                                    /* not above */
    submit(w, op, res_cb, &r[7]);
    submit(w, append_op("g:bf", "bob", "bf-4", "sid-4"), res_cb, &r[8]);
    submit(w, append_op("g:bf", "bob", "bf-3", "sid-dup2"), res_cb, &r[9]);  /* retry */
    submit(w, append_op("g:bf", "carol", "bf-5", "sid-5"), res_cb, &r[10]);
    hold_release(&h);
    store_writer_stop(w);

    for (int i = 0; i < 11; i++)
        assert_int_equal(r[i].calls, 1);
    assert_int_equal(r[0].rc, STORE_OK);
    assert_int_equal(r[0].seq, 1);
    assert_string_equal(r[0].server_id, "sid-1");
    assert_int_equal(r[1].rc, STORE_ENOTFOUND);
    assert_int_equal(r[1].seq, 0);
    assert_int_equal(r[2].rc, STORE_EINVAL);
    assert_int_equal(r[2].seq, 0);
    assert_int_equal(r[3].rc, STORE_OK);
    assert_int_equal(r[3].seq, 2);
    assert_int_equal(r[4].rc, STORE_EDUP);
    assert_int_equal(r[4].seq, 1);
    assert_string_equal(r[4].server_id, "sid-1");
    assert_int_equal(r[5].rc, STORE_EEXIST);
    assert_int_equal(r[6].rc, STORE_OK);
    assert_int_equal(r[6].seq, 3);
    assert_int_equal(r[7].rc, STORE_EINVAL);
    assert_int_equal(r[8].rc, STORE_OK);
    assert_int_equal(r[8].seq, 4);
    assert_int_equal(r[9].rc, STORE_EDUP);
    assert_int_equal(r[9].seq, 3);
    assert_string_equal(r[9].server_id, "sid-3");
    assert_int_equal(r[10].rc, STORE_OK);
    assert_int_equal(r[10].seq, 5);

    assert_int_equal(check_gapless(st->s, "g:bf", NULL, 0), 5);
    assert_int_equal(store_chat_get(st->s, "g:bf", &c), STORE_OK);
    assert_int_equal(c.last_seq, 5);
    store_chat_free(&c);
    assert_int_equal(store_message_get(st->s, "g:bf", 4, &m), STORE_OK);
    assert_string_equal(m.client_msg_id, "bf-4");
    assert_string_equal(m.server_id, "sid-4");
    store_message_free(&m);
    /* the next append continues at 6 */
    conf_make_msg(&m, "g:bf", "dave", "bf-6", 0, 10, 'x');
    assert_int_equal(store_message_append(st->s, &m), STORE_OK);
    assert_int_equal(m.seq, 6);
    store_message_free(&m);
}

/* One batch of appends interleaved over several chats (a backend may read
 * and write each chat's last seq once per run of message puts instead of
 * once per message): every chat gets its own gapless seqs, an explicit seq
 * above the chat's last one is taken and the next append follows it, one
 * not above is refused, a retry of a message stored before the batch gets
 * its original seq, and each chat's last_seq and last_message_at are those
 * of its newest message (last_message_at the highest server_ts, also when
 * a later message carries an older one). */
static void test_append_run_over_chats(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = 64, .max_delay_ms = 20};
    store_writer *w = NULL;
    struct hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct res r[9];
    store_op *op;
    store_chat c;
    store_message m;
    static const int64_t ts[9] = {7001, 7002, 7003, 7004, 7005, 7006, 7007, 6000, 7009};

    memset(r, 0, sizeof r);
    conf_make_chat(st->s, "g:r1", STORE_CHAT_GROUP);
    conf_make_chat(st->s, "g:r2", STORE_CHAT_GROUP);
    conf_make_chat(st->s, "g:r3", STORE_CHAT_GROUP);
    conf_make_chat(st->s, "g:hold", STORE_CHAT_GROUP);
    for (int i = 0; i < 2; i++) {       /* g:r3 has seqs 1 and 2 before the batch */
        char cmid[16];
        snprintf(cmid, sizeof cmid, "pre-%d", i);
        conf_make_msg(&m, "g:r3", "carol", cmid, 0, 10, 'p');
        assert_int_equal(store_message_append(st->s, &m), STORE_OK);
        store_message_free(&m);
    }
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit(w, append_op("g:hold", "h", "hold", NULL), hold_cb, &h);
    hold_wait(&h);      /* everything below is one batch, one run of puts */
    const char *chat[9] = {"g:r1", "g:r2", "g:r1", "g:r3", "g:r1", "g:r2", "g:r3", "g:r2", "g:r1"};
    const char *cmid[9] = {"a1", "b1", "a2", "c1", "a10", "b-old", "pre-0", "b2", "a11"};
    for (int i = 0; i < 9; i++) {
        op = append_op(chat[i], i == 6 ? "carol" : "alice", cmid[i], NULL);
        op->u.message.server_ts = ts[i];
        if (i == 4)
            op->u.message.seq = 10;     /* explicit, above g:r1's last (2) */
        if (i == 5)
            op->u.message.seq = 1;      /* explicit, not above g:r2's last (1) */
        if (i == 4)
            op->u.message.sender_device = strdup("dev-x"); /* a run keeps every column */
        submit(w, op, res_cb, &r[i]);
    }
    hold_release(&h);
    store_writer_stop(w);

    static const int want_rc[9] = {STORE_OK,     STORE_OK,   STORE_OK, STORE_OK, STORE_OK,
                                   STORE_EINVAL, STORE_EDUP, STORE_OK, STORE_OK};
    static const uint64_t want_seq[9] = {1, 1, 2, 3, 10, 1, 1, 2, 11};
    for (int i = 0; i < 9; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, want_rc[i]);
        if (want_rc[i] != STORE_EINVAL)
            assert_int_equal(r[i].seq, want_seq[i]);
    }
    assert_string_equal(r[6].server_id, "srv-carol-pre-0");

    static const struct {
        const char *id;
        uint64_t last;
        int64_t at;
    } want[3] = {{"g:r1", 11, 7009}, {"g:r2", 2, 7002}, {"g:r3", 3, 7004}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_chat_get(st->s, want[i].id, &c), STORE_OK);
        assert_int_equal(c.last_seq, want[i].last);
        assert_int_equal(c.last_message_at, want[i].at);
        store_chat_free(&c);
    }
    assert_int_equal(check_gapless(st->s, "g:r2", NULL, 0), 2);
    assert_int_equal(check_gapless(st->s, "g:r3", NULL, 0), 3);
    assert_int_equal(store_message_get(st->s, "g:r1", 10, &m), STORE_OK);
    assert_string_equal(m.client_msg_id, "a10");
    assert_non_null(m.sender_device);
    assert_string_equal(m.sender_device, "dev-x");
    store_message_free(&m);
    assert_int_equal(store_message_get_by_client_id(st->s, "alice", "b-old", &m), STORE_ENOTFOUND);
    /* after the batch, appends continue where each chat's run left it */
    conf_make_msg(&m, "g:r1", "dave", "a12", 0, 10, 'x');
    assert_int_equal(store_message_append(st->s, &m), STORE_OK);
    assert_int_equal(m.seq, 12);
    store_message_free(&m);
}

/* SQLite: another connection holds the write lock longer than the busy
 * timeout, then lets go: the writer retries the batch and nothing fails
 * (normal contention never surfaces as a failed message). */
static void test_append_busy_is_retried(void **state)
{
    conf_state *st = *state;
    store_options so = {.busy_timeout_ms = 50};
    store_writer_options wo = {.batch_max = 64};
    store_writer *w = NULL;
    store_writer_stats stats;
    struct res r[3];
    char id[16];

    if (!conf_is_sqlite)
        skip();
    memset(r, 0, sizeof r);
    conf_make_chat(st->s, "g:busy", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, &so, &wo, &w), STORE_OK);
    assert_int_equal(store_begin(st->s), STORE_OK);     /* BEGIN IMMEDIATE: write lock */
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "b%d", i);
        submit(w, append_op("g:busy", "alice", id, NULL), res_cb, &r[i]);
    }
    /* hold the lock until the writer has found it busy and rerun the batch
     * at least once (well inside its 10 s retry budget), then let go */
    for (int i = 0; i < WAIT_LIMIT_S * 1000; i++) {
        store_writer_get_stats(w, &stats);
        if (stats.batch_retries >= 1)
            break;
        usleep(1000);
    }
    assert_true(stats.batch_retries >= 1);
    assert_int_equal(store_writer_pending(w), 3);   /* nothing failed meanwhile */
    assert_int_equal(store_rollback(st->s), STORE_OK);
    conf_wait_drained(w, WAIT_LIMIT_S);
    store_writer_get_stats(w, &stats);
    store_writer_stop(w);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, STORE_OK);
        assert_int_equal(r[i].seq, (uint64_t)i + 1);
    }
    assert_true(stats.batch_retries >= 1);
    assert_int_equal(check_gapless(st->s, "g:busy", NULL, 0), 3);
}

#define MW_WRITERS 3
#define MW_OWN 600          /* own messages per writer */
#define MW_SHARED 150       /* client ids every writer submits (retries of each other) */

struct mw_writer {
    const char *uri;
    int id;
    struct res own[MW_OWN];
    struct res shared[MW_SHARED];
    int rc;
};

static void *mw_main(void *arg)
{
    struct mw_writer *x = arg;
    store_writer_options wo = {.batch_max = 32, .max_delay_ms = 1};
    store_writer *w = NULL;
    char cmid[48], sid[48];
    if ((x->rc = store_writer_start(x->uri, NULL, &wo, &w)) != STORE_OK)
        return NULL;
    for (int i = 0; i < MW_OWN; i++) {
        snprintf(cmid, sizeof cmid, "w%d-%d", x->id, i);
        submit(w, append_op("g:mw", "mw", cmid, NULL), res_cb, &x->own[i]);
        if (i % 4 == 0 && i / 4 < MW_SHARED) {
            snprintf(cmid, sizeof cmid, "shared-%d", i / 4);
            snprintf(sid, sizeof sid, "sid-w%d-shared-%d", x->id, i / 4);
            submit(w, append_op("g:mw", "mw", cmid, sid), res_cb, &x->shared[i / 4]);
        }
        if (i % 50 == 0)
            usleep(500);    /* let the writers interleave */
    }
    store_writer_stop(w);
    return NULL;
}

/* Three writers, each on its own connection and thread, append to one chat
 * while a reader polls: gapless, each client id once, retries agree. */
static void test_append_multi_writer(void **state)
{
    conf_state *st = *state;
    struct mw_writer *x = calloc(MW_WRITERS, sizeof *x);
    pthread_t th[MW_WRITERS], rt;
    struct reader rd = {.uri = st->uri, .chat_id = "g:mw"};
    size_t total = MW_WRITERS * MW_OWN + MW_SHARED, n;
    char **cmids = calloc(total + 1, sizeof *cmids);
    store_message m;
    char cmid[48];

    assert_non_null(x);
    assert_non_null(cmids);
    conf_make_chat(st->s, "g:mw", STORE_CHAT_GROUP);
    assert_int_equal(pthread_create(&rt, NULL, reader_main, &rd), 0);
    for (int i = 0; i < MW_WRITERS; i++) {
        x[i].uri = st->uri;
        x[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, mw_main, &x[i]), 0);
    }
    for (int i = 0; i < MW_WRITERS; i++)
        pthread_join(th[i], NULL);
    __atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);
    if (rd.error)
        fail_msg("reader: %s", rd.msg);
    print_message("multi-writer: reader polled %ld times, saw up to seq %llu\n", rd.polls,
                  (unsigned long long)rd.seen);

    for (int i = 0; i < MW_WRITERS; i++) {
        assert_int_equal(x[i].rc, STORE_OK);
        for (int j = 0; j < MW_OWN; j++) {
            assert_int_equal(x[i].own[j].calls, 1);
            assert_int_equal(x[i].own[j].rc, STORE_OK);
        }
    }
    for (int j = 0; j < MW_SHARED; j++) {
        int oks = 0;
        snprintf(cmid, sizeof cmid, "shared-%d", j);
        assert_int_equal(store_message_get_by_client_id(st->s, "mw", cmid, &m), STORE_OK);
        for (int i = 0; i < MW_WRITERS; i++) {
            struct res *r = &x[i].shared[j];
            assert_int_equal(r->calls, 1);
            assert_true(r->rc == STORE_OK || r->rc == STORE_EDUP);
            oks += r->rc == STORE_OK;
            assert_int_equal(r->seq, m.seq);
            assert_string_equal(r->server_id, m.server_id);
        }
        assert_int_equal(oks, 1);
        store_message_free(&m);
    }
    n = check_gapless(st->s, "g:mw", cmids, total);
    assert_int_equal(n, total);
    assert_int_equal(rd.seen, total);
    check_unique(cmids, n);
    for (size_t i = 0; i < n; i++)
        free(cmids[i]);
    free(cmids);
    free(x);
}

/* ---------------------------------------------- multi-process appenders */

#define MP_PROCS 3
#define MP_OWN 800
#define MP_SHARED 200

static FILE *mp_out;

static void mp_cb(store_op *op, int rc, void *ctx)
{
    (void)ctx;
    fprintf(mp_out, "%s %d %llu %s\n", op->u.message.client_msg_id, rc,
            (unsigned long long)op->u.message.seq,
            op->u.message.server_id ? op->u.message.server_id : "-");
}

/* The child ("store_conformance append-child URI ID OUTFILE"): its own
 * store_writer appends MP_OWN messages of its own and submits the MP_SHARED
 * client ids every child submits; each completion is logged to OUTFILE as
 * "cmid rc seq server_id". Exit 0 when every op was called back. */
int conf_append_child(const char *uri, int id, const char *outfile)
{
    store_writer_options wo = {.batch_max = 32, .max_delay_ms = 1};
    store_writer *w = NULL;
    store_writer_stats stats;
    char cmid[48], sid[64];
    int rc;

    mp_out = fopen(outfile, "w");
    if (!mp_out)
        return 3;
    if ((rc = store_writer_start(uri, NULL, &wo, &w)) != STORE_OK) {
        fprintf(stderr, "append-child: writer start: %s\n", store_last_error(NULL));
        return 3;
    }
    for (int i = 0; i < MP_OWN; i++) {
        store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
        if (!op)
            return 3;
        snprintf(cmid, sizeof cmid, "p%d-%d", id, i);
        conf_make_msg(&op->u.message, "g:mp", "mp", cmid, 0, 40, 'p');
        while (store_writer_submit(w, op, mp_cb, NULL) == STORE_ENOMEM)
            usleep(1000);
        if (i % 4 == 0 && i / 4 < MP_SHARED) {
            op = store_op_new(STORE_OP_MESSAGE_PUT);
            if (!op)
                return 3;
            snprintf(cmid, sizeof cmid, "shared-%d", i / 4);
            conf_make_msg(&op->u.message, "g:mp", "mp", cmid, 0, 40, 's');
            snprintf(sid, sizeof sid, "sid-p%d-shared-%d", id, i / 4);
            free(op->u.message.server_id);
            op->u.message.server_id = strdup(sid);
            while (store_writer_submit(w, op, mp_cb, NULL) == STORE_ENOMEM)
                usleep(1000);
        }
        if (i % 50 == 0)
            usleep(500);
    }
    conf_wait_drained(w, WAIT_LIMIT_S);
    store_writer_get_stats(w, &stats);
    store_writer_stop(w);
    fprintf(stderr, "append-child %d: %llu batches, %llu retried\n", id,
            (unsigned long long)stats.batches, (unsigned long long)stats.batch_retries);
    return fclose(mp_out) == 0 ? 0 : 4;
}

/* Three processes, each with its own store_writer on the same store,
 * append to one chat while this process polls it: every message stored
 * once, seqs 1..N, no failed op (SQLITE_BUSY never surfaces), and the
 * shared client ids got one seq and server_id in every process. */
static void test_append_multi_process(void **state)
{
    conf_state *st = *state;
    char self[1024], out[MP_PROCS][700], idbuf[16];
    pid_t pid[MP_PROCS];
    struct reader rd = {.uri = st->uri, .chat_id = "g:mp"};
    pthread_t rt;
    ssize_t len;
    size_t total = MP_PROCS * MP_OWN + MP_SHARED, n;
    char **cmids = calloc(total + 1, sizeof *cmids);
    uint64_t shared_seq[MP_SHARED];
    char shared_sid[MP_SHARED][96];
    int shared_ok[MP_SHARED];
    store_message m;

    assert_non_null(cmids);
    memset(shared_seq, 0, sizeof shared_seq);
    memset(shared_ok, 0, sizeof shared_ok);
    conf_make_chat(st->s, "g:mp", STORE_CHAT_GROUP);
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    assert_int_equal(pthread_create(&rt, NULL, reader_main, &rd), 0);
    for (int i = 0; i < MP_PROCS; i++) {
        snprintf(out[i], sizeof out[i], "%s/append-%ld-%ld-%d",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), (long)conf_now_ms(),
                 i);
        snprintf(idbuf, sizeof idbuf, "%d", i);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            execl(self, self, "append-child", st->uri, idbuf, out[i], (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < MP_PROCS; i++) {
        int status = 0, done = 0;
        for (int t = 0; t < WAIT_LIMIT_S * 100 && !done; t++) {
            if (waitpid(pid[i], &status, WNOHANG) == pid[i])
                done = 1;
            else
                usleep(10000);
        }
        if (!done) {
            kill(pid[i], SIGKILL);
            waitpid(pid[i], &status, 0);
        }
        if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("append-child %d failed (status %d)", i, status);
    }
    __atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);
    if (rd.error)
        fail_msg("reader: %s", rd.msg);
    print_message("multi-process: reader polled %ld times while 3 processes appended\n", rd.polls);

    /* every completion OK (or EDUP for a shared id); shared ids agree */
    for (int i = 0; i < MP_PROCS; i++) {
        FILE *f = fopen(out[i], "r");
        char cmid[64], sid[96];
        int rc, lines = 0;
        unsigned long long seq;
        assert_non_null(f);
        while (fscanf(f, "%63s %d %llu %95s", cmid, &rc, &seq, sid) == 4) {
            lines++;
            if (strncmp(cmid, "shared-", 7) == 0) {
                int k = atoi(cmid + 7);
                assert_true(k >= 0 && k < MP_SHARED);
                if (rc != STORE_OK && rc != STORE_EDUP)
                    fail_msg("%s: %s", cmid, store_strerror(rc));
                shared_ok[k] += rc == STORE_OK;
                if (shared_seq[k] == 0) {
                    shared_seq[k] = seq;
                    snprintf(shared_sid[k], sizeof shared_sid[k], "%s", sid);
                } else {
                    assert_int_equal(shared_seq[k], seq);
                    assert_string_equal(shared_sid[k], sid);
                }
            } else if (rc != STORE_OK) {
                fail_msg("%s failed: %s", cmid, store_strerror(rc));
            }
        }
        fclose(f);
        unlink(out[i]);
        assert_int_equal(lines, MP_OWN + MP_SHARED);
    }
    for (int k = 0; k < MP_SHARED; k++) {
        char cmid[32];
        assert_int_equal(shared_ok[k], 1);
        snprintf(cmid, sizeof cmid, "shared-%d", k);
        assert_int_equal(store_message_get_by_client_id(st->s, "mp", cmid, &m), STORE_OK);
        assert_int_equal(m.seq, shared_seq[k]);
        assert_string_equal(m.server_id, shared_sid[k]);
        store_message_free(&m);
    }
    n = check_gapless(st->s, "g:mp", cmids, total);
    assert_int_equal(n, total);
    assert_int_equal(rd.seen, total);
    check_unique(cmids, n);
    for (size_t i = 0; i < n; i++)
        free(cmids[i]);
    free(cmids);
}

/* A retry submitted to a new writer after the first one stopped (a broker
 * restart) and, separately, after the store was reopened: the original seq
 * and server_id, nothing stored. */
static void test_append_retry_after_restart(void **state)
{
    conf_state *st = *state;
    store_writer *w = NULL;
    struct res a, b, c2;
    store_chat c;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c2, 0, sizeof c2);
    conf_make_chat(st->s, "g:rs", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, NULL, &w), STORE_OK);
    submit(w, append_op("g:rs", "alice", "rs-0", "first-sid-0"), res_cb, &c2);
    submit(w, append_op("g:rs", "alice", "rs-1", "first-sid"), res_cb, &a);
    store_writer_stop(w);
    assert_int_equal(a.rc, STORE_OK);
    assert_int_equal(a.seq, 2);

    store_close(st->s);     /* restart: every connection closed */
    st->s = NULL;
    assert_int_equal(store_writer_start(st->uri, NULL, NULL, &w), STORE_OK);
    submit(w, append_op("g:rs", "alice", "rs-1", "second-sid"), res_cb, &b);
    store_writer_stop(w);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.rc, STORE_EDUP);
    assert_int_equal(b.seq, 2);
    assert_string_equal(b.server_id, "first-sid");

    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
    assert_int_equal(store_chat_get(st->s, "g:rs", &c), STORE_OK);
    assert_int_equal(c.last_seq, 2);
    store_chat_free(&c);
    assert_int_equal(check_gapless(st->s, "g:rs", NULL, 0), 2);
}

const struct CMUnitTest conf_seq_tests[] = {
    cmocka_unit_test_setup_teardown(test_append_api, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_batch_with_failures_has_no_gaps, conf_setup,
                                    conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_run_over_chats, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_busy_is_retried, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_multi_writer, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_multi_process, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_append_retry_after_restart, conf_setup, conf_teardown),
};
const size_t conf_seq_tests_n = sizeof conf_seq_tests / sizeof conf_seq_tests[0];
