/*
 * devroutes.c - the keyserver's device list and link code routes
 * (devroutes.h): every list is verified against the registered account key
 * before it is stored, stored with a compare-and-set on its version, and
 * the prekeys and link codes it affects change in the same transaction.
 */
#include "devroutes.h"

#include "codec.h"
#include "devices.h"
#include "identity.h"
#include "ids.h"
#include "userdev.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_DOMAIN "parley-link-v1\n"
#define CODE_LEN 9 /* "XXXX-XXXX" */

/* The user record of user for a route about it: 0, or -1 with r filled
 * (400 invalid_user_id, 404 unknown_user, 410 user_deleted, 503). */
static int load_user(store_t *st, const char *user, store_user *u, http_reply *r)
{
    if (!ids_valid_user(user)) {
        http_reply_error(r, 400, "invalid_user_id",
                         "a user id is 1-64 characters of [A-Za-z0-9._-]");
        return -1;
    }
    int rc = store_user_get(st, user, u);
    if (rc == STORE_ENOTFOUND) {
        http_reply_error(r, 404, "unknown_user", "no user %s", user);
        return -1;
    }
    if (rc != STORE_OK) {
        http_reply_store_error(r, rc, store_last_error(st));
        return -1;
    }
    if (u->status == STORE_USER_DELETED) {
        http_reply_error(r, 410, "user_deleted", "user %s was deleted", user);
        return -1;
    }
    return 0;
}

/* The GET body of u's list l. */
static json_t *list_json(const store_user *u, const devices_list *l)
{
    json_t *devs = json_array(), *j;
    if (!devs)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const devices_entry *d = &l->dev[i];
        bool primary = sodium_memcmp(d->key, u->identity_key, DEVICES_KEY_LEN) == 0;
        json_t *e = json_pack("{s:s, s:o, s:I, s:s, s:b}", "device_id", d->device_id, "device_key",
                              codec_b64url_json(d->key, DEVICES_KEY_LEN), "added_at",
                              (json_int_t)(l->version ? d->added_at : u->created_at), "name",
                              d->name, "primary", primary);
        if (!e || json_array_append_new(devs, e) != 0) {
            json_decref(devs);
            return NULL;
        }
    }
    j = json_pack("{s:s, s:I, s:o}", "user_id", u->user_id, "version", (json_int_t)l->version,
                  "devices", devs);
    if (j && l->version > 0 &&
        (json_object_set_new(j, "list", codec_b64url_json(u->devices_list, u->devices_list_len)) ||
         json_object_set_new(j, "signature", codec_b64url_json(u->devices_sig, STORE_SIG_LEN)))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void devroutes_get(store_t *st, const char *user, http_reply *r)
{
    store_user u = {0};
    devices_list l = {0};
    if (load_user(st, user, &u, r) == 0 && userdev_load(&u, &l, r) == DEVICES_OK)
        http_reply_json(r, 200, list_json(&u, &l));
    devices_list_free(&l);
    store_user_free(&u);
}

/* The reply of a list that devices_verify refused. */
static void refuse_list(int drc, const char *user, size_t max, http_reply *r)
{
    switch (drc) {
    case DEVICES_ESIGNATURE:
        http_reply_error(r, 422, "invalid_signature",
                         "the device list is not signed by %s's account key", user);
        break;
    case DEVICES_EUSER:
        http_reply_error(r, 403, "wrong_user", "the device list names another user than %s", user);
        break;
    case DEVICES_EPRIMARY:
        http_reply_error(r, 422, "no_primary",
                         "the device list must hold exactly one device whose key is the account "
                         "key (the primary)");
        break;
    case DEVICES_ETOOMANY:
        http_reply_error(r, 409, "too_many_devices", "a device list holds at most %zu devices",
                         max);
        break;
    case DEVICES_ENOMEM: http_reply_error(r, 500, "internal", "out of memory"); break;
    default:
        http_reply_error(r, 400, "invalid_device_list", "%s (docs/protocol.md \"Devices\")",
                         devices_strerror(drc));
    }
}

/* Store list l (text, sig) of u over its stored one (old), with the prekey
 * and link code changes, in one transaction. STORE_OK or a store_rc
 * (STORE_EEXIST: another PUT stored a list since u was read). */
static int store_list(store_t *st, const store_user *u, const devices_list *old,
                      const devices_list *l, const uint8_t *text, size_t len,
                      const uint8_t sig[STORE_SIG_LEN])
{
    int rc = store_begin(st);
    if (rc != STORE_OK)
        return rc;
    rc = store_user_set_devices(st, u->user_id, u->devices_version, l->version, text, len, sig,
                                clock_now_ms());
    if (rc == STORE_OK && old->version == 0) {
        /* the first explicit list: the implicit device's prekeys are the primary's */
        const devices_entry *p = devices_primary(l, u->identity_key);
        rc = store_prekeys_move_device(st, u->user_id, "", p->device_id);
    }
    /* a device that left (or whose id now has another key) loses its prekeys */
    for (size_t i = 0; rc == STORE_OK && old->version > 0 && i < old->n; i++) {
        const devices_entry *now = devices_find(l, old->dev[i].device_id);
        if (!now || sodium_memcmp(now->key, old->dev[i].key, DEVICES_KEY_LEN) != 0)
            rc = store_prekeys_delete_device(st, u->user_id, old->dev[i].device_id);
    }
    /* a device that joined consumes its link codes */
    for (size_t i = 0; rc == STORE_OK && i < l->n; i++)
        if (!devices_find(old, l->dev[i].device_id))
            rc = store_links_delete_device(st, u->user_id, l->dev[i].device_id);
    if (rc == STORE_OK)
        rc = store_commit(st);
    if (rc != STORE_OK)
        store_rollback(st);
    return rc;
}

void devroutes_put(store_t *st, metrics *m, const char *user, bool primary, size_t max_devices,
                   const char *body, size_t len, http_reply *r)
{
    json_t *req = NULL;
    store_user u = {0};
    devices_list old = {0}, l = {0};
    uint8_t *text = NULL, sig[STORE_SIG_LEN];
    long tlen;
    int drc, rc;

    if (!primary) {
        http_reply_error(r, 403, "not_primary",
                         "only the primary device (the account key) changes the device list");
        goto out;
    }
    if (identity__parse_body(body, len, &req, r) != 0)
        goto out;
    if (!(text = malloc(DEVICES_TEXT_MAX))) {
        http_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    tlen = codec_get_b64_any(req, "list", text, DEVICES_TEXT_MAX);
    if (tlen <= 0 || codec_get_b64_any(req, "signature", sig, sizeof sig) != STORE_SIG_LEN) {
        http_reply_error(r, 400, "invalid_device_list",
                         "the body needs list (base64url of the list text, at most %d bytes) "
                         "and signature (base64url of 64 bytes)",
                         DEVICES_TEXT_MAX);
        goto out;
    }
    if (load_user(st, user, &u, r) != 0 || userdev_load(&u, &old, r) != DEVICES_OK)
        goto out;
    drc = devices_verify(text, (size_t)tlen, sig, u.identity_key, user, max_devices, &l);
    if (drc != DEVICES_OK) {
        refuse_list(drc, user, max_devices, r);
        goto out;
    }
    if (l.version <= old.version) {
        http_reply_error(r, 409, "stale_version",
                         "device list version %llu is not above the stored version %llu",
                         (unsigned long long)l.version, (unsigned long long)old.version);
        goto out;
    }
    rc = store_list(st, &u, &old, &l, text, (size_t)tlen, sig);
    if (rc == STORE_EEXIST) {
        http_reply_error(r, 409, "stale_version",
                         "another device list of %s was stored meanwhile; fetch it and retry",
                         user);
        goto out;
    }
    if (rc != STORE_OK) {
        http_reply_store_error(r, rc, store_last_error(st));
        goto out;
    }
    metrics_inc(m, METRICS_DEVICE_LISTS, 1);
    /* the reply is the stored list */
    free(u.devices_list);
    u.devices_list = text;
    u.devices_list_len = (size_t)tlen;
    text = NULL;
    u.devices_version = l.version;
    memcpy(u.devices_sig, sig, sizeof sig);
    http_reply_json(r, 200, list_json(&u, &l));
out:
    free(text);
    devices_list_free(&old);
    devices_list_free(&l);
    store_user_free(&u);
    json_decref(req);
}

/* A fresh code: 8 random characters of Crockford's base32 (no I L O U). */
static void new_code(char out[CODE_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int i = 0, o = 0; i < 8; i++) {
        if (i == 4)
            out[o++] = '-';
        out[o++] = alphabet[randombytes_uniform(32)];
    }
    out[CODE_LEN] = '\0';
}

/* The canonical form of a typed code (case, I/L -> 1, O -> 0, the hyphen
 * optional) into out; false if it cannot be a code. */
static bool norm_code(const char *in, char out[CODE_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    int n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-' && n == 4 && p > in && p[-1] != '-')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c == 'I' || c == 'L')
            c = '1';
        if (c == 'O')
            c = '0';
        if (n == 8 || !strchr(alphabet, c) || c == '\0')
            return false;
        out[n < 4 ? n : n + 1] = c;
        n++;
    }
    if (n != 8)
        return false;
    out[4] = '-';
    out[CODE_LEN] = '\0';
    return true;
}

void devroutes_link_post(store_t *st, metrics *m, const char *body, size_t len, http_reply *r)
{
    json_t *req = NULL;
    store_user u = {0};
    devices_list l = {0};
    store_link link = {0};
    uint8_t key[DEVICES_KEY_LEN], sig[64], again[DEVICES_KEY_B64_LEN + 1];
    char code[CODE_LEN + 1], msg[sizeof LINK_DOMAIN + IDS_USER_MAX + DEVICES_ID_MAX +
                                 DEVICES_KEY_B64_LEN + DEVICES_NAME_MAX + 8];
    size_t pending = 0;
    int rc = STORE_OK;

    if (identity__parse_body(body, len, &req, r) != 0)
        goto out;
    const char *user = json_string_value(json_object_get(req, "user_id"));
    const char *dev = json_string_value(json_object_get(req, "device_id"));
    const char *kb64 = json_string_value(json_object_get(req, "device_key"));
    json_t *jname = json_object_get(req, "name");
    const char *name = jname ? json_string_value(jname) : "";
    if (!user || !ids_valid_user(user)) {
        http_reply_error(r, 400, "invalid_user_id", "user_id: 1-64 characters of [A-Za-z0-9._-]");
        goto out;
    }
    if (!dev || !devices_valid_id(dev)) {
        http_reply_error(r, 400, "invalid_device_id", "device_id: 1-%d characters of [A-Za-z0-9_-]",
                         DEVICES_ID_MAX);
        goto out;
    }
    if (!name || !devices_valid_name(name)) {
        http_reply_error(r, 400, "invalid_name", "name: 0-%d printable ASCII characters",
                         DEVICES_NAME_MAX);
        goto out;
    }
    /* the key as signed: unpadded base64url, its one spelling */
    if (!kb64 || strlen(kb64) != DEVICES_KEY_B64_LEN ||
        codec_get_b64_any(req, "device_key", key, sizeof key) != DEVICES_KEY_LEN ||
        (sodium_bin2base64((char *)again, sizeof again, key, sizeof key,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING),
         memcmp(again, kb64, DEVICES_KEY_B64_LEN) != 0)) {
        http_reply_error(r, 400, "invalid_key",
                         "device_key: unpadded base64url of a 32-byte Ed25519 public key");
        goto out;
    }
    if (codec_get_b64_any(req, "signature", sig, sizeof sig) != (long)sizeof sig) {
        http_reply_error(r, 400, "invalid_signature", "signature: base64url of 64 bytes");
        goto out;
    }
    int mlen = snprintf(msg, sizeof msg, "%s%s\n%s\n%s\n%s", LINK_DOMAIN, user, dev, kb64, name);
    if (mlen < 0 || (size_t)mlen >= sizeof msg ||
        crypto_sign_verify_detached(sig, (const uint8_t *)msg, (size_t)mlen, key) != 0) {
        http_reply_error(r, 422, "invalid_signature",
                         "signature is not a signature by device_key over the link request");
        goto out;
    }
    if (load_user(st, user, &u, r) != 0 || userdev_load(&u, &l, r) != DEVICES_OK)
        goto out;
    if (u.status != STORE_USER_ACTIVE) {
        http_reply_error(r, 403, "user_disabled", "user %s is disabled by the operator", user);
        goto out;
    }
    if ((l.version > 0 && devices_find(&l, dev)) ||
        sodium_memcmp(key, u.identity_key, DEVICES_KEY_LEN) == 0) {
        http_reply_error(r, 409, "device_exists", "%s already has a device %s or that key", user,
                         dev);
        goto out;
    }
    int64_t now = clock_now_ms();
    if ((rc = store_link_count(st, user, now, &pending)) != STORE_OK)
        goto store_fail;
    if (pending >= DEVROUTES_LINK_PENDING_MAX) {
        http_reply_error(r, 429, "too_many_links",
                         "%s has %zu link codes waiting; approve, refuse or let them expire", user,
                         pending);
        r->retry_after = DEVROUTES_LINK_TTL_MS / 1000;
        goto out;
    }
    store_links_expire(st, now, NULL); /* housekeeping; a failure changes nothing */
    link = (store_link){.code = code,
                        .user_id = (char *)user,
                        .device_id = (char *)dev,
                        .name = (char *)name,
                        .created_at = now,
                        .expires_at = now + DEVROUTES_LINK_TTL_MS};
    memcpy(link.device_key, key, sizeof key);
    rc = STORE_EEXIST;
    for (int tries = 0; rc == STORE_EEXIST && tries < 4; tries++) {
        new_code(code);
        rc = store_link_put(st, &link);
    }
    if (rc != STORE_OK)
        goto store_fail;
    metrics_inc(m, METRICS_LINK_CODES, 1);
    http_reply_json(
        r, 201, json_pack("{s:s, s:I}", "code", code, "expires_at", (json_int_t)link.expires_at));
    goto out;
store_fail:
    http_reply_store_error(r, rc, store_last_error(st));
out:
    devices_list_free(&l);
    store_user_free(&u);
    json_decref(req);
}

/* The unexpired link of code for user: 0, or -1 with r filled (404). */
static int find_link(store_t *st, const char *user, const char *code, store_link *out,
                     http_reply *r)
{
    char c[CODE_LEN + 1];
    int rc = norm_code(code, c) ? store_link_get(st, c, out) : STORE_ENOTFOUND;
    if (rc == STORE_OK && (strcmp(out->user_id, user) != 0 || out->expires_at <= clock_now_ms()))
        rc = STORE_ENOTFOUND;
    if (rc == STORE_ENOTFOUND)
        http_reply_error(r, 404, "unknown_code", "no pending link code %s for %s", code, user);
    else if (rc != STORE_OK)
        http_reply_store_error(r, rc, store_last_error(st));
    if (rc != STORE_OK)
        store_link_free(out);
    return rc == STORE_OK ? 0 : -1;
}

void devroutes_link_get(store_t *st, const char *user, const char *code, http_reply *r)
{
    store_link l = {0};
    if (find_link(st, user, code, &l, r) != 0)
        return;
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:o, s:s, s:I}", "user_id", l.user_id, "device_id",
                              l.device_id, "device_key",
                              codec_b64url_json(l.device_key, STORE_KEY_LEN), "name",
                              l.name ? l.name : "", "expires_at", (json_int_t)l.expires_at));
    store_link_free(&l);
}

void devroutes_link_delete(store_t *st, const char *user, const char *code, http_reply *r)
{
    store_link l = {0};
    if (find_link(st, user, code, &l, r) != 0)
        return;
    int rc = store_link_delete(st, l.code);
    if (rc == STORE_OK || rc == STORE_ENOTFOUND) /* gone meanwhile: the same outcome */
        http_reply_json(r, 200, json_pack("{s:s, s:b}", "code", l.code, "deleted", 1));
    else
        http_reply_store_error(r, rc, store_last_error(st));
    store_link_free(&l);
}
