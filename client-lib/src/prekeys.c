/*
 * prekeys.c - this home's prekeys: the signed prekey (created on first use,
 * rotated weekly, the previous one kept for messages in flight) and the
 * one-time prekeys (uploaded in batches, replenished when the keyserver
 * holds few). Local store: blobs "spk"/id (id, sk, pk, sig, created_at) and
 * "otk"/id (sk, pk); meta spk_current, spk_previous, otk_next_id,
 * keys_uploaded.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksclient.h"
#include "token.h"

#define OTK_BATCH 100            /* uploaded by init and on every replenishment */
#define OTK_LOW_WATER 10         /* replenish below this many on the server */
#define SPK_ROTATE_MS (7LL * 24 * 3600 * 1000)
#define SPK_BLOB_LEN (4 + 32 + 32 + 64 + 8)

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

/* A new signed prekey becomes current; the old current becomes previous
 * (kept for messages in flight), the one before is deleted. In a
 * transaction. */
static int spk_rotate(parley_client *c, keys_signed_prekey *out)
{
    int64_t cur = 0, prev = 0;
    keys_identity id = identity__keys(c);
    int ret = PARLEY_ESTORE;

    if (lstore_meta_get_int(c->store, "spk_current", &cur) < 0 ||
        lstore_meta_get_int(c->store, "spk_previous", &prev) < 0)
        goto done;
    if (keys_signed_prekey_generate(&id, (uint32_t)cur + 1, out) != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "cannot generate a signed prekey");
        goto done;
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%lld", (long long)prev);
    if (lstore_begin(c->store) != 0)
        goto done;
    if ((prev > 0 && lstore_blob_del(c->store, "spk", pid) != 0) ||
        spk_save(c, out, clock_now_ms()) != 0 ||
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
        util__store_fail(c);
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
        ret = util__fail(c, PARLEY_ECRYPTO, "cannot generate one-time prekeys");
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
        util__store_fail(c);
    return ret;
}

static void spk_public(const keys_signed_prekey *k, ksclient_prekey *out)
{
    out->key_id = k->key_id;
    memcpy(out->pub, k->kp.pk, 32);
    memcpy(out->sig, k->signature, 64);
}

int prekeys__maintain(parley_client *c, int force_upload)
{
    char token[TOKEN_MAX_LEN];
    keys_signed_prekey spk;
    ksclient_prekey spk_pub, *otks = NULL;
    int64_t cur = 0, created = 0, uploaded = 0;
    int upload_spk = 0, upload_otk = 0, ret;

    memset(&spk, 0, sizeof spk);
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    otks = calloc(OTK_BATCH, sizeof *otks);
    if (!otks)
        return PARLEY_ENOMEM;
    ret = identity__keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_meta_get_int(c->store, "spk_current", &cur) < 0 ||
        lstore_meta_get_int(c->store, "keys_uploaded", &uploaded) < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    /* The signed prekey: create on first use, rotate weekly. */
    int have = cur > 0 ? spk_load(c, (uint32_t)cur, &spk, &created) : 0;
    if (have < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    if (!have || clock_now_ms() - created > SPK_ROTATE_MS) {
        ret = spk_rotate(c, &spk);
        if (ret != PARLEY_OK)
            goto done;
        upload_spk = 1;
    }
    if (!uploaded || force_upload)
        upload_spk = upload_otk = !uploaded || upload_spk;
    if (uploaded && !upload_otk) {
        int count = 0;
        ret = ksclient_key_count(c->keyserver_url, c->ca_file, token, &count, c->err,
                                 sizeof c->err);
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
    ret = ksclient_put_keys(c->keyserver_url, c->ca_file, token, upload_spk ? &spk_pub : NULL, otks,
                            upload_otk ? OTK_BATCH : 0, c->err, sizeof c->err);
    if (ret == PARLEY_OK && lstore_meta_set_int(c->store, "keys_uploaded", 1) != 0)
        ret = util__store_fail(c);

done:
    keys_wipe(&spk, sizeof spk);
    sodium_memzero(token, sizeof token);
    free(otks);
    return ret;
}

int prekeys__spk(parley_client *c, uint32_t key_id, keys_signed_prekey *out)
{
    return spk_load(c, key_id, out, NULL);
}

int prekeys__otk(parley_client *c, uint32_t key_id, keys_x25519 *out)
{
    return otk_load(c, key_id, out);
}

int prekeys__otk_used(parley_client *c, uint32_t key_id)
{
    char oid[16];
    snprintf(oid, sizeof oid, "%u", key_id);
    return lstore_blob_del(c->store, "otk", oid);
}
