/*
 * mkstore.h - the bounded store of skipped message keys shared by pairwise
 * sessions (ratchet.c) and sender keys (sender_keys.c), and the AEAD of
 * one message under a message-key seed. Internal to the crypto core.
 *
 * A store holds at most `max` entries (tag, n, seed), oldest first: tag is
 * the ratchet public key of the chain (sender keys: all zero), n the
 * message number, seed the message key seed (secret). Adding beyond max
 * evicts the oldest. Every removal and the free wipe the secrets.
 */
#ifndef PARLEY_MKSTORE_H
#define PARLEY_MKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"

#define MKSTORE_TAG_LEN 32
#define MKSTORE_SEED_LEN 32
#define MKSTORE_SERIALIZED_ENTRY (MKSTORE_TAG_LEN + 4 + MKSTORE_SEED_LEN)

typedef struct {
    uint8_t tag[MKSTORE_TAG_LEN];
    uint32_t n;
    uint8_t seed[MKSTORE_SEED_LEN];
} mkstore_entry;

typedef struct {
    mkstore_entry *e;    /* oldest first */
    size_t count, cap;
} mkstore;

/* Wipe and release the entries; the store is empty afterwards. */
void mkstore_clear(mkstore *s);

/* dst = a deep copy of src (dst's previous content is not freed).
 * Returns E2E_OK or E2E_ERR_NOMEM (dst empty). */
e2e_status mkstore_copy(mkstore *dst, const mkstore *src);

/* Make room for `adding` more entries under the bound max: evict the oldest
 * as needed and grow the array. adding <= max. E2E_OK or E2E_ERR_NOMEM. */
e2e_status mkstore_reserve(mkstore *s, size_t adding, size_t max);

/* Append an entry; mkstore_reserve() made room. Can't fail. */
void mkstore_push(mkstore *s, const uint8_t tag[MKSTORE_TAG_LEN], uint32_t n,
                  const uint8_t seed[MKSTORE_SEED_LEN]);

/* Index of the entry (tag, n), or -1. Compares tags in constant time. */
long mkstore_find(const mkstore *s, const uint8_t tag[MKSTORE_TAG_LEN], uint32_t n);

/* Wipe and remove entry i, keeping the order of the others. */
void mkstore_remove(mkstore *s, size_t i);

/* Serialization: be32 count, then count x (tag, be32 n, seed).
 * mkstore_write writes mkstore_serialized_size(s) bytes at *p and advances. */
size_t mkstore_serialized_size(const mkstore *s);
void mkstore_write(const mkstore *s, uint8_t **p);
/* Read a store written by mkstore_write (at most max entries) into an empty
 * s. Returns E2E_OK, E2E_ERR_FORMAT or E2E_ERR_NOMEM (s empty on error). */
e2e_status mkstore_read(mkstore *s, const uint8_t **p, size_t *left, size_t max);
/* mkstore_read of the last field of a serialized state: anything left after
 * it is E2E_ERR_FORMAT (s may then hold entries: the caller frees it). */
e2e_status mkstore_read_last(mkstore *s, const uint8_t **p, size_t *left, size_t max);

/* Encrypt pt with the key and nonce expanded from seed (kdf_message_keys
 * with info) and ad: *out = ciphertext || 16-byte tag, malloc'd.
 * E2E_OK or E2E_ERR_NOMEM. */
e2e_status mkstore_seal(const uint8_t seed[MKSTORE_SEED_LEN], const char *info, const uint8_t *pt,
                        size_t pt_len, const uint8_t *ad, size_t ad_len, uint8_t **out,
                        size_t *out_len);

/* Decrypt ct (ciphertext || tag, ct_len >= 16) the same way: *pt malloc'd,
 * NUL-terminated past *pt_len. E2E_OK, E2E_ERR_DECRYPT, E2E_ERR_NOMEM;
 * *pt NULL on error. */
e2e_status mkstore_open(const uint8_t seed[MKSTORE_SEED_LEN], const char *info, const uint8_t *ct,
                        size_t ct_len, const uint8_t *ad, size_t ad_len, uint8_t **pt,
                        size_t *pt_len) E2E_WARN_UNUSED;

#endif
