/*
 * prekeys.h - prekey upload, count and bundle fetch with Signal /v2/keys
 * semantics (docs/protocol.md "Keyserver API"). Every handler runs for an
 * authenticated user (auth.h) and fills a http_reply.
 */
#ifndef PARLEY_KS_PREKEYS_H
#define PARLEY_KS_PREKEYS_H

#include "metrics.h"
#include "service.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

#define PREKEYS_MAX_PER_UPLOAD 100

/*
 * PUT /v2/keys for the token's device of user (device "" = the implicit
 * device): store an optional signed prekey (rotation) and up to
 * PREKEYS_MAX_PER_UPLOAD one-time prekeys. Everything is validated
 * (lengths, the signed prekey's signature by the DEVICE's key, duplicate
 * key ids) before anything is written; the writes happen in one
 * transaction, so a refused upload stores nothing.
 * 200 {"one_time_prekeys": the device's remaining count} or an error.
 */
void prekeys_put(store_t *st, metrics *m, const char *user, const char *device, const char *body,
                 size_t len, http_reply *r);

/* GET /v2/keys: 200 {"count": n}, the device's remaining one-time prekeys. */
void prekeys_count(store_t *st, const char *user, const char *device, http_reply *r);

/*
 * GET /v2/keys/{target}[/{device}]: the prekey bundle of a device of target
 * (device NULL: the primary; for an implicit list, its one device), handing
 * out (and deleting) one one-time prekey of that device atomically; the
 * one_time_prekey member is absent when none is left, and when may_pop is
 * false (the caller's hand-out limits say no: nothing is popped).
 * identity_key is the device's key, device_id its id ("" implicit).
 * 404 unknown_user / unknown_device / no_signed_prekey, 410 user_deleted.
 */
void prekeys_bundle(store_t *st, metrics *m, const char *target, const char *device, bool may_pop,
                    http_reply *r);

#endif
