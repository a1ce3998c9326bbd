/*
 * pairwise.c - pairwise sessions with the crypto/ core: X3DH on first
 * contact (the contact's prekey bundle from the keyserver), then the Double
 * Ratchet. Sessions (blob "session"/peer = ratchet_session_serialize()) are
 * loaded from and saved to the store inside the caller's transaction, so
 * that two processes sharing a home never fork a ratchet.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ratchet.h"
#include "ksclient.h"
#include "token.h"

/* ---- sessions --------------------------------------------------------------- */

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
    ret =
        ksclient_get_bundle(c->keyserver_url, c->ca_file, token, peer, &kb, c->err, sizeof c->err);
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
        ret = util__fail(c, PARLEY_ECRYPTO, "key bundle of %s refused: %s", peer,
                         e2e_strerror(st));
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
        ret = st == E2E_OK ? PARLEY_OK
                           : util__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
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
    e2e_status st = ratchet_session_respond(&fresh, &id, &spk.kp,
                                            info->has_one_time_prekey ? &otk : NULL, body, len,
                                            pt, ptlen);
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

int pairwise__decrypt(parley_client *c, const char *sender, const uint8_t *body, size_t len,
                      uint8_t **content, size_t *content_len)
{
    e2e_message_info info;
    ratchet_session *s = NULL;
    int ret;

    *content = NULL;
    if (!body || len == 0 || e2e_message_inspect(body, len, &info) != E2E_OK)
        return util__fail(c, PARLEY_ECRYPTO, "not an end-to-end encrypted message");
    if (info.kind == E2E_KIND_SENDER_KEY)
        return util__fail(c, PARLEY_ECRYPTO, "group messages are not supported yet");
    int rc = session_load(c, sender, &s);
    if (rc == -1)
        return util__store_fail(c);
    if (info.kind == E2E_KIND_PREKEY) {
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
    if (ret == PARLEY_OK && session_save(c, sender, s) != 0)
        ret = util__store_fail(c);
    if (ret != PARLEY_OK && *content) {
        sodium_memzero(*content, *content_len);
        free(*content);
        *content = NULL;
    }
    ratchet_session_free(s);
    return ret;
}
