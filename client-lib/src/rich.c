/*
 * rich.c - rich messages (docs/protocol.md, "Rich messages"): what a
 * decrypted Content is (a text or media, maybe a reply; a reaction; an edit;
 * a delete for everyone; a disappearing-timer change; or a kind this library
 * does not know), the rules each obeys, and its effect on the local store,
 * always in the caller's transaction:
 *   - on receipt (deliver.c): rich__parse, rich__check, rich__apply;
 *   - when this device sends one (send.c): rich__queued keeps the Content
 *     until the broker stores it and applies the action at once;
 *   - when the broker stored it (outbox.c): rich__record_own writes the row
 *     with its rich columns and applies the action again under its seq.
 * Also each chat's disappearing timer and the purge of expired rows.
 *
 * Every field of a Content comes from a client and is checked here: a
 * malformed reference, emoji or timer makes the action refused (the row is
 * kept hidden, the application gets PARLEY_EVENT_REFUSED); invalid or
 * duplicate mentions are dropped.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

#define OUTRICH_NS "outrich" /* blob: own Content waiting for its STORED */

void rich__free(rich_info *ri)
{
    free(ri->mentions);
    free(ri->mention_list);
    memset(ri, 0, sizeof *ri);
}

/* 1 if emoji is a valid reaction: "" (removal) or 1..32 bytes of UTF-8
 * without C0/C1 control characters (nor DEL). */
static int valid_emoji(const char *e)
{
    size_t n = strlen(e);
    if (n > RICH_EMOJI_MAX || !util__valid_utf8(e))
        return 0;
    const unsigned char *p = (const unsigned char *)e;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return 0;
        /* C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8 */
        if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return 0;
    }
    return 1;
}

/* Copy a MessageRef into (sender, cmid): 1 valid, 0 missing or malformed. */
static int take_ref(const Parley__E2e__V1__MessageRef *r, char *sender, char *cmid)
{
    if (!r || !r->sender || !r->client_msg_id || !ids_valid_user(r->sender) ||
        !ids_valid_client_msg(r->client_msg_id))
        return 0;
    snprintf(sender, IDS_USER_MAX + 1, "%s", r->sender);
    snprintf(cmid, IDS_CLIENT_MSG_MAX + 1, "%s", r->client_msg_id);
    return 1;
}

static int bad(rich_info *ri, const char *why)
{
    ri->bad = 1;
    snprintf(ri->why, sizeof ri->why, "%s", why);
    return PARLEY_OK;
}

/* The valid, distinct mentions (at most RICH_MENTIONS_MAX): a list
 * pointing into the Content's strings, and the same joined by "\n" for the
 * row. 0 or PARLEY_ENOMEM. */
static int take_mentions(parley_client *c, char *const *in, size_t n, rich_info *ri)
{
    size_t cap = 1, k = 0;
    if (n == 0)
        return PARLEY_OK;
    for (size_t i = 0; i < n; i++)
        cap += (in[i] ? strlen(in[i]) : 0) + 1;
    ri->mentions = malloc(cap);
    ri->mention_list = calloc(RICH_MENTIONS_MAX + 1, sizeof *ri->mention_list);
    if (!ri->mentions || !ri->mention_list)
        return PARLEY_ENOMEM;
    char *o = ri->mentions;
    for (size_t i = 0; i < n && k < RICH_MENTIONS_MAX; i++) {
        if (!in[i] || !ids_valid_user(in[i]))
            continue;
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(ri->mention_list[j], in[i]) == 0;
        if (dup)
            continue;
        size_t l = strlen(in[i]);
        if (k)
            *o++ = '\n';
        memcpy(o, in[i], l);
        o += l;
        ri->mention_list[k++] = in[i];
        ri->mentioned |= c->has_identity && strcmp(in[i], c->user) == 0;
    }
    *o = 0;
    ri->n_mentions = k;
    if (k == 0) {
        free(ri->mentions);
        free(ri->mention_list);
        ri->mentions = NULL;
        ri->mention_list = NULL;
    }
    return PARLEY_OK;
}

int rich__parse(parley_client *c, const void *vct, rich_info *ri)
{
    const Parley__E2e__V1__Content *ct = vct;
    memset(ri, 0, sizeof *ri);
    ri->expire_s = ct->expire_s > RICH_TIMER_MAX ? RICH_TIMER_MAX : ct->expire_s;
    if (ct->reaction) {
        ri->kind = PARLEY_MSG_REACTION;
        ri->emoji = ct->reaction->emoji ? ct->reaction->emoji : "";
        if (!take_ref(ct->reaction->target, ri->ref_sender, ri->ref_cmid))
            return bad(ri, "reaction without a valid target");
        ri->has_ref = 1;
        if (!valid_emoji(ri->emoji))
            return bad(ri, "reaction emoji is not 1..32 bytes of UTF-8 without control characters");
    } else if (ct->edit) {
        ri->kind = PARLEY_MSG_EDIT;
        ri->text = ct->edit->text ? ct->edit->text : "";
        if (!take_ref(ct->edit->target, ri->ref_sender, ri->ref_cmid))
            return bad(ri, "edit without a valid target");
        ri->has_ref = 1;
        if (!*ri->text || strlen(ri->text) > CLIENT_TEXT_MAX || !util__valid_utf8(ri->text))
            return bad(ri, "edit text empty, too long or not UTF-8");
    } else if (ct->delete_) {
        ri->kind = PARLEY_MSG_DELETE;
        if (!take_ref(ct->delete_->target, ri->ref_sender, ri->ref_cmid))
            return bad(ri, "delete without a valid target");
        ri->has_ref = 1;
    } else if (ct->timer) {
        ri->kind = PARLEY_MSG_TIMER;
        ri->timer_s = ct->timer->ttl_s;
        ri->expire_s = 0; /* the announcement itself never disappears */
        if (ct->timer->ttl_s > RICH_TIMER_MAX)
            return bad(ri, "timer longer than 90 days");
    } else if ((ct->text && *ct->text) || ct->media) {
        ri->kind = PARLEY_MSG_NORMAL;
        ri->text = ct->text ? ct->text : "";
        /* a malformed reference is dropped: the message itself stands */
        ri->has_ref = take_ref(ct->reply_to, ri->ref_sender, ri->ref_cmid);
        int rc = take_mentions(c, ct->mentions, ct->n_mentions, ri);
        if (rc != PARLEY_OK)
            return util__fail(c, rc, "out of memory");
    } else {
        ri->kind = PARLEY_MSG_UNSUPPORTED;
    }
    return PARLEY_OK;
}

/* What a rule check needs of a target row. */
typedef struct {
    uint64_t seq;
    int64_t server_ts;
    int status;
    int kind;
    size_t body_len;
    int deleted;
    int media;
} target_row;

static void take_target(void *ud, const lstore_msg *m)
{
    target_row *t = ud;
    t->seq = m->seq;
    t->server_ts = m->server_ts;
    t->status = m->status;
    t->kind = m->kind;
    t->body_len = m->body ? m->body_len : 0;
    t->deleted = m->kind == PARLEY_MSG_DELETED || m->deleted_by != NULL;
    t->media = m->media_id != NULL;
}

static int refuse(rich_info *ri, int code, const char *why)
{
    snprintf(ri->why, sizeof ri->why, "%s", why);
    return code;
}

int rich__check(parley_client *c, const char *chat_id, const char *sender, int64_t ts,
                rich_info *ri)
{
    static const char *names[] = {"message", "reaction", "edit", "delete", "timer change"};
    target_row t;
    char why[sizeof ri->why];
    int group = ids_is_group_chat(chat_id);

    if (ri->kind < PARLEY_MSG_REACTION || ri->kind > PARLEY_MSG_TIMER)
        return RICH_OK;
    const char *what = names[ri->kind];
    if (ri->bad) {
        snprintf(why, sizeof why, "%s refused: %.150s", what, ri->why);
        return refuse(ri, RICH_BAD, why);
    }
    if (ri->kind == PARLEY_MSG_TIMER) {
        if (!group)
            return RICH_OK; /* any member of a direct chat */
        int role = members__role(c, chat_id, sender);
        if (role < 0)
            return role;
        if (role < PARLEY__V1__ROLE__ADMIN)
            return refuse(ri, RICH_NOT_ALLOWED,
                          "timer change refused: only a group's admins set its timer");
        return RICH_OK;
    }
    memset(&t, 0, sizeof t);
    int found = lstore_msg_find(c->store, chat_id, ri->ref_sender, ri->ref_cmid, take_target, &t);
    if (found < 0)
        return util__store_fail(c);
    if (!found || t.status == LSTORE_MSG_HIDDEN ||
        (t.kind != PARLEY_MSG_NORMAL && t.kind != PARLEY_MSG_UNSUPPORTED &&
         t.kind != PARLEY_MSG_DELETED)) {
        snprintf(why, sizeof why, "%s refused: unknown target %.64s/%.64s", what, ri->ref_sender,
                 ri->ref_cmid);
        return refuse(ri, RICH_UNKNOWN, why);
    }
    ri->target_deleted = t.deleted;
    if (ri->kind == PARLEY_MSG_REACTION) {
        if (t.deleted)
            return refuse(ri, RICH_DELETED, "reaction refused: the message was deleted");
        return RICH_OK;
    }
    if (ri->kind == PARLEY_MSG_EDIT) {
        if (strcmp(sender, ri->ref_sender) != 0)
            return refuse(ri, RICH_NOT_OWN, "edit refused: not the sender of the message");
        if (t.deleted)
            return refuse(ri, RICH_DELETED, "edit refused: the message was deleted");
        if (t.kind != PARLEY_MSG_NORMAL ||
            (t.status != LSTORE_MSG_RECEIVED && t.status != LSTORE_MSG_OWN) || t.body_len == 0)
            return refuse(ri, RICH_NOT_TEXT, "edit refused: not a text message");
        if (ts - t.server_ts > RICH_EDIT_WINDOW_MS)
            return refuse(ri, RICH_TOO_LATE,
                          "edit refused: more than 15 minutes after the message");
        return RICH_OK;
    }
    /* delete for everyone */
    if (t.deleted)
        return RICH_OK; /* already a tombstone: nothing more to do */
    if (strcmp(sender, ri->ref_sender) != 0) {
        int role = group ? members__role(c, chat_id, sender) : 0;
        if (role < 0)
            return role;
        if (role < PARLEY__V1__ROLE__ADMIN)
            return refuse(ri, RICH_NOT_ALLOWED,
                          group ? "delete refused: not the sender and not a group admin"
                                : "delete refused: not the sender of the message");
    }
    if (ts - t.server_ts > RICH_DELETE_WINDOW_MS)
        return refuse(ri, RICH_TOO_LATE, "delete refused: more than 48 hours after the message");
    return RICH_OK;
}

int rich__apply(parley_client *c, const char *chat_id, uint64_t seq, int64_t ts, const char *sender,
                const rich_info *ri)
{
    int rc = 0;
    switch (ri->kind) {
    case PARLEY_MSG_REACTION:
        rc = lstore_reaction_set(c->store, chat_id, ri->ref_sender, ri->ref_cmid, sender, ri->emoji,
                                 seq);
        break;
    case PARLEY_MSG_EDIT:
        rc = lstore_msg_edit(c->store, chat_id, ri->ref_sender, ri->ref_cmid, ri->text, ts, seq);
        break;
    case PARLEY_MSG_DELETE:
        rc = lstore_msg_tombstone(c->store, chat_id, ri->ref_sender, ri->ref_cmid, sender, ts);
        break;
    case PARLEY_MSG_TIMER: rc = lstore_chat_timer_set(c->store, chat_id, ri->timer_s, seq); break;
    default: break;
    }
    return rc < 0 ? util__store_fail(c) : PARLEY_OK;
}

void rich__to_row(const rich_info *ri, lstore_msg *m)
{
    m->kind = ri->kind;
    if (ri->has_ref) {
        m->ref_sender = ri->ref_sender;
        m->ref_cmid = ri->ref_cmid;
    }
    m->emoji = ri->kind == PARLEY_MSG_REACTION ? ri->emoji : NULL;
    m->timer_s = ri->kind == PARLEY_MSG_TIMER ? ri->timer_s : 0;
    m->mentions = ri->mentions;
    m->mentioned = ri->mentioned;
    m->expires_at = ri->expire_s ? m->server_ts + (int64_t)ri->expire_s * 1000 : 0;
}

int rich__queued(parley_client *c, const char *cmid, const char *chat_id, const void *vct)
{
    const Parley__E2e__V1__Content *ct = vct;
    rich_info ri;
    size_t n = parley__e2e__v1__content__get_packed_size(ct);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return util__fail(c, PARLEY_ENOMEM, "out of memory");
    parley__e2e__v1__content__pack(ct, b);
    int rc = lstore_blob_set(c->store, OUTRICH_NS, cmid, b, n);
    sodium_memzero(b, n);
    free(b);
    if (rc != 0)
        return util__store_fail(c);
    /* The sender sees its own action at once (seq 0: applied now, replaced
     * by the stored one's seq when the broker answers). */
    rc = rich__parse(c, ct, &ri);
    if (rc == PARLEY_OK)
        rc = rich__apply(c, chat_id, 0, clock_now_ms(), c->user, &ri);
    rich__free(&ri);
    return rc;
}

int rich__record_own(parley_client *c, lstore_msg *m)
{
    uint8_t *b = NULL;
    size_t n = 0;
    rich_info ri;
    memset(&ri, 0, sizeof ri);
    int found = lstore_blob_get(c->store, OUTRICH_NS, m->client_msg_id, &b, &n);
    if (found < 0)
        return -1;
    if (found == 0)
        return lstore_msg_insert(c->store, m);
    Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, n, b);
    sodium_memzero(b, n);
    free(b);
    int ret = -1;
    if (ct && rich__parse(c, ct, &ri) == PARLEY_OK) {
        rich__to_row(&ri, m);
        m->status = LSTORE_MSG_OWN; /* a reaction, delete or timer has no plain text */
        ret = lstore_msg_insert(c->store, m);
        if (ret == 1 && rich__apply(c, m->chat_id, m->seq, m->server_ts, c->user, &ri) != 0)
            ret = -1;
    } else if (!ct) {
        ret = lstore_msg_insert(c->store, m); /* unreadable: the plain row as before */
    }
    if (ct)
        parley__e2e__v1__content__free_unpacked(ct, NULL);
    rich__free(&ri);
    if (ret >= 0 && lstore_blob_del(c->store, OUTRICH_NS, m->client_msg_id) != 0)
        ret = -1;
    return ret;
}

typedef struct {
    parley_client *c;
    const char *chat_id, *sender, *cmid;
    int (*fn)(void *ud, const char *cmid);
    void *ud;
    int rc;
} queued_edits;

static void outbox_chat(void *ud, const lstore_outbox *o)
{
    char *chat = ud;
    snprintf(chat, IDS_CHAT_MAX + 1, "%s", o->chat_id);
}

static int each_queued(void *ud, const char *key, const uint8_t *v, size_t len)
{
    queued_edits *q = ud;
    Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, len, v);
    int match = ct && ct->edit && ct->edit->target && ct->edit->target->sender &&
                ct->edit->target->client_msg_id &&
                strcmp(ct->edit->target->sender, q->sender) == 0 &&
                strcmp(ct->edit->target->client_msg_id, q->cmid) == 0;
    if (ct)
        parley__e2e__v1__content__free_unpacked(ct, NULL);
    if (!match)
        return 0;
    char chat[IDS_CHAT_MAX + 1] = "";
    if (lstore_outbox_get(q->c->store, key, outbox_chat, chat) < 0) {
        q->rc = util__store_fail(q->c);
        return 1;
    }
    if (strcmp(chat, q->chat_id) != 0)
        return 0;
    q->rc = q->fn(q->ud, key);
    return q->rc != PARLEY_OK;
}

int rich__queued_edits(parley_client *c, const char *chat_id, const char *sender, const char *cmid,
                       int (*fn)(void *ud, const char *cmid), void *ud)
{
    queued_edits q = {c, chat_id, sender, cmid, fn, ud, PARLEY_OK};
    if (lstore_blob_each(c->store, OUTRICH_NS, each_queued, &q) != 0)
        return util__store_fail(c);
    return q.rc;
}

int rich__forget_own(parley_client *c, const char *cmid)
{
    return lstore_blob_del(c->store, OUTRICH_NS, cmid);
}

int rich__chat_timer(parley_client *c, const char *chat_id, uint32_t *timer_s)
{
    *timer_s = 0;
    int rc = lstore_chat_timer_get(c->store, chat_id, timer_s);
    return rc < 0 ? util__store_fail(c) : PARLEY_OK;
}

int rich__purge(parley_client *c, int64_t now_ms)
{
    /* Runs every second: take the write lock (and scan the reactions) only
     * when something has expired. */
    int due = lstore_msg_expiry_due(c->store, now_ms);
    if (due <= 0)
        return due < 0 ? util__store_fail(c) : 0;
    if (lstore_begin(c->store) != 0)
        return util__store_fail(c);
    int n = lstore_msg_expire(c->store, now_ms);
    if (n < 0 || lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        return util__store_fail(c);
    }
    return n;
}
