/*
 * message.c - store, then forward. Every message the plugin appends to a
 * chat (a client's 1:1 or group send, a group's SYSTEM event) takes this
 * path:
 *
 *   broker thread     the client's publish is consumed (envelope.c,
 *                     group_msg.c) or the event built (groups.c);
 *                     message__submit queues an append with seq 0
 *   writer thread     the store assigns the chat's next seq inside the batch
 *                     transaction and recognises a retry by (sender,
 *                     client_msg_id) (STORE_EDUP, original seq/server_id);
 *                     after the commit the completion takes the record
 *                     over from the op and queues it, waking the broker
 *   broker thread     message_done: the caller's hook (group bookkeeping,
 *                     a request's response), the stamped envelope is
 *                     delivered (mosquitto_broker_publish), STORED sent
 *
 * Nothing is delivered that is not durable. The writer completes ops in
 * submission order and the completion queue is a FIFO, so a chat's
 * deliveries follow its seq order. A retry is answered with STORED and the
 * original seq and is not delivered again: recipients get each message once
 * live, and one that missed it syncs.
 */
#include "plugin_int.h"
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

typedef struct {
    pp_task task;
    store_message m;       /* the stored record, taken over from the op */
    uint32_t ttl_s;
    char recipient[IDS_USER_MAX + 1]; /* 1:1 only */
    char **extra;
    size_t n_extra;
    pp_committed_fn hook;
    void *ctx;
    bool coalesce; /* STORED may share a receipt (receipts.c) */
} msg_task;

static void msg_task_free(msg_task *t)
{
    store_message_free(&t->m);
    for (size_t i = 0; i < t->n_extra; i++)
        free(t->extra[i]);
    free(t->extra);
    free(t);
}

/* Writer thread: the op is freed after this returns; keep its record. */
static void message_take(pp_task *task, store_op *op)
{
    msg_task *t = (msg_task *)task;
    t->m = op->u.message;
    memset(&op->u.message, 0, sizeof op->u.message);
}

/* Broker thread: deliver the stamped envelope, here and (route.c) on the
 * other nodes. */
static void message_deliver(const msg_task *t)
{
    Parley__V1__Envelope env;
    bool system = t->m.kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM;
    route_meta meta = {.flags = system ? ROUTE_F_SYSTEM : 0,
                       .seq = t->m.seq,
                       .chat_id = t->m.chat_id,
                       .sender = t->m.sender};
    stamp__envelope(&env, &t->m, t->ttl_s);
    /* On failure (out of memory) it is stored: the recipients sync. */
    if (t->recipient[0]) {
        env.recipient = (char *)t->recipient;
        route__user(t->recipient, "inbox", &env.base, &meta);
        /* Linked devices: the sender's other devices get it too (the sending
         * device knows its own by sender_device and skips it). */
        if (!system && auth__device_count(t->m.sender) > 1)
            route__user(t->m.sender, "inbox", &env.base, &meta);
    } else {
        route__group(t->m.chat_id, &env.base, &meta);
    }
    /* A group event's copy for a member's own inbox: another node delivers
     * it once it has read the group again, so that the member's SUBSCRIBE
     * to the group finds it a member there. */
    meta.flags |= ROUTE_F_AFTER_GROUP;
    for (size_t i = 0; i < t->n_extra; i++)
        route__user(t->extra[i], "inbox", &env.base, &meta);
}

/* Broker thread. */
static void message_done(pp_task *task, bool stopping)
{
    msg_task *t = (msg_task *)task;
    bool chat = t->m.kind == PARLEY__V1__ENVELOPE_KIND__CHAT;
    pp_committed c = {.chat_id = t->m.chat_id ? t->m.chat_id : "",
                      .sender = t->m.sender ? t->m.sender : "",
                      .seq = t->m.seq,
                      .rc = t->task.rc,
                      .stopping = stopping};
    if (t->hook)
        t->hook(&c, t->ctx);
    if (stopping)
        goto out;
    if (t->task.rc == STORE_OK || t->task.rc == STORE_EDUP) {
        if (t->task.rc == STORE_OK) {
            stages__record(&t->task, (uint64_t)clock_mono_us());
            message_deliver(t);
            pp.m.messages_stored++;
        } else {
            /* A retry: the original seq and server id, delivered only once. */
            pp.m.duplicates++;
        }
        if (chat && t->coalesce)
            receipts__stored_later(t->m.sender, t->m.chat_id, t->m.seq, t->m.server_id,
                                   t->m.client_msg_id);
        else if (chat)
            receipts__stored(t->m.sender, t->m.chat_id, t->m.seq, t->m.server_id,
                             t->m.client_msg_id);
    } else {
        pp.m.store_errors++;
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: storing a message of %s failed: %s", c.chat_id,
                             store_strerror(t->task.rc));
        if (chat) {
            pp.m.rejected[PP_REJ_STORE_FAILED]++;
            receipts__rejected(
                t->m.sender, t->m.client_msg_id, t->m.chat_id, PP_REJ_STORE_FAILED,
                "the message could not be stored; retry with the same client_msg_id");
        }
    }
out:
    msg_task_free(t);
}

/* A fresh server id. The random bytes come from a pool refilled for 256 ids
 * at a time (libsodium reads them with getrandom() in 256-byte pieces): one
 * system call per 16 messages instead of one per message (ids_random).
 * Broker thread only. */
static void message_server_id(char out[IDS_SERVER_ID_LEN + 1])
{
    static unsigned char pool[16 * 256];
    static size_t used = sizeof pool;
    if (used == sizeof pool) {
        randombytes_buf(pool, sizeof pool);
        used = 0;
    }
    sodium_bin2base64(out, IDS_SERVER_ID_LEN + 1, pool + used, 16,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(pool + used, 16); /* each id's bytes are used once */
    used += 16;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int message__submit(const pp_send *s, pp_committed_fn hook, void *ctx)
{
    store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
    msg_task *t = calloc(1, sizeof *t);
    char server_id[IDS_SERVER_ID_LEN + 1];
    if (!op || !t)
        goto fail;
    message_server_id(server_id);
    store_message *m = &op->u.message;
    m->chat_id = strdup(s->chat_id);
    m->seq = 0; /* the store is the sequencer */
    m->server_id = strdup(server_id);
    m->sender = strdup(s->sender);
    m->client_msg_id = strdup(s->client_msg_id);
    m->server_ts = clock_now_ms();
    m->body_len = s->body.len;
    m->body = malloc(s->body.len ? s->body.len : 1);
    m->media_id = dup_or_null(s->media_id);
    m->expires_at = s->ttl_s ? m->server_ts + (int64_t)s->ttl_s * 1000 : 0;
    m->kind = (int)s->kind;
    m->sender_device = dup_or_null(s->sender_device);
    if ((s->sender_device && *s->sender_device && !m->sender_device) || !m->chat_id ||
        !m->server_id || !m->sender || !m->client_msg_id || !m->body ||
        (s->media_id && *s->media_id && !m->media_id))
        goto fail;
    if (s->body.len)
        memcpy(m->body, s->body.data, s->body.len);
    t->task.take = message_take;
    t->task.done = message_done;
    t->ttl_s = s->ttl_s;
    if (s->recipient)
        snprintf(t->recipient, sizeof t->recipient, "%s", s->recipient);
    if (s->n_extra) {
        if (!(t->extra = calloc(s->n_extra, sizeof *t->extra)))
            goto fail;
        for (; t->n_extra < s->n_extra; t->n_extra++)
            if (!(t->extra[t->n_extra] = strdup(s->extra[t->n_extra])))
                goto fail;
    }
    t->hook = hook;
    t->ctx = ctx;
    t->coalesce = s->coalesce_receipts;
    t->task.t_submit_us = (uint64_t)clock_mono_us();
    if (writer__submit(op, &t->task) != 0) {
        op = NULL; /* freed by writer__submit */
        goto fail;
    }
    return 0;
fail:
    store_op_free(op);
    if (t)
        msg_task_free(t);
    return -1;
}
