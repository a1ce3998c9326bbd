/*
 * expire.c - server-side message expiry (Envelope.ttl_s): every
 * expire_interval_s the broker thread queues one STORE_OP_MESSAGES_EXPIRE
 * (store_messages_expire(now): delete the messages whose expires_at has
 * passed) on the store writer, so the DELETE runs on the writer thread in
 * its turn, never on the broker thread. At most one is in flight; its
 * completion counts the deleted messages (messages/expired). Every node of
 * a cluster runs its own: the delete is idempotent, and an interval later
 * at most the messages that expired meanwhile are left. Sync hides an
 * expired message at once anyway (sync.c), so the interval only bounds how
 * long its bytes stay in the store.
 */
#include "plugin_int.h"

#include <stdlib.h>

static bool expire_in_flight;
static int64_t expire_next_ms;

typedef struct {
    pp_task task;
    size_t deleted; /* copied from the op on the writer thread */
} expire_task;

/* Writer thread. */
static void expire_take(pp_task *task, store_op *op)
{
    ((expire_task *)task)->deleted = op->u.expire.deleted;
}

static void expire_done(pp_task *task, bool stopping)
{
    expire_task *t = (expire_task *)task;
    expire_in_flight = false;
    if (!stopping) {
        if (t->task.rc == STORE_OK) {
            pp.m.messages_expired += t->deleted;
            if (t->deleted)
                mosquitto_log_printf(MOSQ_LOG_INFO, "parley: %zu expired message(s) deleted",
                                     t->deleted);
        } else {
            pp.m.store_errors++;
            mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: message expiry failed: %s",
                                 store_strerror(t->task.rc));
        }
    }
    free(t);
}

void expire__tick(int64_t now_ms)
{
    if (expire_in_flight || now_ms < expire_next_ms || !pp.writer)
        return;
    expire_next_ms = now_ms + (int64_t)pp.cfg.expire_interval_s * 1000;
    store_op *op = store_op_new(STORE_OP_MESSAGES_EXPIRE);
    expire_task *t = calloc(1, sizeof *t);
    if (!op || !t) {
        store_op_free(op);
        free(t);
        return; /* out of memory: try again at the next interval */
    }
    op->u.expire.now = now_ms;
    t->task.take = expire_take;
    t->task.done = expire_done;
    if (writer__submit(op, &t->task) != 0) { /* op freed; queue full: next interval */
        free(t);
        return;
    }
    expire_in_flight = true;
}

void expire__reset(void)
{
    expire_in_flight = false;
    expire_next_ms = 0;
}
