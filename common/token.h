/*
 * token.h - identity-signed access tokens (normative format:
 * docs/protocol.md, "Tokens").
 *
 *   payload   = audience "\n" user_id "\n" client_id "\n" expires_at
 *   signature = Ed25519(identity secret key, "parley-token-v2\n" || payload)
 *   token     = base64url(payload) "." base64url(signature)   (no padding)
 *
 * audience is "mqtt", "keyserver" or "media": the signed payload names the
 * one service that accepts the token, so a token for one is refused by every
 * other. expires_at is canonical decimal Unix seconds (no sign, no leading
 * zero).
 *
 * MQTT: username = user_id, password = a "mqtt" token minted for the MQTT
 * client id. HTTP: "Authorization: Bearer <token>" of audience "keyserver" or
 * "media"; client_id is the device's MQTT client id (not checked by HTTP).
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
    TOKEN_AUD_MQTT = 0,
    TOKEN_AUD_KEYSERVER = 1,
    TOKEN_AUD_MEDIA = 2,
} token_audience;

/* "mqtt", "keyserver", "media"; NULL for an unknown value. */
const char *token_audience_name(token_audience aud);
/* The audience named s, or -1. */
int token_audience_parse(const char *s);

typedef enum {
    TOKEN_OK = 0,
    TOKEN_EMALFORMED = -1,   /* not a token, bad base64, bad fields */
    TOKEN_EUSER = -2,        /* token's user differs from the claimed user */
    TOKEN_ECLIENT = -3,      /* minted for another client id */
    TOKEN_EEXPIRED = -4,     /* expires_at < now */
    TOKEN_ELIFETIME = -5,    /* expires_at too far in the future */
    TOKEN_ESIGNATURE = -6,   /* signature does not verify */
    TOKEN_EAUDIENCE = -7,    /* minted for another service */
    TOKEN_EDEVICE = -8,      /* its client id names no device of the user's list
                                (devices_token_verify, common/devices.h) */
} token_rc;

const char *token_strerror(int rc);

/* Mint a token for audience aud. sk: Ed25519 secret key (64 bytes, libsodium
 * layout). out: TOKEN_MAX_LEN bytes. Returns TOKEN_OK or TOKEN_EMALFORMED
 * (bad audience, ids or expiry). */
int token_mint(token_audience aud, const char *user_id, const char *client_id, int64_t expires_at,
               const uint8_t sk[64], char *out, size_t outlen);

/* Parsed fields, without verifying the signature (to find whose key to use). */
typedef struct {
    token_audience audience;
    char user_id[65];
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    int64_t expires_at;
} token_claims;
int token_parse(const char *token, token_claims *out);

/* Verify token for audience aud and (user_id, client_id) at time now against
 * the Ed25519 public key pk; client_id NULL accepts any (HTTP services).
 * Returns TOKEN_OK or the first failing check, in the order: malformed,
 * audience, user, client, expired, lifetime, signature. *expires_at (may be
 * NULL) receives the token's expiry when TOKEN_OK. */
int token_verify(const char *token, token_audience aud, const char *user_id, const char *client_id,
                 int64_t now, const uint8_t pk[32], int64_t *expires_at)
    __attribute__((warn_unused_result));

#endif
