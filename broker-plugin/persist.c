/*
 * persist.c - everything the plugin writes goes through the asynchronous,
 * group-committing store writer (common/store_writer.h). Completion
 * callbacks run on the writer thread and only queue a task; the broker
 * thread finishes it in the tick (STORED receipt, de-dup map update).
 */
#include "plugin_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pp_task task;
    char *sender;
    char *client_msg_id;
    char *chat_id;
    char *server_id;     /* the stamped id, then (on EDUP) the stored one */
    char *stamped_id;
    uint64_t seq;
    pp_dedup *dedup;     /* the sender's retry map, updated on completion */
} persist_msg_task;

static void persist_msg_task_free(persist_msg_task *t)
{
    free(t->sender);
    free(t->client_msg_id);
    free(t->chat_id);
    free(t->server_id);
    free(t->stamped_id);
    free(t);
}

/* Writer thread. */
static void persist_msg_cb(store_op *op, int rc, void *ctx)
{
    persist_msg_task *t = ctx;
    t->task.rc = rc;
    if ((rc == STORE_OK || rc == STORE_EDUP) && op->u.message.server_id) {
        char *id = strdup(op->u.message.server_id);
        if (id) {
            free(t->server_id);
            t->server_id = id;
        }
        t->seq = op->u.message.seq;
    }
    tasks__push(&t->task);
}

/* Broker thread. */
static void persist_msg_done(pp_task *task, bool stopping)
{
    persist_msg_task *t = (persist_msg_task *)task;
    if (stopping)
        goto out;
    if (t->task.rc == STORE_OK || t->task.rc == STORE_EDUP) {
        dedup__stored(t->dedup, t->sender, t->client_msg_id, t->stamped_id, t->server_id, t->seq);
        receipts__stored(t->sender, t->chat_id, t->seq, t->server_id, t->client_msg_id);
        pp.m.messages_stored++;
    } else {
        pp.m.store_errors++;
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: storing %s seq %llu failed: %s", t->chat_id,
                             (unsigned long long)t->seq, store_strerror(t->task.rc));
        dedup__failed(t->dedup, t->sender, t->client_msg_id, t->stamped_id);
        pp.m.rejected[PP_REJ_STORE_FAILED]++;
        receipts__rejected(t->sender, t->client_msg_id, t->chat_id, PP_REJ_STORE_FAILED,
                           "the message could not be stored; retry with the same client_msg_id");
    }
out:
    persist_msg_task_free(t);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int persist__message(const Parley__V1__Envelope *env, pp_dedup *dedup)
{
    store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
    persist_msg_task *t = calloc(1, sizeof *t);
    if (!op || !t)
        goto fail;
    store_message *m = &op->u.message;
    m->chat_id = strdup(env->chat_id);
    m->seq = env->seq;
    m->server_id = strdup(env->server_id);
    m->sender = strdup(env->sender);
    m->client_msg_id = strdup(env->client_msg_id);
    m->server_ts = env->server_ts;
    m->body_len = env->body.len;
    m->body = malloc(env->body.len ? env->body.len : 1);
    m->media_id = dup_or_null(env->media_id);
    m->expires_at = env->ttl_s ? env->server_ts + (int64_t)env->ttl_s * 1000 : 0;
    m->kind = (int)env->kind;
    t->task.done = persist_msg_done;
    t->sender = strdup(env->sender);
    t->client_msg_id = strdup(env->client_msg_id);
    t->chat_id = strdup(env->chat_id);
    t->server_id = strdup(env->server_id);
    t->stamped_id = strdup(env->server_id);
    t->seq = env->seq;
    t->dedup = dedup;
    if (!m->chat_id || !m->server_id || !m->sender || !m->client_msg_id || !m->body ||
        (*env->media_id && !m->media_id) || !t->sender || !t->client_msg_id || !t->chat_id ||
        !t->server_id || !t->stamped_id)
        goto fail;
    if (env->body.len)
        memcpy(m->body, env->body.data, env->body.len);
    if (store_writer_submit(pp.writer, op, persist_msg_cb, t) != STORE_OK)
        goto fail;
    return 0;
fail:
    store_op_free(op);
    if (t)
        persist_msg_task_free(t);
    return -1;
}

/* Writer thread: chat and member creation only log failures (EEXIST is the
 * normal case after a restart lost the in-memory chat table). */
static void persist_log_cb(store_op *op, int rc, void *ctx)
{
    if (rc != STORE_OK && rc != STORE_EEXIST)
        log_msg(LOG_ERROR, "parley-plugin", "creating chat %s failed: %s",
                op->type == STORE_OP_CHAT_PUT ? op->u.chat.chat_id : op->u.member.chat_id,
                store_strerror(rc));
}

static int persist_submit(store_op *op)
{
    if (store_writer_submit(pp.writer, op, persist_log_cb, NULL) != STORE_OK) {
        store_op_free(op);
        return -1;
    }
    return 0;
}

static store_op *persist_member_op(const char *chat_id, const char *user, int64_t now)
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

int persist__create_direct_chat(const char *chat_id, const char *a, const char *b, int64_t now)
{
    store_op *chat = store_op_new(STORE_OP_CHAT_PUT);
    if (!chat)
        return -1;
    chat->u.chat.chat_id = strdup(chat_id);
    chat->u.chat.type = STORE_CHAT_DIRECT;
    chat->u.chat.created_at = now;
    chat->u.chat.created_by = strdup(a);
    if (!chat->u.chat.chat_id || !chat->u.chat.created_by) {
        store_op_free(chat);
        return -1;
    }
    store_op *ma = persist_member_op(chat_id, a, now);
    store_op *mb = persist_member_op(chat_id, b, now);
    if (!ma || !mb) {
        store_op_free(chat);
        store_op_free(ma);
        store_op_free(mb);
        return -1;
    }
    /* Queue order is commit order: chat, members, then the first message. */
    if (persist_submit(chat) != 0) {
        store_op_free(ma);
        store_op_free(mb);
        return -1;
    }
    if (persist_submit(ma) != 0) {
        store_op_free(mb);
        return -1;
    }
    return persist_submit(mb);
}
