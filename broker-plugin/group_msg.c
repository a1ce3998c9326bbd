/*
 * group_msg.c - traffic on parley/g/{id}/...: group messages (checked,
 * stamped with the group's next seq, stored, fanned out by mosquitto to
 * every member's subscription), typing relay, per-member acks and the
 * DELIVERED / READ receipts they produce, including Receipt.all when every
 * member has reached a cursor.
 *
 * The sender of a message counts as having delivered and read it. Cursor
 * receipts go to the senders of the messages a cursor move covers (the last
 * GROUP_SENDER_RING messages of each group are remembered for that).
 */
#include "group_int.h"
#include "groups.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_ID_MAX 128
#define DEDUP_KEY_MAX (IDS_USER_MAX + 1 + IDS_CLIENT_MSG_MAX + 1)

typedef struct {
    char server_id[IDS_SERVER_ID_LEN + 1];
    char chat_id[IDS_CHAT_MAX + 1];
    uint64_t seq;
    bool stored;
} gdedup_entry;

static strmap *gm_dedup;  /* "sender\nclient_msg_id" -> gdedup_entry* */
static char **gm_ring;    /* insertion order, for eviction */
static size_t gm_ring_pos;

void group_msg__init(void)
{
    gm_dedup = strmap_new(free);
    gm_ring = calloc(PP_DEDUP_MAX, sizeof *gm_ring);
}

void group_msg__cleanup(void)
{
    strmap_free(gm_dedup);
    gm_dedup = NULL;
    if (gm_ring)
        for (size_t i = 0; i < PP_DEDUP_MAX; i++)
            free(gm_ring[i]);
    free(gm_ring);
    gm_ring = NULL;
    gm_ring_pos = 0;
}

static void gm_dedup_insert(const char *key, const char *server_id, const char *chat_id,
                            uint64_t seq)
{
    if (!gm_dedup || !gm_ring)
        return;
    gdedup_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (!e || !k || strmap_put(gm_dedup, key, e) != 0) {
        free(e);
        free(k);
        return;
    }
    snprintf(e->server_id, sizeof e->server_id, "%s", server_id);
    snprintf(e->chat_id, sizeof e->chat_id, "%s", chat_id);
    e->seq = seq;
    if (gm_ring[gm_ring_pos]) {
        strmap_remove(gm_dedup, gm_ring[gm_ring_pos]);
        free(gm_ring[gm_ring_pos]);
    }
    gm_ring[gm_ring_pos] = k;
    gm_ring_pos = (gm_ring_pos + 1) % PP_DEDUP_MAX;
}

void group_msg__note_sender(group *g, uint64_t seq, const char *sender)
{
    if (!g->ring && !(g->ring = calloc(GROUP_SENDER_RING, sizeof *g->ring)))
        return; /* no receipts for this message: not worth failing the send */
    group_sent *slot = &g->ring[seq % GROUP_SENDER_RING];
    slot->seq = seq;
    snprintf(slot->sender, sizeof slot->sender, "%s", sender);
}

/* ------------------------------------------------------------------ receipts */

static void gm_receipt(const char *to, Parley__V1__Receipt *r)
{
    char topic[PP_TOPIC_MAX];
    snprintf(topic, sizeof topic, "parley/u/%s/receipts", to);
    r->ts = pp_now_ms();
    publish__msg(topic, &r->base, false);
}

static void gm_rejected(const char *to, const char *cmid, const char *chat_id, const char *code,
                        const char *message)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__REJECTED;
    r.chat_id = (char *)(chat_id ? chat_id : "");
    r.client_msg_id = (char *)(cmid ? cmid : "");
    r.error = (char *)code;
    r.error_message = (char *)message;
    gm_receipt(to, &r);
}

/* Distinct senders of the remembered messages with seq in (from, to]. */
static size_t gm_senders(const group *g, uint64_t from, uint64_t to, const char **out, size_t max)
{
    size_t n = 0;
    uint64_t lo = from + 1;
    if (!g->ring)
        return 0;
    if (to >= GROUP_SENDER_RING && lo < to - GROUP_SENDER_RING + 1)
        lo = to - GROUP_SENDER_RING + 1;
    for (uint64_t s = lo; s <= to && s > from; s++) {
        const group_sent *slot = &g->ring[s % GROUP_SENDER_RING];
        if (slot->seq != s)
            continue;
        const char *who = slot->sender;
        size_t k = 0;
        while (k < n && strcmp(out[k], who))
            k++;
        if (k == n && n < max)
            out[n++] = who;
    }
    return n;
}

static void gm_cursor_receipts(const group *g, uint64_t from, uint64_t to, const char *by,
                               bool read, bool all)
{
    const char *senders[GROUP_SENDER_RING];
    size_t n = gm_senders(g, from, to, senders, GROUP_SENDER_RING);
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)g->chat_id;
    r.seq = to;
    r.by = (char *)(by ? by : "");
    r.all = all;
    for (size_t i = 0; i < n; i++)
        if (!by || strcmp(senders[i], by))
            gm_receipt(senders[i], &r);
}

typedef struct {
    uint64_t min_d, min_r;
} gm_min;

static void gm_min_visit(const char *key, void *value, void *ctx)
{
    const group_member *m = value;
    gm_min *mm = ctx;
    if (m->delivered_seq < mm->min_d)
        mm->min_d = m->delivered_seq;
    if (m->read_seq < mm->min_r)
        mm->min_r = m->read_seq;
}

void group_msg__check_all(group *g)
{
    if (strmap_count(g->members) == 0)
        return;
    gm_min mm = {UINT64_MAX, UINT64_MAX};
    strmap_foreach(g->members, gm_min_visit, &mm);
    if (mm.min_d > g->all_delivered) {
        gm_cursor_receipts(g, g->all_delivered, mm.min_d, NULL, false, true);
        g->all_delivered = mm.min_d;
    }
    if (mm.min_r > g->all_read) {
        gm_cursor_receipts(g, g->all_read, mm.min_r, NULL, true, true);
        g->all_read = mm.min_r;
    }
}

/* ------------------------------------------------------------------ persistence */

typedef struct {
    pp_task task;
    char sender[IDS_USER_MAX + 1];
    char client_msg_id[IDS_CLIENT_MSG_MAX + 1];
    char chat_id[IDS_CHAT_MAX + 1];
    char stamped_id[IDS_SERVER_ID_LEN + 1];
    char server_id[IDS_SERVER_ID_LEN + 1];
    uint64_t seq;
} gm_store_task;

/* Writer thread. */
static void gm_store_cb(store_op *op, int rc, void *ctx)
{
    gm_store_task *t = ctx;
    t->task.rc = rc;
    if ((rc == STORE_OK || rc == STORE_EDUP) && op->u.message.server_id) {
        snprintf(t->server_id, sizeof t->server_id, "%s", op->u.message.server_id);
        t->seq = op->u.message.seq;
    }
    tasks__push(&t->task);
}

/* Broker thread. */
static void gm_store_done(pp_task *task, bool stopping)
{
    gm_store_task *t = (gm_store_task *)task;
    char key[DEDUP_KEY_MAX];
    if (stopping)
        goto out;
    snprintf(key, sizeof key, "%s\n%s", t->sender, t->client_msg_id);
    gdedup_entry *e = gm_dedup ? strmap_get(gm_dedup, key) : NULL;
    if (t->task.rc == STORE_OK || t->task.rc == STORE_EDUP) {
        if (e && !strcmp(e->server_id, t->stamped_id)) {
            e->stored = true;
            e->seq = t->seq;
            snprintf(e->server_id, sizeof e->server_id, "%s", t->server_id);
        }
        receipts__stored(t->sender, t->chat_id, t->seq, t->server_id, t->client_msg_id);
        pp.m.messages_stored++;
    } else {
        pp.m.store_errors++;
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: storing %s seq %llu failed: %s", t->chat_id,
                             (unsigned long long)t->seq, store_strerror(t->task.rc));
        if (e && !strcmp(e->server_id, t->stamped_id))
            strmap_remove(gm_dedup, key); /* a retry is stamped afresh */
        pp.m.rejected[PP_REJ_STORE_FAILED]++;
        receipts__rejected(t->sender, t->client_msg_id, t->chat_id, PP_REJ_STORE_FAILED,
                           "the message could not be stored; retry with the same client_msg_id");
    }
out:
    free(t);
}

static int gm_persist(const Parley__V1__Envelope *env)
{
    store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
    gm_store_task *t = calloc(1, sizeof *t);
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
    m->media_id = *env->media_id ? strdup(env->media_id) : NULL;
    m->expires_at = env->ttl_s ? env->server_ts + (int64_t)env->ttl_s * 1000 : 0;
    m->kind = (int)env->kind;
    if (!m->chat_id || !m->server_id || !m->sender || !m->client_msg_id || !m->body ||
        (*env->media_id && !m->media_id))
        goto fail;
    if (env->body.len)
        memcpy(m->body, env->body.data, env->body.len);
    t->task.done = gm_store_done;
    snprintf(t->sender, sizeof t->sender, "%s", env->sender);
    snprintf(t->client_msg_id, sizeof t->client_msg_id, "%s", env->client_msg_id);
    snprintf(t->chat_id, sizeof t->chat_id, "%s", env->chat_id);
    snprintf(t->stamped_id, sizeof t->stamped_id, "%s", env->server_id);
    snprintf(t->server_id, sizeof t->server_id, "%s", env->server_id);
    t->seq = env->seq;
    if (store_writer_submit(pp.writer, op, gm_store_cb, t) != STORE_OK)
        goto fail;
    return 0;
fail:
    store_op_free(op);
    free(t);
    return -1;
}

/* ------------------------------------------------------------------ publishes */

static void gm_message(struct mosquitto_evt_message *ed, const char *me, group *g)
{
    Parley__V1__Envelope *in = NULL;
    char cmid[IDS_CLIENT_MSG_MAX + 1] = "";
    char key[DEDUP_KEY_MAX];
    const char *code = "malformed", *reason;
    group_member *mine = group__member(g, me);

    if (ed->payloadlen > pp.cfg.max_payload + PP_ENVELOPE_OVERHEAD) {
        code = "too_large";
        reason = "envelope larger than the server's payload limit";
        goto reject;
    }
    in = parley__v1__envelope__unpack(NULL, ed->payloadlen, ed->payload);
    if (!in) {
        reason = "payload is not a parley.v1.Envelope";
        goto reject;
    }
    if (!ids_valid_client_msg(in->client_msg_id)) {
        code = "bad_client_msg_id";
        reason = "client_msg_id must be 1-64 printable ASCII characters without '/'";
        goto reject;
    }
    snprintf(cmid, sizeof cmid, "%s", in->client_msg_id);
    if (in->body.len > pp.cfg.max_payload) {
        code = "too_large";
        reason = "body larger than the server's payload limit";
        goto reject;
    }
    if (strlen(in->media_id) > MEDIA_ID_MAX) {
        reason = "media_id too long";
        goto reject;
    }
    if (!mine) {
        code = "not_member";
        reason = "not a member of this group";
        goto reject;
    }
    if (!group__allowed(mine, g->perm_send)) {
        code = "forbidden";
        reason = "only admins may send to this group";
        goto reject;
    }
    snprintf(key, sizeof key, "%s\n%s", me, cmid);
    gdedup_entry *dup = gm_dedup ? strmap_get(gm_dedup, key) : NULL;
    if (dup) {
        pp.m.duplicates++;
        if (dup->stored)
            receipts__stored(me, dup->chat_id, dup->seq, dup->server_id, cmid);
        publish__discard(ed);
        goto out;
    }
    char server_id[IDS_SERVER_ID_LEN + 1];
    ids_random(server_id);
    Parley__V1__Envelope out = PARLEY__V1__ENVELOPE__INIT;
    out.server_id = server_id;
    out.chat_id = g->chat_id;
    out.seq = g->last_seq + 1;
    out.sender = (char *)me;
    out.server_ts = pp_now_ms();
    out.client_msg_id = cmid;
    out.body = in->body;
    out.media_id = in->media_id;
    out.ttl_s = in->ttl_s;
    out.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    out.sender_client_id = (char *)mosquitto_client_id(ed->client);
    if (gm_persist(&out) != 0) {
        code = "overloaded";
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    g->last_seq = out.seq;
    gm_dedup_insert(key, server_id, g->chat_id, out.seq);
    group_msg__note_sender(g, out.seq, me);
    /* The sender has its own message: its cursors move with it. */
    mine->delivered_seq = mine->read_seq = out.seq;
    group__persist_advance(g, me, out.seq, out.seq);
    if (publish__set_payload(ed, &out.base) != MOSQ_ERR_SUCCESS)
        publish__discard(ed); /* stored; members get it by sync */
    pp.m.messages_in++;
    goto out;
reject:
    gm_rejected(me, cmid, g->chat_id, code, reason);
    publish__discard(ed);
out:
    if (in)
        parley__v1__envelope__free_unpacked(in, NULL);
}

static void gm_typing(struct mosquitto_evt_message *ed, const char *me, group *g)
{
    Parley__V1__Typing *in = parley__v1__typing__unpack(NULL, ed->payloadlen, ed->payload);
    if (!in || !group__member(g, me)) {
        publish__discard(ed);
        goto out;
    }
    Parley__V1__Typing t = PARLEY__V1__TYPING__INIT;
    t.user = (char *)me;
    t.chat_id = g->chat_id;
    t.typing = in->typing;
    t.ts = pp_now_ms();
    if (publish__set_payload(ed, &t.base) != MOSQ_ERR_SUCCESS)
        publish__discard(ed);
    else
        pp.m.typing++;
out:
    if (in)
        parley__v1__typing__free_unpacked(in, NULL);
}

void groups__handle_publish(struct mosquitto_evt_message *ed, const char *me)
{
    const char *rest = ed->topic + strlen("parley/g/");
    const char *slash = strchr(rest, '/');
    char chat_id[IDS_CHAT_MAX + 1];
    const char *client_id = mosquitto_client_id(ed->client);
    if (!slash || slash - rest != IDS_GROUP_ID_LEN) {
        publish__discard(ed);
        return;
    }
    snprintf(chat_id, sizeof chat_id, "g:%.*s", IDS_GROUP_ID_LEN, rest);
    const char *leaf = slash + 1;
    group *g = group__find(chat_id);
    bool inbox = !strcmp(leaf, "inbox");
    if (!g || !client_id) {
        publish__discard(ed);
        return;
    }
    if (!limits__allow(client_id, ed->payloadlen)) {
        pp.m.rate_limited++;
        if (inbox)
            receipts__rejected(me, NULL, chat_id, PP_REJ_RATE_LIMITED,
                               "too many messages or bytes per second; retry later");
        publish__discard(ed);
        return;
    }
    if (inbox)
        gm_message(ed, me, g);
    else if (!strcmp(leaf, "typing"))
        gm_typing(ed, me, g);
    else
        publish__discard(ed);
}

/* ------------------------------------------------------------------ acks */

typedef struct {
    pp_task task;
    char me[IDS_USER_MAX + 1];
    char req_id[65];
    char chat_id[IDS_CHAT_MAX + 1];
    uint64_t seq;
    bool read;
} gm_ack_task;

/* Writer thread. */
static void gm_ack_cb(store_op *op, int rc, void *ctx)
{
    gm_ack_task *t = ctx;
    t->task.rc = rc;
    tasks__push(&t->task);
}

/* Broker thread: the cursor is durable; move it in memory, emit receipts. */
static void gm_ack_done(pp_task *task, bool stopping)
{
    gm_ack_task *t = (gm_ack_task *)task;
    if (stopping)
        goto out;
    if (t->task.rc != STORE_OK && t->task.rc != STORE_ENOTFOUND) {
        pp.m.store_errors++;
        control__respond(t->me, t->req_id, 500, "store_failed", store_strerror(t->task.rc));
        goto out;
    }
    pp.m.acks++;
    group *g = group__find(t->chat_id);
    group_member *m = group__member(g, t->me);
    if (m) {
        uint64_t old_d = m->delivered_seq, old_r = m->read_seq;
        if (t->seq > m->delivered_seq)
            m->delivered_seq = t->seq;
        if (t->read && t->seq > m->read_seq)
            m->read_seq = t->seq;
        if (m->delivered_seq > old_d)
            gm_cursor_receipts(g, old_d, m->delivered_seq, t->me, false, false);
        if (m->read_seq > old_r)
            gm_cursor_receipts(g, old_r, m->read_seq, t->me, true, false);
        group_msg__check_all(g);
    }
    control__respond(t->me, t->req_id, 0, NULL, NULL);
out:
    free(t);
}

void groups__ack(const char *me, const char *req_id, const Parley__V1__Ack *ack)
{
    group *g = group__find(ack->chat_id);
    if (!g) {
        control__respond(me, req_id, 404, "unknown_chat", "no such group");
        return;
    }
    if (!group__member(g, me)) {
        control__respond(me, req_id, 403, "not_member", "not a member of this group");
        return;
    }
    if (ack->seq > g->last_seq) {
        control__respond(me, req_id, 400, "bad_seq", "seq is beyond the group's last message");
        return;
    }
    bool read = ack->type == PARLEY__V1__ACK_TYPE__ACK_READ;
    store_op *op = store_op_new(STORE_OP_MEMBER_ADVANCE);
    gm_ack_task *t = calloc(1, sizeof *t);
    if (!op || !t)
        goto fail;
    t->task.done = gm_ack_done;
    snprintf(t->me, sizeof t->me, "%s", me);
    snprintf(t->req_id, sizeof t->req_id, "%s", req_id);
    snprintf(t->chat_id, sizeof t->chat_id, "%s", ack->chat_id);
    t->seq = ack->seq;
    t->read = read;
    op->u.advance.chat_id = strdup(ack->chat_id);
    op->u.advance.user_id = strdup(me);
    op->u.advance.delivered_seq = ack->seq;
    op->u.advance.read_seq = read ? ack->seq : 0;
    if (!op->u.advance.chat_id || !op->u.advance.user_id)
        goto fail;
    if (store_writer_submit(pp.writer, op, gm_ack_cb, t) != STORE_OK)
        goto fail;
    return;
fail:
    store_op_free(op);
    free(t);
    control__respond(me, req_id, 503, "overloaded",
                     "the server's store queue is full; retry later");
}
