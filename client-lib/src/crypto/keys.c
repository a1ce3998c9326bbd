/*
 * keys.c - identity and prekey generation helpers.
 */
#include "keys.h"

#include <string.h>

#include <sodium.h>

e2e_status keys_identity_generate(keys_identity *out)
{
    if (!out)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    if (crypto_sign_keypair(out->pk, out->sk) != 0) {
        sodium_memzero(out, sizeof(*out));
        return E2E_ERR_CRYPTO;
    }
    return E2E_OK;
}

e2e_status keys_identity_from_seed(keys_identity *out, const uint8_t seed[32])
{
    if (!out || !seed)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    if (crypto_sign_seed_keypair(out->pk, out->sk, seed) != 0) {
        sodium_memzero(out, sizeof(*out));
        return E2E_ERR_CRYPTO;
    }
    return E2E_OK;
}

e2e_status keys_x25519_from_secret(keys_x25519 *out, const uint8_t sk[KEYS_X25519_SK_LEN])
{
    uint8_t tmp[KEYS_X25519_SK_LEN];

    if (!out || !sk)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    memcpy(tmp, sk, sizeof(tmp));  /* sk may alias out->sk */
    if (crypto_scalarmult_base(out->pk, tmp) != 0) {
        sodium_memzero(tmp, sizeof(tmp));
        sodium_memzero(out, sizeof(*out));
        return E2E_ERR_CRYPTO;
    }
    memcpy(out->sk, tmp, sizeof(tmp));
    sodium_memzero(tmp, sizeof(tmp));
    return E2E_OK;
}

e2e_status keys_x25519_generate(keys_x25519 *out)
{
    uint8_t sk[KEYS_X25519_SK_LEN];
    e2e_status rc;

    if (!out)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    randombytes_buf(sk, sizeof(sk));
    rc = keys_x25519_from_secret(out, sk);
    sodium_memzero(sk, sizeof(sk));
    return rc;
}

e2e_status keys_signed_prekey_generate(const keys_identity *id_key, uint32_t key_id,
                                       keys_signed_prekey *out)
{
    e2e_status rc;

    if (!id_key || !out)
        return E2E_ERR_INVALID;
    out->key_id = key_id;
    rc = keys_x25519_generate(&out->kp);
    if (rc != E2E_OK)
        goto fail;
    if (crypto_sign_detached(out->signature, NULL, out->kp.pk, KEYS_PUB_LEN, id_key->sk) != 0) {
        rc = E2E_ERR_CRYPTO;
        goto fail;
    }
    return E2E_OK;
fail:
    sodium_memzero(out, sizeof(*out));
    return rc;
}

e2e_status keys_signed_prekey_verify(const uint8_t identity_pk[KEYS_PUB_LEN],
                                     const uint8_t spk_pub[KEYS_PUB_LEN],
                                     const uint8_t signature[KEYS_SIGNATURE_LEN])
{
    if (!identity_pk || !spk_pub || !signature)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    if (crypto_sign_verify_detached(signature, spk_pub, KEYS_PUB_LEN, identity_pk) != 0)
        return E2E_ERR_SIGNATURE;
    return E2E_OK;
}

e2e_status keys_one_time_prekeys_generate(uint32_t first_id, size_t count,
                                          keys_one_time_prekey *out)
{
    size_t i;
    e2e_status rc;

    if (!out && count)
        return E2E_ERR_INVALID;
    for (i = 0; i < count; i++) {
        out[i].key_id = first_id + (uint32_t)i;
        rc = keys_x25519_generate(&out[i].kp);
        if (rc != E2E_OK) {
            sodium_memzero(out, count * sizeof(*out));
            return rc;
        }
    }
    return E2E_OK;
}

e2e_status keys_identity_pk_to_x25519(uint8_t out[KEYS_PUB_LEN], const uint8_t ed_pk[KEYS_PUB_LEN])
{
    if (!out || !ed_pk)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    if (crypto_sign_ed25519_pk_to_curve25519(out, ed_pk) != 0)
        return E2E_ERR_KEY;
    return E2E_OK;
}

e2e_status keys_identity_sk_to_x25519(uint8_t out[KEYS_X25519_SK_LEN],
                                      const uint8_t ed_sk[KEYS_ED25519_SK_LEN])
{
    if (!out || !ed_sk)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    if (crypto_sign_ed25519_sk_to_curve25519(out, ed_sk) != 0) {
        sodium_memzero(out, KEYS_X25519_SK_LEN);
        return E2E_ERR_KEY;
    }
    return E2E_OK;
}

void keys_wipe(void *p, size_t len)
{
    if (p)
        sodium_memzero(p, len);
}
