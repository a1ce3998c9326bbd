/*
 * rich_api.c - the SDK's rich messages (parley.h; docs/protocol.md, "Rich
 * messages"): replies and mentions, reactions, edits, delete for everyone,
 * the disappearing timer. Each builds a Content, checks it as a receiver
 * would (rich.c) with the local clock and the local member list, and sends
 * it through send__content (queued, retried, applied here at once). A
 * delete for everyone also queues delete_message requests (delreq.c) for
 * the target and its edits.
 */
#include "parley_int.h"

#include <stdio.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"

/* The chat a send to `to` goes to. parley_rc. */
static int chat_of(parley_client *c, const char *to, char *chat_id, size_t n)
{
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (to && ids_is_group_chat(to) && ids_valid_chat(to)) {
        snprintf(chat_id, n, "%s", to);
        return PARLEY_OK;
    }
    if (to && ids_direct_chat(c->user, to, chat_id, n))
        return PARLEY_OK;
    return util__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", to ? to : "");
}

static int ref_valid(const parley_msgref *r)
{
    return r && r->sender && r->client_msg_id && ids_valid_user(r->sender) &&
           ids_valid_client_msg(r->client_msg_id);
}

/* Check ct as the members' devices will (rich.c), by the local clock and
 * member list: PARLEY_OK, or PARLEY_EINVAL / PARLEY_EREFUSED with the reason. */
static int check(parley_client *c, const char *chat_id, Parley__E2e__V1__Content *ct)
{
    rich_info ri;
    int rc = rich__parse(c, ct, &ri);
    if (rc != PARLEY_OK) {
        rich__free(&ri);
        return rc;
    }
    int chk = rich__check(c, chat_id, c->user, clock_now_ms(), &ri);
    if (chk == RICH_OK && ri.kind == PARLEY_MSG_DELETE && ri.target_deleted) {
        chk = RICH_DELETED;
        snprintf(ri.why, sizeof ri.why, "delete refused: the message is deleted already");
    }
    if (chk < 0)
        rc = chk;
    else if (chk == RICH_TOO_LATE || chk == RICH_NOT_ALLOWED)
        rc = util__fail(c, PARLEY_EREFUSED, "%s", ri.why);
    else if (chk != RICH_OK)
        rc = util__fail(c, PARLEY_EINVAL, "%s", ri.why);
    rich__free(&ri);
    return rc;
}

static void msgref(Parley__E2e__V1__MessageRef *m, const parley_msgref *r)
{
    m->sender = (char *)r->sender;
    m->client_msg_id = (char *)r->client_msg_id;
}

typedef struct {
    int found;
    int hidden;
} seen_row;

static void take_seen(void *ud, const lstore_msg *m)
{
    seen_row *s = ud;
    s->found = 1;
    s->hidden = m->status == LSTORE_MSG_HIDDEN;
}

int parley_send_text_opts(parley_client *c, const char *to, const char *text,
                          const parley_send_opts *o, char *client_msg_id)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__MessageRef reply = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    char chat_id[IDS_CHAT_MAX + 1];
    int rc;

    if (!text || !*text)
        return util__fail(c, PARLEY_EINVAL, "message text missing");
    if ((rc = chat_of(c, to, chat_id, sizeof chat_id)) != PARLEY_OK)
        return rc;
    ct.text = (char *)text;
    if (o && o->reply_to) {
        seen_row seen = {0, 0};
        if (!ref_valid(o->reply_to))
            return util__fail(c, PARLEY_EINVAL, "reply: invalid message reference");
        rc = lstore_msg_find(c->store, chat_id, o->reply_to->sender, o->reply_to->client_msg_id,
                             take_seen, &seen);
        if (rc < 0)
            return util__store_fail(c);
        if (!seen.found || seen.hidden)
            return util__fail(c, PARLEY_EINVAL, "reply: no message %s/%s in %s",
                              o->reply_to->sender, o->reply_to->client_msg_id, chat_id);
        msgref(&reply, o->reply_to);
        ct.reply_to = &reply;
    }
    const char *mentions[RICH_MENTIONS_MAX];
    size_t nm = 0;
    if (o && o->n_mentions > 0) {
        if (!o->mentions || o->n_mentions > RICH_MENTIONS_MAX)
            return util__fail(c, PARLEY_EINVAL, "at most %d mentions", RICH_MENTIONS_MAX);
        for (size_t i = 0; i < o->n_mentions; i++) {
            if (!o->mentions[i] || !ids_valid_user(o->mentions[i]))
                return util__fail(c, PARLEY_EINVAL, "mention: invalid user id '%s'",
                                  o->mentions[i] ? o->mentions[i] : "");
            int dup = 0;
            for (size_t j = 0; j < nm && !dup; j++)
                dup = strcmp(mentions[j], o->mentions[i]) == 0;
            if (!dup)
                mentions[nm++] = o->mentions[i];
        }
        ct.mentions = (char **)mentions;
        ct.n_mentions = nm;
    }
    return send__content(c, to, &ct, text, client_msg_id);
}

/* The start of a reaction, an edit or a delete: the chat id of `to` into
 * chat_id, target into t. */
static int action_target(parley_client *c, const char *to, const parley_msgref *target,
                         const char *what, char *chat_id, size_t len,
                         Parley__E2e__V1__MessageRef *t)
{
    int rc = chat_of(c, to, chat_id, len);
    if (rc != PARLEY_OK)
        return rc;
    if (!ref_valid(target))
        return util__fail(c, PARLEY_EINVAL, "%s: invalid target", what);
    msgref(t, target);
    return PARLEY_OK;
}

/* Check ct as its receivers will check it, then send it. */
static int check_send(parley_client *c, const char *chat_id, const char *to,
                      Parley__E2e__V1__Content *ct, const char *text, char *client_msg_id)
{
    int rc = check(c, chat_id, ct);
    return rc != PARLEY_OK ? rc : send__content(c, to, ct, text, client_msg_id);
}

/* A reaction (emoji s) or an edit (new text s) of target. */
static int send_on_target(parley_client *c, const char *to, const parley_msgref *target, bool edit,
                          const char *s, char *client_msg_id)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Reaction r = PARLEY__E2E__V1__REACTION__INIT;
    Parley__E2e__V1__Edit e = PARLEY__E2E__V1__EDIT__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    char chat_id[IDS_CHAT_MAX + 1];
    const char *what = edit ? "edit" : "reaction";

    if (!s)
        return util__fail(c, PARLEY_EINVAL, "%s: no %s", what, edit ? "text" : "emoji");
    int rc = action_target(c, to, target, what, chat_id, sizeof chat_id, &t);
    if (rc != PARLEY_OK)
        return rc;
    if (edit) {
        e.target = &t;
        e.text = (char *)s;
        ct.edit = &e;
    } else {
        r.target = &t;
        r.emoji = (char *)s;
        ct.reaction = &r;
    }
    return check_send(c, chat_id, to, &ct, edit ? s : "", client_msg_id);
}

int parley_send_reaction(parley_client *c, const char *to, const parley_msgref *target,
                         const char *emoji, char *client_msg_id)
{
    return send_on_target(c, to, target, false, emoji, client_msg_id);
}

int parley_send_edit(parley_client *c, const char *to, const parley_msgref *target,
                     const char *text, char *client_msg_id)
{
    return send_on_target(c, to, target, true, text, client_msg_id);
}

typedef struct {
    parley_client *c;
    const char *chat_id;
    int rc;
} edits_ctx;

static int queue_edit(void *ud, const lstore_msg *m)
{
    edits_ctx *e = ud;
    e->rc = delreq__queue(e->c, e->chat_id, m->sender, m->client_msg_id);
    return e->rc != PARLEY_OK;
}

/* An own edit of the target still in the outbox: removed once stored. */
static int queue_queued_edit(void *ud, const char *cmid)
{
    edits_ctx *e = ud;
    return delreq__queue(e->c, e->chat_id, e->c->user, cmid);
}

int parley_delete_for_everyone(parley_client *c, const char *to, const parley_msgref *target,
                               char *client_msg_id)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Delete d = PARLEY__E2E__V1__DELETE__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    char chat_id[IDS_CHAT_MAX + 1];

    int rc = action_target(c, to, target, "delete", chat_id, sizeof chat_id, &t);
    if (rc != PARLEY_OK)
        return rc;
    d.target = &t;
    ct.delete_ = &d;
    if ((rc = check(c, chat_id, &ct)) != PARLEY_OK)
        return rc;
    /* The server's copies: the target and its edits (stored, or still in
     * our outbox: sent once stored), queued before the delete is applied
     * here (which wipes the edits' text, not their rows). */
    edits_ctx e = {c, chat_id, PARLEY_OK};
    if (lstore_begin(c->store) != 0)
        return util__store_fail(c);
    rc = delreq__queue(c, chat_id, target->sender, target->client_msg_id);
    if (rc == PARLEY_OK && lstore_msg_edits_each(c->store, chat_id, target->sender,
                                                 target->client_msg_id, queue_edit, &e) != 0)
        rc = util__store_fail(c);
    if (rc == PARLEY_OK)
        rc = e.rc;
    if (rc == PARLEY_OK && strcmp(target->sender, c->user) == 0)
        rc = rich__queued_edits(c, chat_id, target->sender, target->client_msg_id,
                                queue_queued_edit, &e);
    if (rc == PARLEY_OK && lstore_commit(c->store) != 0)
        rc = util__store_fail(c);
    if (rc != PARLEY_OK) {
        lstore_rollback(c->store);
        return rc;
    }
    rc = send__content(c, to, &ct, "", client_msg_id);
    if (rc == PARLEY_OK && delreq__flush(c) < 0)
        rc = PARLEY_ESTORE;
    return rc;
}

int parley_set_timer(parley_client *c, const char *to, uint32_t seconds, char *client_msg_id)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Timer tm = PARLEY__E2E__V1__TIMER__INIT;
    char chat_id[IDS_CHAT_MAX + 1];
    int rc;

    if ((rc = chat_of(c, to, chat_id, sizeof chat_id)) != PARLEY_OK)
        return rc;
    if (seconds > RICH_TIMER_MAX)
        return util__fail(c, PARLEY_EINVAL, "timer: at most %u seconds (90 days)", RICH_TIMER_MAX);
    tm.ttl_s = seconds;
    ct.timer = &tm;
    return check_send(c, chat_id, to, &ct, "", client_msg_id);
}

int parley_chat_timer(parley_client *c, const char *chat_id, uint32_t *seconds)
{
    if (!chat_id || !ids_valid_chat(chat_id) || !seconds)
        return util__fail(c, PARLEY_EINVAL, "invalid chat id '%s'", chat_id ? chat_id : "");
    return rich__chat_timer(c, chat_id, seconds);
}
