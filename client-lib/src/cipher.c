/*
 * cipher.c - end-to-end encryption of message bodies with the crypto/ core:
 * prekey generation, upload, replenishment and rotation; pairwise sessions
 * (X3DH on first contact, then the Double Ratchet) persisted in the local
 * store; each contact's identity key pinned on first contact, after a check
 * with the keyserver (GET /v1/identity), and re-checked on changes.
 *
 * Sessions are loaded from and saved to the store inside the caller's
 * transaction, so that two processes sharing a home never fork a ratchet.
 *
 * Local store layout (blobs): "spk"/id -> signed prekey (id, sk, pk, sig,
 * created_at), "otk"/id -> one-time prekey (sk, pk), "session"/peer ->
 * ratchet_session_serialize(). meta: spk_current, spk_previous, otk_next_id,
 * keys_uploaded.
 */
#include "client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keys.h"
#include "crypto/ratchet.h"
#include "ksclient.h"
#include "token.h"

#define OTK_BATCH 100            /* uploaded by init and on every replenishment */
#define OTK_LOW_WATER 10         /* replenish below this many on the server */
#define SPK_ROTATE_MS (7LL * 24 * 3600 * 1000)
#define SPK_BLOB_LEN (4 + 32 + 32 + 64 + 8)

static int store_fail(parley_client *c)
{
    return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
}

static int keyserver_token(parley_client *c, char *out, size_t n)
{
    return parley_token(c, "keyserver", NULL, 300, out, n);
}

/* ---- prekeys ------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int spk_save(parley_client *c, const keys_signed_prekey *k, int64_t created)
{
    uint8_t b[SPK_BLOB_LEN];
    char id[16];
    put32(b, k->key_id);
    memcpy(b + 4, k->kp.sk, 32);
    memcpy(b + 36, k->kp.pk, 32);
    memcpy(b + 68, k->signature, 64);
    for (int i = 0; i < 8; i++)
        b[132 + i] = (uint8_t)((uint64_t)created >> (56 - 8 * i));
    snprintf(id, sizeof id, "%u", k->key_id);
    int rc = lstore_blob_set(c->store, "spk", id, b, sizeof b);
    sodium_memzero(b, sizeof b);
    return rc;
}

/* 1 found, 0 missing, -1 error. */
static int spk_load(parley_client *c, uint32_t key_id, keys_signed_prekey *k, int64_t *created)
{
    char id[16];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(id, sizeof id, "%u", key_id);
    int rc = lstore_blob_get(c->store, "spk", id, &b, &n);
    if (rc != 1)
        return rc;
    if (n != SPK_BLOB_LEN) {
        sodium_memzero(b, n);
        free(b);
        return -1;
    }
    k->key_id = get32(b);
    memcpy(k->kp.sk, b + 4, 32);
    memcpy(k->kp.pk, b + 36, 32);
    memcpy(k->signature, b + 68, 64);
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | b[132 + i];
    if (created)
        *created = (int64_t)t;
    sodium_memzero(b, n);
    free(b);
    return 1;
}

static int otk_load(parley_client *c, uint32_t key_id, keys_x25519 *kp)
{
    char id[16];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(id, sizeof id, "%u", key_id);
    int rc = lstore_blob_get(c->store, "otk", id, &b, &n);
    if (rc != 1)
        return rc;
    if (n == 64) {
        memcpy(kp->sk, b, 32);
        memcpy(kp->pk, b + 32, 32);
    } else {
        rc = -1;
    }
    sodium_memzero(b, n);
    free(b);
    return rc;
}

static keys_identity self_identity(parley_client *c)
{
    keys_identity id;
    memcpy(id.pk, c->id_pk, 32);
    memcpy(id.sk, c->id_sk, 64);
    return id;
}

/* A new signed prekey becomes current; the old current becomes previous
 * (kept for messages in flight), the one before is deleted. In a
 * transaction. */
static int spk_rotate(parley_client *c, keys_signed_prekey *out)
{
    int64_t cur = 0, prev = 0;
    keys_identity id = self_identity(c);
    int ret = PARLEY_ESTORE;

    if (lstore_meta_get_int(c->store, "spk_current", &cur) < 0 ||
        lstore_meta_get_int(c->store, "spk_previous", &prev) < 0)
        goto done;
    if (keys_signed_prekey_generate(&id, (uint32_t)cur + 1, out) != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot generate a signed prekey");
        goto done;
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%lld", (long long)prev);
    if (lstore_begin(c->store) != 0)
        goto done;
    if ((prev > 0 && lstore_blob_del(c->store, "spk", pid) != 0) ||
        spk_save(c, out, client__now_ms()) != 0 ||
        lstore_meta_set_int(c->store, "spk_previous", cur) != 0 ||
        lstore_meta_set_int(c->store, "spk_current", out->key_id) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        goto done;
    }
    ret = PARLEY_OK;

done:
    keys_wipe(&id, sizeof id);
    if (ret == PARLEY_ESTORE)
        store_fail(c);
    return ret;
}

/* Generate OTK_BATCH one-time prekeys, store them, fill pub (public parts). */
static int otk_generate(parley_client *c, ksclient_prekey *pub)
{
    keys_one_time_prekey *k = calloc(OTK_BATCH, sizeof *k);
    int64_t next = 1;
    int ret = PARLEY_ESTORE;
    if (!k)
        return PARLEY_ENOMEM;
    if (lstore_meta_get_int(c->store, "otk_next_id", &next) < 0)
        goto done;
    if (keys_one_time_prekeys_generate((uint32_t)next, OTK_BATCH, k) != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot generate one-time prekeys");
        goto done;
    }
    if (lstore_begin(c->store) != 0)
        goto done;
    for (size_t i = 0; i < OTK_BATCH; i++) {
        uint8_t b[64];
        char id[16];
        memcpy(b, k[i].kp.sk, 32);
        memcpy(b + 32, k[i].kp.pk, 32);
        snprintf(id, sizeof id, "%u", k[i].key_id);
        int rc = lstore_blob_set(c->store, "otk", id, b, sizeof b);
        sodium_memzero(b, sizeof b);
        if (rc != 0) {
            lstore_rollback(c->store);
            goto done;
        }
        pub[i].key_id = k[i].key_id;
        memcpy(pub[i].pub, k[i].kp.pk, 32);
    }
    if (lstore_meta_set_int(c->store, "otk_next_id", next + OTK_BATCH) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        goto done;
    }
    ret = PARLEY_OK;

done:
    keys_wipe(k, OTK_BATCH * sizeof *k);
    free(k);
    if (ret == PARLEY_ESTORE)
        store_fail(c);
    return ret;
}

static void spk_public(const keys_signed_prekey *k, ksclient_prekey *out)
{
    out->key_id = k->key_id;
    memcpy(out->pub, k->kp.pk, 32);
    memcpy(out->sig, k->signature, 64);
}

int client__prekeys_maintain(parley_client *c, int force_upload)
{
    char token[TOKEN_MAX_LEN];
    keys_signed_prekey spk;
    ksclient_prekey spk_pub, *otks = NULL;
    int64_t cur = 0, created = 0, uploaded = 0;
    int upload_spk = 0, upload_otk = 0, ret;

    memset(&spk, 0, sizeof spk);
    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    otks = calloc(OTK_BATCH, sizeof *otks);
    if (!otks)
        return PARLEY_ENOMEM;
    ret = keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_meta_get_int(c->store, "spk_current", &cur) < 0 ||
        lstore_meta_get_int(c->store, "keys_uploaded", &uploaded) < 0) {
        ret = store_fail(c);
        goto done;
    }
    /* The signed prekey: create on first use, rotate weekly. */
    int have = cur > 0 ? spk_load(c, (uint32_t)cur, &spk, &created) : 0;
    if (have < 0) {
        ret = store_fail(c);
        goto done;
    }
    if (!have || client__now_ms() - created > SPK_ROTATE_MS) {
        ret = spk_rotate(c, &spk);
        if (ret != PARLEY_OK)
            goto done;
        upload_spk = 1;
    }
    if (!uploaded || force_upload)
        upload_spk = upload_otk = !uploaded || upload_spk;
    if (uploaded && !upload_otk) {
        int count = 0;
        ret = ksclient_key_count(c->keyserver_url, token, &count, c->err, sizeof c->err);
        if (ret != PARLEY_OK)
            goto done;
        upload_otk = count < OTK_LOW_WATER;
    }
    if (!upload_spk && !upload_otk) {
        ret = PARLEY_OK;
        goto done;
    }
    if (upload_otk) {
        ret = otk_generate(c, otks);
        if (ret != PARLEY_OK)
            goto done;
    }
    spk_public(&spk, &spk_pub);
    ret = ksclient_put_keys(c->keyserver_url, token, upload_spk ? &spk_pub : NULL, otks,
                            upload_otk ? OTK_BATCH : 0, c->err, sizeof c->err);
    if (ret == PARLEY_OK && lstore_meta_set_int(c->store, "keys_uploaded", 1) != 0)
        ret = store_fail(c);

done:
    keys_wipe(&spk, sizeof spk);
    sodium_memzero(token, sizeof token);
    free(otks);
    return ret;
}

/* ---- identities ------------------------------------------------------------- */

int client__note_identity(parley_client *c, const char *user, const uint8_t ik[32])
{
    uint8_t known[32];
    int rc = lstore_contact_get(c->store, user, known);
    if (rc < 0)
        return -1;
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0)
        return 0;
    if (lstore_contact_set(c->store, user, ik) != 0)
        return -1;
    if (rc == 0)
        return 0; /* first contact: trusted on first use */
    client__emit_event(c, PARLEY_EVENT_IDENTITY_CHANGED, NULL, 0, user,
                       "the identity key of this contact changed: verify the safety number");
    return 1;
}

void client__identity_prefetch(parley_client *c, const char *sender, const uint8_t *body,
                               size_t len)
{
    e2e_message_info info;
    uint8_t known[32];

    c->vouch.valid = 0;
    if (!body || len == 0 || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_PREKEY)
        return;
    int rc = lstore_contact_get(c->store, sender, known);
    if (rc == 1 && sodium_memcmp(known, info.identity_key, 32) == 0)
        return; /* the pinned key: nothing to ask */
    memset(&c->vouch, 0, sizeof c->vouch);
    snprintf(c->vouch.user, sizeof c->vouch.user, "%s", sender);
    c->vouch.rc = ksclient_get_identity(c->keyserver_url, sender, c->vouch.ik, c->vouch.err,
                                        sizeof c->vouch.err);
    c->vouch.valid = 1;
}

/* May a PreKey message from sender carrying identity key ik start a session?
 * PARLEY_OK: ik is the pinned key, or the keyserver serves ik (first contact
 * or a change, recorded by the caller after decryption). PARLEY_ECRYPTO:
 * refused (the keyserver serves another key, or none). PARLEY_ENET: not
 * checked (keyserver unreachable or failing): keep the message for a retry. */
static int identity_vouched(parley_client *c, const char *sender, const uint8_t ik[32])
{
    uint8_t known[32];
    int rc = lstore_contact_get(c->store, sender, known);
    if (rc < 0)
        return store_fail(c);
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0)
        return PARLEY_OK;
    const char *what = rc == 1 ? "changed identity key" : "identity key";
    if (!c->vouch.valid || strcmp(c->vouch.user, sender) != 0)
        return client__fail(c, PARLEY_ENET, "the %s of %s was not checked with the keyserver: "
                            "kept for a retry", what, sender);
    if (c->vouch.rc == PARLEY_ENOTFOUND)
        return client__fail(c, PARLEY_ECRYPTO, "refused: the keyserver has no identity key for "
                            "%s", sender);
    if (c->vouch.rc != PARLEY_OK)
        return client__fail(c, PARLEY_ENET, "cannot check the %s of %s with the keyserver "
                            "(%s): kept for a retry", what, sender, c->vouch.err);
    if (sodium_memcmp(c->vouch.ik, ik, 32) != 0)
        return client__fail(c, PARLEY_ECRYPTO, "refused: the %s of %s in this message does not "
                            "match the keyserver's", what, sender);
    return PARLEY_OK;
}

/* 1 if peer's identity was checked with the keyserver in the last minute. */
static int idcheck_recent(parley_client *c, const char *peer)
{
    int64_t now = client__mono_ms();
    for (int i = 0; i < CLIENT_IDCHECK_MAX; i++)
        if (c->idcheck[i].user[0] && strcmp(c->idcheck[i].user, peer) == 0)
            return now - c->idcheck[i].at_ms < CLIENT_IDCHECK_MS;
    return 0;
}

static void idcheck_note(parley_client *c, const char *peer)
{
    client_idcheck *e = NULL;
    for (int i = 0; i < CLIENT_IDCHECK_MAX && !e; i++)
        if (strcmp(c->idcheck[i].user, peer) == 0)
            e = &c->idcheck[i];
    if (!e) {
        e = &c->idcheck[c->idcheck_next];
        c->idcheck_next = (c->idcheck_next + 1) % CLIENT_IDCHECK_MAX;
    }
    snprintf(e->user, sizeof e->user, "%s", peer);
    e->at_ms = client__mono_ms();
}

/* A session with peer exists: does the keyserver still serve the identity
 * key it was made with? 1 yes (or not known: unreachable), 0 the key
 * changed (the change is recorded and surfaced, the session dropped), <0
 * local failure. */
static int session_still_valid(parley_client *c, const char *peer)
{
    uint8_t ik[32], known[32];
    char err[CLIENT_ERR_MAX];

    if (idcheck_recent(c, peer))
        return 1;
    if (ksclient_get_identity(c->keyserver_url, peer, ik, err, sizeof err) != PARLEY_OK)
        return 1; /* cannot tell: keep using the session (documented) */
    int rc = lstore_contact_get(c->store, peer, known);
    if (rc < 0)
        return store_fail(c);
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0) {
        idcheck_note(c, peer);
        return 1;
    }
    if (lstore_begin(c->store) != 0)
        return store_fail(c);
    if (client__note_identity(c, peer, ik) < 0 || lstore_blob_del(c->store, "session", peer) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        return store_fail(c);
    }
    return 0;
}

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

int client__prepare_session(parley_client *c, const char *peer)
{
    char token[TOKEN_MAX_LEN];
    ksclient_bundle kb;
    x3dh_bundle xb;
    ratchet_session *s = NULL;
    keys_identity id = self_identity(c);
    uint8_t *probe = NULL;
    size_t plen = 0;
    int ret;

    int have = lstore_blob_get(c->store, "session", peer, &probe, &plen);
    if (probe) {
        sodium_memzero(probe, plen);
        free(probe);
    }
    if (have < 0) {
        ret = store_fail(c);
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
    ret = keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        goto done;
    ret = ksclient_get_bundle(c->keyserver_url, token, peer, &kb, c->err, sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (ret == PARLEY_ENOTFOUND)
        client__fail(c, PARLEY_ENOTFOUND, "no keys for user %s on the keyserver", peer);
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
        ret = client__fail(c, PARLEY_ECRYPTO, "key bundle of %s refused: %s", peer,
                           e2e_strerror(st));
        goto done;
    }
    if (lstore_begin(c->store) != 0) {
        ret = store_fail(c);
        goto done;
    }
    if (client__note_identity(c, peer, kb.identity_key) < 0 || session_save(c, peer, s) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = store_fail(c);
        goto done;
    }
    idcheck_note(c, peer);
    ret = PARLEY_OK;

done:
    ratchet_session_free(s);
    keys_wipe(&id, sizeof id);
    return ret;
}

int client__encrypt(parley_client *c, const char *peer, const uint8_t *content, size_t len,
                    uint8_t **body, size_t *body_len)
{
    ratchet_session *s = NULL;
    int ret;

    *body = NULL;
    int rc = session_load(c, peer, &s);
    if (rc == -1) {
        ret = store_fail(c);
        goto done;
    }
    if (rc != 1) {
        ret = client__fail(c, PARLEY_ECRYPTO, "no usable session with %s", peer);
        goto done;
    }
    e2e_status st = ratchet_encrypt(s, content, len, body, body_len);
    if (st != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot encrypt for %s: %s", peer, e2e_strerror(st));
        goto done;
    }
    if (session_save(c, peer, s) != 0) {
        free(*body);
        *body = NULL;
        ret = store_fail(c);
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
    keys_identity id = self_identity(c);
    ratchet_session *fresh = NULL;
    int ret = PARLEY_ECRYPTO;

    memset(&spk, 0, sizeof spk);
    memset(&otk, 0, sizeof otk);
    if (*s && sodium_memcmp(ratchet_session_base_key(*s), info->base_key, 32) == 0) {
        e2e_status st = ratchet_decrypt(*s, body, len, pt, ptlen);
        ret = st == E2E_OK ? PARLEY_OK
                           : client__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
        goto done;
    }
    int rc = spk_load(c, info->signed_prekey_id, &spk, NULL);
    if (rc < 0) {
        ret = store_fail(c);
        goto done;
    }
    if (rc == 0) {
        ret = client__fail(c, PARLEY_ECRYPTO, "unknown signed prekey %u", info->signed_prekey_id);
        goto done;
    }
    if (info->has_one_time_prekey) {
        rc = otk_load(c, info->one_time_prekey_id, &otk);
        if (rc < 0) {
            ret = store_fail(c);
            goto done;
        }
        if (rc == 0) {
            ret = client__fail(c, PARLEY_ECRYPTO, "one-time prekey %u already used or unknown",
                               info->one_time_prekey_id);
            goto done;
        }
    }
    e2e_status st = ratchet_session_respond(&fresh, &id, &spk.kp,
                                            info->has_one_time_prekey ? &otk : NULL, body, len,
                                            pt, ptlen);
    if (st != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
        goto done;
    }
    if (info->has_one_time_prekey) {
        char oid[16];
        snprintf(oid, sizeof oid, "%u", info->one_time_prekey_id);
        if (lstore_blob_del(c->store, "otk", oid) != 0) {
            ret = store_fail(c);
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

int client__decrypt(parley_client *c, const char *sender, const uint8_t *body, size_t len,
                    uint8_t **content, size_t *content_len)
{
    e2e_message_info info;
    ratchet_session *s = NULL;
    int ret;

    *content = NULL;
    if (!body || len == 0 || e2e_message_inspect(body, len, &info) != E2E_OK)
        return client__fail(c, PARLEY_ECRYPTO, "not an end-to-end encrypted message");
    if (info.kind == E2E_KIND_SENDER_KEY)
        return client__fail(c, PARLEY_ECRYPTO, "group messages are not supported yet");
    int rc = session_load(c, sender, &s);
    if (rc == -1)
        return store_fail(c);
    if (info.kind == E2E_KIND_PREKEY) {
        /* A key we have not pinned (first contact, or a change) must be
         * the one the keyserver serves; the message authenticates it. */
        ret = identity_vouched(c, sender, info.identity_key);
        if (ret == PARLEY_OK)
            ret = decrypt_prekey(c, sender, &info, body, len, &s, content, content_len);
        /* Pinned on first contact; a change is surfaced. */
        if (ret == PARLEY_OK && client__note_identity(c, sender, info.identity_key) < 0)
            ret = store_fail(c);
    } else if (rc != 1) {
        ret = client__fail(c, PARLEY_ECRYPTO, "no session with %s", sender);
    } else {
        e2e_status st = ratchet_decrypt(s, body, len, content, content_len);
        ret = st == E2E_OK ? PARLEY_OK : client__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
    }
    if (ret == PARLEY_OK && session_save(c, sender, s) != 0)
        ret = store_fail(c);
    if (ret != PARLEY_OK && *content) {
        sodium_memzero(*content, *content_len);
        free(*content);
        *content = NULL;
    }
    ratchet_session_free(s);
    return ret;
}
