/*
 * sync.c - reads answered from the store on the reader thread: a page of a
 * chat's messages after a cursor (sync), and the caller's chats with their
 * cursors (list_chats). work() builds and encodes the Response on the reader
 * thread; done() publishes it on the broker thread.
 */
#include "plugin_int.h"
#include "groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pp_task task;
    char me[IDS_USER_MAX + 1];
    char req_id[65];
    char chat_id[IDS_CHAT_MAX + 1];
    uint64_t after_seq;
    size_t limit;
    bool member_checked;  /* groups: membership checked in memory (groups.c) */
    uint32_t max_payload; /* list_chats: plugin_opt_max_payload, read on the broker thread */
    uint8_t *buf;         /* the encoded Response (reader thread) */
    size_t len;
    /* Direct chats' last seqs the store reported (reader thread), for this
     * node's ack check (envelope__note_seq): in a cluster, messages
     * committed on other nodes reach this node's memory only this way
     * when nobody here received them live. */
    size_t n_seen;
    char (*seen_ids)[IDS_CHAT_MAX + 1];
    uint64_t *seen_seqs;
} sync_task;

/* Reader thread: remember a direct chat's last seq for sync_done. */
static void sync_saw(sync_task *t, const char *chat_id, uint64_t last_seq, size_t cap)
{
    if (!chat_id || ids_is_group_chat(chat_id) || !last_seq)
        return;
    if (!t->seen_ids) {
        t->seen_ids = calloc(cap ? cap : 1, sizeof *t->seen_ids);
        t->seen_seqs = calloc(cap ? cap : 1, sizeof *t->seen_seqs);
        if (!t->seen_ids || !t->seen_seqs)
            return;
    }
    if (t->n_seen >= cap)
        return;
    snprintf(t->seen_ids[t->n_seen], sizeof t->seen_ids[t->n_seen], "%s", chat_id);
    t->seen_seqs[t->n_seen++] = last_seq;
}

static void sync_done(pp_task *task, bool stopping)
{
    sync_task *t = (sync_task *)task;
    for (size_t i = 0; !stopping && t->seen_ids && t->seen_seqs && i < t->n_seen; i++)
        envelope__note_seq(t->seen_ids[i], t->seen_seqs[i]);
    free(t->seen_ids);
    free(t->seen_seqs);
    if (!stopping && t->buf) {
        char topic[PP_TOPIC_MAX];
        snprintf(topic, sizeof topic, "parley/u/%s/rsp", t->me);
        int rc = publish__copy(topic, t->buf, t->len, 1, false);
        if (rc != MOSQ_ERR_SUCCESS)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: response to %s failed: %s", t->me,
                                 mosquitto_strerror(rc));
    } else if (!stopping) {
        control__respond(t->me, t->req_id, 500, "internal", "out of memory");
    }
    free(t->buf);
    free(t);
}

static void sync_encode(sync_task *t, Parley__V1__Response *r)
{
    r->req_id = t->req_id;
    t->len = protobuf_c_message_get_packed_size(&r->base);
    t->buf = malloc(t->len ? t->len : 1);
    if (t->buf)
        protobuf_c_message_pack(&r->base, t->buf);
}

static void sync_error(sync_task *t, uint32_t status, const char *error, const char *message)
{
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    r.status = status;
    r.error = (char *)error;
    r.error_message = (char *)message;
    sync_encode(t, &r);
}

/* Is me a member of chat_id? 0 yes, else a Response status. */
static uint32_t sync_membership(store_t *s, const char *chat_id, const char *me)
{
    char peer[IDS_USER_MAX + 1];
    if (!ids_is_group_chat(chat_id))
        return ids_direct_peer(chat_id, me, peer, sizeof peer) ? 0 : 403;
    store_member m = {0};
    int rc = store_member_get(s, chat_id, me, &m);
    store_member_free(&m);
    if (rc == STORE_OK)
        return 0;
    return rc == STORE_ENOTFOUND ? 403 : 500;
}

/* Reader thread. */
static void sync_work(pp_task *task, store_t *s)
{
    sync_task *t = (sync_task *)task;
    store_chat chat = {0};
    store_message *msgs = NULL;
    size_t n = 0;
    Parley__V1__Envelope *envs = NULL, **envp = NULL;
    char peer[IDS_USER_MAX + 1];

    uint32_t status = t->member_checked ? 0 : sync_membership(s, t->chat_id, t->me);
    if (status) {
        sync_error(t, status, status == 403 ? "forbidden" : "store_failed",
                   status == 403 ? "not a member of this chat" : store_last_error(s));
        goto out;
    }
    int rc = store_chat_get(s, t->chat_id, &chat);
    if (rc != STORE_OK) {
        if (rc == STORE_ENOTFOUND)
            sync_error(t, 404, "unknown_chat", "no such chat");
        else
            sync_error(t, 500, "store_failed", store_last_error(s));
        goto out;
    }
    rc = store_messages_after(s, t->chat_id, t->after_seq, t->limit + 1, &msgs, &n);
    if (rc != STORE_OK) {
        sync_error(t, 500, "store_failed", store_last_error(s));
        goto out;
    }
    envs = calloc(n ? n : 1, sizeof *envs);
    envp = calloc(n ? n : 1, sizeof *envp);
    if (!envs || !envp)
        goto out;
    Parley__V1__SyncPage page = PARLEY__V1__SYNC_PAGE__INIT;
    page.chat_id = t->chat_id;
    page.last_seq = chat.last_seq;
    sync_saw(t, t->chat_id, chat.last_seq, 1);
    /* i walks the store's rows, k counts the envelopes: an expired message
     * (expires_at passed, not yet deleted by expire.c) is skipped but
     * still moves next_after_seq past it. */
    int64_t now = clock_now_ms();
    size_t bytes = 0, k = 0, i = 0;
    for (; i < n && k < t->limit; i++) {
        store_message *m = &msgs[i];
        if (m->expires_at > 0 && m->expires_at <= now)
            continue;
        if (k > 0 && bytes + m->body_len + PP_ENVELOPE_OVERHEAD > PP_SYNC_MAX_BYTES)
            break;
        Parley__V1__Envelope *e = &envs[k];
        parley__v1__envelope__init(e);
        e->server_id = m->server_id ? m->server_id : "";
        e->chat_id = m->chat_id ? m->chat_id : t->chat_id;
        e->seq = m->seq;
        e->sender = m->sender ? m->sender : "";
        e->server_ts = m->server_ts;
        e->client_msg_id = m->client_msg_id ? m->client_msg_id : "";
        e->body.data = m->body;
        e->body.len = m->body_len;
        e->media_id = m->media_id ? m->media_id : "";
        if (m->expires_at > m->server_ts)
            e->ttl_s = (uint32_t)((m->expires_at - m->server_ts) / 1000);
        e->kind = m->kind ? (Parley__V1__EnvelopeKind)m->kind : PARLEY__V1__ENVELOPE_KIND__CHAT;
        e->sender_device = m->sender_device ? m->sender_device : "";
        e->deleted_by = m->deleted_by ? m->deleted_by : ""; /* TOMBSTONE: empty body */
        e->deleted_at = m->deleted_at;
        if (!ids_is_group_chat(t->chat_id) && m->sender &&
            ids_direct_peer(t->chat_id, m->sender, peer, sizeof peer))
            e->recipient = strdup(peer);
        envp[k++] = e;
        bytes += m->body_len + PP_ENVELOPE_OVERHEAD;
    }
    /* The store was asked for limit + 1 rows: more if one is left unread
     * (the page was cut by count or size), or if all limit + 1 were read
     * because expired ones were skipped (the store may hold more after
     * them; at worst the next page is empty). */
    page.messages = envp;
    page.n_messages = k;
    page.more = i < n || n > t->limit;
    page.next_after_seq = i ? msgs[i - 1].seq : t->after_seq;
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE;
    r.sync_page = &page;
    sync_encode(t, &r);
out:
    if (envs)
        for (size_t j = 0; j < n; j++)
            if (envs[j].recipient && envs[j].recipient != protobuf_c_empty_string)
                free(envs[j].recipient);
    free(envs);
    free(envp);
    store_message_array_free(msgs, n);
    store_chat_free(&chat);
}

/* Reader thread. */
static void list_work(pp_task *task, store_t *s)
{
    sync_task *t = (sync_task *)task;
    store_member *mem = NULL;
    size_t n = 0;
    store_chat *chats = NULL;
    Parley__V1__ChatSummary *sums = NULL, **sump = NULL;
    char(*peers)[IDS_USER_MAX + 1] = NULL;

    int rc = store_chats_of_user(s, t->me, &mem, &n);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        sync_error(t, 500, "store_failed", store_last_error(s));
        goto out;
    }
    if (rc == STORE_ENOTFOUND)
        n = 0;
    chats = calloc(n ? n : 1, sizeof *chats);
    sums = calloc(n ? n : 1, sizeof *sums);
    sump = calloc(n ? n : 1, sizeof *sump);
    peers = calloc(n ? n : 1, sizeof *peers);
    if (!chats || !sums || !sump || !peers)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (store_chat_get(s, mem[i].chat_id, &chats[k]) != STORE_OK)
            continue;
        Parley__V1__ChatSummary *c = &sums[k];
        parley__v1__chat_summary__init(c);
        c->chat_id = chats[k].chat_id;
        c->last_seq = chats[k].last_seq;
        sync_saw(t, chats[k].chat_id, chats[k].last_seq, n);
        c->delivered_seq = mem[i].delivered_seq;
        c->read_seq = mem[i].read_seq;
        c->last_message_at = chats[k].last_message_at;
        if (chats[k].type == STORE_CHAT_GROUP) {
            c->type = PARLEY__V1__CHAT_TYPE__GROUP;
            c->name = chats[k].name ? chats[k].name : "";
        } else {
            c->type = PARLEY__V1__CHAT_TYPE__DIRECT;
            if (ids_direct_peer(chats[k].chat_id, t->me, peers[k], sizeof peers[k])) {
                c->peer = peers[k];
                c->name = peers[k];
            }
        }
        sump[k] = c;
        k++;
    }
    Parley__V1__ChatList list = PARLEY__V1__CHAT_LIST__INIT;
    list.chats = sump;
    list.n_chats = k;
    list.max_payload = t->max_payload;
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_CHAT_LIST;
    r.chat_list = &list;
    sync_encode(t, &r);
out:
    if (chats)
        for (size_t i = 0; i < n; i++)
            store_chat_free(&chats[i]);
    free(chats);
    free(sums);
    free(sump);
    free(peers);
    store_member_array_free(mem, n);
}

static void sync_submit(sync_task *t, void (*work)(pp_task *, store_t *))
{
    t->task.work = work;
    t->task.done = sync_done;
    if (worker__submit(&t->task) != 0) {
        control__respond(t->me, t->req_id, 503, "overloaded",
                         "too many requests queued; retry later");
        free(t);
    }
}

void sync__request(const char *me, const char *req_id, const Parley__V1__SyncRequest *rq)
{
    sync_task *t = calloc(1, sizeof *t);
    if (!t) {
        control__respond(me, req_id, 500, "internal", "out of memory");
        return;
    }
    snprintf(t->me, sizeof t->me, "%s", me);
    snprintf(t->req_id, sizeof t->req_id, "%s", req_id);
    snprintf(t->chat_id, sizeof t->chat_id, "%s", rq->chat_id);
    t->after_seq = rq->after_seq;
    t->limit = rq->limit == 0 ? PP_SYNC_DEFAULT : rq->limit > PP_SYNC_MAX ? PP_SYNC_MAX : rq->limit;
    if (ids_is_group_chat(t->chat_id)) {
        /* Members only, and only what was sent after they joined. */
        const char *error = "";
        uint64_t floor = 0;
        uint32_t st = groups__sync_check(me, t->chat_id, &floor, &error);
        if (st) {
            control__respond(me, req_id, st, error,
                             st == 403 ? "not a member of this group" : "no such group");
            free(t);
            return;
        }
        if (t->after_seq < floor)
            t->after_seq = floor;
        t->member_checked = true;
    }
    sync_submit(t, sync_work);
}

void sync__list_chats(const char *me, const char *req_id)
{
    sync_task *t = calloc(1, sizeof *t);
    if (!t) {
        control__respond(me, req_id, 500, "internal", "out of memory");
        return;
    }
    snprintf(t->me, sizeof t->me, "%s", me);
    snprintf(t->req_id, sizeof t->req_id, "%s", req_id);
    t->max_payload = pp.cfg.max_payload > UINT32_MAX ? UINT32_MAX : (uint32_t)pp.cfg.max_payload;
    sync_submit(t, list_work);
}
