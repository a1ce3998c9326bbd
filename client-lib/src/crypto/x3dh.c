/*
 * x3dh.c - the X3DH key agreement (see x3dh.h for the construction).
 */
#include "x3dh.h"

#include <string.h>

#include <sodium.h>

#include "kdf.h"

/* F || DH1 || DH2 || DH3 || DH4 */
#define X3DH_IKM_MAX (32 * 5)

/* out = X25519(sk, pk); E2E_ERR_KEY if pk is a low-order point (all-zero output). */
static e2e_status x3dh_dh(uint8_t out[32], const uint8_t sk[32], const uint8_t pk[32])
{
    if (crypto_scalarmult(out, sk, pk) != 0) {
        sodium_memzero(out, 32);
        return E2E_ERR_KEY;
    }
    return E2E_OK;
}

/* SK = HKDF(salt = zeros, ikm, info "Parley_X3DH_v1", 32); AD = ik_a || ik_b. */
static e2e_status x3dh_finish(const uint8_t *ikm, size_t ikm_len, const uint8_t ik_a[32],
                              const uint8_t ik_b[32], uint8_t sk_out[X3DH_SK_LEN],
                              uint8_t ad_out[X3DH_AD_LEN])
{
    e2e_status rc = kdf_hkdf(sk_out, X3DH_SK_LEN, NULL, 0, ikm, ikm_len,
                             (const uint8_t *)KDF_INFO_X3DH, strlen(KDF_INFO_X3DH));
    if (rc != E2E_OK)
        return rc;
    memcpy(ad_out, ik_a, 32);
    memcpy(ad_out + 32, ik_b, 32);
    return E2E_OK;
}

e2e_status x3dh_initiate(const keys_identity *self, const x3dh_bundle *peer,
                         const keys_x25519 *ephemeral, uint8_t sk_out[X3DH_SK_LEN],
                         uint8_t ad_out[X3DH_AD_LEN])
{
    uint8_t ikm[X3DH_IKM_MAX];
    uint8_t ik_a_sk[32], ik_b_pk[32];
    size_t ikm_len = 32 * 4;
    e2e_status rc;

    if (!sk_out)
        return E2E_ERR_INVALID;
    sodium_memzero(sk_out, X3DH_SK_LEN);
    if (!self || !peer || !ephemeral || !ad_out)
        return E2E_ERR_INVALID;
    rc = keys_signed_prekey_verify(peer->identity_key, peer->signed_prekey,
                                   peer->signed_prekey_signature);
    if (rc != E2E_OK)
        return rc;
    memset(ikm, 0xFF, 32);
    rc = keys_identity_sk_to_x25519(ik_a_sk, self->sk);
    if (rc != E2E_OK)
        goto fail;
    rc = keys_identity_pk_to_x25519(ik_b_pk, peer->identity_key);
    if (rc != E2E_OK)
        goto fail;
    if ((rc = x3dh_dh(ikm + 32, ik_a_sk, peer->signed_prekey)) != E2E_OK ||
        (rc = x3dh_dh(ikm + 64, ephemeral->sk, ik_b_pk)) != E2E_OK ||
        (rc = x3dh_dh(ikm + 96, ephemeral->sk, peer->signed_prekey)) != E2E_OK)
        goto fail;
    if (peer->has_one_time_prekey) {
        rc = x3dh_dh(ikm + 128, ephemeral->sk, peer->one_time_prekey);
        if (rc != E2E_OK)
            goto fail;
        ikm_len += 32;
    }
    rc = x3dh_finish(ikm, ikm_len, self->pk, peer->identity_key, sk_out, ad_out);
fail:
    if (rc != E2E_OK)
        sodium_memzero(sk_out, X3DH_SK_LEN);
    sodium_memzero(ikm, sizeof(ikm));
    sodium_memzero(ik_a_sk, sizeof(ik_a_sk));
    return rc;
}

e2e_status x3dh_respond(const keys_identity *self, const keys_x25519 *signed_prekey,
                        const keys_x25519 *one_time_prekey,
                        const uint8_t peer_identity[KEYS_PUB_LEN],
                        const uint8_t peer_base_key[KEYS_PUB_LEN], uint8_t sk_out[X3DH_SK_LEN],
                        uint8_t ad_out[X3DH_AD_LEN])
{
    uint8_t ikm[X3DH_IKM_MAX];
    uint8_t ik_b_sk[32], ik_a_pk[32];
    size_t ikm_len = 32 * 4;
    e2e_status rc;

    if (!sk_out)
        return E2E_ERR_INVALID;
    sodium_memzero(sk_out, X3DH_SK_LEN);
    if (!self || !signed_prekey || !peer_identity || !peer_base_key || !ad_out)
        return E2E_ERR_INVALID;
    memset(ikm, 0xFF, 32);
    rc = keys_identity_sk_to_x25519(ik_b_sk, self->sk);
    if (rc != E2E_OK)
        goto fail;
    rc = keys_identity_pk_to_x25519(ik_a_pk, peer_identity);
    if (rc != E2E_OK)
        goto fail;
    if ((rc = x3dh_dh(ikm + 32, signed_prekey->sk, ik_a_pk)) != E2E_OK ||
        (rc = x3dh_dh(ikm + 64, ik_b_sk, peer_base_key)) != E2E_OK ||
        (rc = x3dh_dh(ikm + 96, signed_prekey->sk, peer_base_key)) != E2E_OK)
        goto fail;
    if (one_time_prekey) {
        rc = x3dh_dh(ikm + 128, one_time_prekey->sk, peer_base_key);
        if (rc != E2E_OK)
            goto fail;
        ikm_len += 32;
    }
    rc = x3dh_finish(ikm, ikm_len, peer_identity, self->pk, sk_out, ad_out);
fail:
    if (rc != E2E_OK)
        sodium_memzero(sk_out, X3DH_SK_LEN);
    sodium_memzero(ikm, sizeof(ikm));
    sodium_memzero(ik_b_sk, sizeof(ik_b_sk));
    return rc;
}
