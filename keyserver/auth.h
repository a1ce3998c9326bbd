/*
 * auth.h - bearer-token authentication of keyserver requests
 * (docs/protocol.md "Tokens"): "Authorization: Bearer <token>", minted by
 * the user's identity key for audience "keyserver", verified against the
 * identity key registered in the store.
 */
#ifndef PARLEY_KS_AUTH_H
#define PARLEY_KS_AUTH_H

#include "ids.h"
#include "store.h"

#include <stdint.h>

typedef enum {
    AUTH_OK = 0,
    AUTH_EDENIED = -1,   /* 401: *reason and *label say why */
    AUTH_ESTORE = -2,    /* store failure; *store_rc holds the store_rc */
} auth_rc;

typedef struct {
    char user_id[IDS_USER_MAX + 1];   /* the authenticated user (AUTH_OK) */
    const char *reason;               /* human text (static), AUTH_EDENIED */
    const char *label;                /* metrics label (static), AUTH_EDENIED */
    int store_rc;                     /* AUTH_ESTORE */
} auth_result;

/*
 * Authenticate a request from its Authorization header value (may be NULL)
 * at time now (Unix seconds), looking the claimed user's identity key up in
 * st. Returns AUTH_OK with out->user_id, AUTH_EDENIED (missing/malformed
 * header or token, unknown user, wrong audience, expired, bad signature) or
 * AUTH_ESTORE.
 */
int auth_check(store_t *st, const char *authorization, int64_t now, auth_result *out)
    __attribute__((warn_unused_result));

#endif
