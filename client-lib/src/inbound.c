/*
 * inbound.c - everything the broker sends us: envelopes (live and from sync
 * pages), receipts and control responses; control requests and the per-chat
 * sync that fills the gaps.
 *
 * Ordering: a chat's messages reach the application in seq order, once.
 * The server is the authority on seqs. chats.synced_seq (the cursor syncs
 * start from) only moves to seqs the server vouched for: sync pages (on our
 * rsp topic, which only the plugin publishes), STORED receipts, and live
 * envelopes at most at the chat's last_seq as the server reported it
 * (list_chats, sync_page.last_seq, STORED). A live envelope is only a fast
 * path: one that is next in order and authenticates (it decrypts, or is a
 * known duplicate) is shown at once, but beyond last_seq it only advances an
 * in-memory position (client_confirm.live_seq) and a confirming sync follows;
 * one that does not authenticate moves nothing and is left to that sync; one
 * beyond the next seq is held and the chat synced from synced_seq. When the
 * sync answers, held envelopes up to its last_seq are processed in order; the
 * rest wait for a few more syncs with backoff (the store commits after the
 * live delivery), then are dropped. A forged seq (seq 1,000,000 in a will
 * message, say) therefore never hides the real messages that follow.
 * Duplicates are dropped by seq, by server id and by (sender, client_msg_id).
 */
#include "client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

/* How an envelope reached process_envelope. */
enum {
    ENV_LIVE = 0,  /* live delivery on an inbox topic: unconfirmed */
    ENV_HELD = 1,  /* a held live envelope, released by a sync answer (no gap check) */
    ENV_PAGE = 2,  /* from a sync page: the server vouches for its seq */
};
static int process_envelope(parley_client *c, const Parley__V1__Envelope *env, int how);

#define CONFIRM_DELAY_MS 250 /* first confirming sync after an unconfirmed live envelope */
#define CONFIRM_MAX 4        /* confirming answers without progress before giving up */

void client__emit_event(parley_client *c, parley_event_type type, const char *chat_id,
                        uint64_t seq, const char *user, const char *detail)
{
    parley_event ev = {type, chat_id, seq, user, detail ? detail : ""};
    if (c->cb.on_event)
        c->cb.on_event(c->cb.ud, &ev);
}

/* ---- control requests ------------------------------------------------------ */

static client_req *req_find(parley_client *c, const char *req_id)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++)
        if (c->reqs[i].kind != REQ_NONE && strcmp(c->reqs[i].req_id, req_id) == 0)
            return &c->reqs[i];
    return NULL;
}

int client__request(parley_client *c, void *vreq, req_kind kind, const char *chat_id,
                    client_req **out)
{
    Parley__V1__Request *req = vreq;
    client_req *slot = NULL;
    char topic[128];
    uint8_t *buf = NULL;
    int ret = -1;

    for (int i = 0; i < CLIENT_REQ_MAX && !slot; i++)
        if (c->reqs[i].kind == REQ_NONE)
            slot = &c->reqs[i];
    if (!slot) {
        client__fail(c, PARLEY_ENOMEM, "too many requests in flight");
        return -1;
    }
    memset(slot, 0, sizeof *slot);
    snprintf(slot->req_id, sizeof slot->req_id, "r%llu", (unsigned long long)++c->req_counter);
    req->req_id = slot->req_id;
    size_t n = parley__v1__request__get_packed_size(req);
    buf = malloc(n ? n : 1);
    if (!buf)
        goto fail;
    parley__v1__request__pack(req, buf);
    client__topic(c, topic, sizeof topic, c->user, "ctl");
    if (client__publish(c, topic, buf, n) != 0) {
        client__fail(c, PARLEY_ENOTCONN, "not connected");
        goto fail;
    }
    slot->kind = kind;
    snprintf(slot->chat_id, sizeof slot->chat_id, "%s", chat_id ? chat_id : "");
    slot->sent_ms = client__mono_ms();
    if (out)
        *out = slot;
    ret = 0;

fail:
    req->req_id = NULL;
    free(buf);
    return ret;
}

int client__call(parley_client *c, void *req, int timeout_ms, void **rsp)
{
    client_req *slot = NULL;
    int64_t deadline = client__mono_ms() + timeout_ms;

    *rsp = NULL;
    if (c->state != SESSION_READY)
        return client__fail(c, PARLEY_ENOTCONN, "not connected to %s", c->mqtt_url);
    if (client__request(c, req, REQ_CALL, NULL, &slot) != 0)
        return PARLEY_ENOTCONN;
    char req_id[sizeof slot->req_id];
    snprintf(req_id, sizeof req_id, "%s", slot->req_id);
    while (!slot->done) {
        int64_t left = deadline - client__mono_ms();
        if (left <= 0) {
            slot->kind = REQ_NONE;
            return client__fail(c, PARLEY_ETIMEOUT, "no response from the broker after %d ms",
                                timeout_ms);
        }
        int rc = client__step(c, left > 200 ? 200 : (int)left);
        if (rc < 0) {
            slot->kind = REQ_NONE;
            return rc;
        }
        if (slot->kind != REQ_CALL || strcmp(slot->req_id, req_id) != 0)
            return client__fail(c, PARLEY_ENET, "connection lost during the request");
    }
    Parley__V1__Response *r = slot->response;
    slot->response = NULL;
    slot->kind = REQ_NONE;
    if (r->status != 0) {
        client__fail(c, PARLEY_EREFUSED, "%u %s: %s", r->status, r->error ? r->error : "",
                     r->error_message ? r->error_message : "");
        int rc = r->status == 404 ? PARLEY_ENOTFOUND : PARLEY_EREFUSED;
        parley__v1__response__free_unpacked(r, NULL);
        return rc;
    }
    *rsp = r;
    return PARLEY_OK;
}

int parley_flush(parley_client *c, int timeout_ms)
{
    int64_t deadline = client__mono_ms() + timeout_ms;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < CLIENT_REQ_MAX; i++)
            pending += c->reqs[i].kind != REQ_NONE && c->reqs[i].kind != REQ_CALL;
        if (!pending)
            return PARLEY_OK;
        if (c->state != SESSION_READY)
            return client__fail(c, PARLEY_ENOTCONN, "connection lost before the broker answered");
        int64_t left = deadline - client__mono_ms();
        if (left <= 0)
            return client__fail(c, PARLEY_ETIMEOUT, "the broker did not answer within %d ms",
                                timeout_ms);
        int rc = client__step(c, left > 200 ? 200 : (int)left);
        if (rc < 0)
            return rc;
    }
}

static int send_sync(parley_client *c, const char *chat_id, uint64_t after)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__SyncRequest s = PARLEY__V1__SYNC_REQUEST__INIT;
    s.chat_id = (char *)chat_id;
    s.after_seq = after;
    s.limit = CLIENT_SYNC_PAGE;
    req.op_case = PARLEY__V1__REQUEST__OP_SYNC;
    req.sync = &s;
    return client__request(c, &req, REQ_SYNC, chat_id, NULL);
}

static int sync_in_flight(parley_client *c, const char *chat_id)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++)
        if (c->reqs[i].kind == REQ_SYNC && strcmp(c->reqs[i].chat_id, chat_id) == 0)
            return 1;
    return 0;
}

static void sync_started(parley_client *c)
{
    c->syncs_pending++;
}

static void sync_finished(parley_client *c)
{
    if (c->syncs_pending > 0 && --c->syncs_pending == 0 && c->ndeferred > 0) {
        /* The direct chats are done: now the groups. */
        int n = c->ndeferred;
        c->ndeferred = 0;
        for (int i = 0; i < n; i++)
            if (send_sync(c, c->deferred[i], c->deferred_after[i]) == 0)
                sync_started(c);
        if (c->syncs_pending > 0)
            return;
    }
    if (c->syncs_pending == 0 && !c->synced) {
        c->synced = 1;
        client__emit_event(c, PARLEY_EVENT_SYNCED, NULL, 0, NULL, "synced");
    }
}

/* ---- confirmation of live seqs (client_confirm) -------------------------- */

static client_confirm *confirm_find(parley_client *c, const char *chat_id, int create)
{
    for (int i = 0; i < c->nconfirm; i++)
        if (strcmp(c->confirm[i].chat_id, chat_id) == 0)
            return &c->confirm[i];
    if (!create || c->nconfirm >= CLIENT_CONFIRM_MAX)
        return NULL;
    client_confirm *k = &c->confirm[c->nconfirm++];
    memset(k, 0, sizeof *k);
    snprintf(k->chat_id, sizeof k->chat_id, "%s", chat_id);
    return k;
}

static void confirm_drop(parley_client *c, client_confirm *k)
{
    *k = c->confirm[--c->nconfirm];
}

/* Where the chat's live order stands: the cursor, or beyond it the last
 * live envelope processed in order and not confirmed yet. */
static uint64_t order_pos(parley_client *c, const lstore_chat *ch)
{
    client_confirm *k = confirm_find(c, ch->chat_id, 0);
    return k && k->live_seq > ch->synced_seq ? k->live_seq : ch->synced_seq;
}

/* seq was seen live and the server has not confirmed it: sync the chat
 * (from synced) CONFIRM_DELAY_MS from now, or now. */
static void confirm_want(parley_client *c, const char *chat_id, uint64_t seq, uint64_t synced,
                         int now)
{
    client_confirm *k = confirm_find(c, chat_id, 1);
    if (k && seq > k->want)
        k->want = seq;
    if (sync_in_flight(c, chat_id))
        return; /* its answer is checked against want */
    if (now || !k) {
        if (send_sync(c, chat_id, synced) == 0)
            sync_started(c);
        if (k)
            k->next_ms = 0;
    } else if (k->next_ms == 0) {
        k->next_ms = client__mono_ms() + CONFIRM_DELAY_MS;
    }
}

void client__confirm_tick(parley_client *c, int64_t now_ms)
{
    if (c->state != SESSION_READY)
        return;
    for (int i = 0; i < c->nconfirm; i++) {
        client_confirm *k = &c->confirm[i];
        lstore_chat ch;
        /* next_ms 0 with nothing in flight: the request was lost (expired,
         * or the connection dropped): ask again now. */
        if (k->want == 0 || (k->next_ms != 0 && now_ms < k->next_ms) ||
            sync_in_flight(c, k->chat_id))
            continue;
        if (lstore_chat_get(c->store, k->chat_id, &ch) != 1) {
            confirm_drop(c, k--);
            continue;
        }
        if (send_sync(c, k->chat_id, ch.synced_seq) == 0) {
            sync_started(c);
            k->next_ms = 0;
        } else {
            k->next_ms = now_ms + CONFIRM_DELAY_MS;
        }
    }
}

/* Forget the held envelopes of chat_id above seq. */
static void held_drop_above(parley_client *c, const char *chat_id, uint64_t seq)
{
    for (int i = 0; i < c->nheld; i++) {
        if (c->held[i].seq > seq && strcmp(c->held[i].chat_id, chat_id) == 0) {
            free(c->held[i].payload);
            c->held[i--] = c->held[--c->nheld];
        }
    }
}

static uint64_t held_max(parley_client *c, const char *chat_id)
{
    uint64_t m = 0;
    for (int i = 0; i < c->nheld; i++)
        if (c->held[i].seq > m && strcmp(c->held[i].chat_id, chat_id) == 0)
            m = c->held[i].seq;
    return m;
}

int client__expire_requests(parley_client *c, int64_t max_age_ms)
{
    int64_t now = client__mono_ms();
    int n = 0;
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        client_req *q = &c->reqs[i];
        if (q->kind == REQ_NONE || q->kind == REQ_CALL || now - q->sent_ms < max_age_ms)
            continue;
        /* Unanswered (lost with a broker restart, say): give up on it so
         * that the sync state moves on; the next resync asks again. */
        req_kind kind = q->kind;
        q->kind = REQ_NONE;
        if (kind == REQ_SYNC || kind == REQ_LIST_CHATS)
            sync_finished(c);
        n++;
    }
    return n;
}

/* list_chats, then a sync of every chat behind the server (see on_chat_list).
 * quiet: a background refresh that does not reset the synced state. */
static int start_sync_mode(parley_client *c, int quiet)
{
    if (!quiet)
        c->synced = 0;
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__ListChatsRequest lc = PARLEY__V1__LIST_CHATS_REQUEST__INIT;
    req.op_case = PARLEY__V1__REQUEST__OP_LIST_CHATS;
    req.list_chats = &lc;
    if (client__request(c, &req, REQ_LIST_CHATS, NULL, NULL) != 0)
        return -1;
    sync_started(c);
    return 0;
}

static int start_sync(parley_client *c)
{
    return start_sync_mode(c, 0);
}

int client__resync(parley_client *c)
{
    if (c->state != SESSION_READY || c->syncs_pending > 0)
        return 0;
    return start_sync_mode(c, 1);
}

int client__on_ready(parley_client *c)
{
    /* Requests of the previous connection will never be answered. */
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        if (c->reqs[i].kind != REQ_NONE && c->reqs[i].kind != REQ_CALL)
            c->reqs[i].kind = REQ_NONE;
    }
    c->syncs_pending = 0;
    c->ndeferred = 0;
    c->synced = 0;
    for (int i = 0; i < c->nconfirm; i++)
        c->confirm[i].next_ms = 0; /* unconfirmed chats: ask again at once */
    if (client__outbox_flush(c, 0) < 0)
        return PARLEY_ESTORE;
    if (c->transient) {
        c->synced = 1; /* syncs only on request (parley_sync) */
    } else {
        if (client__retry_kept(c) == PARLEY_ESTORE)
            return PARLEY_ESTORE;
        start_sync(c);
        client__prekeys_maintain(c, 0); /* replenish one-time prekeys; best effort */
        c->last_key_check_ms = client__mono_ms();
    }
    return 0;
}

int parley_sync(parley_client *c, int timeout_ms)
{
    int64_t deadline = client__mono_ms() + timeout_ms;
    int rc = parley_wait_synced(c, timeout_ms);
    if (rc != PARLEY_OK)
        return rc;
    if (start_sync(c) != 0)
        return PARLEY_ENOTCONN;
    int64_t left = deadline - client__mono_ms();
    return parley_wait_synced(c, left > 0 ? (int)left : 0);
}

/* ---- held (out-of-order) live envelopes ----------------------------------- */

static void hold(parley_client *c, const Parley__V1__Envelope *env)
{
    if (c->nheld >= CLIENT_HELD_MAX)
        return; /* dropped: the sync of this chat brings it back */
    for (int i = 0; i < c->nheld; i++)
        if (c->held[i].seq == env->seq && strcmp(c->held[i].chat_id, env->chat_id) == 0)
            return;
    size_t n = parley__v1__envelope__get_packed_size(env);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    parley__v1__envelope__pack(env, buf);
    client_held *h = &c->held[c->nheld++];
    snprintf(h->chat_id, sizeof h->chat_id, "%s", env->chat_id);
    h->seq = env->seq;
    h->payload = buf;
    h->len = n;
}

/* Process held envelopes of chat_id: those that are next in sequence, or
 * (after a sync answered with last_seq = upto) all of them up to upto, in
 * seq order. */
static int drain_held_upto(parley_client *c, const char *chat_id, int all, uint64_t upto)
{
    for (;;) {
        lstore_chat ch;
        if (lstore_chat_get(c->store, chat_id, &ch) != 1)
            return 0;
        int best = -1;
        for (int i = 0; i < c->nheld; i++) {
            if (strcmp(c->held[i].chat_id, chat_id) != 0)
                continue;
            if (best < 0 || c->held[i].seq < c->held[best].seq)
                best = i;
        }
        if (best < 0)
            return 0;
        client_held h = c->held[best];
        if (all ? h.seq > upto : h.seq > order_pos(c, &ch) + 1)
            return 0;
        c->held[best] = c->held[--c->nheld];
        int rc = 0;
        Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, h.len, h.payload);
        if (env) {
            rc = process_envelope(c, env, all ? ENV_HELD : ENV_LIVE);
            parley__v1__envelope__free_unpacked(env, NULL);
        }
        free(h.payload);
        if (rc < 0)
            return rc;
    }
}

static int drain_held(parley_client *c, const char *chat_id)
{
    return drain_held_upto(c, chat_id, 0, 0);
}

/* A sync of chat_id answered (last page) and the server says its last seq
 * is last: release held envelopes up to it; what was seen live beyond it
 * waits for a few more answers (with backoff), then is dropped. */
static int confirm_answer(parley_client *c, const char *chat_id, uint64_t last)
{
    int rc = drain_held_upto(c, chat_id, 1, last);
    if (rc < 0)
        return rc;
    client_confirm *k = confirm_find(c, chat_id, 0);
    uint64_t hi = held_max(c, chat_id);
    if (k && k->want > hi)
        hi = k->want;
    if (hi <= last) {
        lstore_chat ch;
        if (k) {
            k->want = 0;
            k->attempts = 0;
            k->next_ms = 0;
            k->last_seen = last;
            if (lstore_chat_get(c->store, chat_id, &ch) == 1 && k->live_seq <= ch.synced_seq)
                confirm_drop(c, k);
        }
        return 0;
    }
    if (!k)
        k = confirm_find(c, chat_id, 1);
    if (!k) {
        held_drop_above(c, chat_id, last);
        return 0;
    }
    if (hi > k->want)
        k->want = hi;
    if (last > k->last_seen)
        k->attempts = 0; /* progress: the store is catching up */
    else
        k->attempts++;
    k->last_seen = last;
    if (k->attempts >= CONFIRM_MAX) {
        /* The server does not have these seqs: forged, or lost. Forget them
         * and order live envelopes from the cursor again. */
        held_drop_above(c, chat_id, last);
        confirm_drop(c, k);
        return 0;
    }
    k->next_ms = client__mono_ms() + ((int64_t)CONFIRM_DELAY_MS << k->attempts);
    return 0;
}

/* ---- envelopes ------------------------------------------------------------ */

static void describe_system(parley_client *c, const Parley__V1__Envelope *env, char *out,
                            size_t outlen)
{
    const uint8_t *body = env->body.data;
    size_t len = env->body.len;
    static const char *names[] = {"event",          "group created", "members added",
                                  "members removed", "member left",  "role changed",
                                  "info updated",   "settings updated"};
    Parley__V1__SystemEvent *ev = parley__v1__system_event__unpack(NULL, len, body);
    if (!ev) {
        snprintf(out, outlen, "(unreadable system event)");
        return;
    }
    int t = ev->type >= 0 && ev->type < 8 ? (int)ev->type : 0;
    size_t used = (size_t)snprintf(out, outlen, "%s by %s", names[t], ev->actor ? ev->actor : "?");
    for (size_t i = 0; i < ev->n_users && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : ": ", ev->users[i]);
    if (ev->name && *ev->name && used < outlen)
        snprintf(out + used, outlen - used, " (name: %s)", ev->name);
    if (ids_is_group_chat(env->chat_id))
        client__group_on_system(c, env->chat_id, ev);
    parley__v1__system_event__free_unpacked(ev, NULL);
}

/* Decrypt and unpack an envelope body into text. PARLEY_OK with *text
 * malloc'd, or PARLEY_ECRYPTO with c->err set, or PARLEY_ENET (a PreKey
 * message whose sender's identity key could not be checked: retry later). Runs inside the caller's
 * transaction (the ratchet state is saved with the message). */
static int open_body(parley_client *c, const Parley__V1__Envelope *env, char **text, size_t *tlen,
                     int *hidden, uint8_t **media, size_t *media_len)
{
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    Parley__E2e__V1__Content *ct = NULL;
    int ret = PARLEY_ECRYPTO;

    *text = NULL;
    *hidden = 0;
    *media = NULL;
    *media_len = 0;
    int group = ids_is_group_chat(env->chat_id);
    int rc = group ? client__group_decrypt(c, env->chat_id, env->sender, env->body.data,
                                           env->body.len, &pt, &ptlen)
                   : client__decrypt(c, env->sender, env->body.data, env->body.len, &pt, &ptlen);
    if (rc != PARLEY_OK) {
        ret = rc == PARLEY_ESTORE || rc == PARLEY_ENET ? rc : PARLEY_ECRYPTO;
        goto fail;
    }
    ct = parley__e2e__v1__content__unpack(NULL, ptlen, pt);
    if (!ct) {
        client__fail(c, PARLEY_ECRYPTO, "decrypted content is malformed");
        goto fail;
    }
    /* The client message id is bound inside the ciphertext: a replayed
     * ciphertext under another id is refused. */
    if (!ct->client_msg_id || strcmp(ct->client_msg_id, env->client_msg_id) != 0) {
        client__fail(c, PARLEY_ECRYPTO, "client message id does not match the ciphertext");
        goto fail;
    }
    /* A group message names its group inside the ciphertext too. */
    if (group && (!ct->group_id || strcmp(ct->group_id, env->chat_id) != 0)) {
        client__fail(c, PARLEY_ECRYPTO, "group id does not match the ciphertext");
        goto fail;
    }
    if (!group && ct->skd) {
        rc = client__group_on_skd(c, env->sender, ct->skd);
        if (rc == PARLEY_ESTORE || rc == PARLEY_ENOMEM) {
            ret = rc;
            goto fail;
        }
        /* A key distribution alone is not a message for the user. */
        *hidden = !ct->text || !*ct->text;
    }
    if (ct->media) {
        if (!ct->media->media_id || !*ct->media->media_id || ct->media->key.len != 32) {
            client__fail(c, PARLEY_ECRYPTO, "malformed media reference");
            goto fail;
        }
        *media_len = parley__e2e__v1__media_ref__get_packed_size(ct->media);
        *media = malloc(*media_len ? *media_len : 1);
        if (!*media) {
            ret = PARLEY_ENOMEM;
            goto fail;
        }
        parley__e2e__v1__media_ref__pack(ct->media, *media);
    }
    const char *t = ct->text ? ct->text : "";
    *tlen = strlen(t);
    *text = malloc(*tlen + 1);
    if (!*text) {
        ret = PARLEY_ENOMEM;
        goto fail;
    }
    memcpy(*text, t, *tlen + 1);
    ret = PARLEY_OK;

fail:
    if (ret != PARLEY_OK && *media) {
        sodium_memzero(*media, *media_len);
        free(*media);
        *media = NULL;
    }
    if (ct)
        parley__e2e__v1__content__free_unpacked(ct, NULL);
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    return ret;
}

typedef struct {
    char server_id[IDS_SERVER_ID_LEN + 8];
} pending_id;

typedef struct {
    pending_id ids[64];
    int n;
} pending_list;

static int collect_pending(void *ud, const lstore_msg *m)
{
    pending_list *l = ud;
    snprintf(l->ids[l->n++].server_id, sizeof l->ids[0].server_id, "%s", m->server_id);
    return l->n == 64;
}

typedef struct {
    const char *server_id;
    Parley__V1__Envelope env;
    uint8_t *body;
    int found;
} pending_one;

static int load_pending(void *ud, const lstore_msg *m)
{
    pending_one *p = ud;
    if (strcmp(m->server_id, p->server_id) != 0)
        return 0;
    p->body = malloc(m->body_len ? m->body_len : 1);
    if (!p->body)
        return 1;
    memcpy(p->body, m->body, m->body_len);
    p->env.chat_id = strdup(m->chat_id);
    p->env.sender = strdup(m->sender);
    p->env.server_id = strdup(m->server_id);
    p->env.client_msg_id = strdup(m->client_msg_id);
    p->env.seq = m->seq;
    p->env.server_ts = m->server_ts;
    p->env.body.data = p->body;
    p->env.body.len = m->body_len;
    p->found = p->env.chat_id && p->env.sender && p->env.server_id && p->env.client_msg_id;
    return 1;
}

static void free_pending(pending_one *p)
{
    free(p->env.chat_id);
    free(p->env.sender);
    free(p->env.server_id);
    free(p->env.client_msg_id);
    free(p->body);
}

/* Decrypt one waiting group message now that its sender key is here: the
 * row is updated and the application told (late, but once). */
static int open_pending(parley_client *c, const char *chat_id, const char *sender,
                        const char *server_id)
{
    pending_one p = {.server_id = server_id, .env = PARLEY__V1__ENVELOPE__INIT};
    char *text = NULL;
    size_t tlen = 0, media_len = 0;
    uint8_t *media = NULL;
    Parley__E2e__V1__MediaRef *mref = NULL;
    int hidden = 0, ret = 0;
    char detail[CLIENT_ERR_MAX] = "";

    if (!ids_is_group_chat(chat_id)) {
        /* A direct message kept because the keyserver could not vouch for
         * its sender's identity key: ask again, outside the transaction. */
        if (lstore_msg_pending_each(c->store, chat_id, sender, load_pending, &p) != 0)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (p.found)
            client__identity_prefetch(c, sender, p.env.body.data, p.env.body.len);
        free_pending(&p);
        memset(&p, 0, sizeof p);
        p.server_id = server_id;
        p.env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    }
    if (lstore_begin(c->store) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (lstore_msg_pending_each(c->store, chat_id, sender, load_pending, &p) != 0)
        goto fail_store;
    int has = p.found ? client__group_has_key(c, chat_id, sender, p.env.body.data,
                                              p.env.body.len) : 0;
    if (has < 0)
        goto fail_store;
    if (!has) {
        /* Not found, or it waits for another chain of this sender. */
        lstore_rollback(c->store);
        goto done;
    }
    lstore_msg m = {.server_id = server_id};
    int rc = open_body(c, &p.env, &text, &tlen, &hidden, &media, &media_len);
    if (rc == PARLEY_ESTORE || rc == PARLEY_ENOMEM)
        goto fail_store;
    if (rc == PARLEY_ENET) {
        /* Still not checked: stays pending, already reported once. */
        lstore_rollback(c->store);
        goto done;
    }
    if (rc != PARLEY_OK) {
        snprintf(detail, sizeof detail, "%s", c->err);
        m.status = LSTORE_MSG_UNDECRYPTABLE;
    } else {
        m.status = LSTORE_MSG_RECEIVED;
        m.body = (const uint8_t *)text;
        m.body_len = tlen;
        if (media)
            mref = parley__e2e__v1__media_ref__unpack(NULL, media_len, media);
        if (mref) {
            m.media_id = mref->media_id;
            m.media = media;
            m.media_len = media_len;
        }
    }
    if (lstore_msg_update(c->store, &m) != 0 || lstore_commit(c->store) != 0)
        goto fail_store;
    if (m.status == LSTORE_MSG_UNDECRYPTABLE) {
        client__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, chat_id, p.env.seq, sender, detail);
    } else if (!hidden && c->cb.on_message) {
        parley_message pm = {
            .chat_id = chat_id,
            .seq = p.env.seq,
            .server_id = server_id,
            .sender = sender,
            .client_msg_id = p.env.client_msg_id,
            .server_ts = p.env.server_ts,
            .text = text,
            .text_len = tlen,
            .media_id = mref ? mref->media_id : NULL,
            .media_name = mref && mref->file_name ? mref->file_name : "",
            .media_type = mref && mref->content_type ? mref->content_type : "",
            .media_size = mref ? mref->size : 0,
        };
        c->cb.on_message(c->cb.ud, &pm);
    }
    goto done;

fail_store:
    lstore_rollback(c->store);
    ret = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
done:
    if (text) {
        sodium_memzero(text, tlen);
        free(text);
    }
    if (mref)
        parley__e2e__v1__media_ref__free_unpacked(mref, NULL);
    if (media) {
        sodium_memzero(media, media_len);
        free(media);
    }
    free_pending(&p);
    return ret;
}

/* Decrypt the group messages that waited for sender keys that just came. */
static int retry_pending(parley_client *c)
{
    while (c->nretry > 0) {
        char pair[IDS_RETRY_MAX];
        snprintf(pair, sizeof pair, "%s", c->retry[--c->nretry]);
        char *nl = strchr(pair, '\n');
        if (!nl)
            continue;
        *nl = 0;
        const char *chat_id = pair, *sender = nl + 1;
        pending_list l = {.n = 0};
        if (lstore_msg_pending_each(c->store, chat_id, sender, collect_pending, &l) != 0)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        for (int i = 0; i < l.n; i++) {
            int rc = open_pending(c, chat_id, sender, l.ids[i].server_id);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

typedef struct {
    char chats[64][141];
    int n;
} direct_chats;

static int collect_direct(void *ud, const lstore_chat *ch)
{
    direct_chats *d = ud;
    if (ch->type == 1)
        snprintf(d->chats[d->n++], sizeof d->chats[0], "%s", ch->chat_id);
    return d->n == 64;
}

int client__retry_kept(parley_client *c)
{
    direct_chats d = {.n = 0};
    /* The 64 most recent direct chats: kept messages are recent ones. */
    if (lstore_chat_each(c->store, collect_direct, &d) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    for (int i = 0; i < d.n; i++) {
        char peer[IDS_USER_MAX + 1];
        pending_list l = {.n = 0};
        if (!ids_direct_peer(d.chats[i], c->user, peer, sizeof peer))
            continue;
        if (lstore_msg_pending_each(c->store, d.chats[i], peer, collect_pending, &l) != 0)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        for (int j = 0; j < l.n; j++) {
            int rc = open_pending(c, d.chats[i], peer, l.ids[j].server_id);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* One envelope of the chat's sequence that is next (or authoritative).
 * Transaction: decrypt (ratchet state) + message row + cursor, then the
 * application callback. trusted: from a sync page. Returns 0 processed,
 * 1 deferred (a live envelope that could not be authenticated: nothing
 * stored, nothing moved, the sync decides), <0 on a local failure. */
static int deliver(parley_client *c, const Parley__V1__Envelope *env, int trusted)
{
    char *text = NULL, sysdesc[512];
    size_t tlen = 0, media_len = 0;
    uint8_t *media = NULL;
    Parley__E2e__V1__MediaRef *mref = NULL;
    int status = LSTORE_MSG_RECEIVED, ret = 0, hidden = 0, has_key = 1, kept = 0;
    char detail[CLIENT_ERR_MAX] = "";
    lstore_chat ch;

    c->vouch.valid = 0;
    if (env->kind != PARLEY__V1__ENVELOPE_KIND__SYSTEM && !ids_is_group_chat(env->chat_id) &&
        strcmp(env->sender, c->user) != 0)
        client__identity_prefetch(c, env->sender, env->body.data, env->body.len);
    if (lstore_begin(c->store) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (lstore_chat_get(c->store, env->chat_id, &ch) != 1)
        goto fail_store;
    int own = strcmp(env->sender, c->user) == 0;
    if (own && env->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM) {
        own = 0; /* system events we caused are shown like any other */
    } else if (own && trusted) {
        /* Our own message, seen through a sync page: settles the outbox. */
        if (client__outbox_done(c, env->client_msg_id, env->chat_id, env->seq, env->server_id,
                                env->server_ts, 1) < 0)
            goto fail_store;
    } else if (own) {
        /* Our own echo on a group topic (recognised by sender == us; the
         * broker does not disclose client ids). Only the STORED receipt or a
         * sync page settles the outbox: the echo comes before the store
         * commit, which can still fail. One we never sent is not ours. */
        uint64_t oseq;
        char osid[IDS_SERVER_ID_LEN + 8], ochat[IDS_CHAT_MAX + 1];
        int queued = lstore_outbox_has(c->store, env->client_msg_id);
        int sent = queued == 0 ? lstore_msg_own(c->store, c->user, env->client_msg_id, &oseq,
                                               osid, sizeof osid, ochat, sizeof ochat)
                               : 0;
        if (queued < 0 || sent < 0)
            goto fail_store;
        if (!queued && !sent)
            goto deferred;
    }
    if (!own) {
        lstore_msg m = {
            .chat_id = env->chat_id,
            .seq = env->seq,
            .server_id = env->server_id,
            .sender = env->sender,
            .client_msg_id = env->client_msg_id,
            .server_ts = env->server_ts,
        };
        int dup = lstore_msg_exists(c->store, env->sender, env->client_msg_id);
        if (dup < 0)
            goto fail_store;
        if (!dup) {
            if (env->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM) {
                describe_system(c, env, sysdesc, sizeof sysdesc);
                status = LSTORE_MSG_SYSTEM;
                m.body = (const uint8_t *)sysdesc;
                m.body_len = strlen(sysdesc);
            } else if (ids_is_group_chat(env->chat_id) &&
                       (has_key = client__group_has_key(c, env->chat_id, env->sender,
                                                        env->body.data, env->body.len)) != 1) {
                /* The sender's key travels in our direct chat with them and
                 * has not arrived yet: keep the ciphertext until it does. */
                if (has_key < 0)
                    goto fail_store;
                if (!trusted)
                    goto deferred; /* cannot be checked yet: the sync page copy waits */
                status = LSTORE_MSG_PENDING_KEY;
                hidden = 1;
                m.body = env->body.data;
                m.body_len = env->body.len;
            } else {
                int rc = open_body(c, env, &text, &tlen, &hidden, &media, &media_len);
                if (rc == PARLEY_ESTORE || rc == PARLEY_ENOMEM)
                    goto fail_store;
                if (rc != PARLEY_OK && !trusted) {
                    /* Not authenticated (forged, or not checkable now): the
                     * session is unchanged (rollback); the copy of a sync
                     * page, whose seq the server vouches for, is recorded. */
                    goto deferred;
                }
                if (rc == PARLEY_ENET) {
                    /* The sender's identity key could not be checked: keep
                     * the ciphertext, report it, retry (client__retry_kept). */
                    snprintf(detail, sizeof detail, "%s", c->err);
                    status = LSTORE_MSG_PENDING_KEY;
                    kept = 1;
                    m.body = env->body.data;
                    m.body_len = env->body.len;
                } else if (rc != PARLEY_OK) {
                    snprintf(detail, sizeof detail, "%s", c->err);
                    status = LSTORE_MSG_UNDECRYPTABLE;
                } else if (hidden) {
                    status = LSTORE_MSG_HIDDEN;
                } else {
                    m.body = (const uint8_t *)text;
                    m.body_len = tlen;
                    if (media)
                        mref = parley__e2e__v1__media_ref__unpack(NULL, media_len, media);
                    if (mref) {
                        m.media_id = mref->media_id;
                        m.media = media;
                        m.media_len = media_len;
                    }
                }
            }
            m.status = status;
            int ins = lstore_msg_insert(c->store, &m);
            if (ins < 0)
                goto fail_store;
            dup = ins == 0;
        }
        if (dup)
            own = 1; /* nothing to tell the application */
    }
    /* The cursor: a sync page's seq is the server's; a live one only when it
     * is the next seq and the server reported it (last_seq) already. */
    uint64_t cursor = trusted || (env->seq <= ch.last_seq && env->seq == ch.synced_seq + 1)
                          ? env->seq : 0;
    if (lstore_chat_set_synced(c->store, env->chat_id, cursor, env->server_ts) != 0 ||
        lstore_commit(c->store) != 0)
        goto fail_store;

    if (!own && kept) {
        client__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, env->chat_id, env->seq, env->sender,
                           detail);
    } else if (!own && (status == LSTORE_MSG_HIDDEN || status == LSTORE_MSG_PENDING_KEY)) {
        /* nothing for the application (yet) */
    } else if (!own && status == LSTORE_MSG_UNDECRYPTABLE) {
        client__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, env->chat_id, env->seq, env->sender,
                           detail);
    } else if (!own && c->cb.on_message) {
        parley_message pm = {
            .chat_id = env->chat_id,
            .seq = env->seq,
            .server_id = env->server_id,
            .sender = env->sender,
            .client_msg_id = env->client_msg_id,
            .server_ts = env->server_ts,
            .text = status == LSTORE_MSG_SYSTEM ? sysdesc : text,
            .text_len = status == LSTORE_MSG_SYSTEM ? strlen(sysdesc) : tlen,
            .system = status == LSTORE_MSG_SYSTEM,
            .media_id = mref ? mref->media_id : NULL,
            .media_name = mref && mref->file_name ? mref->file_name : "",
            .media_type = mref && mref->content_type ? mref->content_type : "",
            .media_size = mref ? mref->size : 0,
        };
        c->cb.on_message(c->cb.ud, &pm);
    }
    goto done;

deferred:
    lstore_rollback(c->store);
    c->nretry = 0; /* nothing of this envelope happened */
    ret = 1;
    goto done;
fail_store:
    lstore_rollback(c->store);
    ret = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
done:
    if (text) {
        sodium_memzero(text, tlen);
        free(text);
    }
    if (mref)
        parley__e2e__v1__media_ref__free_unpacked(mref, NULL);
    if (media) {
        sodium_memzero(media, media_len);
        free(media);
    }
    if (ret == 0 && c->nretry > 0)
        ret = retry_pending(c);
    return ret;
}

static int valid_envelope(const Parley__V1__Envelope *env)
{
    return env->chat_id && ids_valid_chat(env->chat_id) && env->seq > 0 && env->sender &&
           ids_valid_user(env->sender) && env->server_id && env->client_msg_id;
}

static int process_envelope(parley_client *c, const Parley__V1__Envelope *env, int how)
{
    lstore_chat ch;
    char peer[IDS_USER_MAX + 1] = "";

    if (!valid_envelope(env))
        return 0; /* not from a conforming broker: ignored */
    int group = ids_is_group_chat(env->chat_id);
    if (!group && !ids_direct_peer(env->chat_id, c->user, peer, sizeof peer))
        return 0; /* not one of our chats */
    if (lstore_chat_ensure(c->store, env->chat_id, group ? 2 : 1, group ? "" : peer) != 0 ||
        lstore_chat_get(c->store, env->chat_id, &ch) != 1)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    int trusted = how == ENV_PAGE;
    uint64_t pos = trusted ? ch.synced_seq : order_pos(c, &ch);
    if (env->seq <= pos) {
        /* Already processed - unless the broker crashed before storing the
         * message we saw with this seq and stamped another one with it
         * after the restart: an unknown server id is a message we lack
         * (retries of known messages are dropped by client message id).
         * Such a late one never moves the cursor (it is behind it). */
        int known = lstore_msg_has_server_id(c->store, env->server_id);
        if (known < 0)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (known || strcmp(env->sender, c->user) == 0)
            return 0;
        int rc = deliver(c, env, trusted);
        return rc < 0 ? rc : 0;
    }
    if (how == ENV_LIVE && env->seq > pos + 1) {
        /* A hole: hold it and sync from the cursor. */
        hold(c, env);
        confirm_want(c, env->chat_id, env->seq, ch.synced_seq, 1);
        return 0;
    }
    int rc = deliver(c, env, trusted);
    if (rc < 0)
        return rc;
    if (!trusted) {
        if (lstore_chat_get(c->store, env->chat_id, &ch) != 1)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (rc == 0 && env->seq > ch.synced_seq) {
            /* Shown, but beyond what the server confirmed: remember the
             * position for the live order, and confirm it with a sync. */
            client_confirm *k = confirm_find(c, env->chat_id, 1);
            if (k && env->seq > k->live_seq)
                k->live_seq = env->seq;
            confirm_want(c, env->chat_id, env->seq, ch.synced_seq, 0);
        } else if (rc == 1) {
            confirm_want(c, env->chat_id, env->seq, ch.synced_seq, 0);
        }
    }
    return drain_held(c, env->chat_id);
}

/* ---- responses ------------------------------------------------------------ */

static int on_chat_list(parley_client *c, const Parley__V1__ChatList *cl)
{
    for (size_t i = 0; i < cl->n_chats; i++) {
        const Parley__V1__ChatSummary *s = cl->chats[i];
        lstore_chat ch;
        if (!s->chat_id || !ids_valid_chat(s->chat_id))
            continue;
        int group = ids_is_group_chat(s->chat_id);
        /* Group topics: after each connect, and for groups new to us. */
        if (group && (!c->synced || lstore_chat_get(c->store, s->chat_id, &ch) == 0))
            client__group_subscribe(c, s->chat_id);
        const char *name = group ? s->name : s->peer;
        if (lstore_chat_ensure(c->store, s->chat_id, group ? 2 : 1, name ? name : "") != 0 ||
            (group && s->name && lstore_chat_set_name(c->store, s->chat_id, s->name) != 0) ||
            lstore_chat_raise(c->store, s->chat_id, "last_seq", s->last_seq) != 0 ||
            lstore_chat_get(c->store, s->chat_id, &ch) != 1)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (s->last_seq > ch.synced_seq && !sync_in_flight(c, s->chat_id)) {
            if (group && c->ndeferred < CLIENT_DEFERRED_MAX) {
                snprintf(c->deferred[c->ndeferred], sizeof c->deferred[0], "%s", s->chat_id);
                c->deferred_after[c->ndeferred++] = ch.synced_seq;
            } else if (send_sync(c, s->chat_id, ch.synced_seq) == 0) {
                sync_started(c);
            }
        }
        /* Acks made while offline (or lost): resend what the server lacks. */
        if (ch.delivered_seq > s->delivered_seq)
            client__send_ack(c, s->chat_id, ch.delivered_seq, 0);
        if (ch.read_seq > s->read_seq)
            client__send_ack(c, s->chat_id, ch.read_seq, 1);
    }
    return 0;
}

static int on_sync_page(parley_client *c, client_req *r, const Parley__V1__SyncPage *p)
{
    char chat_id[sizeof r->chat_id];
    snprintf(chat_id, sizeof chat_id, "%s", r->chat_id);
    r->kind = REQ_NONE;
    for (size_t i = 0; i < p->n_messages; i++) {
        int rc = process_envelope(c, p->messages[i], ENV_PAGE);
        if (rc < 0)
            return rc;
    }
    if (p->more && p->next_after_seq > 0) {
        if (send_sync(c, chat_id, p->next_after_seq) == 0)
            return 0; /* still the same sync */
    }
    if (lstore_chat_raise(c->store, chat_id, "last_seq", p->last_seq) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    int rc = confirm_answer(c, chat_id, p->last_seq);
    sync_finished(c);
    return rc;
}

static int on_response(parley_client *c, const uint8_t *payload, size_t len)
{
    Parley__V1__Response *r = parley__v1__response__unpack(NULL, len, payload);
    int rc = 0;
    if (!r || !r->req_id)
        goto done;
    client_req *q = req_find(c, r->req_id);
    if (!q)
        goto done;
    if (q->kind == REQ_CALL) {
        q->response = r;
        q->done = 1;
        return 0;
    }
    if (r->status != 0) {
        client__fail(c, PARLEY_EREFUSED, "request %s refused: %u %s: %s", r->req_id, r->status,
                     r->error ? r->error : "", r->error_message ? r->error_message : "");
        if (q->kind == REQ_SYNC) {
            client_confirm *k = confirm_find(c, q->chat_id, 0);
            if (r->status == 403 || r->status == 404) {
                /* Not ours to read: nothing seen live in it is confirmed. */
                held_drop_above(c, q->chat_id, 0);
                if (k)
                    confirm_drop(c, k);
            } else if (k) {
                k->next_ms = client__mono_ms() + CONFIRM_DELAY_MS; /* busy: later */
            }
        }
        if (q->kind == REQ_SYNC || q->kind == REQ_LIST_CHATS)
            sync_finished(c);
        q->kind = REQ_NONE;
        goto done;
    }
    switch (q->kind) {
    case REQ_LIST_CHATS:
        q->kind = REQ_NONE;
        if (r->result_case == PARLEY__V1__RESPONSE__RESULT_CHAT_LIST)
            rc = on_chat_list(c, r->chat_list);
        sync_finished(c);
        break;
    case REQ_SYNC:
        if (r->result_case == PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE) {
            rc = on_sync_page(c, q, r->sync_page);
        } else {
            q->kind = REQ_NONE;
            sync_finished(c);
        }
        break;
    default:
        q->kind = REQ_NONE;
        break;
    }

done:
    if (r)
        parley__v1__response__free_unpacked(r, NULL);
    return rc;
}

/* ---- receipts ------------------------------------------------------------- */

/* Refusals that a later retry of the same message can overcome. */
static int transient_refusal(const char *error)
{
    return error && (strcmp(error, "rate_limited") == 0 || strcmp(error, "overloaded") == 0 ||
                     strcmp(error, "store_failed") == 0);
}

static int on_receipt(parley_client *c, const uint8_t *payload, size_t len)
{
    Parley__V1__Receipt *r = parley__v1__receipt__unpack(NULL, len, payload);
    int rc = 0;
    if (!r)
        return 0;
    int status = (int)r->status;
    if (status < PARLEY_RECEIPT_STORED || status > PARLEY_RECEIPT_REJECTED)
        goto done;
    int will_retry = status == PARLEY_RECEIPT_REJECTED && transient_refusal(r->error);
    if (will_retry && r->client_msg_id &&
        lstore_outbox_touch(c->store, r->client_msg_id, client__now_ms()) != 0) {
        rc = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    if (!will_retry &&
        (status == PARLEY_RECEIPT_STORED || status == PARLEY_RECEIPT_REJECTED) &&
        r->client_msg_id && *r->client_msg_id) {
        if (lstore_begin(c->store) != 0) {
            rc = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
            goto done;
        }
        if (client__outbox_done(c, r->client_msg_id, r->chat_id, r->seq, r->server_id, r->ts,
                                status == PARLEY_RECEIPT_STORED) < 0 ||
            lstore_commit(c->store) != 0) {
            lstore_rollback(c->store);
            rc = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
            goto done;
        }
        /* Our message may have closed a gap: held messages can follow. */
        if (r->chat_id && ids_valid_chat(r->chat_id)) {
            client_confirm *k = confirm_find(c, r->chat_id, 0);
            if (k && status == PARLEY_RECEIPT_STORED && k->live_seq && k->live_seq + 1 == r->seq)
                k->live_seq = r->seq; /* ours is next in the live order too */
            rc = drain_held(c, r->chat_id);
            if (rc < 0)
                goto done;
        }
    }
    if (c->cb.on_receipt) {
        parley_receipt pr = {
            .status = (parley_receipt_status)status,
            .chat_id = r->chat_id ? r->chat_id : "",
            .seq = r->seq,
            .server_id = r->server_id ? r->server_id : "",
            .client_msg_id = r->client_msg_id ? r->client_msg_id : "",
            .by = r->by ? r->by : "",
            .ts = r->ts,
            .error = r->error ? r->error : "",
            .error_message = r->error_message ? r->error_message : "",
            .all = r->all,
            .will_retry = will_retry,
        };
        c->cb.on_receipt(c->cb.ud, &pr);
    }

done:
    parley__v1__receipt__free_unpacked(r, NULL);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int client__on_message(parley_client *c, const char *topic, const uint8_t *payload, size_t len)
{
    if (ends_with(topic, "/receipts"))
        return on_receipt(c, payload, len);
    if (ends_with(topic, "/rsp"))
        return on_response(c, payload, len);
    if (ends_with(topic, "/inbox")) {
        Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, len, payload);
        if (!env)
            return 0; /* not an envelope: ignored */
        int rc = process_envelope(c, env, ENV_LIVE);
        parley__v1__envelope__free_unpacked(env, NULL);
        return rc;
    }
    if (ends_with(topic, "/typing") || strncmp(topic, "parley/presence/", 16) == 0)
        return client__presence_on_message(c, topic, payload, len);
    return 0; /* anything else: ignored */
}
