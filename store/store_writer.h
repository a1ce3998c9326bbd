/*
 * store_writer.h - asynchronous, group-committed writes to a store.
 *
 * One writer thread owns its own store connection. Callers submit write
 * operations from any thread; the writer collects up to batch_max of them
 * (or waits at most max_delay_ms after the first), applies them in one
 * transaction, commits, and then calls each operation's completion callback
 * on the writer thread with that operation's own result. A callback with
 * STORE_OK (or STORE_EDUP) means the write is durable.
 *
 * If one operation fails, the others of the batch are still committed; the
 * failed one reports its error. A batch failing with STORE_EUNAVAIL (SQLite
 * busy past the busy timeout, a MongoDB transient transaction error) is run
 * again, whole, for up to 10 s. If the batch still fails (or the commit
 * itself fails), every operation of the batch reports the error and nothing
 * of it is stored.
 *
 * Appends: STORE_OP_MESSAGE_PUT with u.message.seq == 0 is
 * store_message_append (store.h): the store assigns the chat's next seq in
 * the batch's transaction. The callback then gets rc STORE_OK with
 * op->u.message.seq = the assigned seq (server_id as submitted), or
 * STORE_EDUP with op->u.message.seq and op->u.message.server_id = the
 * originally stored message's (a retry; nothing new stored), or an error
 * with op->u.message.seq back at 0 (nothing stored, no seq consumed).
 *
 * The callback must not block for long and must not call back into the
 * writer's submit with a wait; it typically pushes the result onto a queue.
 */
#ifndef PARLEY_STORE_WRITER_H
#define PARLEY_STORE_WRITER_H

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STORE_OP_MESSAGE_PUT = 1,   /* u.message (seq may be 0: assigned) */
    STORE_OP_MEMBER_ADVANCE,    /* u.advance */
    STORE_OP_CHAT_PUT,          /* u.chat; STORE_EEXIST is reported, not fatal */
    STORE_OP_CHAT_UPDATE,       /* u.chat */
    STORE_OP_MEMBER_PUT,        /* u.member */
    STORE_OP_MEMBER_REMOVE,     /* u.member (chat_id, user_id) */
    STORE_OP_MEMBER_SET_ROLE,   /* u.member (chat_id, user_id, role) */
    STORE_OP_BARRIER,           /* nothing: completes once every op submitted
                                   before it has committed (or failed) */
    STORE_OP_MESSAGE_TOMBSTONE, /* u.tombstone: store_message_tombstone */
    STORE_OP_MESSAGES_EXPIRE,   /* u.expire: store_messages_expire(now); the
                                   callback finds the count in u.expire.deleted */
} store_op_type;

typedef struct {
    char *chat_id;
    uint64_t seq;
    char *deleted_by;
    int64_t deleted_at;
} store_tombstone;

typedef struct {
    int64_t now;
    size_t deleted; /* set by the writer */
} store_expire;

typedef struct {
    char *chat_id;
    char *user_id;
    uint64_t delivered_seq;
    uint64_t read_seq;
} store_advance;

/* A write operation. Submitting transfers ownership of the op and everything
 * it points to (heap-allocated) to the writer; the writer passes the op back
 * to the callback, and frees it with store_op_free() after the callback
 * returns. */
typedef struct store_op {
    store_op_type type;
    union {
        store_message message;
        store_advance advance;
        store_chat chat;
        store_member member;
        store_tombstone tombstone;
        store_expire expire;
    } u;
} store_op;

/* Allocate a zeroed op of the given type (NULL on out-of-memory). */
store_op *store_op_new(store_op_type type);
/* Free an op and its heap members. NULL is fine. */
void store_op_free(store_op *op);

/* Called on the writer thread once the op's batch is committed (or failed).
 * rc: the op's result (STORE_OK, STORE_EDUP, or an error). For
 * STORE_OP_MESSAGE_PUT with STORE_OK or STORE_EDUP, op->u.message.seq and
 * server_id hold the stored values; on an error seq is as submitted. */
typedef void (*store_done_cb)(store_op *op, int rc, void *ctx);

typedef struct store_writer store_writer;

typedef struct {
    size_t batch_max;       /* ops per transaction (default 256) */
    int max_delay_ms;       /* a batch waits for more ops until its oldest op has
                             * been queued this long (default 2) */
    size_t queue_max;       /* pending ops before submit refuses (default 100000) */
} store_writer_options;

/*
 * Start a writer on its own connection to uri. opts may be NULL.
 * Returns STORE_OK and *out, or the store_open error.
 */
int store_writer_start(const char *uri, const store_options *sopts,
                       const store_writer_options *opts, store_writer **out);

/*
 * Queue an op. Never blocks on disk. Returns STORE_OK (the callback will be
 * called exactly once), or STORE_ENOMEM / STORE_ECLOSED when the queue is
 * full or the writer stopped - then the callback is never called and the
 * op still belongs to the caller.
 */
int store_writer_submit(store_writer *w, store_op *op, store_done_cb cb, void *ctx);

/* Number of ops queued and not yet committed. Any thread. */
size_t store_writer_pending(store_writer *w);

/* Statistics since start (any thread). */
typedef struct {
    uint64_t ops;           /* ops completed */
    uint64_t batches;       /* transactions committed */
    uint64_t commit_us_total;
    uint64_t commit_us_max;
    uint64_t batch_retries; /* batches run again after STORE_EUNAVAIL (busy, transient) */
    store_checkpoint_stats checkpoints; /* the background WAL checkpoints (SQLite) */
} store_writer_stats;
void store_writer_get_stats(store_writer *w, store_writer_stats *out);

/* Inside a done callback (the writer thread): when the writer took the op's
 * batch off the queue, when the batch's statements were applied (its commit
 * began) and when its transaction ended, as clock_mono_us values, so a caller
 * can tell the wait for a batch from the statements and from the commit's
 * fsync. All 0 on any other thread. */
typedef struct {
    uint64_t taken_us, applied_us, committed_us;
} store_writer_times;
void store_writer_batch_times(store_writer_times *out);

/* Commit everything queued, call every callback, stop the thread, close the
 * connection and free the writer. NULL is fine. */
void store_writer_stop(store_writer *w);

#ifdef __cplusplus
}
#endif
#endif
