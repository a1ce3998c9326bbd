/*
 * ratchet.h - pairwise sessions: X3DH followed by the Double Ratchet
 * (Signal's specification, with header), producing and consuming the
 * bytes of an E2EMessage (proto/e2e.proto) that travel in Envelope.body.
 *
 *   KDF_RK(rk, dh)  = HKDF(salt = rk, ikm = dh, info = "Parley_Ratchet_v1", 64) -> rk' || ck
 *   KDF_CK(ck)      = mk = HMAC(ck, 0x01), ck' = HMAC(ck, 0x02)
 *   message keys    = HKDF(salt = 0*32, ikm = mk, info = "Parley_MessageKeys_v1", 56)
 *                     -> XChaCha20-Poly1305 key (32) || nonce (24)
 *   AEAD ad         = AD (IK_A || IK_B) || serialized RatchetHeader
 *
 * Flow
 *   initiator: ratchet_session_initiate(bundle) -> ratchet_encrypt() ...
 *              Until the first reply is decrypted, every message is a
 *              PreKey message (carrying the X3DH parameters).
 *   responder: e2e_message_inspect() says E2E_KIND_PREKEY; if an existing
 *              session has the same base key (ratchet_session_base_key()),
 *              ratchet_decrypt() it; otherwise look up the signed prekey by
 *              id (current or previous) and the one-time prekey by id, then
 *              ratchet_session_respond(), which builds the session and
 *              decrypts the message; on success delete the one-time prekey.
 *
 * Limits (as libsignal): at most RATCHET_MAX_FORWARD_JUMPS messages may be
 * skipped in one chain (E2E_ERR_TOO_FAR); at most RATCHET_MAX_MESSAGE_KEYS
 * skipped message keys are kept (oldest evicted).
 *
 * Decryption is transactional: on any error the session is unchanged.
 * A session is not thread-safe; distinct sessions are independent.
 * ratchet_session_free() wipes every secret.
 */
#ifndef PARLEY_RATCHET_H
#define PARLEY_RATCHET_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"
#include "keys.h"
#include "x3dh.h"

#define RATCHET_MAX_FORWARD_JUMPS 25000
#define RATCHET_MAX_MESSAGE_KEYS 2000
#define RATCHET_STATE_VERSION 1
#define RATCHET_MAX_PLAINTEXT (64u * 1024u * 1024u)

typedef struct ratchet_session ratchet_session;

/* Initiator: verify the bundle's signed prekey (E2E_ERR_SIGNATURE if bad),
 * run X3DH with a fresh ephemeral key and start the ratchet. *out is a new
 * session owned by the caller (ratchet_session_free). Returns E2E_OK,
 * E2E_ERR_INVALID, E2E_ERR_SIGNATURE, E2E_ERR_KEY, E2E_ERR_NOMEM or
 * E2E_ERR_CRYPTO; on error *out is NULL. */
e2e_status ratchet_session_initiate(ratchet_session **out, const keys_identity *self,
                                    const x3dh_bundle *peer) E2E_WARN_UNUSED;

/* Responder: build a session from a PreKey E2EMessage msg[0..len) and
 * decrypt it. signed_prekey: the key pair whose id the message names;
 * one_time_prekey: the key pair whose id it names, or NULL if it names
 * none. On success *out is the new session and *pt / *pt_len the
 * plaintext (malloc'd, caller frees; pt is NUL-terminated past pt_len for
 * convenience). Returns E2E_OK, E2E_ERR_INVALID (not a PreKey message,
 * or one_time_prekey missing/extra), E2E_ERR_FORMAT, E2E_ERR_KEY,
 * E2E_ERR_DECRYPT, E2E_ERR_TOO_FAR, E2E_ERR_NOMEM; on error *out and *pt
 * are NULL. */
e2e_status ratchet_session_respond(ratchet_session **out, const keys_identity *self,
                                   const keys_x25519 *signed_prekey,
                                   const keys_x25519 *one_time_prekey, const uint8_t *msg,
                                   size_t len, uint8_t **pt, size_t *pt_len) E2E_WARN_UNUSED;

/* Encrypt pt[0..pt_len) (pt_len <= RATCHET_MAX_PLAINTEXT) into a new
 * E2EMessage (*out, malloc'd, caller frees). Advances the sending chain.
 * Returns E2E_OK, E2E_ERR_INVALID, E2E_ERR_STATE (responder that has not
 * received anything yet - cannot happen after ratchet_session_respond),
 * E2E_ERR_NOMEM; on error the session is unchanged and *out NULL. */
e2e_status ratchet_encrypt(ratchet_session *s, const uint8_t *pt, size_t pt_len, uint8_t **out,
                           size_t *out_len) E2E_WARN_UNUSED;

/* Decrypt an E2EMessage (ratchet, or PreKey with this session's base
 * key). *pt malloc'd, NUL-terminated past *pt_len, caller frees.
 * Returns E2E_OK, E2E_ERR_INVALID, E2E_ERR_FORMAT, E2E_ERR_DECRYPT,
 * E2E_ERR_DUPLICATE (already decrypted, or its skipped key was evicted),
 * E2E_ERR_TOO_FAR, E2E_ERR_KEY, E2E_ERR_NO_SESSION (PreKey message with
 * other X3DH parameters), E2E_ERR_NOMEM. On error the session is unchanged
 * and *pt is NULL. */
e2e_status ratchet_decrypt(ratchet_session *s, const uint8_t *msg, size_t len, uint8_t **pt,
                           size_t *pt_len) E2E_WARN_UNUSED;

/* The peer's Ed25519 identity key (32 bytes, owned by the session). */
const uint8_t *ratchet_session_peer_identity(const ratchet_session *s);
/* The X3DH base key the session was built from (32 bytes). */
const uint8_t *ratchet_session_base_key(const ratchet_session *s);
/* 1 while the initiator still sends PreKey messages (no reply decrypted yet). */
int ratchet_session_pending_prekey(const ratchet_session *s);

/* Serialize the whole session (secrets included, version byte first) into
 * *out (malloc'd; caller wipes with sodium_memzero and frees) for the
 * client's local store. Returns E2E_OK or E2E_ERR_NOMEM/E2E_ERR_INVALID. */
e2e_status ratchet_session_serialize(const ratchet_session *s, uint8_t **out, size_t *out_len);

/* Rebuild a session from ratchet_session_serialize() output. Returns E2E_OK,
 * E2E_ERR_VERSION, E2E_ERR_FORMAT, E2E_ERR_NOMEM; on error *out is NULL. */
e2e_status ratchet_session_deserialize(ratchet_session **out, const uint8_t *in,
                                       size_t len) E2E_WARN_UNUSED;

/* Wipe and free (NULL is a no-op). */
void ratchet_session_free(ratchet_session *s);

#endif
