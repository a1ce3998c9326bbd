/*
 * devroutes.h - the linked-device routes of the keyserver (docs/protocol.md
 * "Devices"): a user's signed device list (GET /v2/devices/{user}, PUT
 * /v2/devices by the primary device) and the link codes of devices asking
 * to join (POST /v2/link, GET and DELETE /v2/link/{code}). Every handler
 * fills a http_reply; binary values are unpadded base64url (codec.h).
 */
#ifndef PARLEY_KS_DEVROUTES_H
#define PARLEY_KS_DEVROUTES_H

#include "metrics.h"
#include "service.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

#define DEVROUTES_LINK_TTL_MS (10 * 60 * 1000)  /* a link code is valid 10 minutes */
#define DEVROUTES_LINK_PENDING_MAX 3            /* unexpired codes per user */

/* GET /v2/devices/{user}: 200 {"user_id", "version", "list"?, "signature"?,
 * "devices": [{"device_id", "device_key", "added_at", "name", "primary"}]}
 * (list and signature absent, version 0, for an implicit list). */
void devroutes_get(store_t *st, const char *user, http_reply *r);

/* PUT /v2/devices {"list", "signature"} by a token of user's primary device
 * (primary): verified against the account key (422 invalid_signature), the
 * list's user (403 wrong_user), its form (400 invalid_device_list), its
 * primary (422 no_primary), at most max_devices (409 too_many_devices), a
 * version above the stored one (409 stale_version, also when another PUT
 * wins the race). Stored with, in one transaction: the prekeys of removed
 * devices deleted, the implicit device's prekeys moved to the primary (the
 * first list), the link codes of added devices consumed. 200 = the GET body. */
void devroutes_put(store_t *st, metrics *m, const char *user, bool primary, size_t max_devices,
                   const char *body, size_t len, http_reply *r);

/* POST /v2/link {"user_id", "device_id", "device_key", "name", "signature"}
 * (no token: the signature by the device key over "parley-link-v1\n" user
 * "\n" device_id "\n" device_key "\n" name proves the key): 201 {"code",
 * "expires_at"}; 404 unknown_user, 409 device_exists (the id is in the list),
 * 429 too_many_links (DEVROUTES_LINK_PENDING_MAX unexpired codes). */
void devroutes_link_post(store_t *st, metrics *m, const char *body, size_t len, http_reply *r);

/* GET /v2/link/{code} for user: {"user_id", "device_id", "device_key", "name",
 * "expires_at"}; 404 unknown_code for another user's, an expired or no code.
 * DELETE: refuse (remove) it, 200 {"code", "deleted": true}. */
void devroutes_link_get(store_t *st, const char *user, const char *code, http_reply *r);
void devroutes_link_delete(store_t *st, const char *user, const char *code, http_reply *r);

#endif
