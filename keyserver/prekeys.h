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
 * PUT /v2/keys for user: store an optional signed prekey (rotation) and up
 * to PREKEYS_MAX_PER_UPLOAD one-time prekeys. Everything is validated
 * (lengths, the signed prekey's signature by the user's identity key,
 * duplicate key ids) before anything is written; the writes happen in one
 * transaction, so a refused upload stores nothing.
 * 200 {"one_time_prekeys": remaining count} or an error.
 */
void prekeys_put(store_t *st, metrics *m, const char *user, const char *body, size_t len,
                 http_reply *r);

/* GET /v2/keys: 200 {"count": n}, the user's remaining one-time prekeys. */
void prekeys_count(store_t *st, const char *user, http_reply *r);

/*
 * GET /v2/keys/{target}: the prekey bundle of target, handing out (and
 * deleting) one one-time prekey atomically; the one_time_prekey member is
 * absent when none is left, and when may_pop is false (the caller's
 * hand-out limits say no: nothing is popped). 404 unknown_user /
 * no_signed_prekey.
 */
void prekeys_bundle(store_t *st, metrics *m, const char *target, bool may_pop,
                    http_reply *r);

#endif
