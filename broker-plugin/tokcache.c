/*
 * tokcache.c - the cache of verified tokens (tokcache.h): a set-associative
 * table of TOKCACHE_WAYS slots per set, indexed by the first bytes of the
 * token's SHA-256, that grows by doubling up to its capacity. Broker thread
 * only.
 */
#include "tokcache.h"

#include "ids.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TOKCACHE_FIRST_SLOTS 256

typedef struct {
    uint8_t digest[crypto_hash_sha256_BYTES]; /* SHA-256 of the token text */
    uint8_t pk[32];                           /* the key that verified it */
    int64_t expires_at;                       /* 0: an empty slot */
    int32_t aud;
    char user_id[IDS_USER_MAX + 1];
    char client_id[IDS_USER_MAX + 1 + IDS_CLIENT_TAG_MAX + 1];
} tokcache_entry;

struct tokcache {
    tokcache_entry *slots;
    size_t nslots;      /* a power of two, a multiple of TOKCACHE_WAYS */
    size_t max_slots;
    size_t count;       /* slots with expires_at != 0 */
    uint64_t hits, misses;
};

static size_t pow2_at_least(size_t n)
{
    size_t p = TOKCACHE_WAYS;
    while (p < n && p <= SIZE_MAX / 2)
        p *= 2;
    return p;
}

tokcache *tokcache__new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    tokcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max_slots = pow2_at_least(capacity);
    c->nslots = c->max_slots < TOKCACHE_FIRST_SLOTS ? c->max_slots : TOKCACHE_FIRST_SLOTS;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void tokcache__free(tokcache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c);
}

/* The first slot of the set of digest d in a table of nslots. */
static tokcache_entry *set_of(tokcache_entry *slots, size_t nslots, const uint8_t *d)
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return &slots[(h & (nslots / TOKCACHE_WAYS - 1)) * TOKCACHE_WAYS];
}

/* The slot of set for a new entry: an empty one, else an expired one, else
 * the one that expires first. *was_empty tells whether count grows. */
static tokcache_entry *pick_slot(tokcache_entry *set, bool *was_empty)
{
    tokcache_entry *best = &set[0];
    for (int w = 0; w < TOKCACHE_WAYS; w++) {
        if (set[w].expires_at == 0) {
            *was_empty = true;
            return &set[w];
        }
        if (set[w].expires_at < best->expires_at)
            best = &set[w];
    }
    *was_empty = false; /* an expired entry expires first: it is best already */
    return best;
}

/* Double the table (at most max_slots), moving every live entry. */
static void grow(tokcache *c, int64_t now)
{
    size_t n = c->nslots * 2;
    if (n > c->max_slots)
        return;
    tokcache_entry *slots = calloc(n, sizeof *slots);
    if (!slots)
        return; /* keep the smaller table: the cache only gets less useful */
    size_t count = 0;
    for (size_t i = 0; i < c->nslots; i++) {
        const tokcache_entry *e = &c->slots[i];
        if (e->expires_at == 0 || e->expires_at < now)
            continue;
        bool empty;
        tokcache_entry *dst = pick_slot(set_of(slots, n, e->digest), &empty);
        *dst = *e;
        count += empty;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    c->count = count;
}

static void remember(tokcache *c, const uint8_t *d, token_audience aud, const char *user_id,
                     const char *client_id, const uint8_t pk[32], int64_t expires_at, int64_t now)
{
    size_t ul = strlen(user_id), cl = strlen(client_id);
    tokcache_entry *e;
    bool empty;
    if (ul >= sizeof e->user_id || cl >= sizeof e->client_id)
        return; /* not an id the plugin admits: never worth a slot */
    if (c->count + 1 > c->nslots / 4 * 3)
        grow(c, now);
    for (;;) {
        e = pick_slot(set_of(c->slots, c->nslots, d), &empty);
        if (empty || e->expires_at < now)
            break;
        /* A full set: evict when the table is as large as allowed or still
         * half empty (growing then would double it for one unlucky set). */
        size_t before = c->nslots;
        if (c->count < c->nslots / 2)
            break;
        grow(c, now);
        if (c->nslots == before)
            break;
    }
    c->count += empty;
    memcpy(e->digest, d, sizeof e->digest);
    memcpy(e->pk, pk, sizeof e->pk);
    e->expires_at = expires_at;
    e->aud = (int32_t)aud;
    memcpy(e->user_id, user_id, ul + 1);
    memcpy(e->client_id, client_id, cl + 1);
}

int tokcache__verify(tokcache *c, const char *token, token_audience aud, const char *user_id,
                     const char *client_id, int64_t now, const uint8_t pk[32], int64_t *expires_at)
{
    uint8_t d[crypto_hash_sha256_BYTES];
    int64_t exp = 0;
    int rc;

    if (!c || !token || !user_id || !client_id || !pk)
        return token_verify(token, aud, user_id, client_id, now, pk, expires_at);
    crypto_hash_sha256(d, (const unsigned char *)token, strlen(token));
    tokcache_entry *set = set_of(c->slots, c->nslots, d);
    for (int w = 0; w < TOKCACHE_WAYS; w++) {
        tokcache_entry *e = &set[w];
        if (e->expires_at == 0 || memcmp(e->digest, d, sizeof d) != 0)
            continue;
        /* token_verify's checks that depend on now, against the stored
         * expiry: not expired, and not too far ahead (a clock set back). */
        if (e->aud == (int32_t)aud && now <= e->expires_at &&
            e->expires_at <= now + TOKEN_MAX_LIFETIME_S && strcmp(e->user_id, user_id) == 0 &&
            strcmp(e->client_id, client_id) == 0 && memcmp(e->pk, pk, sizeof e->pk) == 0) {
            c->hits++;
            if (expires_at)
                *expires_at = e->expires_at;
            return TOKEN_OK;
        }
        /* Expired, another key now, or claimed for other ids: the entry
         * counts no more; the full check below gives the exact answer. */
        memset(e, 0, sizeof *e);
        c->count--;
        break;
    }
    c->misses++;
    rc = token_verify(token, aud, user_id, client_id, now, pk, &exp);
    if (rc == TOKEN_OK) {
        remember(c, d, aud, user_id, client_id, pk, exp, now);
        if (expires_at)
            *expires_at = exp;
    }
    return rc;
}

void tokcache__get_stats(const tokcache *c, tokcache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->entries = c->count;
    out->slots = c->nslots;
}
