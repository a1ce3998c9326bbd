/*
 * token.h - identity-signed access tokens (normative format:
 * docs/protocol.md, "Tokens").
 *
 *   payload   = user_id "\n" client_id "\n" expires_at      (decimal Unix seconds)
 *   signature = Ed25519(identity secret key, "parley-token-v1\n" || payload)
 *   token     = base64url(payload) "." base64url(signature)   (no padding)
 *
 * MQTT: username = user_id, password = token minted for the MQTT client id.
 * HTTP: "Authorization: Bearer <token>", minted for client id "keyserver" or
 * "media" (the audience).
 */
#ifndef PARLEY_TOKEN_H
#define PARLEY_TOKEN_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define TOKEN_MAX_LEN 512
#define TOKEN_CLIENT_ID_MAX 128
#define TOKEN_DEFAULT_LIFETIME_S 3600          /* what clients mint by default */
#define TOKEN_MAX_LIFETIME_S (24 * 3600)       /* verifiers refuse anything longer */

typedef enum {
    TOKEN_OK = 0,
    TOKEN_EMALFORMED = -1,   /* not a token, bad base64, bad fields */
    TOKEN_EUSER = -2,        /* token's user differs from the claimed user */
    TOKEN_ECLIENT = -3,      /* minted for another client id / audience */
    TOKEN_EEXPIRED = -4,     /* expires_at < now */
    TOKEN_ELIFETIME = -5,    /* expires_at too far in the future */
    TOKEN_ESIGNATURE = -6,   /* signature does not verify */
} token_rc;

const char *token_strerror(int rc);

/* Mint a token. sk: Ed25519 secret key (64 bytes, libsodium layout).
 * out: TOKEN_MAX_LEN bytes. Returns TOKEN_OK or TOKEN_EMALFORMED (bad ids). */
int token_mint(const char *user_id, const char *client_id, int64_t expires_at,
               const uint8_t sk[64], char *out, size_t outlen);

/* Parsed fields, without verifying the signature (to find whose key to use). */
typedef struct {
    char user_id[65];
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    int64_t expires_at;
} token_claims;
int token_parse(const char *token, token_claims *out);

/* Verify token for (user_id, client_id) at time now against the Ed25519
 * public key pk. Returns TOKEN_OK or the first failing check. */
int token_verify(const char *token, const char *user_id, const char *client_id, int64_t now,
                 const uint8_t pk[32]) __attribute__((warn_unused_result));

#endif
