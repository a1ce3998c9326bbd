#include "auth.h"

#include "token.h"

#include <string.h>
#include <strings.h>

static int denied(auth_result *out, const char *reason, const char *label)
{
    out->reason = reason;
    out->label = label;
    return AUTH_EDENIED;
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

int auth_check(store_t *st, const char *authorization, int64_t now, auth_result *out)
{
    memset(out, 0, sizeof *out);
    if (!authorization)
        return denied(out, "missing Authorization header", "missing");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return denied(out, "Authorization is not a Bearer token", "malformed");
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;

    token_claims claims;
    int trc = token_parse(token, &claims);
    if (trc == TOKEN_OK && claims.audience != TOKEN_AUD_KEYSERVER)
        trc = TOKEN_EAUDIENCE; /* refused before any store read */
    if (trc != TOKEN_OK)
        return denied(out, token_strerror(trc), token_label(trc));

    store_user u = {0};
    int src = store_user_get(st, claims.user_id, &u);
    if (src == STORE_ENOTFOUND)
        return denied(out, "unknown user", "unknown_user");
    if (src != STORE_OK) {
        out->store_rc = src;
        return AUTH_ESTORE;
    }
    trc = token_verify(token, TOKEN_AUD_KEYSERVER, claims.user_id, NULL, now, u.identity_key,
                       NULL);
    store_user_free(&u);
    if (trc != TOKEN_OK)
        return denied(out, token_strerror(trc), token_label(trc));
    memcpy(out->user_id, claims.user_id, sizeof out->user_id);
    return AUTH_OK;
}
