/*
 * control.c - control requests on parley/u/{me}/ctl: decode the Request,
 * dispatch by op through a table (group ops go to groups.c), answer a
 * Response on parley/u/{me}/rsp with the same req_id. Requests are consumed:
 * the publish itself is routed nowhere.
 */
#include "plugin_int.h"
#include "groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_ID_MAX 64

void control__respond(const char *me, const char *req_id, uint32_t status, const char *error,
                      const char *message)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    r.req_id = (char *)(req_id ? req_id : "");
    r.status = status;
    r.error = (char *)(error ? error : "");
    r.error_message = (char *)(message ? message : "");
    snprintf(topic, sizeof topic, "parley/u/%s/rsp", me);
    publish__msg(topic, &r.base, false);
}

/* ------------------------------------------------------------------ ack */

typedef struct {
    pp_task task;
    char *me;
    char *peer;
    char *chat_id;
    char *req_id;
    uint64_t seq;
    bool read;
} ack_task;

static void ack_task_free(ack_task *t)
{
    free(t->me);
    free(t->peer);
    free(t->chat_id);
    free(t->req_id);
    free(t);
}

static void ack_done(pp_task *task, bool stopping)
{
    ack_task *t = (ack_task *)task;
    if (stopping)
        goto out;
    if (t->task.rc == STORE_OK) {
        pp.m.acks++;
        receipts__cursor(t->peer, t->chat_id, t->seq, t->me, t->read);
        /* Linked devices: the user's other devices move their cursor too */
        if (auth__device_count(t->me) > 1)
            receipts__cursor(t->me, t->chat_id, t->seq, t->me, t->read);
        control__respond(t->me, t->req_id, 0, NULL, NULL);
    } else if (t->task.rc == STORE_ENOTFOUND) {
        control__respond(t->me, t->req_id, 404, "unknown_chat", "not a member of this chat");
    } else {
        pp.m.store_errors++;
        control__respond(t->me, t->req_id, 500, "store_failed", store_strerror(t->task.rc));
    }
out:
    ack_task_free(t);
}

static void control_ack(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__Ack *a = rq->ack;
    char peer[IDS_USER_MAX + 1];
    if (!ids_valid_chat(a->chat_id) || a->seq == 0 ||
        (a->type != PARLEY__V1__ACK_TYPE__ACK_DELIVERED &&
         a->type != PARLEY__V1__ACK_TYPE__ACK_READ)) {
        control__respond(me, rq->req_id, 400, "bad_request",
                         "ack needs a chat_id, a seq > 0 and a type");
        return;
    }
    if (ids_is_group_chat(a->chat_id)) {
        groups__ack(me, rq->req_id, a);
        return;
    }
    if (!ids_direct_peer(a->chat_id, me, peer, sizeof peer)) {
        control__respond(me, rq->req_id, 403, "forbidden", "not a member of this chat");
        return;
    }
    uint64_t last = envelope__last_seq(a->chat_id);
    if (last == 0) {
        control__respond(me, rq->req_id, 404, "unknown_chat", "no such chat");
        return;
    }
    if (a->seq > last) {
        control__respond(me, rq->req_id, 400, "bad_seq", "seq is beyond the chat's last message");
        return;
    }
    bool read = a->type == PARLEY__V1__ACK_TYPE__ACK_READ;
    store_op *op = store_op_new(STORE_OP_MEMBER_ADVANCE);
    ack_task *t = calloc(1, sizeof *t);
    if (!op || !t)
        goto fail;
    t->task.done = ack_done;
    t->me = strdup(me);
    t->peer = strdup(peer);
    t->chat_id = strdup(a->chat_id);
    t->req_id = strdup(rq->req_id);
    t->seq = a->seq;
    t->read = read;
    op->u.advance.chat_id = strdup(a->chat_id);
    op->u.advance.user_id = strdup(me);
    op->u.advance.delivered_seq = a->seq; /* read implies delivered */
    op->u.advance.read_seq = read ? a->seq : 0;
    if (!t->me || !t->peer || !t->chat_id || !t->req_id || !op->u.advance.chat_id ||
        !op->u.advance.user_id)
        goto fail;
    if (writer__submit(op, &t->task) != 0) {
        op = NULL; /* freed by writer__submit */
        goto fail;
    }
    return;
fail:
    store_op_free(op);
    if (t)
        ack_task_free(t);
    control__respond(me, rq->req_id, 503, "overloaded",
                     "the server's store queue is full; retry later");
}

/* ------------------------------------------------------------------ sync, list */

static void control_sync(const char *me, const Parley__V1__Request *rq)
{
    if (!ids_valid_chat(rq->sync->chat_id)) {
        control__respond(me, rq->req_id, 400, "bad_request", "sync needs a valid chat_id");
        return;
    }
    sync__request(me, rq->req_id, rq->sync);
}

static void control_list_chats(const char *me, const Parley__V1__Request *rq)
{
    sync__list_chats(me, rq->req_id);
}

static void control_delete_message(const char *me, const Parley__V1__Request *rq)
{
    delete__request(me, rq->req_id, rq->delete_message);
}

/* ------------------------------------------------------------------ dispatch */

typedef void (*control_fn)(const char *me, const Parley__V1__Request *rq);

/* Add an op here (and its handler above) to extend the control protocol. */
static const struct {
    Parley__V1__Request__OpCase op;
    control_fn fn;
} control_ops[] = {
    {PARLEY__V1__REQUEST__OP_ACK, control_ack},
    {PARLEY__V1__REQUEST__OP_SYNC, control_sync},
    {PARLEY__V1__REQUEST__OP_LIST_CHATS, control_list_chats},
    {PARLEY__V1__REQUEST__OP_DELETE_MESSAGE, control_delete_message},
    {PARLEY__V1__REQUEST__OP_GROUP_CREATE, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_GET, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_LIST, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_ADD, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_REMOVE, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_LEAVE, groups__handle_request},
    {PARLEY__V1__REQUEST__OP_GROUP_UPDATE, groups__handle_request},
};

void control__handle(struct mosquitto_evt_message *ed, const char *me)
{
    Parley__V1__Request *rq = parley__v1__request__unpack(NULL, ed->payloadlen, ed->payload);
    publish__discard(ed);
    pp.m.requests++;
    if (!rq) {
        control__respond(me, "", 400, "malformed", "payload is not a parley.v1.Request");
        return;
    }
    if (!rq->req_id[0] || strlen(rq->req_id) > REQ_ID_MAX) {
        control__respond(me, "", 400, "bad_request", "req_id must be 1-64 characters");
        goto out;
    }
    for (size_t i = 0; i < sizeof control_ops / sizeof control_ops[0]; i++) {
        if (control_ops[i].op == rq->op_case) {
            control_ops[i].fn(me, rq);
            goto out;
        }
    }
    control__respond(me, rq->req_id, 400, "bad_request", "unknown or missing op");
out:
    parley__v1__request__free_unpacked(rq, NULL);
}
