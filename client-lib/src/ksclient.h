/*
 * ksclient.h - the keyserver's HTTP API from the client side (libcurl +
 * jansson): identity registration and lookup, prekey upload, prekey count,
 * bundle fetch. Binary values travel as standard padded base64.
 *
 * Every function takes the keyserver's base URL (http:// or https://) and
 * the CA file to trust for https:// (NULL: the system trust store;
 * transport.h), and returns PARLEY_OK or a negative parley_rc: PARLEY_ENET
 * (no answer), PARLEY_ETLS (the server's certificate failed verification:
 * errbuf says why), PARLEY_EINVAL (not an http:// or https:// URL),
 * PARLEY_EREFUSED (an error status; errbuf holds "STATUS error: message"),
 * PARLEY_ENOTFOUND (404), PARLEY_ECRYPTO (a malformed answer).
 */
#ifndef PARLEY_KSCLIENT_H
#define PARLEY_KSCLIENT_H

#include <stddef.h>
#include <stdint.h>

#define KSCLIENT_MAX_OTK 100 /* one-time prekeys per upload request */

/* PUT /v1/identity/{user} with a proof signed by sk (64-byte Ed25519).
 * change_sig (NULL for a registration): the signature by the currently bound
 * key over "parley-key-change-v1\n" || user || "\n" || pk, for a key change.
 * invite (NULL for none): the invite token a server with registration
 * policy "invite" needs for a new id. */
int ksclient_put_identity(const char *base, const char *ca_file, const char *user,
                          const uint8_t pk[32], const uint8_t sk[64], const uint8_t *change_sig,
                          const char *invite, char *errbuf, size_t errlen);

/* GET /v1/identity/{user} -> the Ed25519 identity public key. */
int ksclient_get_identity(const char *base, const char *ca_file, const char *user, uint8_t pk[32],
                          char *errbuf, size_t errlen);

typedef struct {
    uint32_t key_id;
    uint8_t pub[32];
    uint8_t sig[64]; /* signed prekeys only */
} ksclient_prekey;

/* PUT /v2/keys: the signed prekey (may be NULL) and n one-time prekeys (n <=
 * KSCLIENT_MAX_OTK). token: a bearer token minted for "keyserver". */
int ksclient_put_keys(const char *base, const char *ca_file, const char *token,
                      const ksclient_prekey *spk, const ksclient_prekey *otks, size_t n,
                      char *errbuf, size_t errlen);

/* GET /v2/keys -> how many one-time prekeys the server still holds. */
int ksclient_key_count(const char *base, const char *ca_file, const char *token, int *count,
                       char *errbuf, size_t errlen);

typedef struct {
    uint8_t identity_key[32];
    ksclient_prekey signed_prekey;
    int has_one_time;
    ksclient_prekey one_time;
} ksclient_bundle;

/* GET /v2/keys/{user} -> the user's bundle (consumes one one-time prekey on
 * the server). */
int ksclient_get_bundle(const char *base, const char *ca_file, const char *token, const char *user,
                        ksclient_bundle *out, char *errbuf, size_t errlen);

#endif
