/*
 * group_msg.c - traffic on parley/g/{id}/...: group messages (checked and
 * consumed, stored with the group's next seq by the store, and after the
 * commit fanned out on the group's topic: message.c), typing relay,
 * per-member acks and the DELIVERED / READ receipts they produce, including
 * Receipt.all when every member has reached a cursor.
 *
 * The sender of a message counts as having delivered and read it. Cursor
 * receipts go to the senders of the messages a cursor move covers (the last
 * GROUP_SENDER_RING messages of each group are remembered for that).
 */
#include "group_int.h"
#include "groups.h"
#include "hardening.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void group_msg__note_sender(group *g, uint64_t seq, const char *sender)
{
    if (!g->ring && !(g->ring = calloc(GROUP_SENDER_RING, sizeof *g->ring)))
        return; /* no receipts for this message: not worth failing the send */
    group_sent *slot = &g->ring[seq % GROUP_SENDER_RING];
    slot->seq = seq;
    snprintf(slot->sender, sizeof slot->sender, "%s", sender);
}

/* ------------------------------------------------------------------ receipts */

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
    for (size_t i = 0; i < n; i++)
        if (!by || strcmp(senders[i], by))
            receipts__group_cursor(senders[i], g->chat_id, to, by, read, all);
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

void group_msg__check_all_quiet(group *g)
{
    if (strmap_count(g->members) == 0)
        return;
    gm_min mm = {UINT64_MAX, UINT64_MAX};
    strmap_foreach(g->members, gm_min_visit, &mm);
    if (mm.min_d > g->all_delivered)
        g->all_delivered = mm.min_d;
    if (mm.min_r > g->all_read)
        g->all_read = mm.min_r;
}

/* ------------------------------------------------------------------ publishes */

/* Broker thread, after the commit of a group send (message.c delivers it
 * next): the group's committed seq, the sender ring, and the sender's own
 * cursors, which move with its message. */
static void gm_committed(const pp_committed *c, void *ctx)
{
    (void)ctx;
    group *g = group__find(c->chat_id);
    if (g && g->pending)
        g->pending--;
    if (c->stopping || c->rc != STORE_OK || !g)
        return;
    if (c->seq > g->last_seq)
        g->last_seq = c->seq;
    group_msg__note_sender(g, c->seq, c->sender);
    group_member *mine = group__member(g, c->sender);
    if (mine && c->seq > mine->delivered_seq) {
        mine->delivered_seq = mine->read_seq = c->seq;
        group__persist_advance(g, c->sender, c->seq, c->seq);
    }
}

static void gm_message(struct mosquitto_evt_message *ed, const char *me, group *g)
{
    Parley__V1__Envelope *in = NULL;
    pp_arena arena;
    char cmid[IDS_CLIENT_MSG_MAX + 1] = "";
    pp_reject why;
    const char *code, *reason;
    group_member *mine = group__member(g, me);

    in = envelope__unpack_checked(ed, &arena, cmid, &why, &reason);
    if (!in) {
        code = receipts__reject_code(why);
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
    /* Store, then forward (message.c); a retry is recognised by the store. */
    char device[DEVICES_ID_MAX + 1];
    auth__sender_device(me, mosquitto_client_id(ed->client), device);
    pp_send s = {.chat_id = g->chat_id,
                 .sender = me,
                 .sender_device = device,
                 .client_msg_id = cmid,
                 .body = in->body,
                 .media_id = in->media_id,
                 .ttl_s = in->ttl_s,
                 .kind = PARLEY__V1__ENVELOPE_KIND__CHAT,
                 .coalesce_receipts = in->coalesce_receipts};
    if (message__submit(&s, gm_committed, NULL) != 0) {
        code = "overloaded";
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    g->pending++;
    pp.m.messages_in++;
    goto out;
reject:
    receipts__rejected_code(me, cmid, g->chat_id, code, reason);
out:
    publish__discard(ed); /* consumed: delivered after the commit, if at all */
    envelope__free(in, &arena);
}

static void gm_typing(struct mosquitto_evt_message *ed, const char *me, group *g)
{
    Parley__V1__Typing *in = parley__v1__typing__unpack(NULL, ed->payloadlen, ed->payload);
    if (!in || !group__member(g, me))
        publish__discard(ed);
    else
        typing__relay(ed, me, g->chat_id, in);
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
    if (!limits__allow(me, client_id, ed->payloadlen)) {
        pp.m.rate_limited++;
        if (inbox) {
            char cmid[IDS_CLIENT_MSG_MAX + 1];
            envelope__peek_cmid(ed->payload, ed->payloadlen, cmid);
            pp.m.rejected[PP_REJ_RATE_LIMITED]++;
            receipts__rejected(me, cmid, chat_id, PP_REJ_RATE_LIMITED,
                               "too many messages or bytes per second; retry later");
        }
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
        /* Linked devices: the member's other devices move their cursor too */
        if (auth__device_count(t->me) > 1 && (m->read_seq > old_r || m->delivered_seq > old_d))
            receipts__group_cursor(t->me, t->chat_id,
                                   m->read_seq > old_r ? m->read_seq : m->delivered_seq, t->me,
                                   m->read_seq > old_r, false);
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
    if (writer__submit(op, &t->task) != 0) {
        free(t);
        goto overloaded;
    }
    return;
fail:
    store_op_free(op);
    free(t);
overloaded:
    control__respond(me, req_id, 503, "overloaded",
                     "the server's store queue is full; retry later");
}
