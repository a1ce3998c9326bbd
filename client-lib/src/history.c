/*
 * history.c - queries of the local state: chats, a chat's history (whole, or
 * paged by seq and searched by text: parley_history_find), the
 * status of a sent message, the outbox size. Nothing here touches the network.
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"

int parley_direct_chat_id(parley_client *c, const char *peer, char *out, size_t outlen)
{
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!ids_direct_chat(c->user, peer, out, outlen))
        return util__fail(c, PARLEY_EINVAL, "invalid peer '%s'", peer ? peer : "");
    return PARLEY_OK;
}

typedef struct {
    int (*fn)(void *ud, const parley_chat *chat);
    void *ud;
} chats_walk;

static int chats_each(void *ud, const lstore_chat *lc)
{
    chats_walk *w = ud;
    parley_chat pc = {
        .chat_id = lc->chat_id,
        .name = lc->name,
        .last_seq = lc->last_seq,
        .synced_seq = lc->synced_seq,
        .delivered_seq = lc->delivered_seq,
        .read_seq = lc->read_seq,
        .last_message_at = lc->last_message_at,
    };
    return w->fn(w->ud, &pc);
}

int parley_chats(parley_client *c, int (*fn)(void *ud, const parley_chat *chat), void *ud)
{
    chats_walk w = {fn, ud};
    if (lstore_chat_each(c->store, chats_each, &w) != 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return PARLEY_OK;
}

typedef struct {
    int (*fn)(void *ud, const parley_message *m);
    void *ud;
    lstore *store;
    int failed; /* out of memory or a store error while reading a row */
} history_walk;

/* A row's current reactions, copied (the statement's strings do not last). */
typedef struct {
    parley_reaction *r;
    char **strs;
    size_t n, cap;
    int oom;
} reaction_list;

static int take_reaction(void *ud, const char *user, const char *emoji)
{
    reaction_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        parley_reaction *r = realloc(l->r, cap * sizeof *r);
        if (r)
            l->r = r;
        char **s = realloc(l->strs, 2 * cap * sizeof *s);
        if (s)
            l->strs = s;
        if (!r || !s) {
            l->oom = 1;
            return 1;
        }
        l->cap = cap;
    }
    char *u = strdup(user), *e = strdup(emoji);
    if (!u || !e) {
        free(u);
        free(e);
        l->oom = 1;
        return 1;
    }
    l->strs[2 * l->n] = u;
    l->strs[2 * l->n + 1] = e;
    l->r[l->n++] = (parley_reaction){u, e};
    return 0;
}

static void reactions_free(reaction_list *l)
{
    for (size_t i = 0; i < 2 * l->n; i++)
        free(l->strs[i]);
    free(l->strs);
    free(l->r);
}

static int history_each(void *ud, const lstore_msg *lm)
{
    history_walk *w = ud;
    int undecryptable = lm->status == LSTORE_MSG_UNDECRYPTABLE ||
                        lm->status == LSTORE_MSG_PENDING_KEY;
    Parley__E2e__V1__MediaRef *mref = lm->media_id && lm->media
                                          ? parley__e2e__v1__media_ref__unpack(NULL, lm->media_len,
                                                                               lm->media)
                                          : NULL;
    parley_message m = {
        .chat_id = lm->chat_id,
        .seq = lm->seq,
        .server_id = lm->server_id,
        .sender = lm->sender,
        .client_msg_id = lm->client_msg_id,
        .server_ts = lm->server_ts,
        .text = undecryptable || !lm->body ? "" : (const char *)lm->body,
        .text_len = undecryptable || !lm->body ? 0 : lm->body_len,
        .system = undecryptable ? -1 : lm->status == LSTORE_MSG_SYSTEM,
        .media_id = mref ? mref->media_id : NULL,
        .media_name = mref && mref->file_name ? mref->file_name : "",
        .media_type = mref && mref->content_type ? mref->content_type : "",
        .media_size = mref ? mref->size : 0,
        .kind = (parley_msg_kind)lm->kind,
        .timer_s = lm->timer_s,
        .expires_at = lm->expires_at,
        .mentioned = lm->mentioned,
        .edited_at = lm->edited_at,
        .deleted_by = lm->kind == PARLEY_MSG_DELETED ? lm->deleted_by : NULL,
    };
    if (lm->kind == PARLEY_MSG_NORMAL && lm->ref_sender && lm->ref_cmid)
        m.reply_to = (parley_msgref){lm->ref_sender, lm->ref_cmid};
    /* The mentions, one per line in the row. */
    char *ms = lm->mentions && *lm->mentions ? strdup(lm->mentions) : NULL;
    const char *mlist[RICH_MENTIONS_MAX];
    if (ms) {
        char *save = NULL;
        for (char *t = strtok_r(ms, "\n", &save); t && m.n_mentions < RICH_MENTIONS_MAX;
             t = strtok_r(NULL, "\n", &save))
            mlist[m.n_mentions++] = t;
        m.mentions = mlist;
    } else if (lm->mentions && *lm->mentions) {
        w->failed = 1;
    }
    reaction_list rl = {0};
    if (lm->kind != PARLEY_MSG_DELETED && !undecryptable &&
        lstore_reaction_each(w->store, lm->chat_id, lm->sender, lm->client_msg_id, take_reaction,
                             &rl) != 0)
        w->failed = 1;
    w->failed |= rl.oom;
    m.reactions = rl.r;
    m.n_reactions = rl.n;
    int stop = w->failed ? 1 : w->fn(w->ud, &m);
    reactions_free(&rl);
    free(ms);
    if (mref)
        parley__e2e__v1__media_ref__free_unpacked(mref, NULL);
    return stop;
}

int parley_history(parley_client *c, const char *chat_id,
                   int (*fn)(void *ud, const parley_message *m), void *ud)
{
    history_walk w = {fn, ud, c->store, 0};
    if (!ids_valid_chat(chat_id))
        return util__fail(c, PARLEY_EINVAL, "invalid chat id '%s'", chat_id ? chat_id : "");
    if (lstore_msg_each(c->store, chat_id, history_each, &w) != 0 || w.failed)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return PARLEY_OK;
}

int parley_history_find(parley_client *c, const char *chat_id, const parley_history_query *q,
                        int (*fn)(void *ud, const parley_message *m), void *ud)
{
    history_walk w = {fn, ud, c->store, 0};
    if (chat_id && !ids_valid_chat(chat_id))
        return util__fail(c, PARLEY_EINVAL, "invalid chat id '%s'", chat_id);
    if (!q || !fn)
        return util__fail(c, PARLEY_EINVAL, "history query: no query or no callback");
    lstore_msg_filter f = {
        .chat_id = chat_id,
        .before_seq = q->before_seq,
        .since_seq = q->since_seq,
        .since_ts = q->since_ts,
        .text = q->text,
        .limit = q->limit,
    };
    if (lstore_msg_query(c->store, &f, history_each, &w) != 0 || w.failed)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return PARLEY_OK;
}

int parley_sent_status(parley_client *c, const char *client_msg_id, uint64_t *seq, char *server_id,
                       size_t server_id_len, char *chat_id, size_t chat_id_len)
{
    char sid[64], chat[160];
    uint64_t s = 0;
    if (!c->has_identity || !client_msg_id)
        return PARLEY_SENT_UNKNOWN;
    int own = lstore_msg_own(c->store, c->user, client_msg_id, &s, sid, sizeof sid, chat,
                             sizeof chat);
    if (own < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (own == 1) {
        if (seq)
            *seq = s;
        if (server_id)
            snprintf(server_id, server_id_len, "%s", sid);
        if (chat_id)
            snprintf(chat_id, chat_id_len, "%s", chat);
        return PARLEY_SENT_STORED;
    }
    int queued = lstore_outbox_has(c->store, client_msg_id);
    if (queued < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return queued ? PARLEY_SENT_QUEUED : PARLEY_SENT_UNKNOWN;
}

int parley_outbox_count(parley_client *c)
{
    return lstore_outbox_count(c->store);
}
