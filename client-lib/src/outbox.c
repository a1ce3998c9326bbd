/*
 * outbox.c - the persistent outbox. A message is encrypted once (send.c) and
 * stored here, as the packed Envelope, in the same transaction that saves
 * the ratchet or sender-key state; it is published now if connected and
 * republished (same client message id, same bytes) on every connect and
 * every 10 s (loop.c) until the broker's STORED or REJECTED receipt, or a
 * sync page's copy, settles it.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

int outbox__fits(parley_client *c, size_t len)
{
    int64_t limit = 0;
    /* The broker said how large a body it accepts (list_chats): a larger
     * one would only come back REJECTED too_large. */
    if (lstore_meta_get_int(c->store, "server_max_payload", &limit) == 1 && limit > 0 &&
        len > (uint64_t)limit)
        return util__fail(c, PARLEY_EINVAL,
                          "message too large: %zu bytes, the server accepts at most %lld", len,
                          (long long)limit);
    return PARLEY_OK;
}

/* The packed Envelope around body (*out malloc'd). parley_rc. */
static int pack_envelope(parley_client *c, const char *cmid, const uint8_t *body, size_t body_len,
                         const char *media_id, const outbox_versions *v, uint32_t ttl_s,
                         uint8_t **out, size_t *n)
{
    int rc = outbox__fits(c, body_len);
    if (rc != PARLEY_OK)
        return rc;
    Parley__V1__Envelope env = PARLEY__V1__ENVELOPE__INIT;
    env.client_msg_id = (char *)cmid;
    if (media_id && *media_id)
        env.media_id = (char *)media_id;
    env.body.data = (uint8_t *)body;
    env.body.len = body_len;
    env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    env.coalesce_receipts = 1; /* one STORED may cover several sends (dispatch.c) */
    env.ttl_s = ttl_s;         /* a disappearing message: the server deletes its copy too */
    if (v) {
        env.devices_version = v->devices;
        env.own_devices_version = v->own_devices;
    }
    *n = parley__v1__envelope__get_packed_size(&env);
    *out = malloc(*n ? *n : 1);
    if (!*out)
        return util__fail(c, PARLEY_ENOMEM, "out of memory");
    parley__v1__envelope__pack(&env, *out);
    return PARLEY_OK;
}

int outbox__queue(parley_client *c, const char *cmid, const char *chat_id, const char *topic,
                  const uint8_t *body, size_t body_len, const char *plain, const char *media_id,
                  const outbox_versions *v, uint32_t ttl_s)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = pack_envelope(c, cmid, body, body_len, media_id, v, ttl_s, &buf, &n);
    if (rc != PARLEY_OK)
        return rc;
    lstore_outbox o = {
        .client_msg_id = cmid,
        .chat_id = chat_id,
        .topic = topic,
        .body = buf,
        .body_len = n,
        .plain = (const uint8_t *)plain,
        .plain_len = plain ? strlen(plain) : 0,
        .created_at = clock_now_ms(),
    };
    rc = lstore_outbox_add(c->store, &o);
    free(buf);
    return rc == 0 ? PARLEY_OK
                   : util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
}

typedef struct {
    parley_client *c;
    int published;
    int failed;
} flush_ctx;

static void publish_entry(void *ud, const lstore_outbox *o)
{
    flush_ctx *f = ud;
    if (link__publish(f->c, o->topic, o->body, o->body_len) != 0)
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

int outbox__flush(parley_client *c, int64_t min_age_ms)
{
    if (!link__ready(c))
        return 0;
    /* min_age 0 (a connect, a new message): everything, whatever the clock
     * says about earlier attempts. */
    int64_t cutoff = min_age_ms == 0 ? INT64_MAX : clock_now_ms() - min_age_ms;
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
            if (lstore_outbox_touch(c->store, t.ids[i], clock_now_ms()) != 0)
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
    /* with the rich columns of what we sent (rich.c), its action re-applied */
    if (has < 0 || rich__record_own(d->c, &m) < 0 ||
        lstore_chat_set_synced(d->c->store, m.chat_id, synced, d->ts) != 0 ||
        lstore_chat_raise(d->c->store, m.chat_id, "last_seq", d->seq) != 0)
        d->rc = -1;
}

int outbox__done(parley_client *c, const char *client_msg_id, const char *chat_id, uint64_t seq,
                 const char *server_id, int64_t ts, int stored)
{
    done_ctx d = {c, chat_id, seq, server_id ? server_id : "", ts, 0};
    if (stored && seq > 0) {
        int found = lstore_outbox_get(c->store, client_msg_id, record_own, &d);
        if (found < 0 || d.rc < 0)
            return -1;
    }
    if (lstore_blob_del(c->store, "outct", client_msg_id) != 0 ||
        rich__forget_own(c, client_msg_id) != 0)
        return -1;
    return lstore_outbox_del(c->store, client_msg_id);
}

typedef struct {
    char chat[IDS_CHAT_MAX + 1];
    char topic[200];
    char media_id[IDS_SERVER_ID_LEN + 8];
    uint32_t ttl_s;
    uint8_t *plain;
    size_t plain_len;
    int has_plain;
    int64_t created_at;
    int rc;
} replace_ctx;

/* Copy what the new entry keeps (o points into the statement). */
static void replace_entry(void *ud, const lstore_outbox *o)
{
    replace_ctx *r = ud;
    Parley__V1__Envelope *old = parley__v1__envelope__unpack(NULL, o->body_len, o->body);
    snprintf(r->media_id, sizeof r->media_id, "%s", old && old->media_id ? old->media_id : "");
    r->ttl_s = old ? old->ttl_s : 0;
    if (old)
        parley__v1__envelope__free_unpacked(old, NULL);
    snprintf(r->chat, sizeof r->chat, "%s", o->chat_id);
    snprintf(r->topic, sizeof r->topic, "%s", o->topic);
    r->created_at = o->created_at;
    r->has_plain = o->plain != NULL;
    r->plain_len = o->plain_len;
    r->plain = malloc(o->plain_len + 1);
    if (!r->plain) {
        r->rc = PARLEY_ENOMEM;
        return;
    }
    if (o->plain_len)
        memcpy(r->plain, o->plain, o->plain_len);
    r->plain[o->plain_len] = 0;
}

int outbox__replace(parley_client *c, const char *cmid, const uint8_t *body, size_t body_len,
                    const outbox_versions *v)
{
    replace_ctx r = {.rc = PARLEY_OK};
    uint8_t *buf = NULL;
    size_t n = 0;
    int ret;
    int found = lstore_outbox_get(c->store, cmid, replace_entry, &r);
    if (found < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (found == 0) {
        ret = util__fail(c, PARLEY_ENOTFOUND, "message %s is not in the outbox", cmid);
        goto done;
    }
    if ((ret = r.rc) != PARLEY_OK)
        goto done;
    ret = pack_envelope(c, cmid, body, body_len, r.media_id, v, r.ttl_s, &buf, &n);
    if (ret != PARLEY_OK)
        goto done;
    lstore_outbox no = {
        .client_msg_id = cmid,
        .chat_id = r.chat,
        .topic = r.topic,
        .body = buf,
        .body_len = n,
        .plain = r.has_plain ? r.plain : NULL,
        .plain_len = r.plain_len,
        .created_at = r.created_at,
    };
    if (lstore_outbox_del(c->store, cmid) != 0 || lstore_outbox_add(c->store, &no) != 0)
        ret = util__store_fail(c);
done:
    free(buf);
    if (r.plain) {
        sodium_memzero(r.plain, r.plain_len);
        free(r.plain);
    }
    return ret;
}

int outbox__later(parley_client *c, const char *client_msg_id)
{
    return lstore_outbox_touch(c->store, client_msg_id, clock_now_ms());
}
