/*
 * devlist.h - the signed device list of an account as libparley holds it
 * (a fixed-size value: cached, copied, compared), over common/devices.h,
 * which parses, builds and verifies the text for every component (a leaf:
 * no parley_client, no store). Canonical form, signed verbatim by the
 * account key (docs/protocol.md):
 *
 *   "parley-devices-v1\n" user "\n" version "\n"
 *   *( device_id " " base64url(device_key) " " added_at_ms " " name "\n" )
 *
 * version and added_at_ms are canonical decimals (no sign, no leading zero;
 * version >= 1), device_key is 32 bytes in unpadded base64url (43
 * characters), device_id 1..32 of [A-Za-z0-9_-] and unique, name 0..32
 * printable ASCII (spaces allowed: it is the rest of the line), keys unique,
 * exactly one device whose key is the account key (the primary).
 * devlist_parse accepts only that spelling: building the parsed list again
 * gives the same bytes.
 */
#ifndef PARLEY_DEVLIST_H
#define PARLEY_DEVLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVLIST_MAX 32        /* entries a client accepts (the keyserver's limit is lower) */
#define DEVLIST_ID_MAX 32
#define DEVLIST_NAME_MAX 32

typedef struct {
    char id[DEVLIST_ID_MAX + 1];
    uint8_t key[32];
    int64_t added_at;              /* ms since the Unix epoch */
    char name[DEVLIST_NAME_MAX + 1];
} devlist_device;

typedef struct {
    char user[65];
    uint64_t version;              /* 0: the implicit list (never signed, never built) */
    int n;
    devlist_device d[DEVLIST_MAX];
} devlist;

/* A device id: 1..32 of [A-Za-z0-9_-]. */
bool devlist_valid_id(const char *id);
/* A device name: 0..32 printable ASCII (0x20..0x7e). */
bool devlist_valid_name(const char *name);

/* Parse the canonical text (structure only: the signature and the primary
 * are devlist_verify's). 0, or -1 if it is not exactly canonical. */
int devlist_parse(const char *text, size_t len, devlist *out);
/* The canonical text of l (malloc'd, NUL-terminated; *len without the NUL).
 * 0, or -1 if an entry is invalid or out of memory. */
int devlist_build(const devlist *l, char **out, size_t *len);
/* Sign text with the account secret key (Ed25519, 64 bytes). */
void devlist_sign(const char *text, size_t len, const uint8_t account_sk[64], uint8_t sig[64]);
/* A list a client may use: sig by account_pk over text, canonical, for
 * user, exactly one device whose key is account_pk. 0, or -1 (errbuf says
 * why). out may be NULL. */
int devlist_verify(const char *text, size_t len, const uint8_t sig[64],
                   const uint8_t account_pk[32], const char *user, devlist *out, char *errbuf,
                   size_t errlen);
/* Index of the device with this id, or -1. */
int devlist_find(const devlist *l, const char *id);
/* Index of the device whose key is key, or -1. */
int devlist_find_key(const devlist *l, const uint8_t key[32]);
/* A device key's fingerprint for people to compare: the first 10 bytes of
 * its SHA-256 in hex, groups of 4 ("1a2b 3c4d 5e6f 7a8b 9c0d"). */
#define DEVLIST_FPR_LEN 24
void devlist_fingerprint(const uint8_t key[32], char out[DEVLIST_FPR_LEN + 1]);
/* The implicit list of a user that never uploaded one: version 0, one
 * device "" whose key is the account key. */
void devlist_implicit(devlist *l, const char *user, const uint8_t account_pk[32]);

#endif
