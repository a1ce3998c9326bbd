/*
 * send.c - the send path: parley_send_text and send__content. A
 * direct message is encrypted with the pairwise session (pairwise.c); a
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

/* Encrypt a Content (client_msg_id and sent_at filled in here) for peer
 * and queue it (caller's transaction; the session must exist:
 * pairwise__prepare). cmid_out: optional, 65 bytes. parley_rc. */
static int queue_pairwise(parley_client *c, const char *peer, const void *vcontent,
                           const char *plain, char *cmid_out)
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
    ret = pairwise__encrypt(c, peer, content, content_len, &body, &body_len);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_chat_ensure(c->store, chat_id, 1, peer) != 0) {
        ret = util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    ret = outbox__queue(c, cmid, chat_id, topic, body, body_len, plain,
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

/* Encrypt a Content for the group with our sender key (handed first to the
 * members who lack it) and queue it. parley_rc. */
static int group_send(parley_client *c, const char *chat_id, void *vct, const char *plain,
                      char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char **members = NULL, topic[200], cmid[IDS_SERVER_ID_LEN + 1];
    size_t n = 0;
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
    /* Pairwise sessions first (may fetch bundles: outside the transaction). */
    for (size_t i = 0; i < n; i++) {
        ret = pairwise__prepare(c, members[i]);
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
        int has = skeys__has_chain(c, chat_id, members[i], d.chain_id);
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
        ret = queue_pairwise(c, members[i], &kc, NULL, NULL);
        if (ret != PARLEY_OK)
            goto done;
        if (skeys__set_chain(c, chat_id, members[i], d.chain_id) != 0) {
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
    ret = outbox__queue(c, cmid, chat_id, topic, body, body_len, plain,
                        ct->media ? ct->media->media_id : NULL);
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
    members__free(members, n);
    return ret;
}

int send__content(parley_client *c, const char *to, void *vct, const char *plain,
                  char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char cmid[IDS_CLIENT_MSG_MAX + 1];
    int ret;

    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (ct->text && (strlen(ct->text) > TEXT_MAX || !valid_utf8(ct->text)))
        return util__fail(c, PARLEY_EINVAL, "message text longer than %d bytes or not UTF-8",
                          TEXT_MAX);
    if (to && ids_is_group_chat(to)) {
        if (!ids_valid_chat(to))
            return util__fail(c, PARLEY_EINVAL, "invalid group id '%s'", to);
        ret = group_send(c, to, ct, plain, cmid);
    } else {
        char chat_id[IDS_CHAT_MAX + 1];
        if (!to || !ids_direct_chat(c->user, to, chat_id, sizeof chat_id))
            return util__fail(c, PARLEY_EINVAL, "invalid recipient '%s'", to ? to : "");
        ret = pairwise__prepare(c, to);
        if (ret != PARLEY_OK)
            return ret;
        if (lstore_begin(c->store) != 0)
            return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        ret = queue_pairwise(c, to, ct, plain, cmid);
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
