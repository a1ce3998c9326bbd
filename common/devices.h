/*
 * devices.h - a user's device list: the canonical signed text, its parser
 * and checks, and the device a token's client id names (normative:
 * docs/protocol.md "Devices").
 *
 *   payload   = "parley-devices-v1\n" user_id "\n" version "\n"
 *               *( device_id " " base64url(device_key) " " added_at_ms " " name "\n" )
 *   signature = Ed25519(account secret key, payload)      (the payload verbatim)
 *
 * version: canonical decimal >= 1 (no sign, no leading zero); device_id:
 * 1..DEVICES_ID_MAX of [A-Za-z0-9_-]; device_key: 43 characters of unpadded
 * base64url of a 32-byte Ed25519 public key, the one spelling libsodium
 * writes; added_at_ms: canonical decimal; name: 0..DEVICES_NAME_MAX printable
 * ASCII (0x20..0x7e; the rest of the line, so it may hold spaces).
 * A valid list (devices_check) has unique ids, unique keys, exactly one
 * device whose key is the account key (the primary) and at most max devices.
 *
 * The implicit list of a user who never stored one: version 0, one device
 * with id "" and the account key (devices_implicit). While a list is
 * implicit, a token signed by the account key stands for any client id tag.
 *
 * Pure functions over caller memory; parsed lists own their entry array
 * (devices_list_free). Used by the keyserver, the media gateway, the broker
 * plugin, parley-admin and libparley.
 */
#ifndef PARLEY_DEVICES_H
#define PARLEY_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "token.h"

#define DEVICES_MAGIC "parley-devices-v1"
#define DEVICES_ID_MAX IDS_CLIENT_TAG_MAX    /* a device id is a client id tag */
#define DEVICES_NAME_MAX 32
#define DEVICES_KEY_LEN 32
#define DEVICES_SIG_LEN 64
#define DEVICES_KEY_B64_LEN 43               /* unpadded base64url of 32 bytes */
#define DEVICES_MAX_DEFAULT 5                /* the primary + 4 (keyserver --max-devices) */
#define DEVICES_MAX_LIMIT 32                 /* no list holds more, whatever the option */
#define DEVICES_TEXT_MAX 8192                /* bytes of a list text (store's limit too) */

typedef enum {
    DEVICES_OK = 0,
    DEVICES_EMALFORMED = -1,   /* not the canonical text */
    DEVICES_ESIGNATURE = -2,   /* not signed by the account key */
    DEVICES_EUSER = -3,        /* the list names another user */
    DEVICES_EDUPLICATE = -4,   /* a device id or key appears twice */
    DEVICES_EPRIMARY = -5,     /* not exactly one device with the account key */
    DEVICES_ETOOMANY = -6,     /* more devices than allowed */
    DEVICES_ENOMEM = -7,
} devices_rc;

/* A short static text for a devices_rc. */
const char *devices_strerror(int rc);

typedef struct {
    char device_id[DEVICES_ID_MAX + 1];      /* "" only in the implicit list */
    uint8_t key[DEVICES_KEY_LEN];
    int64_t added_at;                        /* ms since the epoch */
    char name[DEVICES_NAME_MAX + 1];
} devices_entry;

typedef struct {
    char user_id[IDS_USER_MAX + 1];
    uint64_t version;                        /* 0 = the implicit list */
    size_t n;
    devices_entry *dev;                      /* n entries, heap */
} devices_list;

void devices_list_free(devices_list *l);

/* true if s is a device id (1..DEVICES_ID_MAX of [A-Za-z0-9_-]). */
bool devices_valid_id(const char *s);
/* true if s is a device name (0..DEVICES_NAME_MAX of printable ASCII). */
bool devices_valid_name(const char *s);

/* The implicit list of user_id: version 0, one device "" with the account key. */
int devices_implicit(const char *user_id, const uint8_t account_key[DEVICES_KEY_LEN],
                     devices_list *out);

/* Parse the canonical text (len bytes, not NUL-terminated) into out.
 * DEVICES_OK, DEVICES_EMALFORMED (anything not canonical: a missing final
 * newline, a bad id, key, time or name, version 0, no device, more than
 * DEVICES_MAX_LIMIT), DEVICES_EDUPLICATE or DEVICES_ENOMEM. out is zeroed
 * on error. Does not verify the signature nor the primary. */
int devices_parse(const uint8_t *text, size_t len, devices_list *out)
    __attribute__((warn_unused_result));

/* The rules of a valid list against the account key: exactly one primary
 * (DEVICES_EPRIMARY), at most max devices (DEVICES_ETOOMANY; max 0 means
 * DEVICES_MAX_LIMIT). Ids and keys are unique after devices_parse. */
int devices_check(const devices_list *l, const uint8_t account_key[DEVICES_KEY_LEN], size_t max)
    __attribute__((warn_unused_result));

/* Everything a verifier does with a stored or uploaded list: the signature
 * over text by account_key (DEVICES_ESIGNATURE), devices_parse, the list's
 * user equals user_id (DEVICES_EUSER; NULL skips) and devices_check. */
int devices_verify(const uint8_t *text, size_t len, const uint8_t sig[DEVICES_SIG_LEN],
                   const uint8_t account_key[DEVICES_KEY_LEN], const char *user_id, size_t max,
                   devices_list *out) __attribute__((warn_unused_result));

/* The canonical text of l (entries in their order) in a fresh NUL-terminated
 * heap buffer (*out, *len without the NUL). DEVICES_EMALFORMED when a field
 * cannot be written canonically, DEVICES_ENOMEM. */
int devices_build(const devices_list *l, char **out, size_t *len);
/* Ed25519 signature of text by the account secret key (libsodium layout). */
void devices_sign(const uint8_t *text, size_t len, const uint8_t sk[64],
                  uint8_t sig[DEVICES_SIG_LEN]);

/* The primary device (key == account key) or NULL. */
const devices_entry *devices_primary(const devices_list *l,
                                     const uint8_t account_key[DEVICES_KEY_LEN]);
/* The device with this id or NULL. */
const devices_entry *devices_find(const devices_list *l, const char *device_id);

/* The devices a client id tag can name, at most max of them into out (the
 * count is returned): the device whose id is the tag, then each device whose
 * id is the text before a '-' of the tag ("{device}-{suffix}", a transient
 * connection of that device). For the implicit list, its one device for any
 * tag. Device ids may hold '-', so several can match: a verifier tries each. */
size_t devices_match_tag(const devices_list *l, const char *tag, const devices_entry **out,
                         size_t max);

/* The tag of a client id bound to user ("user.tag"), or NULL if client_id
 * is not of that form (ids_valid_client_id). */
const char *devices_client_tag(const char *user_id, const char *client_id);

/* Verify a token (token_verify: audience, user, client id when client_id is
 * non-NULL, expiry, lifetime) with the key of the device its client id names
 * in l: TOKEN_OK with *which (may be NULL) the device, or the token_rc of the
 * first failing check; TOKEN_EDEVICE when the token's client id names no
 * device of l (removed, or never added). *expires_at may be NULL. */
int devices_token_verify(const devices_list *l, const char *token, token_audience aud,
                         const char *user_id, const char *client_id, int64_t now,
                         int64_t *expires_at, const devices_entry **which)
    __attribute__((warn_unused_result));

#endif
