/*
 * dispatch.c - routes what the broker sends on our topics to the module it
 * is for: receipts (outbox.c, then order.c for the gap an own message may
 * close, then on_receipt; a stale_devices refusal re-encrypts the message,
 * send.c; our own DELIVERED/READ cursor moved by another of our devices
 * moves this device's), every receipt is handled in on_receipt only, responses (rpc.c finds the request: order.c for
 * sync answers, members.c for member refreshes, a blocking call keeps its
 * own), envelopes on inbox topics (order.c), presence and typing
 * (presence.c). A group's SYSTEM envelope on our own inbox (we were added,
 * removed, or the group was created with us) also records the group at
 * once: its topics are subscribed and its members asked for, without
 * waiting for the envelope's turn in the group's order.
 */
#include "parley_int.h"

#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

/* ---- responses ------------------------------------------------------------ */

static int on_response(parley_client *c, const uint8_t *payload, size_t len)
{
    Parley__V1__Response *r = parley__v1__response__unpack(NULL, len, payload);
    int rc = 0;
    if (!r || !r->req_id)
        goto done;
    client_req *q = rpc__find(c, r->req_id);
    if (!q)
        goto done;
    if (q->kind == REQ_CALL) {
        q->response = r; /* collected by loop__call */
        q->done = 1;
        return 0;
    }
    if (q->kind == REQ_DELETE) {
        rc = delreq__on_response(c, q, r) == PARLEY_ESTORE ? -1 : 0;
        goto done;
    }
    if (r->status != 0) {
        util__fail(c, PARLEY_EREFUSED, "request %s refused: %u %s: %s", r->req_id, r->status,
                   r->error ? r->error : "", r->error_message ? r->error_message : "");
        order__finished(c, q, r->status);
        goto done;
    }
    switch (q->kind) {
    case REQ_LIST_CHATS:
        rc = order__on_chat_list(
            c, q, r->result_case == PARLEY__V1__RESPONSE__RESULT_CHAT_LIST ? r->chat_list : NULL);
        break;
    case REQ_SYNC:
        if (r->result_case == PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE)
            rc = order__on_sync_page(c, q, r->sync_page);
        else
            order__finished(c, q, 0);
        break;
    case REQ_GROUP_GET:
        rc = members__on_response(c, r);
        order__finished(c, q, 0);
        break;
    default: q->kind = REQ_NONE; break;
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

/* One message's receipt: r's own fields (for a coalesced STORED, the
 * caller passes each of r->more as r's fields in turn). */
static int on_receipt_one(parley_client *c, const Parley__V1__Receipt *r)
{
    int rc = 0;
    int status = (int)r->status;
    int will_retry = status == PARLEY_RECEIPT_REJECTED && transient_refusal(r->error);
    if (status == PARLEY_RECEIPT_REJECTED && r->error && strcmp(r->error, "stale_devices") == 0 &&
        r->client_msg_id && *r->client_msg_id) {
        /* A device list changed since the message was encrypted: encrypt
         * it again to the lists as they are now, same client message id.
         * Unreachable keyserver: kept, retried (and refused again) later. */
        int rr = send__refan(c, r->client_msg_id);
        if (rr == PARLEY_OK || rr == PARLEY_ENET || rr == PARLEY_ETLS) {
            will_retry = 1;
            if (rr != PARLEY_OK && outbox__later(c, r->client_msg_id) != 0) {
                rc = util__store_fail(c);
                goto done;
            }
        } else if (rr == PARLEY_ESTORE) {
            rc = rr;
            goto done;
        }
    }
    if ((status == PARLEY_RECEIPT_DELIVERED || status == PARLEY_RECEIPT_READ) && r->by &&
        strcmp(r->by, c->user) == 0 && r->chat_id && ids_valid_chat(r->chat_id)) {
        /* Our own cursor, moved by another of our devices: this device's
         * read (delivered) state follows. Never backwards. */
        const char *col = status == PARLEY_RECEIPT_READ ? "read_seq" : "delivered_seq";
        const char *sent = status == PARLEY_RECEIPT_READ ? "sent_read" : "sent_delivered";
        lstore_chat ch;
        int has = lstore_chat_get(c->store, r->chat_id, &ch);
        if (has < 0 || (has == 1 && (lstore_chat_raise(c->store, r->chat_id, col, r->seq) != 0 ||
                                     lstore_chat_raise(c->store, r->chat_id, sent, r->seq) != 0))) {
            rc = util__store_fail(c);
            goto done;
        }
    }
    /* A bad_client_msg_id refusal echoes the id escaped, for display: it
     * may equal no id we sent, and settles nothing. */
    int echoed = status == PARLEY_RECEIPT_REJECTED && r->error &&
                 strcmp(r->error, "bad_client_msg_id") == 0;
    if (will_retry && r->client_msg_id && !(r->error && strcmp(r->error, "stale_devices") == 0) &&
        outbox__later(c, r->client_msg_id) != 0) {
        rc = util__store_fail(c);
        goto done;
    }
    if (!will_retry && !echoed &&
        (status == PARLEY_RECEIPT_STORED || status == PARLEY_RECEIPT_REJECTED) &&
        r->client_msg_id && *r->client_msg_id) {
        if (lstore_begin(c->store) != 0) {
            rc = util__store_fail(c);
            goto done;
        }
        if (outbox__done(c, r->client_msg_id, r->chat_id, r->seq, r->server_id, r->ts,
                         status == PARLEY_RECEIPT_STORED) < 0 ||
            lstore_commit(c->store) != 0) {
            lstore_rollback(c->store);
            rc = util__store_fail(c);
            goto done;
        }
        /* Our message may have closed a gap: held messages can follow. */
        rc = order__on_own_sent(c, r->chat_id, r->seq, status == PARLEY_RECEIPT_STORED);
        if (rc < 0)
            goto done;
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
    return rc;
}

static int on_receipt(parley_client *c, const uint8_t *payload, size_t len)
{
    Parley__V1__Receipt *r = parley__v1__receipt__unpack(NULL, len, payload);
    int rc = 0;
    if (!r)
        return 0;
    int status = (int)r->status;
    if (r->status == PARLEY__V1__RECEIPT_STATUS__RESYNC) {
        /* The broker node may have missed deliveries for us: the
         * background sync runs at the next turn of the loop. */
        c->loop.last_resync_ms = clock_mono_ms() - LOOP_RESYNC_MS;
        goto done;
    }
    if (status < PARLEY_RECEIPT_STORED || status > PARLEY_RECEIPT_REJECTED)
        goto done;
    rc = on_receipt_one(c, r);
    /* A coalesced STORED covers more messages (docs/protocol.md, "Coalesced
     * STORED receipts"): each is settled as if it came on its own. */
    for (size_t i = 0; rc >= 0 && r->status == PARLEY__V1__RECEIPT_STATUS__STORED && i < r->n_more;
         i++) {
        const Parley__V1__StoredMessage *m = r->more[i];
        Parley__V1__Receipt one = *r;
        one.chat_id = m->chat_id;
        one.seq = m->seq;
        one.server_id = m->server_id;
        one.client_msg_id = m->client_msg_id;
        one.n_more = 0;
        one.more = NULL;
        rc = on_receipt_one(c, &one);
    }
done:
    parley__v1__receipt__free_unpacked(r, NULL);
    return rc;
}

/* ---- envelopes ------------------------------------------------------------ */

/* A group's SYSTEM envelope on our own inbox: the broker tells a user of
 * the groups it joins (GROUP_CREATED, MEMBERS_ADDED) and leaves there. The
 * envelope itself is ordered and de-duplicated like any other (its copy on
 * the group topic or in a sync page has the same server id and seq). */
static int on_own_group_event(parley_client *c, const Parley__V1__Envelope *env)
{
    Parley__V1__SystemEvent *ev = parley__v1__system_event__unpack(NULL, env->body.len,
                                                                   env->body.data);
    if (!ev)
        return 0;
    int joined = ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED ||
                 ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED;
    int rc = 0;
    if (joined) {
        const char *name = ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED && ev->name
                               ? ev->name
                               : "";
        lstore_chat ch;
        int had = lstore_chat_get(c->store, env->chat_id, &ch);
        if (had < 0 || lstore_chat_ensure(c->store, env->chat_id, 2, name) != 0 ||
            (had == 0 && *name && lstore_chat_set_name(c->store, env->chat_id, name) != 0)) {
            rc = util__store_fail(c);
        } else {
            members__subscribe(c, env->chat_id);
            /* The event names the new members, not all of them: ask. */
            if (!c->transient)
                order__refresh_members(c, env->chat_id);
        }
    }
    parley__v1__system_event__free_unpacked(ev, NULL);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int dispatch__message(parley_client *c, const char *topic, const uint8_t *payload, size_t len)
{
    if (ends_with(topic, "/receipts"))
        return on_receipt(c, payload, len);
    if (ends_with(topic, "/rsp"))
        return on_response(c, payload, len);
    if (ends_with(topic, "/inbox")) {
        Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, len, payload);
        if (!env)
            return 0; /* not an envelope: ignored */
        int rc = 0;
        if (strncmp(topic, "parley/u/", 9) == 0 && env->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM &&
            env->chat_id && ids_is_group_chat(env->chat_id) && ids_valid_chat(env->chat_id) &&
            env->seq > 0)
            rc = on_own_group_event(c, env);
        if (rc == 0)
            rc = order__envelope(c, env, ENV_LIVE);
        parley__v1__envelope__free_unpacked(env, NULL);
        return rc;
    }
    if (ends_with(topic, "/typing") || strncmp(topic, "parley/presence/", 16) == 0)
        return presence__on_message(c, topic, payload, len);
    return 0; /* anything else: ignored */
}
