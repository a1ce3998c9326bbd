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

/* GET /v2/keys/{user}/{device} (device "" or NULL: GET /v2/keys/{user},
 * the primary) -> that device's bundle (consumes one one-time prekey on the
 * server). identity_key is the DEVICE key. */
int ksclient_get_bundle(const char *base, const char *ca_file, const char *token, const char *user,
                        const char *device, ksclient_bundle *out, char *errbuf, size_t errlen);

/* ---- linked devices (docs/protocol.md, "Linked devices") ----
 * Binary JSON values of these routes are sent in unpadded base64url and
 * accepted in base64url or standard base64 (the device keys a client uses
 * come from the signed list text, never from the JSON). */

/* GET /v2/devices/{user} -> the signed list: *text malloc'd (NUL-terminated,
 * *len without it) and sig, or *text NULL and *version 0 for an implicit
 * list. Nothing here is verified: devices.c checks the signature. */
int ksclient_get_devices(const char *base, const char *ca_file, const char *token, const char *user,
                         char **text, size_t *len, uint8_t sig[64], uint64_t *version, char *errbuf,
                         size_t errlen);
/* PUT /v2/devices with a list signed by the account key (token of the
 * primary device). PARLEY_EREFUSED with "409 stale_version" etc. in errbuf. */
int ksclient_put_devices(const char *base, const char *ca_file, const char *token, const char *text,
                         size_t len, const uint8_t sig[64], char *errbuf, size_t errlen);

typedef struct {
    char user[65];
    char device_id[33];
    uint8_t device_key[32];
    char name[33];
    int64_t expires_at;
    char code[16];
} ksclient_link;

/* POST /v2/link (no bearer token): the new device's key proves itself with
 * its signature over "parley-link-v1\n" user "\n" device_id "\n"
 * device_key_b64 "\n" name. Fills code and expires_at of l. */
int ksclient_post_link(const char *base, const char *ca_file, ksclient_link *l,
                       const uint8_t device_sk[64], char *errbuf, size_t errlen);
/* GET /v2/link/{code} (token of the same user) -> the pending device. */
int ksclient_get_link(const char *base, const char *ca_file, const char *token, const char *code,
                      ksclient_link *out, char *errbuf, size_t errlen);
/* DELETE /v2/link/{code}: refuse a pending device. */
int ksclient_delete_link(const char *base, const char *ca_file, const char *token, const char *code,
                         char *errbuf, size_t errlen);

#endif
