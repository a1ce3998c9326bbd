/*
 * tokcache.h - a bounded cache of verified tokens, so that a client that
 * reconnects with the token it used before (a reconnect storm after a
 * network blip, a load balancer restart) costs a hash instead of an Ed25519
 * verification.
 *
 * An entry is keyed by the SHA-256 of the token text (the token itself is
 * never kept) and holds what the verification established: the audience,
 * the user id, the client id, the token's expiry, and the public key that
 * verified the signature. A token counts as verified again only when all of
 * these still hold for the CONNECT at hand:
 *
 *   - same token text (its SHA-256), same audience, same user id and client
 *     id as the CONNECT claims;
 *   - not expired at now (valid through its expires_at second) and not
 *     further ahead than TOKEN_MAX_LIFETIME_S (a clock set back), as
 *     token_verify decides;
 *   - the key the caller passes now (the user's current identity key, or
 *     with per-device keys the device's current key) is byte for byte the
 *     key that verified it. A refresh that changes the user's key, or a
 *     device list that no longer holds the device, therefore leaves no
 *     usable entry behind without any call into the cache: the caller has no
 *     key to pass, or another one.
 *
 * The caller checks the account's status (disabled, deleted) before asking,
 * as it does before a full verification. Anything that does not match is a
 * miss: the token goes through token_verify, which gives the exact refusal.
 *
 * Bounds: at most `capacity` entries (rounded up to a power of two, at least
 * TOKCACHE_WAYS), in sets of TOKCACHE_WAYS; the table starts small and
 * doubles when more than three quarters full, or half full and a new entry
 * finds its set full, up to capacity; otherwise a new entry takes an empty or
 * expired slot of its set, else the one that expires first. Memory: about 240 bytes per entry. Not thread-safe: one cache per
 * thread (the broker thread).
 */
#ifndef PARLEY_PLUGIN_TOKCACHE_H
#define PARLEY_PLUGIN_TOKCACHE_H

#include "token.h"

#include <stddef.h>
#include <stdint.h>

#define TOKCACHE_WAYS 8

typedef struct tokcache tokcache;

typedef struct {
    uint64_t hits;      /* answered from the cache */
    uint64_t misses;    /* verified with token_verify (any result) */
    size_t entries;     /* entries held now */
    size_t slots;       /* size of the table now */
} tokcache_stats;

/* A cache of at most capacity entries; NULL if capacity is 0 (no cache: the
 * functions below accept NULL and then always verify) or out of memory. */
tokcache *tokcache__new(size_t capacity);
void tokcache__free(tokcache *c);

/* token_verify(token, aud, user_id, client_id, now, pk, expires_at), answered
 * from c when this token text was verified before for the same audience,
 * user id and client id against the same pk and has not expired; otherwise
 * verified, and remembered when TOKEN_OK. client_id must not be NULL. */
int tokcache__verify(tokcache *c, const char *token, token_audience aud, const char *user_id,
                     const char *client_id, int64_t now, const uint8_t pk[32], int64_t *expires_at)
    __attribute__((warn_unused_result));

void tokcache__get_stats(const tokcache *c, tokcache_stats *out);

#endif
