/*
 * kdf.c - HMAC-SHA256, HKDF-SHA256 (RFC 5869) and the Signal chain step.
 */
#include "kdf.h"

#include <string.h>

#include <sodium.h>

void kdf_hmac_sha256(uint8_t out[KDF_HASH_LEN], const uint8_t *key, size_t key_len,
                     const uint8_t *data, size_t data_len)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, data, data_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

void kdf_hkdf_extract(uint8_t prk[KDF_HASH_LEN], const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t zero_salt[KDF_HASH_LEN];

    if (!salt || salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    kdf_hmac_sha256(prk, salt, salt_len, ikm ? ikm : zero_salt, ikm ? ikm_len : 0);
}

e2e_status kdf_hkdf_expand(uint8_t *okm, size_t okm_len, const uint8_t prk[KDF_HASH_LEN],
                           const uint8_t *info, size_t info_len)
{
    crypto_auth_hmacsha256_state st;
    uint8_t t[KDF_HASH_LEN];
    size_t done = 0;
    uint8_t counter = 1;

    if (!okm || !prk || okm_len == 0 || okm_len > KDF_HKDF_MAX || (!info && info_len))
        return E2E_ERR_INVALID;
    /* T(i) = HMAC(prk, T(i-1) || info || i), T(0) empty. */
    while (done < okm_len) {
        size_t n = okm_len - done < KDF_HASH_LEN ? okm_len - done : KDF_HASH_LEN;

        crypto_auth_hmacsha256_init(&st, prk, KDF_HASH_LEN);
        if (counter > 1)
            crypto_auth_hmacsha256_update(&st, t, KDF_HASH_LEN);
        if (info_len)
            crypto_auth_hmacsha256_update(&st, info, info_len);
        crypto_auth_hmacsha256_update(&st, &counter, 1);
        crypto_auth_hmacsha256_final(&st, t);
        memcpy(okm + done, t, n);
        done += n;
        counter++;
    }
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(t, sizeof(t));
    return E2E_OK;
}

e2e_status kdf_hkdf(uint8_t *okm, size_t okm_len, const uint8_t *salt, size_t salt_len,
                    const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[KDF_HASH_LEN];
    e2e_status rc;

    if (!okm || okm_len == 0 || okm_len > KDF_HKDF_MAX || (!ikm && ikm_len))
        return E2E_ERR_INVALID;
    kdf_hkdf_extract(prk, salt, salt_len, ikm, ikm_len);
    rc = kdf_hkdf_expand(okm, okm_len, prk, info, info_len);
    sodium_memzero(prk, sizeof(prk));
    return rc;
}

void kdf_chain_step(const uint8_t ck[KDF_CHAIN_KEY_LEN], uint8_t seed[KDF_HASH_LEN],
                    uint8_t next[KDF_CHAIN_KEY_LEN])
{
    static const uint8_t msg_const = 0x01, chain_const = 0x02;
    uint8_t tmp_seed[KDF_HASH_LEN], tmp_next[KDF_CHAIN_KEY_LEN];

    /* Both outputs go through temporaries: either may alias ck. */
    kdf_hmac_sha256(tmp_seed, ck, KDF_CHAIN_KEY_LEN, &msg_const, 1);
    kdf_hmac_sha256(tmp_next, ck, KDF_CHAIN_KEY_LEN, &chain_const, 1);
    memcpy(seed, tmp_seed, KDF_HASH_LEN);
    memcpy(next, tmp_next, KDF_CHAIN_KEY_LEN);
    sodium_memzero(tmp_seed, sizeof(tmp_seed));
    sodium_memzero(tmp_next, sizeof(tmp_next));
}

void kdf_message_keys(const uint8_t seed[KDF_HASH_LEN], const char *info,
                      uint8_t key[KDF_AEAD_KEY_LEN], uint8_t nonce[KDF_AEAD_NONCE_LEN])
{
    uint8_t okm[KDF_AEAD_KEY_LEN + KDF_AEAD_NONCE_LEN];

    /* Cannot fail: lengths are constants within range. */
    (void)kdf_hkdf(okm, sizeof(okm), NULL, 0, seed, KDF_HASH_LEN, (const uint8_t *)info,
                   strlen(info));
    memcpy(key, okm, KDF_AEAD_KEY_LEN);
    memcpy(nonce, okm + KDF_AEAD_KEY_LEN, KDF_AEAD_NONCE_LEN);
    sodium_memzero(okm, sizeof(okm));
}
