/*
 * order.c - per-chat ordering and sync: which envelope of a chat is
 * delivered (deliver.c) when, the cursors, held envelopes, confirming syncs,
 * the connect-time list_chats + sync and the background resync.
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
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

#define CONFIRM_DELAY_MS 250 /* first confirming sync after an unconfirmed live envelope */
#define CONFIRM_MAX 4        /* confirming answers without progress before giving up */

static int drain_held(parley_client *c, const char *chat_id);
static int confirm_answer(parley_client *c, const char *chat_id, uint64_t last);

static int send_sync(parley_client *c, const char *chat_id, uint64_t after)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__SyncRequest s = PARLEY__V1__SYNC_REQUEST__INIT;
    s.chat_id = (char *)chat_id;
    s.after_seq = after;
    s.limit = CLIENT_SYNC_PAGE;
    req.op_case = PARLEY__V1__REQUEST__OP_SYNC;
    req.sync = &s;
    return rpc__request(c, &req, REQ_SYNC, chat_id, NULL);
}

static int sync_in_flight(parley_client *c, const char *chat_id)
{
    return rpc__pending(c, REQ_SYNC, chat_id) > 0;
}

static void sync_started(parley_client *c)
{
    c->order.syncs_pending++;
}

static void sync_finished(parley_client *c)
{
    if (c->order.syncs_pending > 0 && --c->order.syncs_pending == 0 && c->order.ndeferred > 0) {
        /* The direct chats are done: now the groups. */
        int n = c->order.ndeferred;
        c->order.ndeferred = 0;
        for (int i = 0; i < n; i++)
            if (send_sync(c, c->order.deferred[i], c->order.deferred_after[i]) == 0)
                sync_started(c);
        if (c->order.syncs_pending > 0)
            return;
    }
    if (c->order.syncs_pending == 0 && !c->order.synced) {
        c->order.synced = 1;
        util__emit_event(c, PARLEY_EVENT_SYNCED, NULL, 0, NULL, "synced");
    }
}

/* ---- confirmation of live seqs (client_confirm) -------------------------- */

static client_confirm *confirm_find(parley_client *c, const char *chat_id, int create)
{
    for (int i = 0; i < c->order.nconfirm; i++)
        if (strcmp(c->order.confirm[i].chat_id, chat_id) == 0)
            return &c->order.confirm[i];
    if (!create || c->order.nconfirm >= CLIENT_CONFIRM_MAX)
        return NULL;
    client_confirm *k = &c->order.confirm[c->order.nconfirm++];
    memset(k, 0, sizeof *k);
    snprintf(k->chat_id, sizeof k->chat_id, "%s", chat_id);
    return k;
}

static void confirm_drop(parley_client *c, client_confirm *k)
{
    *k = c->order.confirm[--c->order.nconfirm];
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
        k->next_ms = clock_mono_ms() + CONFIRM_DELAY_MS;
    }
}

void order__confirm_tick(parley_client *c, int64_t now_ms)
{
    if (!link__ready(c))
        return;
    for (int i = 0; i < c->order.nconfirm; i++) {
        client_confirm *k = &c->order.confirm[i];
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
    for (int i = 0; i < c->order.nheld; i++) {
        if (c->order.held[i].seq > seq && strcmp(c->order.held[i].chat_id, chat_id) == 0) {
            free(c->order.held[i].payload);
            c->order.held[i--] = c->order.held[--c->order.nheld];
        }
    }
}

static uint64_t held_max(parley_client *c, const char *chat_id)
{
    uint64_t m = 0;
    for (int i = 0; i < c->order.nheld; i++)
        if (c->order.held[i].seq > m && strcmp(c->order.held[i].chat_id, chat_id) == 0)
            m = c->order.held[i].seq;
    return m;
}

void order__expire(parley_client *c, int64_t max_age_ms)
{
    for (int n = rpc__expire(c, max_age_ms); n > 0; n--)
        sync_finished(c);
}

/* list_chats, then a sync of every chat behind the server (see on_chat_list).
 * quiet: a background refresh that does not reset the synced state. */
int order__sync_start(parley_client *c, int quiet)
{
    if (!quiet)
        c->order.synced = 0;
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__ListChatsRequest lc = PARLEY__V1__LIST_CHATS_REQUEST__INIT;
    req.op_case = PARLEY__V1__REQUEST__OP_LIST_CHATS;
    req.list_chats = &lc;
    if (rpc__request(c, &req, REQ_LIST_CHATS, NULL, NULL) != 0)
        return -1;
    sync_started(c);
    return 0;
}

int order__resync(parley_client *c)
{
    if (!link__ready(c) || c->order.syncs_pending > 0)
        return 0;
    return order__sync_start(c, 1);
}

void order__reset(parley_client *c)
{
    /* Requests of the previous connection will never be answered. */
    rpc__expire(c, -1);
    c->order.syncs_pending = 0;
    c->order.ndeferred = 0;
    c->order.synced = 0;
    for (int i = 0; i < c->order.nconfirm; i++)
        c->order.confirm[i].next_ms = 0; /* unconfirmed chats: ask again at once */
}

void order__free(parley_client *c)
{
    for (int i = 0; i < c->order.nheld; i++)
        free(c->order.held[i].payload);
    c->order.nheld = 0;
}

/* ---- held (out-of-order) live envelopes ----------------------------------- */

static void hold(parley_client *c, const Parley__V1__Envelope *env)
{
    if (c->order.nheld >= CLIENT_HELD_MAX)
        return; /* dropped: the sync of this chat brings it back */
    for (int i = 0; i < c->order.nheld; i++)
        if (c->order.held[i].seq == env->seq && strcmp(c->order.held[i].chat_id, env->chat_id) == 0)
            return;
    size_t n = parley__v1__envelope__get_packed_size(env);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    parley__v1__envelope__pack(env, buf);
    client_held *h = &c->order.held[c->order.nheld++];
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
        for (int i = 0; i < c->order.nheld; i++) {
            if (strcmp(c->order.held[i].chat_id, chat_id) != 0)
                continue;
            if (best < 0 || c->order.held[i].seq < c->order.held[best].seq)
                best = i;
        }
        if (best < 0)
            return 0;
        client_held h = c->order.held[best];
        if (all ? h.seq > upto : h.seq > order_pos(c, &ch) + 1)
            return 0;
        c->order.held[best] = c->order.held[--c->order.nheld];
        int rc = 0;
        Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, h.len, h.payload);
        if (env) {
            rc = order__envelope(c, env, all ? ENV_HELD : ENV_LIVE);
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
    k->next_ms = clock_mono_ms() + ((int64_t)CONFIRM_DELAY_MS << k->attempts);
    return 0;
}

static int valid_envelope(const Parley__V1__Envelope *env)
{
    return env->chat_id && ids_valid_chat(env->chat_id) && env->seq > 0 && env->sender &&
           ids_valid_user(env->sender) && env->server_id && env->client_msg_id;
}

int order__envelope(parley_client *c, const void *venv, int how)
{
    const Parley__V1__Envelope *env = venv;
    lstore_chat ch;
    char peer[IDS_USER_MAX + 1] = "";

    if (!valid_envelope(env))
        return 0; /* not from a conforming broker: ignored */
    int group = ids_is_group_chat(env->chat_id);
    if (!group && !ids_direct_peer(env->chat_id, c->user, peer, sizeof peer))
        return 0; /* not one of our chats */
    if (lstore_chat_ensure(c->store, env->chat_id, group ? 2 : 1, group ? "" : peer) != 0 ||
        lstore_chat_get(c->store, env->chat_id, &ch) != 1)
        return util__store_fail(c);
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
            return util__store_fail(c);
        if (known || strcmp(env->sender, c->user) == 0)
            return 0;
        int rc = deliver__envelope(c, env, trusted);
        return rc < 0 ? rc : 0;
    }
    if (how == ENV_LIVE && env->seq > pos + 1) {
        /* A hole: hold it and sync from the cursor. */
        hold(c, env);
        confirm_want(c, env->chat_id, env->seq, ch.synced_seq, 1);
        return 0;
    }
    int rc = deliver__envelope(c, env, trusted);
    if (rc < 0)
        return rc;
    if (!trusted) {
        if (lstore_chat_get(c->store, env->chat_id, &ch) != 1)
            return util__store_fail(c);
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

static int on_chat_list(parley_client *c, const Parley__V1__ChatList *cl)
{
    /* The broker's real limit on a body: sends over it are refused before
     * they are queued (outbox.c). Kept across runs. */
    if (cl->max_payload &&
        lstore_meta_set_int(c->store, "server_max_payload", cl->max_payload) != 0)
        return util__store_fail(c);
    for (size_t i = 0; i < cl->n_chats; i++) {
        const Parley__V1__ChatSummary *s = cl->chats[i];
        lstore_chat ch;
        if (!s->chat_id || !ids_valid_chat(s->chat_id))
            continue;
        int group = ids_is_group_chat(s->chat_id);
        /* Group topics: after each connect, and for groups new to us. */
        if (group && (!c->order.synced || lstore_chat_get(c->store, s->chat_id, &ch) == 0))
            members__subscribe(c, s->chat_id);
        const char *name = group ? s->name : s->peer;
        if (lstore_chat_ensure(c->store, s->chat_id, group ? 2 : 1, name ? name : "") != 0 ||
            (group && s->name && lstore_chat_set_name(c->store, s->chat_id, s->name) != 0) ||
            lstore_chat_raise(c->store, s->chat_id, "last_seq", s->last_seq) != 0 ||
            lstore_chat_get(c->store, s->chat_id, &ch) != 1)
            return util__store_fail(c);
        /* A group whose members we do not know (new to us): ask for them,
         * as part of this sync, so that a send can follow. */
        if (group && members__known(c, s->chat_id) == 0)
            order__refresh_members(c, s->chat_id);
        if (s->last_seq > ch.synced_seq && !sync_in_flight(c, s->chat_id)) {
            if (group && c->order.ndeferred < CLIENT_DEFERRED_MAX) {
                snprintf(c->order.deferred[c->order.ndeferred], sizeof c->order.deferred[0], "%s",
                         s->chat_id);
                c->order.deferred_after[c->order.ndeferred++] = ch.synced_seq;
            } else if (send_sync(c, s->chat_id, ch.synced_seq) == 0) {
                sync_started(c);
            }
        }
        /* Acks made while offline (or lost): resend what the server lacks. */
        if (ch.delivered_seq > s->delivered_seq)
            ack__send(c, s->chat_id, ch.delivered_seq, 0);
        if (ch.read_seq > s->read_seq)
            ack__send(c, s->chat_id, ch.read_seq, 1);
    }
    return 0;
}

int order__on_sync_page(parley_client *c, client_req *r, const void *vp)
{
    const Parley__V1__SyncPage *p = vp;
    char chat_id[sizeof r->chat_id];
    snprintf(chat_id, sizeof chat_id, "%s", r->chat_id);
    r->kind = REQ_NONE;
    for (size_t i = 0; i < p->n_messages; i++) {
        int rc = order__envelope(c, p->messages[i], ENV_PAGE);
        if (rc < 0)
            return rc;
    }
    if (p->more && p->next_after_seq > 0) {
        if (send_sync(c, chat_id, p->next_after_seq) == 0)
            return 0; /* still the same sync */
    }
    if (lstore_chat_raise(c->store, chat_id, "last_seq", p->last_seq) != 0)
        return util__store_fail(c);
    int rc = confirm_answer(c, chat_id, p->last_seq);
    sync_finished(c);
    return rc;
}

int order__on_chat_list(parley_client *c, client_req *r, const void *cl)
{
    r->kind = REQ_NONE;
    int rc = cl ? on_chat_list(c, cl) : 0;
    sync_finished(c);
    return rc;
}

void order__finished(parley_client *c, client_req *r, unsigned status)
{
    if (r->kind == REQ_SYNC && status != 0) {
        client_confirm *k = confirm_find(c, r->chat_id, 0);
        if (status == 403 || status == 404) {
            /* Not ours to read: nothing seen live in it is confirmed. */
            held_drop_above(c, r->chat_id, 0);
            if (k)
                confirm_drop(c, k);
        } else if (k) {
            k->next_ms = clock_mono_ms() + CONFIRM_DELAY_MS; /* busy: later */
        }
    }
    req_kind kind = r->kind;
    r->kind = REQ_NONE;
    if (kind == REQ_SYNC || kind == REQ_LIST_CHATS || kind == REQ_GROUP_GET)
        sync_finished(c);
}

void order__refresh_members(parley_client *c, const char *chat_id)
{
    if (rpc__pending(c, REQ_GROUP_GET, chat_id) == 0 && members__refresh(c, chat_id) == 0)
        sync_started(c);
}

int order__on_own_sent(parley_client *c, const char *chat_id, uint64_t seq, int stored)
{
    if (!chat_id || !ids_valid_chat(chat_id))
        return 0;
    client_confirm *k = confirm_find(c, chat_id, 0);
    if (k && stored && k->live_seq && k->live_seq + 1 == seq)
        k->live_seq = seq; /* ours is next in the live order too */
    return drain_held(c, chat_id);
}
