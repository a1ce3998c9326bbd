/*
 * x3dh.h - the X3DH key agreement (Signal's specification) with Parley's
 * parameters: curve X25519, hash SHA-256, info "Parley_X3DH_v1". The
 * identity key is Ed25519; its X25519 form (libsodium's birational map,
 * crypto_sign_ed25519_{pk,sk}_to_curve25519) takes part in the DHs.
 *
 *   DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)
 *   DH4 = DH(EK_A, OPK_B)  (only if a one-time prekey was used)
 *   SK  = HKDF(salt = 32 zero bytes, ikm = 0xFF*32 || DH1 || DH2 || DH3 [|| DH4],
 *              info = "Parley_X3DH_v1", 32 bytes)
 *   AD  = IK_A || IK_B     (Ed25519 public keys, initiator first)
 *
 * Most callers use ratchet_session_initiate()/ratchet_session_respond(),
 * which run X3DH and start the Double Ratchet; these are the building blocks.
 */
#ifndef PARLEY_X3DH_H
#define PARLEY_X3DH_H

#include <stdbool.h>
#include <stdint.h>

#include "e2e.h"
#include "keys.h"

#define X3DH_SK_LEN 32
#define X3DH_AD_LEN 64

/* A prekey bundle as served by the keyserver, decoded to raw bytes
 * (the client does the JSON/base64). Public data only. */
typedef struct {
    uint8_t identity_key[KEYS_PUB_LEN];                  /* Ed25519 */
    uint32_t signed_prekey_id;
    uint8_t signed_prekey[KEYS_PUB_LEN];                 /* X25519 */
    uint8_t signed_prekey_signature[KEYS_SIGNATURE_LEN]; /* Ed25519 over signed_prekey */
    bool has_one_time_prekey;
    uint32_t one_time_prekey_id;
    uint8_t one_time_prekey[KEYS_PUB_LEN];               /* X25519 */
} x3dh_bundle;

/* Initiator side. Verifies the bundle's signed prekey signature first
 * (refuses with E2E_ERR_SIGNATURE otherwise), then computes SK and AD with
 * the caller's fresh ephemeral key pair (its public half goes into the
 * PreKey message as the base key). sk_out is secret: the caller wipes it.
 * Returns E2E_OK, E2E_ERR_INVALID, E2E_ERR_SIGNATURE or E2E_ERR_KEY (a
 * public key is not a usable point). On error sk_out is zeroed. */
e2e_status x3dh_initiate(const keys_identity *self, const x3dh_bundle *peer,
                         const keys_x25519 *ephemeral, uint8_t sk_out[X3DH_SK_LEN],
                         uint8_t ad_out[X3DH_AD_LEN]) E2E_WARN_UNUSED;

/* Responder side: the same SK and AD from the responder's private keys and
 * the initiator's identity key and base (ephemeral) key from the PreKey
 * message. one_time_prekey is NULL when the message used none.
 * Returns E2E_OK, E2E_ERR_INVALID or E2E_ERR_KEY. On error sk_out is zeroed. */
e2e_status x3dh_respond(const keys_identity *self, const keys_x25519 *signed_prekey,
                        const keys_x25519 *one_time_prekey,
                        const uint8_t peer_identity[KEYS_PUB_LEN],
                        const uint8_t peer_base_key[KEYS_PUB_LEN], uint8_t sk_out[X3DH_SK_LEN],
                        uint8_t ad_out[X3DH_AD_LEN]) E2E_WARN_UNUSED;

#endif
