/*
 * outbox.c - sending. A message is encrypted once and stored, as the packed
 * Envelope, in the outbox table in the same transaction that saves the
 * ratchet state; it is published now if connected and republished (same
 * client message id, same bytes) on every connect and every 10 s until the
 * broker's STORED or REJECTED receipt settles it. Acks are cursors.
 */
#include "client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

#define TEXT_MAX (64 * 1024)

/* 1 if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
              : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        unsigned cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (*p & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

int client__queue(parley_client *c, const char *cmid, const char *chat_id, const char *topic,
                  const uint8_t *body, size_t body_len, const char *plain, const char *media_id)
{
    Parley__V1__Envelope env = PARLEY__V1__ENVELOPE__INIT;
    env.client_msg_id = (char *)cmid;
    if (media_id && *media_id)
        env.media_id = (char *)media_id;
    env.body.data = (uint8_t *)body;
    env.body.len = body_len;
    env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    size_t n = parley__v1__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return client__fail(c, PARLEY_ENOMEM, "out of memory");
    parley__v1__envelope__pack(&env, buf);
    lstore_outbox o = {
        .client_msg_id = cmid,
        .chat_id = chat_id,
        .topic = topic,
        .body = buf,
        .body_len = n,
        .plain = (const uint8_t *)plain,
        .plain_len = plain ? strlen(plain) : 0,
        .created_at = client__now_ms(),
    };
    int rc = lstore_outbox_add(c->store, &o);
    free(buf);
    return rc == 0 ? PARLEY_OK : client__fail(c, PARLEY_ESTORE, "local store: %s",
                                              lstore_error(c->store));
}

int client__queue_pairwise(parley_client *c, const char *peer, const void *vcontent,
                           const char *plain, char *cmid_out)
{
    Parley__E2e__V1__Content *ct = (Parley__E2e__V1__Content *)vcontent;
    char chat_id[IDS_CHAT_MAX + 1], topic[200], cmid[IDS_SERVER_ID_LEN + 1];
    uint8_t *content = NULL, *body = NULL;
    size_t content_len = 0, body_len = 0;
    int ret;

    if (!ids_direct_chat(c->user, peer, chat_id, sizeof chat_id))
        return client__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", peer);
    snprintf(topic, sizeof topic, "parley/u/%s/inbox", peer);
    ids_random(cmid);
    ct->client_msg_id = cmid;
    ct->sent_at = client__now_ms();
    content_len = parley__e2e__v1__content__get_packed_size(ct);
    content = malloc(content_len ? content_len : 1);
    if (!content) {
        ret = client__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    parley__e2e__v1__content__pack(ct, content);
    ret = client__encrypt(c, peer, content, content_len, &body, &body_len);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_chat_ensure(c->store, chat_id, 1, peer) != 0) {
        ret = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    ret = client__queue(c, cmid, chat_id, topic, body, body_len, plain,
                        ct->media ? ct->media->media_id : NULL);
    if (ret == PARLEY_OK && cmid_out)
        snprintf(cmid_out, IDS_CLIENT_MSG_MAX + 1, "%s", cmid);

done:
    ct->client_msg_id = NULL;
    if (content) {
        sodium_memzero(content, content_len);
        free(content);
    }
    free(body);
    return ret;
}

int client__send_content(parley_client *c, const char *to, void *vct, const char *plain,
                         char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char cmid[IDS_CLIENT_MSG_MAX + 1];
    int ret;

    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (ct->text && (strlen(ct->text) > TEXT_MAX || !valid_utf8(ct->text)))
        return client__fail(c, PARLEY_EINVAL, "message text longer than %d bytes or not UTF-8",
                            TEXT_MAX);
    if (to && ids_is_group_chat(to)) {
        if (!ids_valid_chat(to))
            return client__fail(c, PARLEY_EINVAL, "invalid group id '%s'", to);
        ret = client__group_send(c, to, ct, plain, cmid);
    } else {
        char chat_id[IDS_CHAT_MAX + 1];
        if (!to || !ids_direct_chat(c->user, to, chat_id, sizeof chat_id))
            return client__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", to ? to : "");
        ret = client__prepare_session(c, to);
        if (ret != PARLEY_OK)
            return ret;
        if (lstore_begin(c->store) != 0)
            return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        ret = client__queue_pairwise(c, to, ct, plain, cmid);
        if (ret == PARLEY_OK && lstore_commit(c->store) != 0)
            ret = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (ret != PARLEY_OK)
            lstore_rollback(c->store);
    }
    if (ret != PARLEY_OK)
        return ret;
    /* Publish now if connected (in creation order: key distributions first). */
    if (client__outbox_flush(c, 0) < 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (cmid_out)
        snprintf(cmid_out, IDS_CLIENT_MSG_MAX + 1, "%s", cmid);
    return PARLEY_OK;
}

int parley_send_text(parley_client *c, const char *to, const char *text, char *client_msg_id)
{
    if (!text)
        return client__fail(c, PARLEY_EINVAL, "message text missing");
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    ct.text = (char *)text;
    return client__send_content(c, to, &ct, text, client_msg_id);
}

typedef struct {
    parley_client *c;
    int published;
    int failed;
} flush_ctx;

static void publish_entry(void *ud, const lstore_outbox *o)
{
    flush_ctx *f = ud;
    if (client__publish(f->c, o->topic, o->body, o->body_len) != 0)
        f->failed = 1; /* not connected any more */
    else
        f->published++;
}

typedef struct {
    char ids[64][IDS_CLIENT_MSG_MAX + 1];
    int n;
} touched;

static int collect(void *ud, const lstore_outbox *o)
{
    touched *t = ud;
    snprintf(t->ids[t->n++], sizeof t->ids[0], "%s", o->client_msg_id);
    return t->n == 64;
}

int client__outbox_flush(parley_client *c, int64_t min_age_ms)
{
    if (c->state != SESSION_READY)
        return 0;
    /* min_age 0 (a connect, a new message): everything, whatever the clock
     * says about earlier attempts. */
    int64_t cutoff = min_age_ms == 0 ? INT64_MAX : client__now_ms() - min_age_ms;
    flush_ctx f = {c, 0, 0};
    /* Publish in creation order, 64 at a time, marking each attempt. */
    for (;;) {
        touched t = {.n = 0};
        if (lstore_outbox_each(c->store, cutoff, collect, &t) != 0)
            return -1;
        if (t.n == 0)
            return f.published;
        for (int i = 0; i < t.n; i++) {
            if (lstore_outbox_get(c->store, t.ids[i], publish_entry, &f) < 0)
                return -1;
            if (f.failed)
                return f.published;
            if (lstore_outbox_touch(c->store, t.ids[i], client__now_ms()) != 0)
                return -1;
        }
        if (min_age_ms == 0)
            return f.published; /* one pass: 64 per call, the periodic scan does the rest */
    }
}

typedef struct {
    parley_client *c;
    const char *chat_id;
    uint64_t seq;
    const char *server_id;
    int64_t ts;
    int rc;
} done_ctx;

static void record_own(void *ud, const lstore_outbox *o)
{
    done_ctx *d = ud;
    lstore_msg m = {
        .chat_id = d->chat_id && *d->chat_id ? d->chat_id : o->chat_id,
        .seq = d->seq,
        .server_id = d->server_id,
        .sender = d->c->user,
        .client_msg_id = o->client_msg_id,
        .server_ts = d->ts,
        /* No plain text: protocol traffic (a sender-key distribution). */
        .status = o->plain ? LSTORE_MSG_OWN : LSTORE_MSG_HIDDEN,
        .body = o->plain,
        .body_len = o->plain_len,
    };
    lstore_chat ch;
    int has = lstore_chat_get(d->c->store, m.chat_id, &ch);
    /* Our message is part of the chat's sequence: when it is the next one,
     * the cursor moves past it (no gap to sync for). */
    uint64_t synced = has == 1 && ch.synced_seq + 1 == d->seq ? d->seq : 0;
    if (has < 0 || lstore_msg_insert(d->c->store, &m) < 0 ||
        lstore_chat_set_synced(d->c->store, m.chat_id, synced, d->ts) != 0 ||
        lstore_chat_raise(d->c->store, m.chat_id, "last_seq", d->seq) != 0)
        d->rc = -1;
}

int client__outbox_done(parley_client *c, const char *client_msg_id, const char *chat_id,
                        uint64_t seq, const char *server_id, int64_t ts, int stored)
{
    done_ctx d = {c, chat_id, seq, server_id ? server_id : "", ts, 0};
    if (stored && seq > 0) {
        int found = lstore_outbox_get(c->store, client_msg_id, record_own, &d);
        if (found < 0 || d.rc < 0)
            return -1;
    }
    return lstore_outbox_del(c->store, client_msg_id);
}

/* ---- acks ------------------------------------------------------------------ */

int client__send_ack(parley_client *c, const char *chat_id, uint64_t seq, int read)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__Ack ack = PARLEY__V1__ACK__INIT;
    ack.chat_id = (char *)chat_id;
    ack.seq = seq;
    ack.type = read ? PARLEY__V1__ACK_TYPE__ACK_READ : PARLEY__V1__ACK_TYPE__ACK_DELIVERED;
    req.op_case = PARLEY__V1__REQUEST__OP_ACK;
    req.ack = &ack;
    return client__request(c, &req, REQ_ACK, chat_id, NULL);
}

static int ack(parley_client *c, const char *chat_id, uint64_t seq, int read)
{
    lstore_chat ch;
    if (!chat_id || !ids_valid_chat(chat_id) || seq == 0)
        return client__fail(c, PARLEY_EINVAL, "invalid chat id or seq");
    int rc = lstore_chat_get(c->store, chat_id, &ch);
    if (rc < 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (rc == 0)
        return client__fail(c, PARLEY_ENOTFOUND, "no chat %s", chat_id);
    /* Reading implies delivery. */
    if (lstore_chat_raise(c->store, chat_id, "delivered_seq", seq) != 0 ||
        (read && lstore_chat_raise(c->store, chat_id, "read_seq", seq) != 0))
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    /* Offline: sent on the next connect (the chat list shows what the
     * server lacks). */
    if (c->state == SESSION_READY) {
        if (read && seq > ch.delivered_seq)
            client__send_ack(c, chat_id, seq, 0);
        client__send_ack(c, chat_id, seq, read);
    }
    return PARLEY_OK;
}

int parley_ack_delivered(parley_client *c, const char *chat_id, uint64_t seq)
{
    return ack(c, chat_id, seq, 0);
}

int parley_ack_read(parley_client *c, const char *chat_id, uint64_t seq)
{
    return ack(c, chat_id, seq, 1);
}
