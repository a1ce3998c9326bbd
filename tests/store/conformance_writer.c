/*
 * conformance_writer.c - the async group-commit writer (store_writer.h)
 * against each backend, and the crash test: a child process writes through
 * the writer and logs every acknowledged write; it is killed with SIGKILL
 * mid-stream and every acknowledged write must be in the store.
 *
 * To make batching deterministic (never timing-dependent), tests hold the
 * writer thread inside the first op's callback (a "gate") while they queue
 * the rest.
 */
#include "conformance.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_S 120    /* generous bound for anything the tests wait on */

/* ------------------------------------------------------------- helpers */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
};

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->entered = g->released = 0;
}

static void deadline_in(struct timespec *ts, int seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

/* Writer callback of the gate op: signal "entered", block until released
 * (or WAIT_LIMIT_S, so a failed test never hangs the writer forever). */
static void gate_cb(store_op *op, int rc, void *ctx)
{
    struct gate *g = ctx;
    struct timespec dl;
    (void)op;
    (void)rc;
    deadline_in(&dl, WAIT_LIMIT_S);
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->released)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(struct gate *g)
{
    struct timespec dl;
    deadline_in(&dl, WAIT_LIMIT_S);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g->mu);
    assert_true(g->entered);
}

static void gate_release(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static store_op *chat_op(store_op_type type, const char *chat_id)
{
    store_op *op = store_op_new(type);
    assert_non_null(op);
    op->u.chat.chat_id = strdup(chat_id);
    op->u.chat.type = STORE_CHAT_GROUP;
    op->u.chat.created_at = 1;
    return op;
}

static store_op *msg_op(const char *chat_id, const char *sender, const char *cmid, uint64_t seq)
{
    store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
    assert_non_null(op);
    conf_make_msg(&op->u.message, chat_id, sender, cmid, seq, 100, 'm');
    return op;
}

static store_op *member_op(store_op_type type, const char *chat_id, const char *user_id,
                           store_role role)
{
    store_op *op = store_op_new(type);
    assert_non_null(op);
    op->u.member.chat_id = strdup(chat_id);
    op->u.member.user_id = strdup(user_id);
    op->u.member.role = role;
    return op;
}

/* Per-op record filled by record_cb. */
struct result {
    int calls;
    int rc;
    uint64_t seq;
    char server_id[64];
};

static void record_cb(store_op *op, int rc, void *ctx)
{
    struct result *r = ctx;
    r->calls++;
    r->rc = rc;
    if (op->type == STORE_OP_MESSAGE_PUT) {
        r->seq = op->u.message.seq;
        snprintf(r->server_id, sizeof r->server_id, "%s",
                 op->u.message.server_id ? op->u.message.server_id : "");
    }
}

static void submit_ok(store_writer *w, store_op *op, store_done_cb cb, void *ctx)
{
    int rc = store_writer_submit(w, op, cb, ctx);
    if (rc != STORE_OK)
        fail_msg("submit: %s", store_strerror(rc));
}

/* ------------------------------------------------------------------ tests */

#define GC_OPS 1000
#define GC_BATCH 64

/* Ops queued while the writer is busy are committed together: batches hold
 * more than one op, every callback fires exactly once with its own result,
 * seqs are assigned in submission order. */
static void test_writer_group_commit(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = GC_BATCH, .max_delay_ms = 20};
    store_writer *w = NULL;
    struct result *res = calloc(GC_OPS, sizeof *res);
    struct gate g;
    store_chat c;
    char id[32];

    assert_non_null(res);
    gate_init(&g);
    conf_make_chat(st->s, "g:gc", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);

    submit_ok(w, msg_op("g:gc", "alice", "gc-0", 0), gate_cb, &g);
    gate_wait_entered(&g);
    for (int i = 1; i < GC_OPS; i++) {
        snprintf(id, sizeof id, "gc-%d", i);
        submit_ok(w, msg_op("g:gc", "alice", id, 0), record_cb, &res[i]);
    }
    assert_true(store_writer_pending(w) >= GC_OPS - 1);
    gate_release(&g);
    store_writer_stop(w);   /* drains */

    for (int i = 1; i < GC_OPS; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].rc, STORE_OK);
        assert_int_equal(res[i].seq, (uint64_t)i + 1);
    }
    assert_int_equal(store_chat_get(st->s, "g:gc", &c), STORE_OK);
    assert_int_equal(c.last_seq, GC_OPS);
    store_chat_free(&c);
    free(res);
}

/* The stats of a writer whose 1000 ops were queued behind a gate. */
static void test_writer_stats(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = GC_BATCH, .max_delay_ms = 20};
    store_writer *w = NULL;
    store_writer_stats stats;
    struct result *res = calloc(GC_OPS, sizeof *res);
    struct gate g;
    char id[32];

    assert_non_null(res);
    gate_init(&g);
    conf_make_chat(st->s, "g:st", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit_ok(w, msg_op("g:st", "alice", "st-0", 0), gate_cb, &g);
    gate_wait_entered(&g);
    for (int i = 1; i < GC_OPS; i++) {
        snprintf(id, sizeof id, "st-%d", i);
        submit_ok(w, msg_op("g:st", "alice", id, 0), record_cb, &res[i]);
    }
    gate_release(&g);
    conf_wait_drained(w, WAIT_LIMIT_S);
    assert_int_equal(store_writer_pending(w), 0);
    store_writer_get_stats(w, &stats);
    store_writer_stop(w);
    assert_int_equal(stats.ops, GC_OPS);
    /* the gate op alone, then full batches of GC_BATCH */
    assert_true(stats.batches >= 1 + (GC_OPS - 1 + GC_BATCH - 1) / GC_BATCH);
    assert_true(stats.batches <= 2 + (GC_OPS - 1 + GC_BATCH - 1) / GC_BATCH);
    assert_true(stats.batches < stats.ops / 2);
    assert_true(stats.commit_us_total >= stats.commit_us_max);
    assert_true(stats.commit_us_max > 0);
    free(res);
}

/* The batch delay counts from when the oldest op was queued: ops that queued
 * while the writer was busy have waited already, so their batch goes at once
 * instead of waiting for the delay on top. The writer is held in the first
 * op's callback (a gate) for longer than the delay while op 1 queues; op 1's
 * batch must be taken well before "release + delay", the old behaviour (a
 * margin of a whole delay, so a slow machine cannot fail it). Also: the
 * batch times a callback sees are ordered, and are 0 on another thread. */
#define AGE_DELAY_MS 1500

struct timed_result {
    store_writer_times times;
    int calls;
};

static void timed_cb(store_op *op, int rc, void *ctx)
{
    struct timed_result *r = ctx;
    (void)op;
    assert_int_equal(rc, STORE_OK);
    store_writer_batch_times(&r->times);
    r->calls++;
}

static void test_writer_delay_counts_from_oldest_op(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = 64, .max_delay_ms = AGE_DELAY_MS};
    store_writer *w = NULL;
    struct gate g;
    struct timed_result r = {0};
    store_writer_times here;
    struct timespec hold = {0, (AGE_DELAY_MS + 100) * 1000000L};
    hold.tv_sec = hold.tv_nsec / 1000000000L;
    hold.tv_nsec %= 1000000000L;

    gate_init(&g);
    conf_make_chat(st->s, "g:age", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit_ok(w, msg_op("g:age", "alice", "age-0", 0), gate_cb, &g);
    gate_wait_entered(&g);
    uint64_t submitted = (uint64_t)clock_mono_us();
    submit_ok(w, msg_op("g:age", "alice", "age-1", 0), timed_cb, &r);
    nanosleep(&hold, NULL); /* op 1 is now older than the delay */
    uint64_t released = (uint64_t)clock_mono_us();
    gate_release(&g);
    store_writer_stop(w); /* drains */

    assert_int_equal(r.calls, 1);
    assert_true(r.times.taken_us >= released);
    assert_true(r.times.applied_us >= r.times.taken_us);
    assert_true(r.times.committed_us >= r.times.applied_us);
    /* Taken at once, not AGE_DELAY_MS after the release. */
    assert_true(r.times.taken_us - submitted < 2 * (uint64_t)AGE_DELAY_MS * 1000u);
    store_writer_batch_times(&here);
    assert_true(here.taken_us == 0 && here.applied_us == 0 && here.committed_us == 0);
}

/* SQLite: the writer's connection never checkpoints in its commits; the
 * checkpoint thread does (PASSIVE), while a reader on another connection
 * keeps reading. Messages with 2 KiB bodies are written until a checkpoint
 * has run (at most 60,000: 120 MiB of bodies, four times the 8000-page
 * threshold), then 50,000 more queued at once, so the writer commits batch
 * after batch with no pause (in which the WAL would start over by itself):
 * the WAL file stays near its limit (sqlite_ckpt.c; without the rules there
 * it grew past 500 MB), and every message is in the store after the writer
 * stops. */
#define CK_CHUNK 1000
#define CK_MAX 60000
#define CK_BURST 50000
#define CK_WAL_MAX (80LL * 1024 * 1024) /* 2 x 8000 pages + a batch, with room */

/* Queue count 2 KiB messages "ck-FIRST".. to g:ck; the next number. */
static int submit_bodies(store_writer *w, int first, int count)
{
    char id[32];
    for (int n = first; n < first + count; n++) {
        store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
        assert_non_null(op);
        snprintf(id, sizeof id, "ck-%d", n);
        conf_make_msg(&op->u.message, "g:ck", "alice", id, 0, 2048, 'c');
        submit_ok(w, op, NULL, NULL);
    }
    return first + count;
}

static void test_writer_background_checkpoints(void **state)
{
    conf_state *st = *state;
    store_writer *w = NULL;
    store_writer_stats stats = {0};
    store_message m;
    store_chat c;
    int n = 0;
    struct timespec pause = {0, 10 * 1000 * 1000};

    if (!conf_is_sqlite)
        skip();
    conf_make_chat(st->s, "g:ck", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, NULL, &w), STORE_OK);
    while (n < CK_MAX && stats.checkpoints.runs == 0) {
        n = submit_bodies(w, n, CK_CHUNK);
        conf_wait_drained(w, WAIT_LIMIT_S);
        assert_int_equal(store_writer_pending(w), 0);
        /* A reader on its own connection meanwhile. */
        assert_int_equal(store_message_get(st->s, "g:ck", 1, &m), STORE_OK);
        store_message_free(&m);
        /* The checkpoint runs on its own thread: give it a moment. */
        for (int i = 0; i < 100 && stats.checkpoints.runs == 0; i++) {
            store_writer_get_stats(w, &stats);
            if (stats.checkpoints.runs == 0)
                nanosleep(&pause, NULL);
        }
    }
    assert_true(stats.checkpoints.runs >= 1);
    n = submit_bodies(w, n, CK_BURST);
    conf_wait_drained(w, WAIT_LIMIT_S);
    assert_int_equal(store_writer_pending(w), 0);
    char wal[600];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_true((long long)sb.st_size <= CK_WAL_MAX);
    store_writer_get_stats(w, &stats);
    store_writer_stop(w);
    assert_true(stats.checkpoints.frames > 0);
    assert_true(stats.checkpoints.us_total >= stats.checkpoints.us_max);
    assert_int_equal(store_chat_get(st->s, "g:ck", &c), STORE_OK);
    assert_int_equal(c.last_seq, (uint64_t)n);
    store_chat_free(&c);
    assert_int_equal(store_message_get(st->s, "g:ck", (uint64_t)n, &m), STORE_OK);
    assert_int_equal(m.body_len, 2048);
    store_message_free(&m);
}

/* Every op of one batch gets its own result; failing ops change nothing and
 * do not stop the others from committing. */
static void test_writer_per_op_results(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = 256, .max_delay_ms = 5};
    store_writer *w = NULL;
    store_writer_stats stats;
    struct result r[16];
    struct gate g;
    store_member mem;
    store_chat c;
    store_message m;
    store_op *op;
    int k = 0;

    memset(r, 0, sizeof r);
    gate_init(&g);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit_ok(w, chat_op(STORE_OP_CHAT_PUT, "g:gate"), gate_cb, &g);
    gate_wait_entered(&g);

    submit_ok(w, chat_op(STORE_OP_CHAT_PUT, "g:w"), record_cb, &r[0]);
    submit_ok(w, msg_op("g:w", "alice", "w1", 0), record_cb, &r[1]);
    submit_ok(w, msg_op("g:w", "alice", "w1", 0), record_cb, &r[2]);      /* retry */
    submit_ok(w, msg_op("g:nochat", "alice", "w2", 0), record_cb, &r[3]);
    submit_ok(w, msg_op("g:w", "alice", "w3", 1), record_cb, &r[4]);      /* seq taken */
    submit_ok(w, member_op(STORE_OP_MEMBER_PUT, "g:w", "bob", STORE_ROLE_MEMBER), record_cb, &r[5]);
    op = store_op_new(STORE_OP_MEMBER_ADVANCE);
    assert_non_null(op);
    op->u.advance.chat_id = strdup("g:w");
    op->u.advance.user_id = strdup("bob");
    op->u.advance.delivered_seq = 1;
    op->u.advance.read_seq = 1;
    submit_ok(w, op, record_cb, &r[6]);
    submit_ok(w, member_op(STORE_OP_MEMBER_SET_ROLE, "g:w", "bob", STORE_ROLE_ADMIN), record_cb,
              &r[7]);
    submit_ok(w, chat_op(STORE_OP_CHAT_PUT, "g:w"), record_cb, &r[8]);    /* exists */
    op = chat_op(STORE_OP_CHAT_UPDATE, "g:w");
    op->u.chat.name = strdup("renamed");
    submit_ok(w, op, record_cb, &r[9]);
    submit_ok(w, member_op(STORE_OP_MEMBER_REMOVE, "g:w", "carol", STORE_ROLE_MEMBER), record_cb,
              &r[10]);
    submit_ok(w, msg_op("g:w", "bob", "w4", 0), record_cb, &r[11]);
    op = member_op(STORE_OP_MEMBER_PUT, "g:w", "dave", STORE_ROLE_MEMBER);
    op->u.member.role = (store_role)42;                                    /* invalid */
    submit_ok(w, op, record_cb, &r[12]);
    k = 13;
    gate_release(&g);
    conf_wait_drained(w, WAIT_LIMIT_S);
    store_writer_get_stats(w, &stats);
    store_writer_stop(w);

    for (int i = 0; i < k; i++)
        assert_int_equal(r[i].calls, 1);
    assert_int_equal(stats.batches, 2);     /* the gate, then everything else */
    assert_int_equal(r[0].rc, STORE_OK);
    assert_int_equal(r[1].rc, STORE_OK);
    assert_int_equal(r[1].seq, 1);
    assert_int_equal(r[2].rc, STORE_EDUP);
    assert_int_equal(r[2].seq, 1);
    assert_string_equal(r[2].server_id, r[1].server_id);
    assert_int_equal(r[3].rc, STORE_ENOTFOUND);
    assert_int_equal(r[4].rc, STORE_EINVAL);
    assert_int_equal(r[5].rc, STORE_OK);
    assert_int_equal(r[6].rc, STORE_OK);
    assert_int_equal(r[7].rc, STORE_OK);
    assert_int_equal(r[8].rc, STORE_EEXIST);
    assert_int_equal(r[9].rc, STORE_OK);
    assert_int_equal(r[10].rc, STORE_ENOTFOUND);
    assert_int_equal(r[11].rc, STORE_OK);
    assert_int_equal(r[11].seq, 2);
    assert_int_equal(r[12].rc, STORE_EINVAL);

    assert_int_equal(store_member_get(st->s, "g:w", "bob", &mem), STORE_OK);
    assert_int_equal(mem.role, STORE_ROLE_ADMIN);
    assert_int_equal(mem.delivered_seq, 1);
    store_member_free(&mem);
    assert_int_equal(store_member_get(st->s, "g:w", "dave", &mem), STORE_ENOTFOUND);
    assert_int_equal(store_chat_get(st->s, "g:w", &c), STORE_OK);
    assert_string_equal(c.name, "renamed");
    assert_int_equal(c.last_seq, 2);
    store_chat_free(&c);
    assert_int_equal(store_message_get_by_client_id(st->s, "alice", "w3", &m), STORE_ENOTFOUND);
    assert_int_equal(store_message_get(st->s, "g:w", 2, &m), STORE_OK);
    assert_string_equal(m.client_msg_id, "w4");
    store_message_free(&m);
}

/* With queue_max pending ops, submit refuses (the op stays the caller's and
 * its callback never runs). */
static void test_writer_queue_max(void **state)
{
    conf_state *st = *state;
    store_writer_options wo = {.batch_max = 256, .max_delay_ms = 1, .queue_max = 10};
    store_writer *w = NULL;
    struct result r[10], never;
    struct gate g;
    store_op *op;
    char id[16];
    int accepted = 0, rc;

    memset(r, 0, sizeof r);
    memset(&never, 0, sizeof never);
    gate_init(&g);
    conf_make_chat(st->s, "g:q", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, &wo, &w), STORE_OK);
    submit_ok(w, msg_op("g:q", "alice", "q-gate", 0), gate_cb, &g);
    gate_wait_entered(&g);  /* the gate op is still pending: 1 of 10 */
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "q%d", i);
        submit_ok(w, msg_op("g:q", "alice", id, 0), record_cb, &r[i]);
        accepted++;
    }
    assert_int_equal(store_writer_pending(w), 10);
    op = msg_op("g:q", "alice", "q-refused", 0);
    rc = store_writer_submit(w, op, record_cb, &never);
    assert_int_equal(rc, STORE_ENOMEM);
    assert_string_equal(op->u.message.client_msg_id, "q-refused");  /* still ours */
    store_op_free(op);
    gate_release(&g);
    store_writer_stop(w);
    for (int i = 0; i < accepted; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, STORE_OK);
    }
    assert_int_equal(never.calls, 0);
    assert_int_equal(store_writer_submit(NULL, NULL, NULL, NULL), STORE_EINVAL);
}

#define DRAIN_OPS 3000

static void count_cb(store_op *op, int rc, void *ctx)
{
    int *n = ctx;
    (void)op;
    if (rc == STORE_OK)
        (*n)++;
}

/* stop() commits everything queued and runs every callback. */
static void test_writer_stop_drains(void **state)
{
    conf_state *st = *state;
    store_writer *w = NULL;
    store_chat c;
    char id[32];
    int ok = 0;

    conf_make_chat(st->s, "g:drain", STORE_CHAT_GROUP);
    assert_int_equal(store_writer_start(st->uri, NULL, NULL, &w), STORE_OK);
    for (int i = 0; i < DRAIN_OPS; i++) {
        snprintf(id, sizeof id, "d%d", i);
        submit_ok(w, msg_op("g:drain", "alice", id, 0), count_cb, &ok);
    }
    store_writer_stop(w);
    assert_int_equal(ok, DRAIN_OPS);
    assert_int_equal(store_chat_get(st->s, "g:drain", &c), STORE_OK);
    assert_int_equal(c.last_seq, DRAIN_OPS);
    store_chat_free(&c);
    store_writer_stop(NULL);
}

struct closer {
    store_writer *w;
    int closed;
    int probes;
};

static void probe_cb(store_op *op, int rc, void *ctx)
{
    (void)op;
    (void)rc;
    (void)ctx;
}

/* From a callback that runs while stop() is in progress, submit keeps
 * trying until it is refused with STORE_ECLOSED. */
static void closer_cb(store_op *op, int rc, void *ctx)
{
    struct closer *c = ctx;
    char id[32];
    (void)op;
    (void)rc;
    for (int i = 0; i < WAIT_LIMIT_S * 1000 && !c->closed; i++) {
        store_op *p = store_op_new(STORE_OP_CHAT_PUT);
        snprintf(id, sizeof id, "g:probe%d", i);
        p->u.chat.chat_id = strdup(id);
        p->u.chat.type = STORE_CHAT_GROUP;
        if (store_writer_submit(c->w, p, probe_cb, NULL) == STORE_ECLOSED) {
            c->closed = 1;
            store_op_free(p);
        } else {
            c->probes++;
            usleep(1000);
        }
    }
}

static void test_writer_refuses_after_stop(void **state)
{
    conf_state *st = *state;
    struct closer c = {0};
    assert_int_equal(store_writer_start(st->uri, NULL, NULL, &c.w), STORE_OK);
    submit_ok(c.w, chat_op(STORE_OP_CHAT_PUT, "g:closer"), closer_cb, &c);
    store_writer_stop(c.w);     /* the callback sees stop begin; probes drain */
    assert_int_equal(c.closed, 1);
}

/* SQLite: while another connection holds the write lock, the batch cannot
 * begin; every op of it reports the error and nothing is stored. Then the
 * writer recovers. */
static void test_writer_batch_failure(void **state)
{
    conf_state *st = *state;
    store_options so = {.busy_timeout_ms = 200};
    store_writer *w = NULL;
    struct result r[3], after;
    store_chat c;

    if (!conf_is_sqlite)
        skip();
    memset(r, 0, sizeof r);
    memset(&after, 0, sizeof after);
    assert_int_equal(store_writer_start(st->uri, &so, NULL, &w), STORE_OK);
    assert_int_equal(store_begin(st->s), STORE_OK);     /* BEGIN IMMEDIATE: write lock */
    submit_ok(w, chat_op(STORE_OP_CHAT_PUT, "g:f"), record_cb, &r[0]);
    submit_ok(w, msg_op("g:f", "alice", "f1", 0), record_cb, &r[1]);
    submit_ok(w, msg_op("g:f", "alice", "f2", 0), record_cb, &r[2]);
    conf_wait_drained(w, WAIT_LIMIT_S);
    assert_int_equal(store_writer_pending(w), 0);
    assert_int_equal(store_rollback(st->s), STORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, STORE_EUNAVAIL);
    }
    /* the appends' seqs were given back with the rolled-back batch */
    assert_int_equal(r[1].seq, 0);
    assert_int_equal(r[2].seq, 0);
    assert_int_equal(store_chat_get(st->s, "g:f", &c), STORE_ENOTFOUND);
    submit_ok(w, chat_op(STORE_OP_CHAT_PUT, "g:f"), record_cb, &after);
    store_writer_stop(w);
    assert_int_equal(after.rc, STORE_OK);
    assert_int_equal(store_chat_get(st->s, "g:f", &c), STORE_OK);
    store_chat_free(&c);
}

/* ------------------------------------------------------------- crash test */

#define CRASH_MIN_ACKS 400
#define CRASH_LINE 11       /* "k%09d\n" */

static int ack_fd = -1;

static void crash_ack_cb(store_op *op, int rc, void *ctx)
{
    char line[CRASH_LINE + 1];
    (void)ctx;
    if (rc != STORE_OK)
        return;
    snprintf(line, sizeof line, "%s\n", op->u.message.client_msg_id);
    if (write(ack_fd, line, CRASH_LINE) != CRASH_LINE)
        _exit(4);
}

int conf_crash_child(const char *uri, const char *ackfile)
{
    store_writer_options wo = {.batch_max = 64, .max_delay_ms = 2, .queue_max = 4096};
    store_writer *w = NULL;
    char id[16];
    time_t until = time(NULL) + 2 * WAIT_LIMIT_S;   /* if nobody kills us */

    ack_fd = open(ackfile, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (ack_fd < 0 || store_writer_start(uri, NULL, &wo, &w) != STORE_OK)
        return 3;
    for (unsigned i = 0; time(NULL) < until && i < 100000000u; i++) {
        store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
        if (!op)
            return 3;
        snprintf(id, sizeof id, "k%09u", i);
        conf_make_msg(&op->u.message, "g:crash", "crasher", id, 0, 100, 'c');
        while (store_writer_submit(w, op, crash_ack_cb, NULL) == STORE_ENOMEM)
            usleep(500);
    }
    store_writer_stop(w);
    return 5;   /* not killed in time */
}

static void test_crash_acked_writes_survive(void **state)
{
    conf_state *st = *state;
    char ackfile[600], self[1024];
    struct stat sb;
    pid_t pid;
    int status = 0, exited = 0;
    ssize_t len;
    char *buf;
    FILE *f;
    size_t lines, missing = 0;
    store_message m;
    store_chat c;

    conf_make_chat(st->s, "g:crash", STORE_CHAT_GROUP);
    store_close(st->s);     /* no open connection across fork */
    st->s = NULL;
    snprintf(ackfile, sizeof ackfile, "%s/crash-acks-%ld-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), (long)conf_now_ms());
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive a killed test */
        execl(self, self, "crash-child", st->uri, ackfile, (char *)NULL);
        _exit(127);
    }
    /* wait (bounded) until the child has acknowledged enough writes */
    for (int i = 0; i < WAIT_LIMIT_S * 100; i++) {
        if (stat(ackfile, &sb) == 0 && sb.st_size >= CRASH_MIN_ACKS * CRASH_LINE)
            break;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        usleep(10000);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (exited || !WIFSIGNALED(status))
        fail_msg("crash child ended on its own (status %d) before it was killed", status);
    assert_int_equal(stat(ackfile, &sb), 0);
    assert_true(sb.st_size >= CRASH_MIN_ACKS * CRASH_LINE);

    /* the store opens cleanly and holds every acknowledged write */
    assert_int_equal(store_open(st->uri, NULL, &st->s), STORE_OK);
    buf = malloc((size_t)sb.st_size + 1);
    assert_non_null(buf);
    f = fopen(ackfile, "rb");
    assert_non_null(f);
    lines = fread(buf, 1, (size_t)sb.st_size, f) / CRASH_LINE;
    fclose(f);
    for (size_t i = 0; i < lines; i++) {
        char *line = buf + i * CRASH_LINE;
        assert_int_equal(line[CRASH_LINE - 1], '\n');
        line[CRASH_LINE - 1] = '\0';
        if (store_message_get_by_client_id(st->s, "crasher", line, &m) != STORE_OK) {
            fprintf(stderr, "acknowledged write %s is missing\n", line);
            missing++;
        }
        store_message_free(&m);
    }
    assert_int_equal(store_chat_get(st->s, "g:crash", &c), STORE_OK);
    assert_true(c.last_seq >= lines);
    print_message("crash test: %zu acknowledged writes, %zu missing, %llu stored\n", lines, missing,
                  (unsigned long long)c.last_seq);
    store_chat_free(&c);
    free(buf);
    unlink(ackfile);
    assert_int_equal(missing, 0);
}

const struct CMUnitTest conf_writer_tests[] = {
    cmocka_unit_test_setup_teardown(test_writer_group_commit, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_stats, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_delay_counts_from_oldest_op, conf_setup,
                                    conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_background_checkpoints, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_per_op_results, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_queue_max, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_stop_drains, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_refuses_after_stop, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_writer_batch_failure, conf_setup, conf_teardown),
    cmocka_unit_test_setup_teardown(test_crash_acked_writes_survive, conf_setup, conf_teardown),
};
const size_t conf_writer_tests_n = sizeof conf_writer_tests / sizeof conf_writer_tests[0];
