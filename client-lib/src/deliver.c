/*
 * deliver.c - opening and delivering one envelope: decryption (pairwise.c or
 * skeys.c), the Content checks (client_msg_id and group id bound inside the
 * ciphertext), sender keys carried in pairwise messages, SYSTEM events
 * (members.c, skeys.c), the message row and the cursor in one transaction,
 * then the application's callback. Also the messages kept as ciphertext
 * until they can be opened: group messages waiting for their sender key,
 * direct messages whose sender's identity key could not be checked.
 *
 * Which envelope comes next, and whether its seq is vouched for, is
 * order.c's business: this file is handed one envelope at a time.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

static int retry_pending(parley_client *c);

/* Describe a SYSTEM envelope for the history, and apply a group's event
 * (members.c, skeys.c) in the caller's transaction. parley_rc. */
static int describe_system(parley_client *c, const Parley__V1__Envelope *env, char *out,
                           size_t outlen)
{
    const uint8_t *body = env->body.data;
    size_t len = env->body.len;
    static const char *names[] = {"event",           "group created",   "members added",
                                  "members removed", "member left",     "role changed",
                                  "info updated",    "settings updated"};
    Parley__V1__SystemEvent *ev = parley__v1__system_event__unpack(NULL, len, body);
    if (!ev) {
        snprintf(out, outlen, "(unreadable system event)");
        return PARLEY_OK;
    }
    int t = ev->type >= 0 && ev->type < 8 ? (int)ev->type : 0;
    size_t used = (size_t)snprintf(out, outlen, "%s by %s", names[t], ev->actor ? ev->actor : "?");
    for (size_t i = 0; i < ev->n_users && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : ": ", ev->users[i]);
    if (ev->name && *ev->name && used < outlen)
        snprintf(out + used, outlen - used, " (name: %s)", ev->name);
    int rc = PARLEY_OK;
    if (ids_is_group_chat(env->chat_id)) {
        rc = members__on_event(c, env->chat_id, env->seq, ev);
        if (rc == PARLEY_OK)
            rc = skeys__on_system(c, env->chat_id, ev);
    }
    parley__v1__system_event__free_unpacked(ev, NULL);
    return rc;
}

/* A sender key in a pairwise message (caller's transaction): stored, and
 * the group messages that waited for it are opened after this delivery. */
static int on_skd(parley_client *c, const char *sender,
                  const Parley__E2e__V1__SenderKeyDistribution *skd)
{
    lstore_chat known;
    int had = skd->group_id ? lstore_chat_get(c->store, skd->group_id, &known) : 0;
    if (had < 0)
        return util__store_fail(c);
    int rc = skeys__on_skd(c, sender, skd);
    if (rc != PARLEY_OK)
        return rc;
    char pair[IDS_RETRY_MAX];
    snprintf(pair, sizeof pair, "%s\n%s", skd->group_id, sender);
    int queued = 0;
    for (int i = 0; i < c->deliver.nretry; i++)
        queued |= strcmp(c->deliver.retry[i], pair) == 0;
    if (!queued && c->deliver.nretry < (int)(sizeof c->deliver.retry / sizeof c->deliver.retry[0]))
        snprintf(c->deliver.retry[c->deliver.nretry++], sizeof c->deliver.retry[0], "%s", pair);
    /* A group we had not heard of: we were just added. Subscribe, and sync
     * it soon (what was published before the subscription is in the store). */
    members__subscribe(c, skd->group_id);
    if (!had)
        c->deliver.new_group = 1;
    return PARLEY_OK;
}

/* An opened envelope body: its text and packed MediaRef (both secret,
 * wiped by opened_free), the MediaRef unpacked once the row is written. */
typedef struct {
    char *text;
    size_t tlen;
    uint8_t *media; /* packed MediaRef, or NULL */
    size_t media_len;
    Parley__E2e__V1__MediaRef *mref;
    int hidden; /* nothing for the user (a key distribution alone) */
    Parley__E2e__V1__Content *ct; /* the decrypted Content (ri points into it) */
    rich_info ri;                 /* what kind of message it is (rich.c) */
} opened;

static void opened_free(opened *o)
{
    if (o->text) {
        sodium_memzero(o->text, o->tlen);
        free(o->text);
    }
    if (o->mref)
        parley__e2e__v1__media_ref__free_unpacked(o->mref, NULL);
    rich__free(&o->ri);
    if (o->ct)
        parley__e2e__v1__content__free_unpacked(o->ct, NULL);
    if (o->media) {
        sodium_memzero(o->media, o->media_len);
        free(o->media);
    }
    memset(o, 0, sizeof *o);
}

/* The message row's content: the text, and the media reference if any. */
static void opened_to_row(opened *o, lstore_msg *m)
{
    m->body = (const uint8_t *)o->text;
    m->body_len = o->tlen;
    if (o->media)
        o->mref = parley__e2e__v1__media_ref__unpack(NULL, o->media_len, o->media);
    if (o->mref) {
        m->media_id = o->mref->media_id;
        m->media = o->media;
        m->media_len = o->media_len;
    }
}

/* The application's on_message for env: o's text, or system_text for a
 * SYSTEM event (then o holds nothing). */
static void tell_message(parley_client *c, const Parley__V1__Envelope *env, const opened *o,
                         const char *system_text)
{
    const Parley__E2e__V1__MediaRef *mref = o->mref;
    parley_message pm = {
        .chat_id = env->chat_id,
        .seq = env->seq,
        .server_id = env->server_id,
        .sender = env->sender,
        .client_msg_id = env->client_msg_id,
        .server_ts = env->server_ts,
        .text = system_text ? system_text : o->text,
        .text_len = system_text ? strlen(system_text) : o->tlen,
        .system = system_text != NULL,
        .media_id = mref ? mref->media_id : NULL,
        .media_name = mref && mref->file_name ? mref->file_name : "",
        .media_type = mref && mref->content_type ? mref->content_type : "",
        .media_size = mref ? mref->size : 0,
        .own = strcmp(env->sender, c->user) == 0,
        .sender_device = env->sender_device ? env->sender_device : "",
    };
    const rich_info *ri = &o->ri;
    if (!system_text) {
        pm.kind = (parley_msg_kind)ri->kind;
        if (ri->has_ref && ri->kind == PARLEY_MSG_NORMAL)
            pm.reply_to = (parley_msgref){ri->ref_sender, ri->ref_cmid};
        else if (ri->has_ref)
            pm.target = (parley_msgref){ri->ref_sender, ri->ref_cmid};
        pm.emoji = ri->kind == PARLEY_MSG_REACTION ? ri->emoji : NULL;
        pm.timer_s = ri->timer_s;
        pm.expires_at = ri->expire_s ? env->server_ts + (int64_t)ri->expire_s * 1000 : 0;
        pm.mentioned = ri->mentioned;
        pm.mentions = ri->mention_list;
        pm.n_mentions = ri->n_mentions;
    }
    c->cb.on_message(c->cb.ud, &pm);
}

/* Decrypt and unpack an envelope body into o (cleared first). PARLEY_OK
 * with o->text malloc'd, or PARLEY_ECRYPTO with c->err set, or PARLEY_ENET (a PreKey
 * message whose sender's identity key could not be checked: retry later). Runs inside the caller's
 * transaction (the ratchet state is saved with the message). */
static int open_body(parley_client *c, const Parley__V1__Envelope *env, opened *o)
{
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    Parley__E2e__V1__Content *ct = NULL;
    int ret = PARLEY_ECRYPTO;

    opened_free(o);
    int group = ids_is_group_chat(env->chat_id), rc;
    if (group)
        rc = skeys__decrypt(c, env->chat_id, env->sender, env->body.data, env->body.len, &pt,
                            &ptlen);
    else
        rc = pairwise__decrypt(c, env->sender, env->sender_device, env->body.data, env->body.len,
                               &pt, &ptlen);
    if (rc != PARLEY_OK) {
        /* PARLEY_ENOTFOUND: no ciphertext for this device (skipped). */
        ret = rc == PARLEY_ESTORE || rc == PARLEY_ENET || rc == PARLEY_ENOTFOUND ? rc
                                                                                 : PARLEY_ECRYPTO;
        goto fail;
    }
    ct = parley__e2e__v1__content__unpack(NULL, ptlen, pt);
    if (!ct) {
        util__fail(c, PARLEY_ECRYPTO, "decrypted content is malformed");
        goto fail;
    }
    /* The client message id is bound inside the ciphertext: a replayed
     * ciphertext under another id is refused. */
    if (!ct->client_msg_id || strcmp(ct->client_msg_id, env->client_msg_id) != 0) {
        util__fail(c, PARLEY_ECRYPTO, "client message id does not match the ciphertext");
        goto fail;
    }
    /* A group message names its group inside the ciphertext too. */
    if (group && (!ct->group_id || strcmp(ct->group_id, env->chat_id) != 0)) {
        util__fail(c, PARLEY_ECRYPTO, "group id does not match the ciphertext");
        goto fail;
    }
    if (!group && ct->skd) {
        rc = on_skd(c, env->sender, ct->skd);
        if (rc == PARLEY_ESTORE || rc == PARLEY_ENOMEM) {
            ret = rc;
            goto fail;
        }
        /* A key distribution alone is not a message for the user. */
        o->hidden = 1;
    }
    if (ct->media) {
        if (!ct->media->media_id || !*ct->media->media_id || ct->media->key.len != 32) {
            util__fail(c, PARLEY_ECRYPTO, "malformed media reference");
            goto fail;
        }
        o->media_len = parley__e2e__v1__media_ref__get_packed_size(ct->media);
        o->media = malloc(o->media_len ? o->media_len : 1);
        if (!o->media) {
            ret = PARLEY_ENOMEM;
            goto fail;
        }
        parley__e2e__v1__media_ref__pack(ct->media, o->media);
    }
    rc = rich__parse(c, ct, &o->ri);
    if (rc != PARLEY_OK) {
        ret = rc;
        goto fail;
    }
    if (o->hidden && o->ri.kind != PARLEY_MSG_UNSUPPORTED)
        o->hidden = 0; /* a key distribution riding along with a message */
    /* the row's text: the message's, or an edit's new text */
    const char *t = o->ri.kind == PARLEY_MSG_EDIT ? o->ri.text : ct->text ? ct->text : "";
    o->tlen = strlen(t);
    o->text = malloc(o->tlen + 1);
    if (!o->text) {
        ret = PARLEY_ENOMEM;
        goto fail;
    }
    memcpy(o->text, t, o->tlen + 1);
    o->ct = ct; /* kept: o->ri points into it */
    ct = NULL;
    ret = PARLEY_OK;

fail:
    if (ret != PARLEY_OK)
        opened_free(o);
    if (ct)
        parley__e2e__v1__content__free_unpacked(ct, NULL);
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    return ret;
}

/* What an opened message does (caller's transaction, before its row is
 * written): the row's rich columns; an action checked against the rules
 * (rich.c) and applied. Returns 0 (a message to tell the application), 1
 * refused (the row is kept HIDDEN, detail says why), 2 expired already
 * (kept HIDDEN without content), <0 parley_rc. */
static int rich_row(parley_client *c, const Parley__V1__Envelope *env, opened *o, lstore_msg *m,
                    char *detail, size_t dlen)
{
    m->server_ts = env->server_ts;
    rich__to_row(&o->ri, m);
    if (m->expires_at && m->expires_at <= clock_now_ms()) {
        m->status = LSTORE_MSG_HIDDEN;
        m->body = NULL;
        m->body_len = 0;
        m->media_id = NULL;
        m->media = NULL;
        m->media_len = 0;
        m->mentions = NULL;
        m->expires_at = 0;
        return 2;
    }
    int chk = rich__check(c, env->chat_id, env->sender, env->server_ts, &o->ri);
    if (chk < 0)
        return chk;
    if (chk != RICH_OK) {
        snprintf(detail, dlen, "%s", o->ri.why);
        m->status = LSTORE_MSG_HIDDEN;
        return 1;
    }
    int rc = rich__apply(c, env->chat_id, env->seq, env->server_ts, env->sender, &o->ri);
    return rc == PARLEY_OK ? 0 : rc;
}

/* A TOMBSTONE envelope (a sync page's copy of a message deleted for
 * everyone): the row becomes (or is recorded as) kind DELETED, without
 * content; never undecryptable. Caller's transaction. 0 or <0. */
static int on_tombstone(parley_client *c, const Parley__V1__Envelope *env)
{
    const char *by = env->deleted_by && *env->deleted_by ? env->deleted_by : env->sender;
    int64_t at = env->deleted_at ? env->deleted_at : env->server_ts;
    int own = strcmp(env->sender, c->user) == 0;
    /* Our own message still waiting for its STORED: settled by this copy. */
    if (own && outbox__done(c, env->client_msg_id, env->chat_id, env->seq, env->server_id,
                            env->server_ts, 1) < 0)
        return util__store_fail(c);
    int has = lstore_msg_exists(c->store, env->sender, env->client_msg_id);
    if (has < 0)
        return util__store_fail(c);
    if (has)
        return lstore_msg_tombstone(c->store, env->chat_id, env->sender, env->client_msg_id, by,
                                    at) < 0
                   ? util__store_fail(c)
                   : 0;
    lstore_msg m = {
        .chat_id = env->chat_id,
        .seq = env->seq,
        .server_id = env->server_id,
        .sender = env->sender,
        .client_msg_id = env->client_msg_id,
        .server_ts = env->server_ts,
        .status = own ? LSTORE_MSG_OWN : LSTORE_MSG_RECEIVED,
        .kind = PARLEY_MSG_DELETED,
        .deleted_by = by,
        .deleted_at = at,
    };
    return lstore_msg_insert(c->store, &m) < 0 ? util__store_fail(c) : 0;
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
    opened o = {0};
    int ret = 0;
    char detail[CLIENT_ERR_MAX] = "";

    if (!ids_is_group_chat(chat_id)) {
        /* A direct message kept because the keyserver could not vouch for
         * its sender's identity key: ask again, outside the transaction. */
        if (lstore_msg_pending_each(c->store, chat_id, sender, load_pending, &p) != 0)
            return util__store_fail(c);
        if (p.found) {
            uint8_t *inner = NULL;
            size_t inner_len = 0;
            devices__ensure(c, sender);
            if (pairwise__inner(c, p.env.body.data, p.env.body.len, &inner, &inner_len) == 1)
                trust__prefetch(c, sender, inner, inner_len);
            free(inner);
        }
        free_pending(&p);
        memset(&p, 0, sizeof p);
        p.server_id = server_id;
        p.env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    }
    if (lstore_begin(c->store) != 0)
        return util__store_fail(c);
    if (lstore_msg_pending_each(c->store, chat_id, sender, load_pending, &p) != 0)
        goto fail_store;
    int has = p.found ? skeys__has_key(c, chat_id, sender, p.env.body.data, p.env.body.len) : 0;
    if (has < 0)
        goto fail_store;
    if (!has) {
        /* Not found, or it waits for another chain of this sender. */
        lstore_rollback(c->store);
        goto done;
    }
    lstore_msg m = {
        .server_id = server_id,
        .chat_id = p.env.chat_id,
        .sender = p.env.sender,
        .client_msg_id = p.env.client_msg_id,
    };
    int rc = open_body(c, &p.env, &o), shown = 0;
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
        m.status = o.hidden ? LSTORE_MSG_HIDDEN : LSTORE_MSG_RECEIVED;
        if (!o.hidden) {
            opened_to_row(&o, &m);
            shown = rich_row(c, &p.env, &o, &m, detail, sizeof detail);
            if (shown < 0)
                goto fail_store;
        }
    }
    if (lstore_msg_update(c->store, &m) != 0 || lstore_commit(c->store) != 0)
        goto fail_store;
    if (m.status == LSTORE_MSG_UNDECRYPTABLE) {
        util__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, chat_id, p.env.seq, sender, detail);
    } else if (shown == 1) {
        util__emit_event(c, PARLEY_EVENT_REFUSED, chat_id, p.env.seq, sender, detail);
    } else if (!o.hidden && shown == 0 && c->cb.on_message) {
        tell_message(c, &p.env, &o, NULL);
    }
    goto done;

fail_store:
    lstore_rollback(c->store);
    ret = util__store_fail(c);
done:
    opened_free(&o);
    free_pending(&p);
    return ret;
}

/* Decrypt the group messages that waited for sender keys that just came. */
static int retry_pending(parley_client *c)
{
    while (c->deliver.nretry > 0) {
        char pair[IDS_RETRY_MAX];
        snprintf(pair, sizeof pair, "%s", c->deliver.retry[--c->deliver.nretry]);
        char *nl = strchr(pair, '\n');
        if (!nl)
            continue;
        *nl = 0;
        const char *chat_id = pair, *sender = nl + 1;
        pending_list l = {.n = 0};
        if (lstore_msg_pending_each(c->store, chat_id, sender, collect_pending, &l) != 0)
            return util__store_fail(c);
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

int deliver__retry_kept(parley_client *c)
{
    direct_chats d = {.n = 0};
    /* The 64 most recent direct chats: kept messages are recent ones. */
    if (lstore_chat_each(c->store, collect_direct, &d) != 0)
        return util__store_fail(c);
    for (int i = 0; i < d.n; i++) {
        char peer[IDS_USER_MAX + 1];
        pending_list l = {.n = 0};
        if (!ids_direct_peer(d.chats[i], c->user, peer, sizeof peer))
            continue;
        if (lstore_msg_pending_each(c->store, d.chats[i], peer, collect_pending, &l) != 0)
            return util__store_fail(c);
        for (int j = 0; j < l.n; j++) {
            int rc = open_pending(c, d.chats[i], peer, l.ids[j].server_id);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* 1 if device (an Envelope.sender_device) is this home's device: its id,
 * or a transient connection of it (id "-" suffix). */
static int is_this_device(parley_client *c, const char *device)
{
    size_t n = strlen(c->device_id);
    return device && strncmp(device, c->device_id, n) == 0 && (device[n] == 0 || device[n] == '-');
}

/* Count a message skipped for want of a ciphertext for this device. */
static int count_skipped(parley_client *c)
{
    int64_t n = 0;
    if (lstore_meta_get_int(c->store, "skipped_no_device", &n) < 0)
        return -1;
    return lstore_meta_set_int(c->store, "skipped_no_device", n + 1);
}

/* One envelope of the chat's sequence that is next (or authoritative).
 * Transaction: decrypt (ratchet state) + message row + cursor, then the
 * application callback. trusted: from a sync page. Returns 0 processed,
 * 1 deferred (a live envelope that could not be authenticated: nothing
 * stored, nothing moved, the sync decides), <0 on a local failure. */
int deliver__envelope(parley_client *c, const void *venv, int trusted)
{
    const Parley__V1__Envelope *env = venv;
    char sysdesc[512];
    opened o = {0};
    int status = LSTORE_MSG_RECEIVED, ret = 0, has_key = 1, kept = 0, shown = 0;
    char detail[CLIENT_ERR_MAX] = "";
    lstore_chat ch;

    trust__forget(c);
    /* Messages of our other devices (live on our inbox, or by sync) are
     * opened like a contact's and shown as sent by us. */
    int other_own = strcmp(env->sender, c->user) == 0 &&
                    env->kind != PARLEY__V1__ENVELOPE_KIND__SYSTEM && env->sender_device &&
                    *env->sender_device && !is_this_device(c, env->sender_device);
    if (env->kind != PARLEY__V1__ENVELOPE_KIND__SYSTEM && !ids_is_group_chat(env->chat_id) &&
        (strcmp(env->sender, c->user) != 0 || other_own)) {
        if (env->sender_device && *env->sender_device)
            devices__prefetch(c, env->sender, env->sender_device);
        else
            devices__ensure(c, env->sender);
        /* The pairwise message for this device (a Fanout's entry). */
        uint8_t *inner = NULL;
        size_t inner_len = 0;
        if (pairwise__inner(c, env->body.data, env->body.len, &inner, &inner_len) == 1)
            trust__prefetch(c, env->sender, inner, inner_len);
        free(inner);
    }
    if (lstore_begin(c->store) != 0)
        return util__store_fail(c);
    if (lstore_chat_get(c->store, env->chat_id, &ch) != 1)
        goto fail_store;
    int own = strcmp(env->sender, c->user) == 0 && !other_own;
    if (env->kind == PARLEY__V1__ENVELOPE_KIND__TOMBSTONE) {
        /* Deleted for everyone before we saw it: nothing to open or tell. */
        if (on_tombstone(c, env) < 0)
            goto fail_store;
        own = 1; /* (nothing for the application) */
    } else if (own && env->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM) {
        own = 0; /* system events we caused are shown like any other */
    } else if (own && trusted) {
        /* Our own message, seen through a sync page: settles the outbox. */
        if (outbox__done(c, env->client_msg_id, env->chat_id, env->seq, env->server_id,
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
        int sent = queued == 0 ? lstore_msg_own(c->store, c->user, env->client_msg_id, &oseq, osid,
                                                sizeof osid, ochat, sizeof ochat)
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
                if (describe_system(c, env, sysdesc, sizeof sysdesc) != PARLEY_OK)
                    goto fail_store;
                status = LSTORE_MSG_SYSTEM;
                m.body = (const uint8_t *)sysdesc;
                m.body_len = strlen(sysdesc);
            } else if (ids_is_group_chat(env->chat_id) &&
                       (has_key = skeys__has_key(c, env->chat_id, env->sender, env->body.data,
                                                 env->body.len)) != 1) {
                /* The sender's key travels in our direct chat with them and
                 * has not arrived yet: keep the ciphertext until it does. */
                if (has_key < 0)
                    goto fail_store;
                if (!trusted)
                    goto deferred; /* cannot be checked yet: the sync page copy waits */
                status = LSTORE_MSG_PENDING_KEY;
                o.hidden = 1;
                m.body = env->body.data;
                m.body_len = env->body.len;
            } else {
                int rc = open_body(c, env, &o);
                if (rc == PARLEY_ESTORE || rc == PARLEY_ENOMEM)
                    goto fail_store;
                if (rc != PARLEY_OK && !trusted) {
                    /* Not authenticated (forged, or not checkable now): the
                     * session is unchanged (rollback); the copy of a sync
                     * page, whose seq the server vouches for, is recorded. */
                    goto deferred;
                }
                if (rc == PARLEY_ENOTFOUND) {
                    /* Sent before this device was linked: nothing for it.
                     * Skipped silently (a hidden row keeps the sequence). */
                    status = LSTORE_MSG_HIDDEN;
                    if (count_skipped(c) != 0)
                        goto fail_store;
                } else if (rc == PARLEY_ENET) {
                    /* The sender's identity key could not be checked: keep
                     * the ciphertext, report it, retry (deliver__retry_kept). */
                    snprintf(detail, sizeof detail, "%s", c->err);
                    status = LSTORE_MSG_PENDING_KEY;
                    kept = 1;
                    m.body = env->body.data;
                    m.body_len = env->body.len;
                } else if (rc != PARLEY_OK) {
                    snprintf(detail, sizeof detail, "%s", c->err);
                    status = LSTORE_MSG_UNDECRYPTABLE;
                } else if (o.hidden) {
                    status = LSTORE_MSG_HIDDEN;
                } else {
                    opened_to_row(&o, &m);
                    if (other_own)
                        status = LSTORE_MSG_OWN; /* sent by us, from another device */
                    m.status = status;
                    shown = rich_row(c, env, &o, &m, detail, sizeof detail);
                    if (shown < 0)
                        goto fail_store;
                    status = m.status;
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
                          ? env->seq
                          : 0;
    if (lstore_chat_set_synced(c->store, env->chat_id, cursor, env->server_ts) != 0 ||
        lstore_commit(c->store) != 0)
        goto fail_store;

    if (!own && kept) {
        util__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, env->chat_id, env->seq, env->sender,
                         detail);
    } else if (!own && shown == 1) {
        /* an action that broke a rule: kept hidden, changed nothing */
        util__emit_event(c, PARLEY_EVENT_REFUSED, env->chat_id, env->seq, env->sender, detail);
    } else if (!own && (status == LSTORE_MSG_HIDDEN || status == LSTORE_MSG_PENDING_KEY)) {
        /* nothing for the application (yet), or expired before it arrived */
    } else if (!own && status == LSTORE_MSG_UNDECRYPTABLE) {
        util__emit_event(c, PARLEY_EVENT_UNDECRYPTABLE, env->chat_id, env->seq, env->sender,
                         detail);
    } else if (!own && c->cb.on_message) {
        tell_message(c, env, &o, status == LSTORE_MSG_SYSTEM ? sysdesc : NULL);
    }
    goto done;

deferred:
    lstore_rollback(c->store);
    c->deliver.nretry = 0; /* nothing of this envelope happened */
    ret = 1;
    goto done;
fail_store:
    lstore_rollback(c->store);
    ret = util__store_fail(c);
done:
    opened_free(&o);
    if (ret == 0 && c->deliver.nretry > 0)
        ret = retry_pending(c);
    return ret;
}
