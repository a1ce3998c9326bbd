/*
 * ids.h - identifiers shared by every component: user ids, chat ids,
 * server message ids, client message ids. Formats are normative
 * (docs/protocol.md, "Identifiers").
 */
#ifndef PARLEY_IDS_H
#define PARLEY_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_USER_MAX 64        /* user id: 1..64 of [A-Za-z0-9._-] */
#define IDS_CLIENT_MSG_MAX 64  /* client message id: 1..64 printable ASCII, no '/' */
#define IDS_CHAT_MAX 140       /* "d:" + user + ":" + user, or "g:" + 22 chars */
#define IDS_SERVER_ID_LEN 22   /* base64url of 16 random bytes, no padding */
#define IDS_GROUP_ID_LEN 22
#define IDS_CLIENT_TAG_MAX 32  /* MQTT client id: user "." tag, tag 1..32 of [A-Za-z0-9_-] */

/* true if s is a valid user id. */
bool ids_valid_user(const char *s);
/*
 * The case rule (docs/protocol.md "Identifiers"): user ids are compared
 * exactly (case-sensitive: "Bob" names one user and only that one), and no
 * two registered users may have ids that differ only by ASCII case: the
 * store refuses to register "bob" while "Bob" exists (store_user_put).
 * ids_user_fold writes the ASCII lower-case form of s, the key that rule
 * compares; false if s is NULL or does not fit outlen (with its NUL).
 */
bool ids_user_fold(const char *s, char *out, size_t outlen);
/* true if a and b differ at most by ASCII case (both non-NULL). */
bool ids_user_same_fold(const char *a, const char *b);
/* true if s is a valid client message id. */
bool ids_valid_client_msg(const char *s);
/* true if client_id is the MQTT client id form bound to user:
 * user "." tag with tag 1..IDS_CLIENT_TAG_MAX of [A-Za-z0-9_-]. The tag has
 * no '.', so a client id names exactly one user (its text before the last
 * '.'). */
bool ids_valid_client_id(const char *user, const char *client_id);
/* true if s is a syntactically valid chat id ("d:a:b" with a < b, or "g:..."). */
bool ids_valid_chat(const char *s);
bool ids_is_group_chat(const char *chat_id);

/* The direct chat id of two (valid, distinct) users: "d:{min}:{max}".
 * out must hold IDS_CHAT_MAX + 1 bytes. Returns false on invalid input. */
bool ids_direct_chat(const char *a, const char *b, char *out, size_t outlen);
/* For a direct chat id and one of its users, copy the other user into out
 * (IDS_USER_MAX + 1 bytes). false if user is not part of the chat. */
bool ids_direct_peer(const char *chat_id, const char *user, char *out, size_t outlen);

/* Registration invites (keyserver policy "invite", docs/keyserver.md): the
 * token is base64url of 32 random bytes (43 chars); the store keeps only
 * its invite id, the base64url SHA-256 of the token text (43 chars). */
#define IDS_INVITE_TOKEN_LEN 43
#define IDS_INVITE_ID_LEN 43
/* A fresh invite token; out holds IDS_INVITE_TOKEN_LEN + 1 bytes. */
void ids_invite_token_new(char out[IDS_INVITE_TOKEN_LEN + 1]);
/* The invite id of a token (any text of 1..IDS_INVITE_TOKEN_MAX bytes);
 * false if the token is empty or longer. */
#define IDS_INVITE_TOKEN_MAX 128
bool ids_invite_id(const char *token, char out[IDS_INVITE_ID_LEN + 1]);

/* A fresh random id (base64url, 16 random bytes, 22 chars); out holds 23 bytes. */
void ids_random(char out[IDS_SERVER_ID_LEN + 1]);

#endif
