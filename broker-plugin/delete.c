/*
 * delete.c - the delete_message control request (delete for everyone,
 * docs/protocol.md "Rich messages"): the stored copy of a message becomes a
 * tombstone (store_message_tombstone), which later syncs return in its
 * place. Three steps, none of which blocks the broker thread:
 *   1. broker thread: the fields, membership (direct: the chat id names the
 *      caller; groups: the in-memory model, with the caller's role);
 *   2. reader thread: the message (exists, kind CHAT, sender or a group
 *      ADMIN/OWNER, within DELETE_WINDOW_MS of its server_ts; already a
 *      tombstone: done);
 *   3. writer: the tombstone, one write; then the Response.
 * Nothing is published live: the clients' own E2E Delete tells the members.
 */
#include "plugin_int.h"
#include "groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELETE_WINDOW_MS (48LL * 3600 * 1000) /* 48 h after the message's server_ts */

typedef struct {
    pp_task task;
    char me[IDS_USER_MAX + 1];
    char req_id[65];
    char chat_id[IDS_CHAT_MAX + 1];
    uint64_t seq;
    bool admin; /* groups: the caller is ADMIN or OWNER */
    int64_t now;
    /* the verdict of the reader step: 0 = write the tombstone, else a
     * Response status with error and message (status 0 with done set:
     * already a tombstone) */
    uint32_t status;
    bool done;
    const char *error;
    char message[160];
} delete_task;

static void delete_answer(delete_task *t)
{
    control__respond(t->me, t->req_id, t->status, t->status ? t->error : NULL,
                     t->status ? t->message : NULL);
}

static void delete_refuse(delete_task *t, uint32_t status, const char *error, const char *message)
{
    t->status = status;
    t->done = true;
    t->error = error;
    snprintf(t->message, sizeof t->message, "%s", message);
}

/* Writer completion, on the broker thread. */
static void delete_written(pp_task *task, bool stopping)
{
    delete_task *t = (delete_task *)task;
    if (stopping)
        goto out;
    if (t->task.rc == STORE_OK) {
        pp.m.messages_deleted++;
        mosquitto_log_printf(MOSQ_LOG_INFO, "parley: %s deleted message %llu of %s", t->me,
                             (unsigned long long)t->seq, t->chat_id);
        delete_refuse(t, 0, NULL, "");
    } else if (t->task.rc == STORE_ENOTFOUND) {
        /* it expired between the check and the write */
        delete_refuse(t, 404, "not_found", "no such message");
    } else if (t->task.rc == STORE_EINVAL) {
        delete_refuse(t, 403, "forbidden", "this message cannot be deleted");
    } else {
        pp.m.store_errors++;
        delete_refuse(t, 500, "store_failed", store_strerror(t->task.rc));
    }
    delete_answer(t);
out:
    free(t);
}

/* Reader step done, on the broker thread: answer, or write the tombstone. */
static void delete_checked(pp_task *task, bool stopping)
{
    delete_task *t = (delete_task *)task;
    if (stopping) {
        free(t);
        return;
    }
    if (t->done) {
        delete_answer(t);
        free(t);
        return;
    }
    store_op *op = store_op_new(STORE_OP_MESSAGE_TOMBSTONE);
    if (op) {
        op->u.tombstone.chat_id = strdup(t->chat_id);
        op->u.tombstone.deleted_by = strdup(t->me);
        op->u.tombstone.seq = t->seq;
        op->u.tombstone.deleted_at = clock_now_ms();
    }
    if (!op || !op->u.tombstone.chat_id || !op->u.tombstone.deleted_by) {
        store_op_free(op);
        control__respond(t->me, t->req_id, 500, "internal", "out of memory");
        free(t);
        return;
    }
    t->task.work = NULL;
    t->task.done = delete_written;
    if (writer__submit(op, &t->task) != 0) { /* op freed */
        control__respond(t->me, t->req_id, 503, "overloaded",
                         "the server's store queue is full; retry later");
        free(t);
    }
}

/* Reader thread: the checks that need the stored message. */
static void delete_work(pp_task *task, store_t *s)
{
    delete_task *t = (delete_task *)task;
    store_message m = {0};
    int rc = store_message_get(s, t->chat_id, t->seq, &m);
    if (rc == STORE_ENOTFOUND) {
        delete_refuse(t, 404, "not_found", "no such message in this chat");
    } else if (rc != STORE_OK) {
        delete_refuse(t, 500, "store_failed", store_last_error(s));
    } else if (m.kind == STORE_KIND_SYSTEM) {
        delete_refuse(t, 403, "forbidden", "a group event cannot be deleted");
    } else if (!t->admin && (!m.sender || strcmp(m.sender, t->me) != 0)) {
        delete_refuse(t, 403, "forbidden",
                      ids_is_group_chat(t->chat_id)
                          ? "only the sender or a group admin may delete this message"
                          : "only the sender may delete this message");
    } else if (m.kind == STORE_KIND_TOMBSTONE) {
        delete_refuse(t, 0, NULL, ""); /* already deleted: idempotent */
    } else if (m.kind != STORE_KIND_CHAT) {
        delete_refuse(t, 403, "forbidden", "this message cannot be deleted");
    } else if (t->now - m.server_ts > DELETE_WINDOW_MS) {
        delete_refuse(t, 403, "too_late", "messages can be deleted for 48 hours after sending");
    }
    store_message_free(&m);
}

void delete__request(const char *me, const char *req_id, const Parley__V1__DeleteMessage *dm)
{
    char peer[IDS_USER_MAX + 1];
    uint64_t floor = 0;
    store_role role = 0;
    const char *error = "";
    if (!dm || !ids_valid_chat(dm->chat_id) || dm->seq == 0 || dm->seq > INT64_MAX) {
        control__respond(me, req_id, 400, "bad_request",
                         "delete_message needs a valid chat_id and a seq in 1..2^63-1");
        return;
    }
    if (ids_is_group_chat(dm->chat_id)) {
        uint32_t st = groups__member_role(me, dm->chat_id, &floor, &role, &error);
        if (st == 404) {
            control__respond(me, req_id, 404, "unknown_chat", "no such group");
            return;
        }
        if (st) {
            control__respond(me, req_id, 403, "forbidden", "not a member of this group");
            return;
        }
        if (dm->seq <= floor) { /* before the caller joined: not theirs to see */
            control__respond(me, req_id, 404, "not_found", "no such message in this chat");
            return;
        }
    } else if (!ids_direct_peer(dm->chat_id, me, peer, sizeof peer)) {
        control__respond(me, req_id, 403, "forbidden", "not a member of this chat");
        return;
    }
    delete_task *t = calloc(1, sizeof *t);
    if (!t) {
        control__respond(me, req_id, 500, "internal", "out of memory");
        return;
    }
    snprintf(t->me, sizeof t->me, "%s", me);
    snprintf(t->req_id, sizeof t->req_id, "%s", req_id);
    snprintf(t->chat_id, sizeof t->chat_id, "%s", dm->chat_id);
    t->seq = dm->seq;
    t->admin = role == STORE_ROLE_ADMIN || role == STORE_ROLE_OWNER;
    t->now = clock_now_ms();
    t->task.work = delete_work;
    t->task.done = delete_checked;
    if (worker__submit(&t->task) != 0) {
        control__respond(me, req_id, 503, "overloaded", "too many requests queued; retry later");
        free(t);
    }
}
