/*
 * sender_keys.h - group encryption with Sender Keys.
 *
 * Each member sending to a group owns one sender-key chain per group:
 * a random chain id, a chain key and an Ed25519 signature key pair. It
 * distributes (group id, chain id, iteration, chain key, signature public
 * key) to every member inside a pairwise ratchet message (Content.skd,
 * proto/e2e.proto). Messages:
 *
 *   seed, ck' = HMAC(ck, 0x01), HMAC(ck, 0x02)              (per iteration)
 *   key || nonce = HKDF(salt = 0*32, ikm = seed, info = "Parley_SenderKeys_v1", 56)
 *   ciphertext = XChaCha20-Poly1305(key, nonce, pt, ad = signed header)
 *   signature  = Ed25519(sig sk, "Parley_SenderKey_v1" || u8 len(group_id) ||
 *                group_id || be32 chain_id || be32 iteration || ciphertext)
 *
 * A receiver holding the chain at iteration N can derive keys >= N only:
 * a member who joined later cannot read earlier messages. Rotation (a
 * member left): sender_keys_create() again, i.e. a fresh chain id and keys,
 * and distribute to the remaining members.
 *
 * Limits (as pairwise sessions): a message more than
 * SENDER_KEYS_MAX_FORWARD_JUMPS iterations ahead is refused; at most
 * SENDER_KEYS_MAX_MESSAGE_KEYS skipped keys are kept (oldest evicted).
 * Decryption is transactional (state unchanged on error). Free wipes.
 */
#ifndef PARLEY_SENDER_KEYS_H
#define PARLEY_SENDER_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"
#include "keys.h"

#define SENDER_KEYS_GROUP_MAX 140            /* bytes of group id (e.g. a chat id) */
#define SENDER_KEYS_MAX_FORWARD_JUMPS 25000
#define SENDER_KEYS_MAX_MESSAGE_KEYS 2000
#define SENDER_KEYS_STATE_VERSION 1

typedef struct sender_keys_state sender_keys_state;

/* What a SenderKeyDistribution carries, as raw bytes. chain_key is secret:
 * wipe the struct (keys_wipe) once it has been packed and sent. */
typedef struct {
    char group_id[SENDER_KEYS_GROUP_MAX + 1];  /* NUL-terminated */
    uint32_t chain_id;
    uint32_t iteration;
    uint8_t chain_key[32];
    uint8_t signature_key[KEYS_PUB_LEN];       /* Ed25519 public key */
} sender_keys_distribution;

/* A new sending chain for group_id (1..SENDER_KEYS_GROUP_MAX bytes): random
 * chain id, chain key and signature key pair, iteration 0. Returns E2E_OK,
 * E2E_ERR_INVALID, E2E_ERR_NOMEM, E2E_ERR_CRYPTO; on error *out is NULL. */
e2e_status sender_keys_create(sender_keys_state **out, const char *group_id) E2E_WARN_UNUSED;

/* The distribution of a sending state at its current iteration (what a
 * member joining now receives). Returns E2E_OK or E2E_ERR_INVALID (a
 * receiving state). */
e2e_status sender_keys_distribution_get(const sender_keys_state *s,
                                        sender_keys_distribution *out) E2E_WARN_UNUSED;

/* A receiving state from a distribution received from a group member.
 * Returns E2E_OK, E2E_ERR_INVALID, E2E_ERR_NOMEM; on error *out NULL. */
e2e_status sender_keys_from_distribution(sender_keys_state **out,
                                         const sender_keys_distribution *d) E2E_WARN_UNUSED;

/* Encrypt pt into a new E2EMessage{sender_key} (*out malloc'd, caller
 * frees) and advance the chain. Sending states only. Returns E2E_OK,
 * E2E_ERR_INVALID, E2E_ERR_STATE (receiving state or chain exhausted),
 * E2E_ERR_NOMEM; on error the state is unchanged. */
e2e_status sender_keys_encrypt(sender_keys_state *s, const uint8_t *pt, size_t pt_len,
                               uint8_t **out, size_t *out_len) E2E_WARN_UNUSED;

/* Verify and decrypt an E2EMessage{sender_key} with a receiving state.
 * *pt malloc'd, NUL-terminated past *pt_len. A sender does not decrypt its
 * own messages (they are older than its state: E2E_ERR_DUPLICATE). The
 * signature is checked before anything else. Returns E2E_OK, E2E_ERR_INVALID,
 * E2E_ERR_FORMAT, E2E_ERR_WRONG_CHAIN (another chain id: look up that
 * state), E2E_ERR_SIGNATURE, E2E_ERR_DECRYPT, E2E_ERR_DUPLICATE (already
 * decrypted, or older than this state: e.g. sent before we joined),
 * E2E_ERR_TOO_FAR, E2E_ERR_NOMEM. On error the state is unchanged. */
e2e_status sender_keys_decrypt(sender_keys_state *s, const uint8_t *msg, size_t len, uint8_t **pt,
                               size_t *pt_len) E2E_WARN_UNUSED;

uint32_t sender_keys_chain_id(const sender_keys_state *s);
const char *sender_keys_group_id(const sender_keys_state *s);

/* Serialize (secrets included, version byte first); *out malloc'd, caller
 * wipes and frees. Returns E2E_OK, E2E_ERR_INVALID, E2E_ERR_NOMEM. */
e2e_status sender_keys_serialize(const sender_keys_state *s, uint8_t **out, size_t *out_len);

/* Returns E2E_OK, E2E_ERR_VERSION, E2E_ERR_FORMAT, E2E_ERR_NOMEM. */
e2e_status sender_keys_deserialize(sender_keys_state **out, const uint8_t *in,
                                   size_t len) E2E_WARN_UNUSED;

/* Wipe and free (NULL is a no-op). */
void sender_keys_free(sender_keys_state *s);

#endif
