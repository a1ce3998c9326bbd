/*
 * e2e.h - the status codes of the end-to-end encryption core
 * (client-lib/src/crypto/), shared by kdf, keys, x3dh, ratchet,
 * sender_keys and safety_number. Every function of the core that can fail
 * returns an e2e_status; E2E_OK is 0, every error is negative.
 *
 * Normative description of the cryptography: docs/protocol.md,
 * "End-to-end encryption". Threat model: docs/security.md.
 */
#ifndef PARLEY_E2E_H
#define PARLEY_E2E_H

#include <stddef.h>
#include <stdint.h>

#define E2E_WARN_UNUSED __attribute__((warn_unused_result))

typedef enum {
    E2E_OK = 0,
    E2E_ERR_INVALID = -1,       /* bad argument (NULL, wrong length, out of range) */
    E2E_ERR_NOMEM = -2,         /* allocation failed */
    E2E_ERR_FORMAT = -3,        /* malformed encoding (protobuf, serialized state) */
    E2E_ERR_VERSION = -4,       /* serialized state of an unknown version */
    E2E_ERR_SIGNATURE = -5,     /* a signature does not verify (signed prekey, sender key) */
    E2E_ERR_DECRYPT = -6,       /* AEAD authentication failed: tampered or wrong key */
    E2E_ERR_DUPLICATE = -7,     /* message already decrypted (or its key was evicted) */
    E2E_ERR_TOO_FAR = -8,       /* more than MAX_FORWARD_JUMPS messages skipped in one chain */
    E2E_ERR_KEY = -9,           /* a public key is unusable (X25519 low-order point) */
    E2E_ERR_STATE = -10,        /* operation impossible in this state (e.g. responder
                                   sending before receiving anything) */
    E2E_ERR_NO_SESSION = -11,   /* PreKey message for another session (new base key):
                                   build a new session with ratchet_session_respond() */
    E2E_ERR_WRONG_CHAIN = -12,  /* sender-key message of another chain id (rotation) */
    E2E_ERR_CRYPTO = -13,       /* libsodium failure (sodium_init, RNG) */
} e2e_status;

/* A static English description of a status. Never NULL. */
const char *e2e_strerror(int status);

/* Initialise libsodium once (thread-safe, idempotent). Every constructor of
 * the core calls it; callers may too. Returns E2E_OK or E2E_ERR_CRYPTO. */
e2e_status e2e_init(void);

/* What an E2EMessage (proto/e2e.proto) carries, without decrypting it. */
typedef enum {
    E2E_KIND_PREKEY = 1,
    E2E_KIND_RATCHET = 2,
    E2E_KIND_SENDER_KEY = 3,
} e2e_kind;

typedef struct {
    e2e_kind kind;
    /* E2E_KIND_PREKEY only: */
    uint8_t identity_key[32];       /* initiator's Ed25519 identity public key */
    uint8_t base_key[32];           /* initiator's X3DH ephemeral public key */
    uint32_t signed_prekey_id;      /* which of the responder's signed prekeys */
    int has_one_time_prekey;        /* 1 if one_time_prekey_id is meaningful */
    uint32_t one_time_prekey_id;
    /* E2E_KIND_SENDER_KEY only: */
    uint32_t chain_id;
    uint32_t iteration;
} e2e_message_info;

/* Parse the outer E2EMessage in msg[0..len) into *info (no secrets involved,
 * nothing decrypted or verified). Returns E2E_OK, E2E_ERR_INVALID or
 * E2E_ERR_FORMAT (not an E2EMessage, or an empty/unknown body). */
e2e_status e2e_message_inspect(const uint8_t *msg, size_t len, e2e_message_info *info);

/* Internal (crypto core only): fixed-width big-endian serialization
 * cursors used by the session and sender-key state codecs.
 * e2e__put* write n bytes at *p and advance it (the caller sized the buffer).
 * e2e__get* read n bytes from *p (with *left bytes remaining) and advance;
 * they return 0 on success and -1 when fewer than n bytes remain. */
void e2e__put(uint8_t **p, const void *src, size_t n);
void e2e__put_u32(uint8_t **p, uint32_t v);
int e2e__get(const uint8_t **p, size_t *left, void *dst, size_t n);
int e2e__get_u32(const uint8_t **p, size_t *left, uint32_t *v);
/* Start reading a serialized state in[0..len): checks its version byte
 * against `version` and sets *p / *left past it. Returns E2E_OK,
 * E2E_ERR_INVALID (in NULL), E2E_ERR_FORMAT (empty) or E2E_ERR_VERSION. */
e2e_status e2e__state_begin(const uint8_t *in, size_t len, uint8_t version, const uint8_t **p,
                            size_t *left);

#endif
