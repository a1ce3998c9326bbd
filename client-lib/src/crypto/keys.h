/*
 * keys.h - identity and prekey generation helpers.
 *
 *   identity key      Ed25519 (libsodium crypto_sign): pk 32 bytes, sk 64 bytes
 *   signed prekey     X25519 key pair + Ed25519(identity sk, raw 32-byte pk)
 *   one-time prekey   X25519 key pair
 *
 * The structs hold secret keys: wipe them with keys_wipe() (or
 * sodium_memzero) when done; they never leave the client library except
 * in the client's local key store.
 */
#ifndef PARLEY_KEYS_H
#define PARLEY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"

#define KEYS_PUB_LEN 32
#define KEYS_X25519_SK_LEN 32
#define KEYS_ED25519_SK_LEN 64
#define KEYS_SIGNATURE_LEN 64

typedef struct {
    uint8_t pk[KEYS_PUB_LEN];            /* Ed25519 public key (published) */
    uint8_t sk[KEYS_ED25519_SK_LEN];     /* Ed25519 secret key, libsodium layout */
} keys_identity;

typedef struct {
    uint8_t pk[KEYS_PUB_LEN];            /* X25519 public key */
    uint8_t sk[KEYS_X25519_SK_LEN];      /* X25519 secret scalar */
} keys_x25519;

typedef struct {
    uint32_t key_id;
    keys_x25519 kp;
    uint8_t signature[KEYS_SIGNATURE_LEN]; /* Ed25519(identity sk, kp.pk) */
} keys_signed_prekey;

typedef struct {
    uint32_t key_id;
    keys_x25519 kp;
} keys_one_time_prekey;

/* A fresh random identity key pair. Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status keys_identity_generate(keys_identity *out);

/* The identity key pair determined by a 32-byte seed (tests, backups).
 * Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status keys_identity_from_seed(keys_identity *out, const uint8_t seed[32]);

/* A fresh random X25519 key pair. Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status keys_x25519_generate(keys_x25519 *out);

/* The X25519 key pair whose secret is sk (public = X25519(sk, 9)).
 * Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status keys_x25519_from_secret(keys_x25519 *out, const uint8_t sk[KEYS_X25519_SK_LEN]);

/* A fresh signed prekey with the given id, signed by id_key.
 * Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status keys_signed_prekey_generate(const keys_identity *id_key, uint32_t key_id,
                                       keys_signed_prekey *out);

/* Verify a signed prekey signature: Ed25519 by identity_pk over the raw
 * 32-byte spk_pub. Returns E2E_OK or E2E_ERR_SIGNATURE. */
e2e_status keys_signed_prekey_verify(const uint8_t identity_pk[KEYS_PUB_LEN],
                                     const uint8_t spk_pub[KEYS_PUB_LEN],
                                     const uint8_t signature[KEYS_SIGNATURE_LEN]) E2E_WARN_UNUSED;

/* count fresh one-time prekeys with ids first_id, first_id + 1, ...
 * into out[0..count). Returns E2E_OK or E2E_ERR_CRYPTO (out wiped). */
e2e_status keys_one_time_prekeys_generate(uint32_t first_id, size_t count,
                                          keys_one_time_prekey *out);

/* The X25519 forms of an Ed25519 identity key (used by X3DH's identity DH).
 * Returns E2E_OK or E2E_ERR_KEY (pk not a valid Ed25519 point). */
e2e_status keys_identity_pk_to_x25519(uint8_t out[KEYS_PUB_LEN], const uint8_t ed_pk[KEYS_PUB_LEN]);
e2e_status keys_identity_sk_to_x25519(uint8_t out[KEYS_X25519_SK_LEN],
                                      const uint8_t ed_sk[KEYS_ED25519_SK_LEN]);

/* sodium_memzero(p, len): for the key structs above. */
void keys_wipe(void *p, size_t len);

#endif
