/*
 * identity.h - identity registration: binding a user id to its Ed25519
 * identity key, and signed key changes (docs/protocol.md "Keyserver API").
 */
#ifndef PARLEY_KS_IDENTITY_H
#define PARLEY_KS_IDENTITY_H

#include "metrics.h"
#include "service.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

#define IDENTITY_REGISTER_DOMAIN "parley-register-v1\n"
#define IDENTITY_CHANGE_DOMAIN "parley-key-change-v1\n"

/* Who may register a new user id (docs/keyserver.md "Registration policy"). */
typedef enum {
    IDENTITY_REG_OPEN = 0,   /* anyone (the default) */
    IDENTITY_REG_INVITE,     /* with an unused, unexpired invite token (parley-admin invite) */
    IDENTITY_REG_CLOSED,     /* nobody: only existing users confirm or change keys */
} identity_registration;

/* "open" / "invite" / "closed" to *out; false for anything else. */
bool identity_registration_parse(const char *s, identity_registration *out);
const char *identity_registration_name(identity_registration reg);

/*
 * PUT /v1/identity/{user_id}. body: the request body (len bytes, not
 * NUL-terminated). Registers (under policy reg; a new id that differs only
 * by case from a registered one is 409 user_id_taken), confirms
 * (idempotent) or changes the key; a disabled or deleted user is 403.
 * Fills r with the answer (201/200 with the user record, or an error);
 * never leaves a partial write behind (an invite is used only together
 * with the registration it admits).
 */
void identity_put(store_t *st, metrics *m, identity_registration reg, const char *user_id,
                  const char *body, size_t len, http_reply *r);

/* GET /v1/identity/{user_id}: 200 with the user record, 404 unknown_user or
 * 410 user_deleted. */
void identity_get(store_t *st, const char *user_id, http_reply *r);

/* The JSON of a user record {"user_id","identity_key","created_at","updated_at"}
 * (NULL on out-of-memory). */
json_t *identity_user_json(const store_user *u);

/* Parse a JSON request body into *out (a new reference). Returns 0, or -1
 * after filling r with 400 invalid_json (jansson's text) when the body is
 * not a JSON object. */
int identity__parse_body(const char *body, size_t len, json_t **out, http_reply *r);

#endif
