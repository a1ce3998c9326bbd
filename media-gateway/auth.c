/*
 * auth.c - bearer-token verification for the media gateway: parse the
 * token to find its user, fetch that user's identity key from the store,
 * verify signature, audience ("media") and lifetime with token_verify().
 * A token of another audience is refused before the store is read.
 */
#include "auth.h"
#include "token.h"

#include <string.h>
#include <strings.h>

int auth_bearer(store_t *s, const char *header, int64_t now, char *user, const char **reason)
{
    *reason = "ok";
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        *reason = "missing Authorization header";
        return AUTH_EMISSING;
    }
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    token_claims claims;
    int rc = token_parse(tok, &claims);
    if (rc == TOKEN_OK && claims.audience != TOKEN_AUD_MEDIA)
        rc = TOKEN_EAUDIENCE;
    if (rc != TOKEN_OK) {
        *reason = token_strerror(rc);
        return AUTH_EINVALID;
    }
    store_user u = {0};
    rc = store_user_get(s, claims.user_id, &u);
    if (rc == STORE_ENOTFOUND) {
        *reason = "unknown user";
        return AUTH_EUNKNOWN;
    }
    if (rc != STORE_OK) {
        *reason = "store unavailable";
        return AUTH_ESTORE;
    }
    rc = token_verify(tok, TOKEN_AUD_MEDIA, claims.user_id, NULL, now, u.identity_key, NULL);
    store_user_free(&u);
    if (rc != TOKEN_OK) {
        *reason = token_strerror(rc);
        return AUTH_EINVALID;
    }
    strcpy(user, claims.user_id); /* token_parse bounds it to IDS_USER_MAX */
    return AUTH_OK;
}
