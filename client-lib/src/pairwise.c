/*
 * pairwise.c - pairwise sessions with the crypto/ core: X3DH on first
 * contact (the contact's prekey bundle from the keyserver), then the Double
 * Ratchet. Sessions are per (user, device): blob "session"/"peer/device"
 * (= ratchet_session_serialize()); a peer with an implicit device list has
 * the one device "" whose session is "session"/"peer" (the key homes made
 * before linked devices used, so they keep their sessions). The identity key
 * of an explicit device is the one its verified device list names
 * (devices.c): a bundle or PreKey message with another key is refused. The
 * implicit device's key is the pinned account key (trust.c). Sessions are
 * loaded from and saved to the store inside the caller's transaction, so
 * that two processes sharing a home never fork a ratchet.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ratchet.h"
#include "e2e.pb-c.h"
#include "ids.h"
#include "ksclient.h"
#include "token.h"

/* ---- sessions --------------------------------------------------------------- */

/* The blob key of the session with (peer, dev). */
static const char *skey(char *out, size_t n, const char *peer, const char *dev)
{
    if (dev && *dev)
        snprintf(out, n, "%s/%s", peer, dev);
    else
        snprintf(out, n, "%s", peer);
    return out;
}

#define SKEY_MAX (IDS_USER_MAX + IDS_DEVICE_MAX + 2)

static int session_load(parley_client *c, const char *peer, ratchet_session **out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = lstore_blob_get(c->store, "session", peer, &b, &n);
    if (rc != 1)
        return rc;
    e2e_status st = ratchet_session_deserialize(out, b, n);
    sodium_memzero(b, n);
    free(b);
    return st == E2E_OK ? 1 : -2;
}

static int session_save(parley_client *c, const char *peer, const ratchet_session *s)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (ratchet_session_serialize(s, &b, &n) != E2E_OK)
        return -1;
    int rc = lstore_blob_set(c->store, "session", peer, b, n);
    sodium_memzero(b, n);
    free(b);
    return rc;
}

/* Sessions made before device lists were keyed by the peer alone (its
 * implicit device, whose key is the account key). When that device shows
 * up in the peer's explicit list as dev (the primary: its key is the
 * account key), the session moves to (peer, dev) instead of starting over.
 * Caller's transaction or none. 0 (moved or nothing to move), -1 store. */
static int session_adopt(parley_client *c, const char *peer, const char *dev,
                         const uint8_t devkey[32])
{
    uint8_t ak[32], *b = NULL;
    size_t n = 0;
    char key[SKEY_MAX];
    if (!dev || !*dev || !devkey)
        return 0;
    if (strcmp(peer, c->user) == 0)
        memcpy(ak, c->account_pk, 32);
    else if (lstore_contact_get(c->store, peer, ak) != 1)
        return 0;
    if (sodium_memcmp(ak, devkey, 32) != 0)
        return 0;
    int have = lstore_blob_get(c->store, "session", skey(key, sizeof key, peer, dev), &b, &n);
    if (b) {
        sodium_memzero(b, n);
        free(b);
        b = NULL;
    }
    if (have != 0)
        return have < 0 ? -1 : 0;
    int old = lstore_blob_get(c->store, "session", peer, &b, &n);
    if (old != 1)
        return old < 0 ? -1 : 0;
    int rc = lstore_blob_set(c->store, "session", key, b, n) == 0 &&
                     lstore_blob_del(c->store, "session", peer) == 0
                 ? 0
                 : -1;
    sodium_memzero(b, n);
    free(b);
    return rc;
}

/* A session with peer exists: does the keyserver still serve the identity
 * key it was made with? 1 yes (or not known: unreachable), 0 the key
 * changed (the change is recorded and surfaced, the session dropped), <0
 * local failure. */
static int session_still_valid(parley_client *c, const char *peer)
{
    uint8_t ik[32];
    int rc = trust__check(c, peer, ik);
    if (rc != 0)
        return rc;
    if (lstore_begin(c->store) != 0)
        return util__store_fail(c);
    if (trust__note(c, peer, ik) < 0 || lstore_blob_del(c->store, "session", peer) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        return util__store_fail(c);
    }
    return 0;
}

int pairwise__prepare(parley_client *c, const char *peer)
{
    char token[TOKEN_MAX_LEN];
    ksclient_bundle kb;
    x3dh_bundle xb;
    ratchet_session *s = NULL;
    keys_identity id = identity__keys(c);
    uint8_t *probe = NULL;
    size_t plen = 0;
    int ret;

    int have = lstore_blob_get(c->store, "session", peer, &probe, &plen);
    if (probe) {
        sodium_memzero(probe, plen);
        free(probe);
    }
    if (have < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (have == 1) {
        int valid = session_still_valid(c, peer);
        if (valid != 0) {
            ret = valid > 0 ? PARLEY_OK : PARLEY_ESTORE;
            goto done;
        }
        /* The contact's identity changed: start over from a fresh bundle. */
    }
    ret = identity__keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        goto done;
    ret = ksclient_get_bundle(c->keyserver_url, c->ca_file, token, peer, NULL, &kb, c->err,
                              sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (ret == PARLEY_ENOTFOUND)
        util__fail(c, PARLEY_ENOTFOUND, "no keys for user %s on the keyserver", peer);
    if (ret != PARLEY_OK)
        goto done;
    memset(&xb, 0, sizeof xb);
    memcpy(xb.identity_key, kb.identity_key, 32);
    xb.signed_prekey_id = kb.signed_prekey.key_id;
    memcpy(xb.signed_prekey, kb.signed_prekey.pub, 32);
    memcpy(xb.signed_prekey_signature, kb.signed_prekey.sig, 64);
    xb.has_one_time_prekey = kb.has_one_time;
    xb.one_time_prekey_id = kb.one_time.key_id;
    memcpy(xb.one_time_prekey, kb.one_time.pub, 32);
    e2e_status st = ratchet_session_initiate(&s, &id, &xb);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "key bundle of %s refused: %s", peer, e2e_strerror(st));
        goto done;
    }
    if (lstore_begin(c->store) != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (trust__note(c, peer, kb.identity_key) < 0 || session_save(c, peer, s) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    trust__checked(c, peer);
    ret = PARLEY_OK;

done:
    ratchet_session_free(s);
    keys_wipe(&id, sizeof id);
    return ret;
}

int pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                          const uint8_t devkey[32])
{
    char token[TOKEN_MAX_LEN], key[SKEY_MAX];
    ksclient_bundle kb;
    x3dh_bundle xb;
    ratchet_session *s = NULL;
    keys_identity id;
    uint8_t *probe = NULL;
    size_t plen = 0;
    int ret;

    if (!dev || !*dev)
        return pairwise__prepare(c, peer);
    if (session_adopt(c, peer, dev, devkey) != 0)
        return util__store_fail(c);
    int have = lstore_blob_get(c->store, "session", skey(key, sizeof key, peer, dev), &probe,
                               &plen);
    if (probe) {
        sodium_memzero(probe, plen);
        free(probe);
    }
    if (have < 0)
        return util__store_fail(c);
    if (have == 1)
        return PARLEY_OK; /* the device list vouches for its key */
    ret = identity__keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        return ret;
    ret = ksclient_get_bundle(c->keyserver_url, c->ca_file, token, peer, dev, &kb, c->err,
                              sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (ret == PARLEY_ENOTFOUND)
        return util__fail(c, PARLEY_ENOTFOUND, "no keys for device %s of %s on the keyserver", dev,
                          peer);
    if (ret != PARLEY_OK)
        return ret;
    if (sodium_memcmp(kb.identity_key, devkey, 32) != 0)
        return util__fail(c, PARLEY_ECRYPTO,
                          "the key bundle of device %s of %s does not carry "
                          "the key its device list names: refused",
                          dev, peer);
    memset(&xb, 0, sizeof xb);
    memcpy(xb.identity_key, kb.identity_key, 32);
    xb.signed_prekey_id = kb.signed_prekey.key_id;
    memcpy(xb.signed_prekey, kb.signed_prekey.pub, 32);
    memcpy(xb.signed_prekey_signature, kb.signed_prekey.sig, 64);
    xb.has_one_time_prekey = kb.has_one_time;
    xb.one_time_prekey_id = kb.one_time.key_id;
    memcpy(xb.one_time_prekey, kb.one_time.pub, 32);
    id = identity__keys(c);
    e2e_status st = ratchet_session_initiate(&s, &id, &xb);
    keys_wipe(&id, sizeof id);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "key bundle of device %s of %s refused: %s", dev, peer,
                         e2e_strerror(st));
        goto done;
    }
    if (lstore_begin(c->store) != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (session_save(c, key, s) != 0 || lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    ret = PARLEY_OK;
done:
    ratchet_session_free(s);
    return ret;
}

int pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                          const uint8_t *content, size_t len, uint8_t **body, size_t *body_len)
{
    char key[SKEY_MAX];
    return pairwise__encrypt(c, skey(key, sizeof key, peer, dev), content, len, body, body_len);
}

int pairwise__encrypt(parley_client *c, const char *peer, const uint8_t *content, size_t len,
                      uint8_t **body, size_t *body_len)
{
    ratchet_session *s = NULL;
    int ret;

    *body = NULL;
    int rc = session_load(c, peer, &s);
    if (rc == -1) {
        ret = util__store_fail(c);
        goto done;
    }
    if (rc != 1) {
        ret = util__fail(c, PARLEY_ECRYPTO, "no usable session with %s", peer);
        goto done;
    }
    e2e_status st = ratchet_encrypt(s, content, len, body, body_len);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "cannot encrypt for %s: %s", peer, e2e_strerror(st));
        goto done;
    }
    if (session_save(c, peer, s) != 0) {
        free(*body);
        *body = NULL;
        ret = util__store_fail(c);
        goto done;
    }
    ret = PARLEY_OK;

done:
    ratchet_session_free(s);
    return ret;
}

/* A PreKey message: the existing session if it has the same base key,
 * else a new responder session from our prekeys. */
static int decrypt_prekey(parley_client *c, const char *sender, const e2e_message_info *info,
                          const uint8_t *body, size_t len, ratchet_session **s, uint8_t **pt,
                          size_t *ptlen)
{
    keys_signed_prekey spk;
    keys_x25519 otk;
    keys_identity id = identity__keys(c);
    ratchet_session *fresh = NULL;
    int ret = PARLEY_ECRYPTO;

    memset(&spk, 0, sizeof spk);
    memset(&otk, 0, sizeof otk);
    if (*s && sodium_memcmp(ratchet_session_base_key(*s), info->base_key, 32) == 0) {
        e2e_status st = ratchet_decrypt(*s, body, len, pt, ptlen);
        ret = st == E2E_OK ? PARLEY_OK : util__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
        goto done;
    }
    int rc = prekeys__spk(c, info->signed_prekey_id, &spk);
    if (rc < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (rc == 0) {
        ret = util__fail(c, PARLEY_ECRYPTO, "unknown signed prekey %u", info->signed_prekey_id);
        goto done;
    }
    if (info->has_one_time_prekey) {
        rc = prekeys__otk(c, info->one_time_prekey_id, &otk);
        if (rc < 0) {
            ret = util__store_fail(c);
            goto done;
        }
        if (rc == 0) {
            ret = util__fail(c, PARLEY_ECRYPTO, "one-time prekey %u already used or unknown",
                             info->one_time_prekey_id);
            goto done;
        }
    }
    e2e_status st = ratchet_session_respond(
        &fresh, &id, &spk.kp, info->has_one_time_prekey ? &otk : NULL, body, len, pt, ptlen);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
        goto done;
    }
    if (info->has_one_time_prekey) {
        if (prekeys__otk_used(c, info->one_time_prekey_id) != 0) {
            ret = util__store_fail(c);
            goto done;
        }
    }
    ratchet_session_free(*s);
    *s = fresh;
    fresh = NULL;
    ret = PARLEY_OK;

done:
    ratchet_session_free(fresh);
    keys_wipe(&spk, sizeof spk);
    keys_wipe(&otk, sizeof otk);
    keys_wipe(&id, sizeof id);
    return ret;
}

int pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                      const uint8_t *body, size_t len, uint8_t **content, size_t *content_len)
{
    devlist l;
    if (pairwise__is_fanout(body, len))
        return pairwise__decrypt_fanout(c, sender, sender_device, body, len, content, content_len);
    /* A plain message: from the sender's implicit device, or from a listed
     * device of a sender that saw our list as implicit. */
    int had = devices__cached(c, sender, &l, NULL);
    if (had < 0)
        return util__store_fail(c);
    int i = had == 1 && l.version > 0 && sender_device && *sender_device
                ? devlist_find(&l, sender_device)
                : -1;
    if (i >= 0)
        return pairwise__decrypt_dev(c, sender, l.d[i].id, l.d[i].key, body, len, content,
                                     content_len);
    return pairwise__decrypt_dev(c, sender, "", NULL, body, len, content, content_len);
}

int pairwise__decrypt_dev(parley_client *c, const char *sender, const char *dev,
                          const uint8_t devkey[32], const uint8_t *body, size_t len,
                          uint8_t **content, size_t *content_len)
{
    e2e_message_info info;
    ratchet_session *s = NULL;
    char key[SKEY_MAX];
    int ret, explicit_dev = dev && *dev;

    *content = NULL;
    if (!body || len == 0 || e2e_message_inspect(body, len, &info) != E2E_OK)
        return util__fail(c, PARLEY_ECRYPTO, "not an end-to-end encrypted message");
    if (info.kind == E2E_KIND_SENDER_KEY)
        return util__fail(c, PARLEY_ECRYPTO, "group messages are not supported yet");
    skey(key, sizeof key, sender, dev);
    if (explicit_dev && session_adopt(c, sender, dev, devkey) != 0)
        return util__store_fail(c);
    int rc = session_load(c, key, &s);
    if (rc == -1)
        return util__store_fail(c);
    if (info.kind == E2E_KIND_PREKEY && explicit_dev) {
        /* A device's key is the one its verified list names - or a new
         * account key the keyserver serves (the primary after a rotation:
         * the list we hold was signed by the old key). */
        int listed = devkey && sodium_memcmp(devkey, info.identity_key, 32) == 0;
        int vouched = listed ? PARLEY_OK : trust__vouched(c, sender, info.identity_key);
        if (vouched == PARLEY_ENET || vouched == PARLEY_ESTORE)
            ret = vouched;
        else if (vouched != PARLEY_OK)
            ret = util__fail(c, PARLEY_ECRYPTO,
                             "refused: the key of device %s of %s in this "
                             "message is not the one its device list names",
                             dev, sender);
        else
            ret = decrypt_prekey(c, sender, &info, body, len, &s, content, content_len);
        /* An account key change is recorded and surfaced. */
        if (ret == PARLEY_OK && !listed && trust__note(c, sender, info.identity_key) < 0)
            ret = util__store_fail(c);
    } else if (info.kind == E2E_KIND_PREKEY) {
        /* A key we have not pinned (first contact, or a change) must be
         * the one the keyserver serves; the message authenticates it. */
        ret = trust__vouched(c, sender, info.identity_key);
        if (ret == PARLEY_OK)
            ret = decrypt_prekey(c, sender, &info, body, len, &s, content, content_len);
        /* Pinned on first contact; a change is surfaced. */
        if (ret == PARLEY_OK && trust__note(c, sender, info.identity_key) < 0)
            ret = util__store_fail(c);
    } else if (rc != 1) {
        ret = util__fail(c, PARLEY_ECRYPTO, "no session with %s", sender);
    } else {
        e2e_status st = ratchet_decrypt(s, body, len, content, content_len);
        ret = st == E2E_OK ? PARLEY_OK : util__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
    }
    if (ret == PARLEY_OK && session_save(c, key, s) != 0)
        ret = util__store_fail(c);
    if (ret != PARLEY_OK && *content) {
        sodium_memzero(*content, *content_len);
        free(*content);
        *content = NULL;
    }
    ratchet_session_free(s);
    return ret;
}

int pairwise__is_fanout(const uint8_t *body, size_t len)
{
    if (!body || len == 0)
        return 0;
    Parley__E2e__V1__E2EMessage *m = parley__e2e__v1__e2_emessage__unpack(NULL, len, body);
    int yes = m && m->body_case == PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT;
    if (m)
        parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
    return yes;
}

/* The entry of a Fanout for this device, or NULL. */
static Parley__E2e__V1__DeviceCiphertext *my_entry(parley_client *c,
                                                   const Parley__E2e__V1__E2EMessage *m)
{
    if (!m || m->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT || !m->fanout)
        return NULL;
    for (size_t i = 0; i < m->fanout->n_to; i++) {
        Parley__E2e__V1__DeviceCiphertext *d = m->fanout->to[i];
        if (d->user_id && d->device_id && strcmp(d->user_id, c->user) == 0 &&
            (strcmp(d->device_id, c->device_id) == 0 || (!*d->device_id && c->primary)))
            return d;
    }
    return NULL;
}

/* An entry as the plain E2EMessage it was (*out malloc'd). parley_rc. */
static int repack(parley_client *c, const Parley__E2e__V1__DeviceCiphertext *d, uint8_t **out,
                  size_t *n)
{
    Parley__E2e__V1__E2EMessage one = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    if (d->body_case == PARLEY__E2E__V1__DEVICE_CIPHERTEXT__BODY_PREKEY && d->prekey) {
        one.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY;
        one.prekey = d->prekey;
    } else if (d->body_case == PARLEY__E2E__V1__DEVICE_CIPHERTEXT__BODY_RATCHET && d->ratchet) {
        one.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET;
        one.ratchet = d->ratchet;
    } else {
        return util__fail(c, PARLEY_ECRYPTO, "empty ciphertext for this device");
    }
    *n = parley__e2e__v1__e2_emessage__get_packed_size(&one);
    *out = malloc(*n ? *n : 1);
    if (!*out)
        return util__fail(c, PARLEY_ENOMEM, "out of memory");
    parley__e2e__v1__e2_emessage__pack(&one, *out);
    return PARLEY_OK;
}

int pairwise__inner(parley_client *c, const uint8_t *body, size_t len, uint8_t **inner,
                    size_t *inner_len)
{
    *inner = NULL;
    *inner_len = 0;
    if (!body || len == 0)
        return 0;
    Parley__E2e__V1__E2EMessage *m = parley__e2e__v1__e2_emessage__unpack(NULL, len, body);
    if (!m)
        return 0;
    int ret = 0;
    if (m->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT) {
        *inner = malloc(len);
        if (*inner) {
            memcpy(*inner, body, len);
            *inner_len = len;
            ret = 1;
        }
    } else {
        Parley__E2e__V1__DeviceCiphertext *d = my_entry(c, m);
        ret = d && repack(c, d, inner, inner_len) == PARLEY_OK ? 1 : 0;
    }
    parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
    return ret;
}

int pairwise__decrypt_fanout(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len)
{
    Parley__E2e__V1__E2EMessage *m = NULL;
    Parley__E2e__V1__DeviceCiphertext *mine = NULL;
    uint8_t *inner = NULL;
    size_t inner_len = 0;
    devlist l;
    const char *dev = "";
    const uint8_t *devkey = NULL;
    int ret;

    *content = NULL;
    m = parley__e2e__v1__e2_emessage__unpack(NULL, len, body);
    if (!m || m->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT || !m->fanout) {
        ret = util__fail(c, PARLEY_ECRYPTO, "not a device fan-out message");
        goto done;
    }
    mine = my_entry(c, m);
    if (!mine) {
        ret = util__fail(c, PARLEY_ENOTFOUND,
                         "no ciphertext for this device (sent before it "
                         "was linked)");
        goto done;
    }
    int had = devices__cached(c, sender, &l, NULL);
    if (had < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (had == 0) {
        /* The sender's devices are unknown (keyserver unreachable when it
         * came): which key may speak for it cannot be told yet. */
        ret = util__fail(c, PARLEY_ENET,
                         "cannot check the identity key of %s with the keyserver "
                         "(its device list is not known): kept for a retry",
                         sender);
        goto done;
    }
    if (l.version > 0) {
        int i = sender_device && *sender_device ? devlist_find(&l, sender_device) : -1;
        if (i < 0 && (!sender_device || !*sender_device)) {
            /* Not said (a message kept for a retry): a PreKey message names
             * its device by key; a ratchet message of a one-device list. */
            if (mine->body_case == PARLEY__E2E__V1__DEVICE_CIPHERTEXT__BODY_PREKEY &&
                mine->prekey && mine->prekey->identity_key.len == 32)
                i = devlist_find_key(&l, mine->prekey->identity_key.data);
            else if (l.n == 1)
                i = 0;
        }
        if (i < 0) {
            ret = util__fail(c, PARLEY_ECRYPTO, "device %s is not in the device list of %s",
                             sender_device && *sender_device ? sender_device : "(unknown)", sender);
            goto done;
        }
        dev = l.d[i].id;
        devkey = l.d[i].key;
    }
    ret = repack(c, mine, &inner, &inner_len);
    if (ret == PARLEY_OK)
        ret = pairwise__decrypt_dev(c, sender, dev, devkey, inner, inner_len, content, content_len);
done:
    free(inner);
    if (m)
        parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
    return ret;
}
