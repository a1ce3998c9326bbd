/*
 * bearer.c - the Bearer token check of both HTTP services (bearer.h).
 */
#include "bearer.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int result(http_bearer_result *out, int rc, const char *reason, const char *label)
{
    out->reason = reason;
    out->label = label;
    return rc;
}

static const char *token_label(int rc)
{
    switch (rc) {
    case TOKEN_EMALFORMED: return "malformed";
    case TOKEN_EUSER: return "wrong_user";
    case TOKEN_EAUDIENCE: return "wrong_audience";
    case TOKEN_EEXPIRED: return "expired";
    case TOKEN_ELIFETIME: return "lifetime";
    case TOKEN_ESIGNATURE: return "signature";
    default: return "other";
    }
}

int http_bearer_check(store_t *st, const char *authorization, token_audience audience, int64_t now,
                      http_bearer_result *out)
{
    memset(out, 0, sizeof *out);
    if (!authorization)
        return result(out, HTTP_BEARER_EMISSING, "missing Authorization header", "missing");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return result(out, HTTP_BEARER_EMISSING, "Authorization is not a Bearer token",
                      "malformed");
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;

    token_claims claims;
    int trc = token_parse(token, &claims);
    if (trc == TOKEN_OK && claims.audience != audience)
        trc = TOKEN_EAUDIENCE; /* refused before any store read */
    if (trc != TOKEN_OK)
        return result(out, HTTP_BEARER_EINVALID, token_strerror(trc), token_label(trc));

    store_user u = {0};
    int src = store_user_get(st, claims.user_id, &u);
    if (src == STORE_ENOTFOUND)
        return result(out, HTTP_BEARER_EUNKNOWN, "unknown user", "unknown_user");
    if (src != STORE_OK) {
        out->store_rc = src;
        return result(out, HTTP_BEARER_ESTORE, "store unavailable", "other");
    }
    store_user_status status = u.status;
    if (status == STORE_USER_DELETED) { /* its key is zeros: no token verifies */
        store_user_free(&u);
        out->error = "user_deleted";
        return result(out, HTTP_BEARER_EREFUSED, "this user was deleted", "user_deleted");
    }
    /* the device list: the stored one is verified again (the store is not
     * trusted to hold only what the keyserver checked) */
    devices_list l = {0};
    const devices_entry *dev = NULL;
    int drc = u.devices_list ? devices_verify(u.devices_list, u.devices_list_len, u.devices_sig,
                                              u.identity_key, claims.user_id, DEVICES_MAX_LIMIT, &l)
                             : devices_implicit(claims.user_id, u.identity_key, &l);
    if (drc != DEVICES_OK) {
        store_user_free(&u);
        if (drc == DEVICES_ENOMEM) {
            out->store_rc = STORE_ENOMEM;
            return result(out, HTTP_BEARER_ESTORE, "out of memory", "other");
        }
        return result(out, HTTP_BEARER_EDEVICE, "the stored device list does not verify",
                      "unknown_device");
    }
    trc = devices_token_verify(&l, token, audience, claims.user_id, NULL, now, NULL, &dev);
    if (trc == TOKEN_OK) {
        snprintf(out->device_id, sizeof out->device_id, "%s", dev->device_id);
        out->primary = sodium_memcmp(dev->key, u.identity_key, DEVICES_KEY_LEN) == 0;
        out->devices_version = l.version;
    }
    devices_list_free(&l);
    store_user_free(&u);
    if (trc == TOKEN_EDEVICE)
        return result(out, HTTP_BEARER_EDEVICE,
                      "the token's client id names no device of this user's device list",
                      "unknown_device");
    if (trc != TOKEN_OK)
        return result(out, HTTP_BEARER_EINVALID, token_strerror(trc), token_label(trc));
    if (status != STORE_USER_ACTIVE) {
        out->error = "user_disabled";
        return result(out, HTTP_BEARER_EREFUSED, "this user is disabled by the operator",
                      "user_disabled");
    }
    memcpy(out->user_id, claims.user_id, sizeof out->user_id); /* bounded by token_parse */
    return result(out, HTTP_BEARER_OK, "ok", "ok");
}
