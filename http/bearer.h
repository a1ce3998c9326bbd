/*
 * bearer.h - "Authorization: Bearer <token>" for the HTTP services
 * (docs/protocol.md "Tokens"): the token is parsed to find its user, its
 * audience is checked before any store read, then it is verified
 * (signature, audience, lifetime) against the key of the device its client
 * id names in the user's device list (common/devices.h; for an implicit
 * list, the account key whatever the client id). A device not in the list
 * (removed, or never added) is HTTP_BEARER_EDEVICE: 401 unknown_device. Shared by the keyserver (audience "keyserver") and the
 * media gateway (audience "media"). The user record is read from the store
 * on every request, so a user disabled or deleted with parley-admin is
 * refused from its next request on (403 user_disabled / user_deleted).
 */
#ifndef PARLEY_HTTP_BEARER_H
#define PARLEY_HTTP_BEARER_H

#include "devices.h"
#include "ids.h"
#include "store.h"
#include "token.h"

#include <stdint.h>

typedef enum {
    HTTP_BEARER_OK = 0,
    HTTP_BEARER_EMISSING = -1,   /* no Authorization header, or not "Bearer ..." */
    HTTP_BEARER_EINVALID = -2,   /* malformed, expired, wrong audience, bad signature, ... */
    HTTP_BEARER_EUNKNOWN = -3,   /* the token's user is not registered */
    HTTP_BEARER_ESTORE = -4,     /* the store failed; store_rc says how; retry later */
    HTTP_BEARER_EREFUSED = -5,   /* a valid token of a disabled or deleted user: the reply
                                    is 403 with error = out->error ("user_disabled",
                                    "user_deleted") */
    HTTP_BEARER_EDEVICE = -6,    /* a well-formed token of a device not in the user's list,
                                    or the stored list does not verify: 401 unknown_device */
} http_bearer_rc;

typedef struct {
    char user_id[IDS_USER_MAX + 1];  /* the authenticated user (HTTP_BEARER_OK) */
    char device_id[DEVICES_ID_MAX + 1]; /* its device ("" for an implicit list) */
    bool primary;                    /* the device's key is the account key */
    uint64_t devices_version;        /* the user's list version (0 = implicit) */
    const char *reason;              /* human text (static), the 401 message */
    const char *label;               /* metrics label (static): "missing", "malformed",
                                        "wrong_user", "wrong_audience", "expired",
                                        "lifetime", "signature", "unknown_user",
                                        "user_disabled", "user_deleted", "unknown_device",
                                        "other" */
    const char *error;               /* HTTP_BEARER_EREFUSED: the JSON error code (static) */
    int store_rc;                    /* HTTP_BEARER_ESTORE: the store_rc */
} http_bearer_result;

/*
 * Authenticate the value of an Authorization header (NULL = absent) at
 * time now (Unix seconds) for audience, looking the token's user up in st.
 * Returns one of http_bearer_rc; out is always filled (reason and label
 * are "ok" on success). Never logs, never keeps the token.
 */
int http_bearer_check(store_t *st, const char *authorization, token_audience audience, int64_t now,
                      http_bearer_result *out) __attribute__((warn_unused_result));

#endif
