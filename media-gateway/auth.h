/*
 * auth.h - bearer-token authentication of media gateway requests
 * (docs/protocol.md, "Tokens": audience "media").
 */
#ifndef PARLEY_MEDIA_AUTH_H
#define PARLEY_MEDIA_AUTH_H

#include "ids.h"
#include "store.h"

#include <stdint.h>

typedef enum {
    AUTH_OK = 0,
    AUTH_EMISSING = -1,     /* no "Authorization: Bearer ..." header */
    AUTH_EINVALID = -2,     /* malformed, expired, wrong audience, bad signature */
    AUTH_EUNKNOWN = -3,     /* the token's user is not registered */
    AUTH_ESTORE = -4,       /* the store failed; the request may be retried */
} auth_rc;

/*
 * Verify the value of an Authorization header (may be NULL) at time now
 * (Unix seconds) against the identity key registered in the store for the
 * token's user. On AUTH_OK the user id is copied into user (IDS_USER_MAX + 1
 * bytes). On failure *reason points to a static human-readable reason.
 */
int auth_bearer(store_t *s, const char *header, int64_t now, char *user, const char **reason)
    __attribute__((warn_unused_result));

#endif
