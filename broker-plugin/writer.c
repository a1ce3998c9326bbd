/*
 * writer.c - the one door to the asynchronous, group-committing store
 * writer (store/store_writer.h): every store write of the plugin (messages
 * and group events, chat and member creation, membership changes, cursor
 * advances) is submitted here, in the order the broker thread decides. The
 * writer applies ops in submission order and calls their completions in
 * that order; a completion only copies its result into the task and queues
 * it (tasks.c), which wakes the broker thread. Nothing here publishes.
 */
#include "plugin_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* Writer thread. */
static void writer_done_cb(store_op *op, int rc, void *ctx)
{
    pp_task *t = ctx;
    if (!t) {
        if (rc != STORE_OK && rc != STORE_EEXIST)
            log_msg(PARLEY_LOG_ERROR, "parley-plugin", "store write (op %d) failed: %s",
                    (int)op->type, store_strerror(rc));
        return;
    }
    t->rc = rc;
    if (t->t_submit_us)
        store_writer_batch_times(&t->t_batch);
    if (t->take)
        t->take(t, op);
    tasks__push(t);
}

int writer__submit(store_op *op, pp_task *t)
{
    if (!op)
        return -1;
    if (store_writer_submit(pp.writer, op, writer_done_cb, t) != STORE_OK) {
        store_op_free(op);
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: store write refused: queue full");
        return -1;
    }
    return 0;
}

static store_op *writer_member_op(const char *chat_id, const char *user, int64_t now)
{
    store_op *op = store_op_new(STORE_OP_MEMBER_PUT);
    if (!op)
        return NULL;
    op->u.member.chat_id = strdup(chat_id);
    op->u.member.user_id = strdup(user);
    op->u.member.role = STORE_ROLE_MEMBER;
    op->u.member.joined_at = now;
    if (!op->u.member.chat_id || !op->u.member.user_id) {
        store_op_free(op);
        return NULL;
    }
    return op;
}

int writer__direct_chat(const char *chat_id, const char *a, const char *b, int64_t now)
{
    store_op *chat = store_op_new(STORE_OP_CHAT_PUT);
    store_op *ma = writer_member_op(chat_id, a, now);
    store_op *mb = writer_member_op(chat_id, b, now);
    if (!chat || !ma || !mb)
        goto fail;
    chat->u.chat.chat_id = strdup(chat_id);
    chat->u.chat.type = STORE_CHAT_DIRECT;
    chat->u.chat.created_at = now;
    chat->u.chat.created_by = strdup(a);
    if (!chat->u.chat.chat_id || !chat->u.chat.created_by)
        goto fail;
    /* Queue order is commit order: chat, members, then the first message
     * (EEXIST, the normal case after a restart, is not an error). */
    if (writer__submit(chat, NULL) != 0) {
        chat = NULL;
        goto fail;
    }
    if (writer__submit(ma, NULL) != 0) {
        store_op_free(mb);
        return -1;
    }
    return writer__submit(mb, NULL);
fail:
    store_op_free(chat);
    store_op_free(ma);
    store_op_free(mb);
    return -1;
}
