/*
 * send.c - the send path: parley_send_text and send__content. A
 * direct message is encrypted with the pairwise session of every device of
 * the recipient and of our own other devices (their verified device lists,
 * devices.c), in one Fanout body; to a peer with an implicit list from a
 * user with one device it stays one plain pairwise message. A broker
 * refusal stale_devices re-encrypts it to the lists as they are now
 * (send__refan, same client message id). A
 * group message once with our Sender Keys chain (skeys.c), after handing the
 * chain, in pairwise messages, to every member who lacks it. The members come
 * from the local list (members.c): a send never asks the broker, never runs
 * the receive loop and never calls the application's callbacks. Either way
 * the result is queued in the outbox (outbox.c) in the transaction that
 * saves the key state, and published now if connected, else on reconnect.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sender_keys.h"
#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

/* ---- direct messages: every device of the peer, our other devices --------- */

/* How old a cached device list may be before a send refreshes it. The
 * broker's stale_devices refusal catches a change within that minute. */
#define DEVICES_MAX_AGE_MS 60000

typedef struct {
    char user[IDS_USER_MAX + 1];
    char dev[IDS_DEVICE_MAX + 1];
    uint8_t key[32];
    int ok; /* a session exists (pairwise__prepare_dev succeeded) */
} target;

typedef struct {
    target t[2 * DEVLIST_MAX];
    int n;
    int fanout;            /* 0: one plain message to the implicit device (as before lists) */
    outbox_versions v;
} targets;

/* The devices a message to peer goes to, sessions prepared (may fetch
 * lists and bundles: outside any transaction). refresh: fetch both lists
 * now (after a stale_devices refusal). A device whose bundle is missing or
 * refused is left out, as long as one device of peer remains. parley_rc. */
static int direct_targets(parley_client *c, const char *peer, int refresh, targets *out)
{
    devlist lp, lo;
    int64_t age = refresh ? 0 : DEVICES_MAX_AGE_MS;
    int rc;

    memset(out, 0, sizeof *out);
    if (!refresh) {
        /* The cached list is only as good as the account key it was
         * verified with: if the keyserver now serves another one (the
         * contact rotated it), fetch the list now, which surfaces the change
         * (at most one identity lookup per contact and minute, trust.c). */
        uint8_t ik[32];
        int tc = trust__check(c, peer, ik);
        if (tc < 0)
            return PARLEY_ESTORE;
        if (tc == 0)
            age = 0;
    }
    rc = devices__get(c, peer, age, &lp);
    if (rc == PARLEY_ENET || rc == PARLEY_ETLS) {
        /* Offline, no list cached yet: a home from before device lists
         * keeps its session with the implicit device. */
        uint8_t ak[32];
        if (lstore_contact_get(c->store, peer, ak) != 1)
            return rc;
        devlist_implicit(&lp, peer, ak);
    } else if (rc != PARLEY_OK) {
        return rc;
    }
    if (devices__get(c, c->user, age, &lo) != PARLEY_OK)
        devlist_implicit(&lo, c->user, c->account_pk); /* best effort: ourselves only */
    for (int i = 0; i < lp.n; i++) {
        target *t = &out->t[out->n++];
        snprintf(t->user, sizeof t->user, "%s", peer);
        snprintf(t->dev, sizeof t->dev, "%s", lp.d[i].id);
        memcpy(t->key, lp.d[i].key, 32);
    }
    int others = 0;
    for (int i = 0; i < lo.n; i++) {
        if (strcmp(lo.d[i].id, c->device_id) == 0 || sodium_memcmp(lo.d[i].key, c->id_pk, 32) == 0)
            continue;
        target *t = &out->t[out->n++];
        snprintf(t->user, sizeof t->user, "%s", c->user);
        snprintf(t->dev, sizeof t->dev, "%s", lo.d[i].id);
        memcpy(t->key, lo.d[i].key, 32);
        others++;
    }
    out->fanout = lp.version > 0 || others > 0;
    out->v.devices = lp.version;
    out->v.own_devices = lo.version;
    int peer_ok = 0, first_err = PARLEY_OK;
    for (int i = 0; i < out->n; i++) {
        target *t = &out->t[i];
        rc = pairwise__prepare_dev(c, t->user, t->dev, t->key);
        t->ok = rc == PARLEY_OK;
        if (rc == PARLEY_OK) {
            peer_ok += strcmp(t->user, peer) == 0;
            continue;
        }
        if (rc != PARLEY_ENOTFOUND && rc != PARLEY_ECRYPTO)
            return rc; /* network, store: the whole send fails */
        if (first_err == PARLEY_OK)
            first_err = rc;
    }
    if (!peer_ok)
        return first_err != PARLEY_OK ? first_err
                                      : util__fail(c, PARLEY_ENOTFOUND, "%s has no device", peer);
    return PARLEY_OK;
}

/* Encrypt content for every prepared target (caller's transaction): one
 * plain pairwise message, or a Fanout of one per device. *body malloc'd. */
static int encrypt_targets(parley_client *c, const targets *tg, const uint8_t *content,
                           size_t content_len, uint8_t **body, size_t *body_len)
{
    Parley__E2e__V1__DeviceCiphertext dcs[2 * DEVLIST_MAX], *pdcs[2 * DEVLIST_MAX];
    Parley__E2e__V1__E2EMessage *parts[2 * DEVLIST_MAX];
    Parley__E2e__V1__Fanout fo = PARLEY__E2E__V1__FANOUT__INIT;
    Parley__E2e__V1__E2EMessage msg = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    int n = 0, ret = PARLEY_OK;

    *body = NULL;
    if (!tg->fanout) {
        for (int i = 0; i < tg->n; i++)
            if (tg->t[i].ok)
                return pairwise__encrypt_dev(c, tg->t[i].user, tg->t[i].dev, content, content_len,
                                             body, body_len);
        return util__fail(c, PARLEY_ECRYPTO, "no usable session");
    }
    for (int i = 0; i < tg->n; i++) {
        const target *t = &tg->t[i];
        uint8_t *one = NULL;
        size_t one_len = 0;
        if (!t->ok)
            continue;
        ret = pairwise__encrypt_dev(c, t->user, t->dev, content, content_len, &one, &one_len);
        if (ret != PARLEY_OK)
            goto done;
        parts[n] = parley__e2e__v1__e2_emessage__unpack(NULL, one_len, one);
        free(one);
        if (!parts[n]) {
            ret = util__fail(c, PARLEY_ECRYPTO, "cannot encode the message for %s", t->user);
            goto done;
        }
        Parley__E2e__V1__DeviceCiphertext dc = PARLEY__E2E__V1__DEVICE_CIPHERTEXT__INIT;
        dc.user_id = (char *)t->user;
        dc.device_id = (char *)t->dev;
        if (parts[n]->body_case == PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY) {
            dc.body_case = PARLEY__E2E__V1__DEVICE_CIPHERTEXT__BODY_PREKEY;
            dc.prekey = parts[n]->prekey;
        } else {
            dc.body_case = PARLEY__E2E__V1__DEVICE_CIPHERTEXT__BODY_RATCHET;
            dc.ratchet = parts[n]->ratchet;
        }
        dcs[n] = dc;
        pdcs[n] = &dcs[n];
        n++;
    }
    fo.n_to = (size_t)n;
    fo.to = pdcs;
    msg.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT;
    msg.fanout = &fo;
    *body_len = parley__e2e__v1__e2_emessage__get_packed_size(&msg);
    *body = malloc(*body_len ? *body_len : 1);
    if (!*body) {
        ret = util__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    parley__e2e__v1__e2_emessage__pack(&msg, *body);
done:
    for (int i = 0; i < n; i++)
        parley__e2e__v1__e2_emessage__free_unpacked(parts[i], NULL);
    return ret;
}

/* Remember what a direct message holds until it is settled: a
 * stale_devices refusal re-encrypts it (blob "outct"/cmid = peer NUL
 * packed Content; deleted by outbox__done). */
static int keep_content(parley_client *c, const char *cmid, const char *peer,
                        const uint8_t *content, size_t len)
{
    size_t plen = strlen(peer) + 1;
    uint8_t *b = malloc(plen + len);
    if (!b)
        return -1;
    memcpy(b, peer, plen);
    memcpy(b + plen, content, len);
    int rc = lstore_blob_set(c->store, "outct", cmid, b, plen + len);
    sodium_memzero(b, plen + len);
    free(b);
    return rc;
}

/* Encrypt a Content (client_msg_id and sent_at filled in here) for the
 * targets of peer and queue it (caller's transaction). cmid_out: optional,
 * 65 bytes. parley_rc. */
static int queue_pairwise(parley_client *c, const char *peer, const targets *tg,
                          const void *vcontent, const char *plain, char *cmid_out)
{
    Parley__E2e__V1__Content *ct = (Parley__E2e__V1__Content *)vcontent;
    char chat_id[IDS_CHAT_MAX + 1], topic[200], cmid[IDS_SERVER_ID_LEN + 1];
    uint8_t *content = NULL, *body = NULL;
    size_t content_len = 0, body_len = 0;
    int ret;

    if (!ids_direct_chat(c->user, peer, chat_id, sizeof chat_id))
        return util__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", peer);
    snprintf(topic, sizeof topic, "parley/u/%s/inbox", peer);
    ids_random(cmid);
    ct->client_msg_id = cmid;
    ct->sent_at = clock_now_ms();
    content_len = parley__e2e__v1__content__get_packed_size(ct);
    content = malloc(content_len ? content_len : 1);
    if (!content) {
        ret = util__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    parley__e2e__v1__content__pack(ct, content);
    /* Refused before it is encrypted: no ratchet step for a message that
     * would never be sent (outbox__queue checks the exact body again). */
    if ((ret = outbox__fits(c, content_len)) != PARLEY_OK)
        goto done;
    ret = encrypt_targets(c, tg, content, content_len, &body, &body_len);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_chat_ensure(c->store, chat_id, 1, peer) != 0 ||
        keep_content(c, cmid, peer, content, content_len) != 0) {
        ret = util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    /* what the user sent (not protocol traffic): kept for its row, applied now */
    if (plain && (ret = rich__queued(c, cmid, chat_id, ct)) != PARLEY_OK)
        goto done;
    ret = outbox__queue(c, cmid, chat_id, topic, body, body_len, plain,
                        ct->media ? ct->media->media_id : NULL, &tg->v, ct->expire_s);
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

int send__refan(parley_client *c, const char *cmid)
{
    uint8_t *b = NULL, *body = NULL;
    size_t n = 0, body_len = 0;
    targets *tg = NULL;
    int ret;

    int rc = lstore_blob_get(c->store, "outct", cmid, &b, &n);
    if (rc < 0)
        return util__store_fail(c);
    if (rc == 0)
        return util__fail(c, PARLEY_ENOTFOUND, "message %s cannot be encrypted again", cmid);
    const uint8_t *nul = memchr(b, 0, n);
    char peer[IDS_USER_MAX + 1];
    if (!nul || (size_t)(nul - b) > IDS_USER_MAX) {
        ret = util__fail(c, PARLEY_ESTORE, "local store: malformed entry for %s", cmid);
        goto done;
    }
    memcpy(peer, b, (size_t)(nul - b) + 1);
    const uint8_t *content = nul + 1;
    size_t content_len = n - (size_t)(nul - b) - 1;
    tg = malloc(sizeof *tg);
    if (!tg) {
        ret = util__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    ret = direct_targets(c, peer, 1, tg);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_begin(c->store) != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    ret = encrypt_targets(c, tg, content, content_len, &body, &body_len);
    if (ret == PARLEY_OK)
        ret = outbox__replace(c, cmid, body, body_len, &tg->v);
    if (ret == PARLEY_OK && lstore_commit(c->store) != 0)
        ret = util__store_fail(c);
    if (ret != PARLEY_OK)
        lstore_rollback(c->store);
    else if (outbox__flush(c, 0) < 0)
        ret = util__store_fail(c);
done:
    free(tg);
    free(body);
    sodium_memzero(b, n);
    free(b);
    return ret;
}

/* Encrypt a Content for the group with our sender key (handed first to the
 * members who lack it) and queue it. parley_rc. */
static int group_send(parley_client *c, const char *chat_id, void *vct, const char *plain,
                      char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char **members = NULL, topic[200], cmid[IDS_SERVER_ID_LEN + 1];
    size_t n = 0;
    targets *tgs = NULL;
    sender_keys_state *own = NULL;
    sender_keys_distribution d;
    uint8_t *content = NULL, *body = NULL;
    size_t content_len = 0, body_len = 0;
    int ret, in_tx = 0;

    memset(&d, 0, sizeof d);
    /* The members as this client knows them: no request, no waiting. */
    ret = members__others(c, chat_id, &members, &n);
    if (ret != PARLEY_OK)
        goto done;
    /* Every device of every member (and our other devices) gets the key:
     * sessions first (may fetch lists and bundles: outside the transaction). */
    tgs = calloc(n ? n : 1, sizeof *tgs);
    if (!tgs) {
        ret = util__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        ret = direct_targets(c, members[i], 0, &tgs[i]);
        if (ret != PARLEY_OK)
            goto done;
    }
    if (lstore_begin(c->store) != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    in_tx = 1;
    ret = skeys__own(c, chat_id, (void **)&own, &d);
    if (ret != PARLEY_OK)
        goto done;
    /* Hand our chain to every member who lacks it. */
    for (size_t i = 0; i < n; i++) {
        /* Who holds our chain is recorded per device set: a member's new
         * device (or one of ours) is a new list version, so it gets the key. */
        char holder[IDS_USER_MAX + 48];
        snprintf(holder, sizeof holder, "%s@%llu@%llu", members[i],
                 (unsigned long long)tgs[i].v.devices, (unsigned long long)tgs[i].v.own_devices);
        int has = skeys__has_chain(c, chat_id, holder, d.chain_id);
        if (has < 0) {
            ret = util__store_fail(c);
            goto done;
        }
        if (has)
            continue;
        Parley__E2e__V1__SenderKeyDistribution skd = PARLEY__E2E__V1__SENDER_KEY_DISTRIBUTION__INIT;
        Parley__E2e__V1__Content kc = PARLEY__E2E__V1__CONTENT__INIT;
        skd.group_id = d.group_id;
        skd.chain_id = d.chain_id;
        skd.iteration = d.iteration;
        skd.chain_key.data = d.chain_key;
        skd.chain_key.len = sizeof d.chain_key;
        skd.signature_key.data = d.signature_key;
        skd.signature_key.len = sizeof d.signature_key;
        kc.skd = &skd;
        kc.group_id = (char *)chat_id;
        ret = queue_pairwise(c, members[i], &tgs[i], &kc, NULL, NULL);
        if (ret != PARLEY_OK)
            goto done;
        if (skeys__set_chain(c, chat_id, holder, d.chain_id) != 0) {
            ret = util__store_fail(c);
            goto done;
        }
    }
    /* The group message itself. */
    ids_random(cmid);
    ct->client_msg_id = cmid;
    ct->group_id = (char *)chat_id;
    ct->sent_at = clock_now_ms();
    content_len = parley__e2e__v1__content__get_packed_size(ct);
    content = malloc(content_len ? content_len : 1);
    if (content)
        parley__e2e__v1__content__pack(ct, content);
    ct->client_msg_id = NULL; /* the caller's struct points at our buffers no more */
    ct->group_id = NULL;
    if (!content) {
        ret = util__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    if ((ret = outbox__fits(c, content_len)) != PARLEY_OK)
        goto done;
    e2e_status st = sender_keys_encrypt(own, content, content_len, &body, &body_len);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "cannot encrypt for the group: %s", e2e_strerror(st));
        goto done;
    }
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", chat_id + 2);
    ret = skeys__own_save(c, chat_id, own);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_chat_ensure(c->store, chat_id, 2, "") != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    ct->client_msg_id = cmid;
    ct->group_id = (char *)chat_id;
    ret = plain ? rich__queued(c, cmid, chat_id, ct) : PARLEY_OK;
    ct->client_msg_id = NULL;
    ct->group_id = NULL;
    if (ret != PARLEY_OK)
        goto done;
    ret = outbox__queue(c, cmid, chat_id, topic, body, body_len, plain,
                        ct->media ? ct->media->media_id : NULL, NULL, ct->expire_s);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_commit(c->store) != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    in_tx = 0;
    snprintf(cmid_out, IDS_CLIENT_MSG_MAX + 1, "%s", cmid);

done:
    if (in_tx)
        lstore_rollback(c->store);
    sender_keys_free(own);
    keys_wipe(&d, sizeof d);
    if (content) {
        sodium_memzero(content, content_len);
        free(content);
    }
    free(body);
    free(tgs);
    members__free(members, n);
    return ret;
}

int send__content(parley_client *c, const char *to, void *vct, const char *plain, char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char cmid[IDS_CLIENT_MSG_MAX + 1];
    int ret;

    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (ct->text && (strlen(ct->text) > CLIENT_TEXT_MAX || !util__valid_utf8(ct->text)))
        return util__fail(c, PARLEY_EINVAL, "message text longer than %d bytes or not UTF-8",
                          CLIENT_TEXT_MAX);
    /* A chat with a disappearing timer: every message but the timer
     * announcement itself disappears, on every device and on the server. */
    char timer_chat[IDS_CHAT_MAX + 1];
    uint32_t timer = 0;
    if (to &&
        (ids_is_group_chat(to) ? snprintf(timer_chat, sizeof timer_chat, "%s", to) > 0
                               : ids_direct_chat(c->user, to, timer_chat, sizeof timer_chat)) &&
        (ret = rich__chat_timer(c, timer_chat, &timer)) != PARLEY_OK)
        return ret;
    ct->expire_s = ct->timer ? 0 : timer;
    if (to && ids_is_group_chat(to)) {
        if (!ids_valid_chat(to))
            return util__fail(c, PARLEY_EINVAL, "invalid group id '%s'", to);
        ret = group_send(c, to, ct, plain, cmid);
    } else {
        char chat_id[IDS_CHAT_MAX + 1];
        if (!to || !ids_direct_chat(c->user, to, chat_id, sizeof chat_id))
            return util__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", to ? to : "");
        targets *tg = malloc(sizeof *tg);
        if (!tg)
            return util__fail(c, PARLEY_ENOMEM, "out of memory");
        ret = direct_targets(c, to, 0, tg);
        if (ret != PARLEY_OK) {
            free(tg);
            return ret;
        }
        if (lstore_begin(c->store) != 0) {
            free(tg);
            return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        }
        ret = queue_pairwise(c, to, tg, ct, plain, cmid);
        free(tg);
        if (ret == PARLEY_OK && lstore_commit(c->store) != 0)
            ret = util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        if (ret != PARLEY_OK)
            lstore_rollback(c->store);
    }
    if (ret != PARLEY_OK)
        return ret;
    /* Publish now if connected (in creation order: key distributions first);
     * offline, the next connection publishes it. */
    if (outbox__flush(c, 0) < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (cmid_out)
        snprintf(cmid_out, IDS_CLIENT_MSG_MAX + 1, "%s", cmid);
    return PARLEY_OK;
}

int parley_send_text(parley_client *c, const char *to, const char *text, char *client_msg_id)
{
    if (!text)
        return util__fail(c, PARLEY_EINVAL, "message text missing");
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    ct.text = (char *)text;
    return send__content(c, to, &ct, text, client_msg_id);
}
