/*
 * identity.c - PUT/GET /v1/identity/{user_id}: registration under the
 * registration policy (open, invite, closed), the user id case rule,
 * idempotent confirmation and signed key changes (identity.h).
 */
#include "identity.h"

#include "codec.h"
#include "ids.h"

#include <sodium.h>
#include <string.h>

int identity__parse_body(const char *body, size_t len, json_t **out, http_reply *r)
{
    json_error_t err;
    *out = NULL;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        http_reply_error(r, 400, "invalid_json", "%s (line %d, column %d)", err.text, err.line,
                         err.column);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_error(r, 400, "invalid_json", "the body must be a JSON object");
        return -1;
    }
    *out = j;
    return 0;
}

json_t *identity_user_json(const store_user *u)
{
    return json_pack("{s:s, s:o, s:I, s:I}", "user_id", u->user_id, "identity_key",
                     codec_b64_json(u->identity_key, STORE_KEY_LEN), "created_at",
                     (json_int_t)u->created_at, "updated_at", (json_int_t)u->updated_at);
}

/* Ed25519 verify of sig over prefix || a || b (b may be NULL). */
static bool verify_concat(const uint8_t sig[crypto_sign_BYTES], const uint8_t pk[32],
                          const char *prefix, const char *a, const uint8_t *b, size_t blen)
{
    size_t plen = strlen(prefix), alen = strlen(a);
    unsigned char msg[64 + IDS_USER_MAX + 1 + STORE_KEY_LEN];
    if (plen + alen + blen > sizeof msg)
        return false;
    memcpy(msg, prefix, plen);
    memcpy(msg + plen, a, alen);
    if (b)
        memcpy(msg + plen + alen, b, blen);
    return crypto_sign_verify_detached(sig, msg, plen + alen + blen, pk) == 0;
}

/* The key-change signature covers "parley-key-change-v1\n" user_id "\n" new_key. */
static bool verify_change(const uint8_t sig[crypto_sign_BYTES], const uint8_t old_pk[32],
                          const char *user_id, const uint8_t new_pk[32])
{
    uint8_t tail[1 + STORE_KEY_LEN];
    tail[0] = '\n';
    memcpy(tail + 1, new_pk, STORE_KEY_LEN);
    return verify_concat(sig, old_pk, IDENTITY_CHANGE_DOMAIN, user_id, tail, sizeof tail);
}

/* Replace the key of user_id (still bound to old_key) with new_key and drop
 * the user's one-time prekeys, in one transaction. 0 done, 1 the key changed
 * concurrently (nothing written), or a store_rc. */
static int change_key(store_t *st, const char *user_id, const uint8_t old_key[32],
                      const uint8_t new_key[32], int64_t now)
{
    store_user cur = {0};
    int rc = store_begin(st);
    if (rc != STORE_OK)
        return rc;
    rc = store_user_get(st, user_id, &cur);
    if (rc == STORE_OK && memcmp(cur.identity_key, old_key, STORE_KEY_LEN) != 0)
        rc = 1;
    if (rc == STORE_OK)
        rc = store_user_set_key(st, user_id, new_key, now);
    if (rc == STORE_OK)
        rc = store_otpk_clear(st, user_id);
    if (rc == STORE_OK)
        rc = store_commit(st);
    if (rc != STORE_OK)
        store_rollback(st);
    store_user_free(&cur);
    return rc;
}

bool identity_registration_parse(const char *s, identity_registration *out)
{
    static const char *const names[] = {"open", "invite", "closed"};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (identity_registration)i;
            return true;
        }
    return false;
}

const char *identity_registration_name(identity_registration reg)
{
    switch (reg) {
    case IDENTITY_REG_OPEN: return "open";
    case IDENTITY_REG_INVITE: return "invite";
    case IDENTITY_REG_CLOSED: return "closed";
    }
    return "?";
}

/* The 403 of a registration whose invite could not be used: unknown, used
 * or expired (read after the conditional write refused it). */
static void invite_refused(store_t *st, const char *invite_id, int64_t now, http_reply *r)
{
    store_invite inv = {0};
    int rc = store_invite_get(st, invite_id, &inv);
    if (rc == STORE_ENOTFOUND)
        http_reply_error(r, 403, "invalid_invite", "this invite token is not valid");
    else if (rc != STORE_OK)
        http_reply_store_error(r, rc, store_last_error(st));
    else if (inv.used_at != 0)
        http_reply_error(r, 403, "invite_used", "this invite token was already used");
    else if (inv.expires_at <= now)
        http_reply_error(r, 403, "invite_expired", "this invite token has expired");
    else /* used or revoked between the two reads */
        http_reply_error(r, 403, "invalid_invite", "this invite token is not valid");
    store_invite_free(&inv);
}

/* Register a new user (nu) under policy reg. Returns STORE_OK (registered),
 * STORE_EEXIST (registered concurrently: the caller answers as for an
 * existing user), or -1 after filling r. */
static int register_new(store_t *st, identity_registration reg, const store_user *nu,
                        const char *invite, http_reply *r)
{
    char invite_id[IDS_INVITE_ID_LEN + 1];
    int rc;
    if (reg == IDENTITY_REG_CLOSED) {
        http_reply_error(r, 403, "registration_closed", "this server does not register new users");
        return -1;
    }
    if (reg == IDENTITY_REG_OPEN) {
        rc = store_user_put(st, nu);
        if (rc == STORE_OK || rc == STORE_EEXIST)
            return rc;
        http_reply_store_error(r, rc, store_last_error(st));
        return -1;
    }
    if (!invite) {
        http_reply_error(r, 403, "invite_required",
                         "this server registers new users with an invite token only "
                         "(\"invite\" in the request body)");
        return -1;
    }
    if (!ids_invite_id(invite, invite_id)) {
        http_reply_error(r, 403, "invalid_invite", "this invite token is not valid");
        return -1;
    }
    /* The invite is used in the same transaction as the registration: a
     * refused registration leaves it usable, and two registrations never
     * share one (the use is a conditional write). */
    if ((rc = store_begin(st)) != STORE_OK) {
        http_reply_store_error(r, rc, store_last_error(st));
        return -1;
    }
    rc = store_invite_use(st, invite_id, nu->user_id, nu->created_at);
    if (rc == STORE_ENOTFOUND) {
        store_rollback(st);
        invite_refused(st, invite_id, nu->created_at, r);
        return -1;
    }
    if (rc == STORE_OK)
        rc = store_user_put(st, nu);
    if (rc == STORE_OK)
        rc = store_commit(st);
    else
        store_rollback(st);
    if (rc == STORE_OK || rc == STORE_EEXIST)
        return rc;
    http_reply_store_error(r, rc, store_last_error(st));
    return -1;
}

/* A new id that another registered id equals up to case: 409 (true). */
static bool case_taken(store_t *st, const char *user_id, http_reply *r)
{
    store_user other = {0};
    int rc = store_user_get_fold(st, user_id, &other);
    bool taken = rc == STORE_OK && strcmp(other.user_id, user_id) != 0;
    if (taken)
        http_reply_error(r, 409, "user_id_taken",
                         "user id %s differs only by case from the registered user id %s", user_id,
                         other.user_id);
    else if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        http_reply_store_error(r, rc, store_last_error(st));
        taken = true;
    }
    store_user_free(&other);
    return taken;
}

void identity_put(store_t *st, metrics *m, identity_registration reg, const char *user_id,
                  const char *body, size_t len, http_reply *r)
{
    json_t *req = NULL;
    store_user u = {0};
    uint8_t key[STORE_KEY_LEN], proof[crypto_sign_BYTES], change[crypto_sign_BYTES];
    const char *invite = NULL;

    if (!ids_valid_user(user_id)) {
        http_reply_error(r, 400, "invalid_user_id",
                         "a user id is 1-64 characters of [A-Za-z0-9._-]");
        goto out;
    }
    if (identity__parse_body(body, len, &req, r) != 0)
        goto out;
    if (!codec_get_b64(req, "identity_key", key, sizeof key)) {
        http_reply_error(r, 400, "invalid_key",
                         "identity_key must be the base64 of a 32-byte Ed25519 public key");
        goto out;
    }
    if (!codec_get_b64(req, "proof", proof, sizeof proof)) {
        http_reply_error(r, 400, "invalid_key", "proof must be the base64 of a 64-byte signature");
        goto out;
    }
    bool has_change = json_object_get(req, "change_signature") != NULL;
    if (has_change && !codec_get_b64(req, "change_signature", change, sizeof change)) {
        http_reply_error(r, 400, "invalid_key",
                         "change_signature must be the base64 of a 64-byte signature");
        goto out;
    }
    json_t *jinv = json_object_get(req, "invite");
    if (jinv && (!json_is_string(jinv) || json_string_length(jinv) == 0 ||
                 json_string_length(jinv) > IDS_INVITE_TOKEN_MAX)) {
        http_reply_error(r, 400, "invalid_invite", "invite must be a string of 1-%d characters",
                         IDS_INVITE_TOKEN_MAX);
        goto out;
    }
    invite = jinv ? json_string_value(jinv) : NULL;
    if (!verify_concat(proof, key, IDENTITY_REGISTER_DOMAIN, user_id, NULL, 0)) {
        http_reply_error(r, 403, "invalid_proof",
                         "proof is not a signature by identity_key over the registration "
                         "message");
        goto out;
    }

    int64_t now = clock_now_ms();
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = store_user_get(st, user_id, &u);
        if (rc == STORE_ENOTFOUND) {
            if (case_taken(st, user_id, r))
                goto out;
            store_user nu = {.user_id = (char *)user_id, .created_at = now, .updated_at = now};
            memcpy(nu.identity_key, key, sizeof key);
            rc = register_new(st, reg, &nu, invite, r);
            if (rc == STORE_EEXIST)
                continue; /* registered concurrently: answer as for an existing user */
            if (rc != STORE_OK)
                goto out;
            metrics_inc(m, METRICS_REGISTRATIONS, 1);
            http_reply_json(r, 201, identity_user_json(&nu));
            goto out;
        }
        if (rc != STORE_OK) {
            http_reply_store_error(r, rc, store_last_error(st));
            goto out;
        }
        break;
    }
    if (!u.user_id) {
        /* put said "exists" twice, get said "not found": a case variant
         * registered concurrently */
        if (!case_taken(st, user_id, r))
            http_reply_error(r, 503, "store_unavailable", "the user record could not be read");
        goto out;
    }
    if (u.status == STORE_USER_DELETED) {
        http_reply_error(r, 403, "user_deleted",
                         "user %s was deleted; its id cannot be registered again", user_id);
        goto out;
    }
    if (u.status != STORE_USER_ACTIVE) {
        http_reply_error(r, 403, "user_disabled", "user %s is disabled by the operator", user_id);
        goto out;
    }
    if (memcmp(u.identity_key, key, sizeof key) == 0) {
        http_reply_json(r, 200, identity_user_json(&u));
        goto out;
    }
    if (!has_change) {
        http_reply_error(r, 409, "identity_exists",
                         "user %s is bound to another identity key; a key change needs "
                         "change_signature",
                         user_id);
        goto out;
    }
    if (!verify_change(change, u.identity_key, user_id, key)) {
        http_reply_error(r, 403, "invalid_signature",
                         "change_signature is not a signature by the current identity key "
                         "over the key-change message");
        goto out;
    }
    int rc = change_key(st, user_id, u.identity_key, key, now);
    if (rc == 1) {
        http_reply_error(r, 409, "identity_exists",
                         "the identity key of %s changed concurrently; retry", user_id);
        goto out;
    }
    if (rc != STORE_OK) {
        http_reply_store_error(r, rc, store_last_error(st));
        goto out;
    }
    metrics_inc(m, METRICS_KEY_CHANGES, 1);
    memcpy(u.identity_key, key, sizeof key);
    u.updated_at = now;
    http_reply_json(r, 200, identity_user_json(&u));
out:
    store_user_free(&u);
    json_decref(req);
}

void identity_get(store_t *st, const char *user_id, http_reply *r)
{
    store_user u = {0};
    if (!ids_valid_user(user_id)) {
        http_reply_error(r, 400, "invalid_user_id",
                         "a user id is 1-64 characters of [A-Za-z0-9._-]");
        return;
    }
    int rc = store_user_get(st, user_id, &u);
    if (rc == STORE_ENOTFOUND)
        http_reply_error(r, 404, "unknown_user", "no user %s", user_id);
    else if (rc == STORE_OK && u.status == STORE_USER_DELETED)
        http_reply_error(r, 410, "user_deleted", "user %s was deleted", user_id);
    else if (rc != STORE_OK)
        http_reply_store_error(r, rc, store_last_error(st));
    else
        http_reply_json(r, 200, identity_user_json(&u));
    store_user_free(&u);
}
