/*
 * store_writer.c - the asynchronous group-commit writer (store_writer.h).
 *
 * Submitters append to a FIFO under a mutex; one thread takes up to
 * batch_max ops (letting a batch fill until its oldest op has waited
 * max_delay_ms; ops that queued during the previous commit go at once), applies
 * them between store_begin and store_commit on its own connection, then
 * calls every callback and frees the ops. Each op is atomic on its own (the
 * backend undoes a failing write without touching the rest of the
 * transaction), so one bad op does not poison its batch. Consecutive message
 * puts go to the backend as one run (store__message_put_many: MongoDB writes
 * them with one insertMany). A backend failure (STORE_EIO / ENOMEM /
 * EUNAVAIL) in an op, or a failed begin/commit, rolls the whole batch back.
 * STORE_EUNAVAIL (SQLite busy after the busy timeout, a MongoDB transient
 * transaction error or no primary) is retried: the whole batch runs again,
 * with every seq the rolled-back attempt assigned given back, for up to
 * RETRY_BUDGET_MS; any other backend failure, or EUNAVAIL past the budget,
 * fails every op of the batch with that error.
 */
#include "store_writer.h"
#include "store_backend.h"
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct item {
    store_op *op;
    store_done_cb cb;
    void *ctx;
    int rc;
    uint64_t seq0;              /* message put: the seq as submitted (0 = append) */
    uint64_t enq_us;            /* when it was queued (clock_mono_us) */
    struct item *next;
};

struct store_writer {
    store_t *s;
    store_writer_options opt;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* work arrived, batch full, or stop */
    struct item *head, *tail;   /* queued, not yet taken */
    size_t queued;              /* items in head..tail */
    size_t pending;             /* queued + being applied */
    bool stopping;
    store_writer_stats stats;
    store_message **run_msgs;   /* batch_max slots: a run of message puts */
    int *run_rcs;
};

/* The batch whose callbacks are running (store_writer_batch_times). */
static _Thread_local store_writer_times batch_times;

/* How long a batch failing with STORE_EUNAVAIL is retried. */
#define RETRY_BUDGET_MS 10000
#define RETRY_BACKOFF_MAX_MS 100

/* Apply one op on the writer's connection. */
static int apply(store_t *s, store_op *op)
{
    switch (op->type) {
    case STORE_OP_MESSAGE_PUT: return store_message_put(s, &op->u.message);
    case STORE_OP_MEMBER_ADVANCE:
        return store_member_advance(s, op->u.advance.chat_id, op->u.advance.user_id,
                                    op->u.advance.delivered_seq, op->u.advance.read_seq);
    case STORE_OP_CHAT_PUT: return store_chat_put(s, &op->u.chat);
    case STORE_OP_CHAT_UPDATE: return store_chat_update(s, &op->u.chat);
    case STORE_OP_MEMBER_PUT: return store_member_put(s, &op->u.member);
    case STORE_OP_MEMBER_REMOVE:
        return store_member_remove(s, op->u.member.chat_id, op->u.member.user_id);
    case STORE_OP_MEMBER_SET_ROLE:
        return store_member_set_role(s, op->u.member.chat_id, op->u.member.user_id,
                                     op->u.member.role);
    case STORE_OP_BARRIER: return STORE_OK;
    case STORE_OP_MESSAGE_TOMBSTONE:
        return store_message_tombstone(s, op->u.tombstone.chat_id, op->u.tombstone.seq,
                                       op->u.tombstone.deleted_by, op->u.tombstone.deleted_at);
    case STORE_OP_MESSAGES_EXPIRE:
        return store_messages_expire(s, op->u.expire.now, &op->u.expire.deleted);
    }
    return STORE_EINVAL;
}

static bool backend_failure(int rc)
{
    return rc == STORE_EIO || rc == STORE_ENOMEM || rc == STORE_EUNAVAIL;
}

/* Put the submitted seqs back (a rolled-back attempt assigned some). */
static void restore_seqs(struct item *batch)
{
    for (struct item *it = batch; it; it = it->next)
        if (it->op->type == STORE_OP_MESSAGE_PUT)
            it->op->u.message.seq = it->seq0;
}

/* One attempt: apply the batch in one transaction and set each item's rc.
 * Returns STORE_OK when committed (*commit_us set), else the error that
 * failed the whole batch (rolled back). */
static int run_batch_once(store_writer *w, struct item *batch, uint64_t *commit_us)
{
    struct item *it, *run;
    size_t n, i;
    uint64_t t0;
    int rc = store_begin(w->s);

    if (rc != STORE_OK)
        return rc;
    for (it = batch; it;) {
        if (it->op->type != STORE_OP_MESSAGE_PUT) {
            it->rc = apply(w->s, it->op);
            if (backend_failure(it->rc))
                goto fail;
            it = it->next;
            continue;
        }
        /* a run of consecutive message puts */
        for (run = it, n = 0; it && it->op->type == STORE_OP_MESSAGE_PUT; it = it->next)
            w->run_msgs[n++] = &it->op->u.message;
        store__message_put_many(w->s, w->run_msgs, w->run_rcs, n);
        for (i = 0; i < n; i++, run = run->next) {
            run->rc = w->run_rcs[i];
            if (backend_failure(run->rc)) {
                it = run;
                goto fail;
            }
        }
    }
    t0 = (uint64_t)clock_mono_us();
    batch_times.applied_us = t0;
    rc = store_commit(w->s);
    if (rc != STORE_OK)
        return rc;
    t0 = (uint64_t)clock_mono_us() - t0;
    *commit_us = t0 > 0 ? t0 : 1;
    return STORE_OK;
fail:
    rc = it->rc;
    store_rollback(w->s);
    return rc;
}

/* Apply a batch, retrying it while it fails with STORE_EUNAVAIL (within
 * RETRY_BUDGET_MS), and set each item's rc. Returns the commit time in
 * microseconds (0 if nothing was committed). */
static uint64_t run_batch(store_writer *w, struct item *batch)
{
    struct item *it;
    uint64_t commit_us = 0, start = (uint64_t)clock_mono_us();
    unsigned backoff_ms = 1;
    int rc;

    for (it = batch; it; it = it->next)
        if (it->op->type == STORE_OP_MESSAGE_PUT)
            it->seq0 = it->op->u.message.seq;
    for (;;) {
        rc = run_batch_once(w, batch, &commit_us);
        if (rc == STORE_OK)
            return commit_us;
        restore_seqs(batch);
        if (rc != STORE_EUNAVAIL ||
            (uint64_t)clock_mono_us() - start > (uint64_t)RETRY_BUDGET_MS * 1000u)
            break;
        struct timespec ts = {0, (long)backoff_ms * 1000000L};
        nanosleep(&ts, NULL);
        backoff_ms = backoff_ms * 2 < RETRY_BACKOFF_MAX_MS ? backoff_ms * 2 : RETRY_BACKOFF_MAX_MS;
        pthread_mutex_lock(&w->mu);    /* visible at once in the stats */
        w->stats.batch_retries++;
        pthread_mutex_unlock(&w->mu);
    }
    for (it = batch; it; it = it->next)
        it->rc = rc;
    return 0;
}

static void *writer_main(void *arg)
{
    store_writer *w = arg;
    struct item *batch, *last, *it, *next;
    size_t n;
    uint64_t commit_us;
    struct timespec deadline;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queued == 0 && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->queued == 0 && w->stopping)
            break;
        /* Let the batch fill until its oldest op has waited max_delay_ms.
         * Ops that queued up during the previous commit have waited already:
         * their batch goes at once, so no op waits for a commit and then
         * for the delay on top. */
        if (w->queued < w->opt.batch_max && !w->stopping && w->opt.max_delay_ms > 0) {
            uint64_t due = w->head->enq_us + (uint64_t)w->opt.max_delay_ms * 1000u;
            if (due > (uint64_t)clock_mono_us()) {
                deadline.tv_sec = (time_t)(due / 1000000u);
                deadline.tv_nsec = (long)(due % 1000000u) * 1000L;
                while (w->queued < w->opt.batch_max && !w->stopping)
                    if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT)
                        break;
            }
        }
        /* Take up to batch_max items. */
        batch = w->head;
        last = NULL;
        n = 0;
        for (it = w->head; it && n < w->opt.batch_max; it = it->next) {
            last = it;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->queued -= n;
        pthread_mutex_unlock(&w->mu);

        batch_times = (store_writer_times){.taken_us = (uint64_t)clock_mono_us()};
        commit_us = run_batch(w, batch);
        batch_times.committed_us = (uint64_t)clock_mono_us();
        for (it = batch; it; it = next) {
            next = it->next;
            if (it->cb)
                it->cb(it->op, it->rc, it->ctx);
            store_op_free(it->op);
            free(it);
        }

        pthread_mutex_lock(&w->mu);
        w->pending -= n;
        w->stats.ops += n;
        if (commit_us) {
            w->stats.batches++;
            w->stats.commit_us_total += commit_us;
            if (commit_us > w->stats.commit_us_max)
                w->stats.commit_us_max = commit_us;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int store_writer_start(const char *uri, const store_options *sopts,
                       const store_writer_options *opts, store_writer **out)
{
    store_writer *w = NULL;
    pthread_condattr_t ca;
    int rc;

    if (!out)
        return STORE_EINVAL;
    *out = NULL;
    w = calloc(1, sizeof *w);
    if (!w)
        return STORE_ENOMEM;
    /* 0 = default; a negative max_delay_ms means "never wait for a batch to fill" */
    w->opt.batch_max = opts && opts->batch_max ? opts->batch_max : 256;
    w->opt.max_delay_ms = opts && opts->max_delay_ms > 0 ? opts->max_delay_ms : 2;
    w->opt.queue_max = opts && opts->queue_max ? opts->queue_max : 100000;
    if (opts && opts->max_delay_ms < 0)
        w->opt.max_delay_ms = 0;
    w->run_msgs = calloc(w->opt.batch_max, sizeof *w->run_msgs);
    w->run_rcs = calloc(w->opt.batch_max, sizeof *w->run_rcs);
    if (!w->run_msgs || !w->run_rcs) {
        rc = STORE_ENOMEM;
        goto fail;
    }
    /* Commits that never carry a WAL checkpoint (SQLite: sqlite_ckpt.h). */
    store_options o = sopts ? *sopts : (store_options){0};
    o.background_checkpoints = 1;
    rc = store_open(uri, &o, &w->s);
    if (rc != STORE_OK)
        goto fail;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);  /* batch deadline immune to clock jumps */
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        rc = STORE_ENOMEM;
        goto fail;
    }
    *out = w;
    return STORE_OK;
fail:
    store_close(w->s);
    free(w->run_msgs);
    free(w->run_rcs);
    free(w);
    return rc;
}

int store_writer_submit(store_writer *w, store_op *op, store_done_cb cb, void *ctx)
{
    struct item *it;
    int rc = STORE_OK;

    if (!w || !op)
        return STORE_EINVAL;
    it = malloc(sizeof *it);
    if (!it)
        return STORE_ENOMEM;
    *it = (struct item){.op = op,
                        .cb = cb,
                        .ctx = ctx,
                        .rc = STORE_OK,
                        .next = NULL,
                        .enq_us = (uint64_t)clock_mono_us()};

    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        rc = STORE_ECLOSED;
    } else if (w->pending >= w->opt.queue_max) {
        rc = STORE_ENOMEM;
    } else {
        if (w->tail)
            w->tail->next = it;
        else
            w->head = it;
        w->tail = it;
        w->queued++;
        w->pending++;
        /* Wake the writer when work appears and when a batch is full, not
         * on every op. */
        if (w->queued == 1 || w->queued == w->opt.batch_max)
            pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != STORE_OK)
        free(it);
    return rc;
}

size_t store_writer_pending(store_writer *w)
{
    size_t n;
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    n = w->pending;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void store_writer_get_stats(store_writer *w, store_writer_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
    store_checkpoint_stats_get(w->s, &out->checkpoints); /* its own lock */
}

void store_writer_batch_times(store_writer_times *out)
{
    if (out)
        *out = batch_times;
}

void store_writer_stop(store_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    store_close(w->s);
    free(w->run_msgs);
    free(w->run_rcs);
    free(w);
}
