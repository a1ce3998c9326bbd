/*
 * prekeys.c - prekey upload, count and bundle fetch per device (prekeys.h):
 * parses and checks an upload against the device key, hands one-time
 * prekeys out within the per-requester and per-target limits.
 */
#include "prekeys.h"

#include "codec.h"
#include "identity.h"
#include "ids.h"
#include "userdev.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The parsed upload. */
typedef struct {
    bool has_signed;
    store_prekey signed_pk;
    store_prekey *otpks;
    size_t n_otpks;
} upload;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Parse and validate body into up (user and device ids point at user and
 * device). 0 or -1 with r filled. identity_key: the device's key, to verify
 * the signed prekey. */
static int parse_upload(const json_t *req, const char *user, const char *device,
                        const uint8_t identity_key[32], int64_t now, upload *up, http_reply *r)
{
    const json_t *spk = json_object_get(req, "signed_prekey");
    const json_t *list = json_object_get(req, "one_time_prekeys");
    uint32_t *ids = NULL;
    int ret = -1;

    if (spk && !json_is_null(spk)) {
        if (!json_is_object(spk) || !codec_get_u32(spk, "key_id", &up->signed_pk.key_id)) {
            http_reply_error(r, 400, "invalid_key",
                             "signed_prekey must be an object with a key_id in 0..4294967295");
            goto out;
        }
        if (!codec_get_b64(spk, "public_key", up->signed_pk.public_key, STORE_KEY_LEN) ||
            !codec_get_b64(spk, "signature", up->signed_pk.signature, STORE_SIG_LEN)) {
            http_reply_error(r, 400, "invalid_key",
                             "signed_prekey needs public_key (base64 of 32 bytes) and "
                             "signature (base64 of 64 bytes)");
            goto out;
        }
        up->has_signed = true;
        up->signed_pk.user_id = (char *)user;
        up->signed_pk.device_id = (char *)device;
        up->signed_pk.created_at = now;
    }
    if (list && !json_is_null(list)) {
        if (!json_is_array(list)) {
            http_reply_error(r, 400, "invalid_key", "one_time_prekeys must be an array");
            goto out;
        }
        size_t n = json_array_size(list);
        if (n > PREKEYS_MAX_PER_UPLOAD) {
            http_reply_error(r, 400, "too_many_prekeys",
                             "%zu one-time prekeys in one request; at most %d", n,
                             PREKEYS_MAX_PER_UPLOAD);
            goto out;
        }
        if (n) {
            up->otpks = calloc(n, sizeof *up->otpks);
            ids = malloc(n * sizeof *ids);
            if (!up->otpks || !ids) {
                http_reply_error(r, 500, "internal", "out of memory");
                goto out;
            }
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(list, i);
            store_prekey *p = &up->otpks[i];
            if (!json_is_object(e) || !codec_get_u32(e, "key_id", &p->key_id) ||
                !codec_get_b64(e, "public_key", p->public_key, STORE_KEY_LEN)) {
                http_reply_error(r, 400, "invalid_key",
                                 "one_time_prekeys[%zu] needs key_id (0..4294967295) and "
                                 "public_key (base64 of 32 bytes)",
                                 i);
                goto out;
            }
            p->user_id = (char *)user;
            p->device_id = (char *)device;
            p->created_at = now;
            ids[i] = p->key_id;
        }
        up->n_otpks = n;
        qsort(ids, n, sizeof *ids, cmp_u32);
        for (size_t i = 1; i < n; i++) {
            if (ids[i] == ids[i - 1]) {
                http_reply_error(r, 409, "duplicate_key_id",
                                 "one-time prekey id %u appears twice in the request", ids[i]);
                goto out;
            }
        }
    }
    if (up->has_signed &&
        crypto_sign_verify_detached(up->signed_pk.signature, up->signed_pk.public_key,
                                    STORE_KEY_LEN, identity_key) != 0) {
        http_reply_error(r, 422, "invalid_signature",
                         "signed_prekey.signature is not a signature by the device's key "
                         "over the public key");
        goto out;
    }
    ret = 0;
out:
    free(ids);
    return ret;
}

void prekeys_put(store_t *st, metrics *m, const char *user, const char *device, const char *body,
                 size_t len, http_reply *r)
{
    uint8_t dkey[DEVICES_KEY_LEN];
    json_t *req = NULL;
    store_user u = {0};
    upload up = {0};
    bool in_tx = false;
    size_t count = 0;

    if (identity__parse_body(body, len, &req, r) != 0)
        goto out;
    int rc = store_user_get(st, user, &u);
    if (rc != STORE_OK) { /* authenticated a moment ago: a missing user is a store problem */
        http_reply_store_error(r, rc, store_last_error(st));
        goto out;
    }
    if (userdev_key(&u, device, dkey, r) != 0 ||
        parse_upload(req, user, device, dkey, clock_now_ms(), &up, r) != 0)
        goto out;

    rc = store_begin(st);
    if (rc != STORE_OK)
        goto store_fail;
    in_tx = true;
    if (up.has_signed && (rc = store_signed_prekey_put(st, &up.signed_pk)) != STORE_OK)
        goto store_fail;
    if (up.n_otpks) {
        rc = store_otpk_add(st, up.otpks, up.n_otpks);
        if (rc == STORE_EEXIST) {
            store_rollback(st);
            in_tx = false;
            http_reply_error(r, 409, "duplicate_key_id",
                             "a one-time prekey id of this request is already stored; "
                             "nothing was stored");
            goto out;
        }
        if (rc != STORE_OK)
            goto store_fail;
    }
    if ((rc = store_otpk_count(st, user, device, &count)) != STORE_OK)
        goto store_fail;
    if ((rc = store_commit(st)) != STORE_OK)
        goto store_fail;
    in_tx = false;
    if (up.has_signed)
        metrics_inc(m, METRICS_SIGNED_PREKEYS, 1);
    metrics_inc(m, METRICS_OTPK_UPLOADED, up.n_otpks);
    http_reply_json(r, 200, json_pack("{s:I}", "one_time_prekeys", (json_int_t)count));
    goto out;

store_fail:
    http_reply_store_error(r, rc, store_last_error(st));
out:
    if (in_tx)
        store_rollback(st);
    free(up.otpks);
    store_user_free(&u);
    json_decref(req);
}

void prekeys_count(store_t *st, const char *user, const char *device, http_reply *r)
{
    size_t n = 0;
    int rc = store_otpk_count(st, user, device, &n);
    if (rc != STORE_OK)
        http_reply_store_error(r, rc, store_last_error(st));
    else
        http_reply_json(r, 200, json_pack("{s:I}", "count", (json_int_t)n));
}

void prekeys_bundle(store_t *st, metrics *m, const char *target, const char *device, bool may_pop,
                    http_reply *r)
{
    store_user u = {0};
    store_prekey spk = {0}, otpk = {0};
    devices_list l = {0};
    const devices_entry *d = NULL;
    json_t *b = NULL;

    if (!ids_valid_user(target)) {
        http_reply_error(r, 400, "invalid_user_id",
                         "a user id is 1-64 characters of [A-Za-z0-9._-]");
        goto out;
    }
    int rc = store_user_get(st, target, &u);
    if (rc == STORE_ENOTFOUND) {
        http_reply_error(r, 404, "unknown_user", "no user %s", target);
        goto out;
    }
    if (rc == STORE_OK && u.status == STORE_USER_DELETED) {
        http_reply_error(r, 410, "user_deleted", "user %s was deleted", target);
        goto out;
    }
    if (rc != STORE_OK)
        goto store_fail;
    if (userdev_load(&u, &l, r) != DEVICES_OK)
        goto out;
    /* no device named: the primary (for an implicit list, its one device "") */
    d = !device ? (l.version == 0 ? &l.dev[0] : devices_primary(&l, u.identity_key))
                : (l.version == 0 ? NULL : devices_find(&l, device));
    if (!d) {
        http_reply_error(r, 404, "unknown_device", "%s has no device %s", target,
                         device ? device : "(primary)");
        goto out;
    }
    rc = store_signed_prekey_get(st, target, d->device_id, &spk);
    /* A signed prekey of a replaced identity key no longer verifies: it is
     * as good as none (the user must upload a new one). */
    if (rc == STORE_ENOTFOUND ||
        (rc == STORE_OK &&
         crypto_sign_verify_detached(spk.signature, spk.public_key, STORE_KEY_LEN, d->key) != 0)) {
        http_reply_error(r, 404, "no_signed_prekey",
                         "user %s has no signed prekey for the current key of device %s", target,
                         d->device_id[0] ? d->device_id : "(implicit)");
        goto out;
    }
    if (rc != STORE_OK)
        goto store_fail;
    b = json_pack("{s:s, s:s, s:o, s:{s:I, s:o, s:o}}", "user_id", target, "device_id",
                  d->device_id, "identity_key", codec_b64_json(d->key, STORE_KEY_LEN),
                  "signed_prekey", "key_id", (json_int_t)spk.key_id, "public_key",
                  codec_b64_json(spk.public_key, STORE_KEY_LEN), "signature",
                  codec_b64_json(spk.signature, STORE_SIG_LEN));
    if (!b) {
        http_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (!may_pop) { /* over a hand-out limit: the bundle without one */
        metrics_inc(m, METRICS_OTPK_WITHHELD, 1);
        metrics_inc(m, METRICS_BUNDLES_SERVED, 1);
        http_reply_json(r, 200, b);
        b = NULL;
        goto out;
    }
    /* Pop last: nothing after it can fail in a way that loses the key, except
     * out-of-memory while building the reply. */
    rc = store_otpk_pop(st, target, d->device_id, &otpk);
    if (rc == STORE_OK) {
        json_t *o = json_pack("{s:I, s:o}", "key_id", (json_int_t)otpk.key_id, "public_key",
                              codec_b64_json(otpk.public_key, STORE_KEY_LEN));
        if (!o || json_object_set_new(b, "one_time_prekey", o) != 0) {
            http_reply_error(r, 500, "internal", "out of memory");
            goto out;
        }
    } else if (rc == STORE_ENOTFOUND) {
        metrics_inc(m, METRICS_OTPK_EXHAUSTED, 1);
    } else {
        goto store_fail;
    }
    metrics_inc(m, METRICS_BUNDLES_SERVED, 1);
    http_reply_json(r, 200, b);
    b = NULL;
    goto out;

store_fail:
    http_reply_store_error(r, rc, store_last_error(st));
out:
    json_decref(b);
    devices_list_free(&l);
    store_prekey_free(&spk);
    store_prekey_free(&otpk);
    store_user_free(&u);
}
