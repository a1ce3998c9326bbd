/*
 * kdf.h - key derivation: HMAC-SHA256, HKDF-SHA256 (RFC 5869) and the
 * Signal symmetric-key chain step, on libsodium's crypto_auth_hmacsha256.
 * Pure functions; no state. Callers own every buffer and wipe their
 * secrets; these functions wipe their own temporaries on every path.
 */
#ifndef PARLEY_KDF_H
#define PARLEY_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"

#define KDF_HASH_LEN 32                 /* SHA-256 output */
#define KDF_HKDF_MAX (255 * KDF_HASH_LEN)
#define KDF_CHAIN_KEY_LEN 32
#define KDF_AEAD_KEY_LEN 32             /* crypto_aead_xchacha20poly1305_ietf_KEYBYTES */
#define KDF_AEAD_NONCE_LEN 24           /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */

/* out = HMAC-SHA256(key, data). Any key length (longer keys are hashed
 * first, RFC 2104). This function can't fail. */
void kdf_hmac_sha256(uint8_t out[KDF_HASH_LEN], const uint8_t *key, size_t key_len,
                     const uint8_t *data, size_t data_len);

/* HKDF-Extract: prk = HMAC(salt, ikm). salt may be NULL/0 (RFC 5869: a
 * string of 32 zero bytes). This function can't fail. */
void kdf_hkdf_extract(uint8_t prk[KDF_HASH_LEN], const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len);

/* HKDF-Expand: okm_len (1..KDF_HKDF_MAX) bytes from prk and info (info may be
 * NULL/0). Returns E2E_OK, or E2E_ERR_INVALID (okm_len out of range). */
e2e_status kdf_hkdf_expand(uint8_t *okm, size_t okm_len, const uint8_t prk[KDF_HASH_LEN],
                           const uint8_t *info, size_t info_len);

/* HKDF = Expand(Extract(salt, ikm), info, okm_len). Same contract. */
e2e_status kdf_hkdf(uint8_t *okm, size_t okm_len, const uint8_t *salt, size_t salt_len,
                    const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);

/* The Signal chain step: seed = HMAC(ck, 0x01) (message key seed),
 * next = HMAC(ck, 0x02) (next chain key). Outputs may alias ck. Can't fail. */
void kdf_chain_step(const uint8_t ck[KDF_CHAIN_KEY_LEN], uint8_t seed[KDF_HASH_LEN],
                    uint8_t next[KDF_CHAIN_KEY_LEN]);

/* Expand a message key seed into an XChaCha20-Poly1305 key and nonce:
 * HKDF(salt = 32 zero bytes, ikm = seed, info) -> 56 bytes = key || nonce.
 * info is "Parley_MessageKeys_v1" for pairwise sessions and
 * "Parley_SenderKeys_v1" for sender keys (KDF_INFO_* below). Can't fail. */
void kdf_message_keys(const uint8_t seed[KDF_HASH_LEN], const char *info,
                      uint8_t key[KDF_AEAD_KEY_LEN], uint8_t nonce[KDF_AEAD_NONCE_LEN]);

#define KDF_INFO_X3DH "Parley_X3DH_v1"
#define KDF_INFO_RATCHET "Parley_Ratchet_v1"
#define KDF_INFO_MESSAGE_KEYS "Parley_MessageKeys_v1"
#define KDF_INFO_SENDER_KEYS "Parley_SenderKeys_v1"

#endif
