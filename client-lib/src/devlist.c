/*
 * devlist.c - the signed device list as the client holds it (a fixed array,
 * cached and copied freely) over common/devices.c, the one parser, builder
 * and verifier the servers use too: parse, build, sign, verify against the
 * pinned account key, lookups, fingerprints. Contract in devlist.h. A leaf:
 * no client state, no store, no network.
 */
#include "devlist.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"

_Static_assert(DEVLIST_MAX == DEVICES_MAX_LIMIT, "a client holds any list the servers accept");
_Static_assert(DEVLIST_ID_MAX == DEVICES_ID_MAX && DEVLIST_NAME_MAX == DEVICES_NAME_MAX,
               "the same field limits as common/devices.h");

bool devlist_valid_id(const char *id)
{
    return id && devices_valid_id(id);
}

bool devlist_valid_name(const char *name)
{
    return name && devices_valid_name(name);
}

static void from_common(const devices_list *dl, devlist *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->user, sizeof out->user, "%s", dl->user_id);
    out->version = dl->version;
    out->n = (int)dl->n;
    for (size_t i = 0; i < dl->n; i++) {
        snprintf(out->d[i].id, sizeof out->d[i].id, "%s", dl->dev[i].device_id);
        memcpy(out->d[i].key, dl->dev[i].key, 32);
        out->d[i].added_at = dl->dev[i].added_at;
        snprintf(out->d[i].name, sizeof out->d[i].name, "%s", dl->dev[i].name);
    }
}

int devlist_parse(const char *text, size_t len, devlist *out)
{
    devices_list dl;
    memset(out, 0, sizeof *out);
    if (!text || devices_parse((const uint8_t *)text, len, &dl) != DEVICES_OK)
        return -1;
    int ok = dl.n >= 1 && dl.n <= DEVLIST_MAX;
    if (ok)
        from_common(&dl, out);
    devices_list_free(&dl);
    return ok ? 0 : -1;
}

int devlist_build(const devlist *l, char **out, size_t *len)
{
    devices_entry e[DEVLIST_MAX];
    *out = NULL;
    if (l->n < 1 || l->n > DEVLIST_MAX || l->version < 1)
        return -1;
    devices_list dl = {.version = l->version, .n = (size_t)l->n, .dev = e};
    snprintf(dl.user_id, sizeof dl.user_id, "%s", l->user);
    for (int i = 0; i < l->n; i++) {
        memset(&e[i], 0, sizeof e[i]);
        snprintf(e[i].device_id, sizeof e[i].device_id, "%s", l->d[i].id);
        memcpy(e[i].key, l->d[i].key, 32);
        e[i].added_at = l->d[i].added_at;
        snprintf(e[i].name, sizeof e[i].name, "%s", l->d[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(l->d[j].id, l->d[i].id) == 0 ||
                sodium_memcmp(l->d[j].key, l->d[i].key, 32) == 0)
                return -1;
    }
    /* devices_build writes what it is given; the parser is the judge. */
    if (devices_build(&dl, out, len) != DEVICES_OK)
        return -1;
    devlist back;
    if (devlist_parse(*out, *len, &back) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void devlist_sign(const char *text, size_t len, const uint8_t account_sk[64], uint8_t sig[64])
{
    devices_sign((const uint8_t *)text, len, account_sk, sig);
}

int devlist_verify(const char *text, size_t len, const uint8_t sig[64],
                   const uint8_t account_pk[32], const char *user, devlist *out, char *errbuf,
                   size_t errlen)
{
    devices_list dl;
    int rc = devices_verify((const uint8_t *)text, len, sig, account_pk, user, 0, &dl);
    switch (rc) {
    case DEVICES_OK:
        if (out)
            from_common(&dl, out);
        devices_list_free(&dl);
        return 0;
    case DEVICES_ESIGNATURE:
        snprintf(errbuf, errlen, "the device list of %s is not signed by its account key", user);
        break;
    case DEVICES_EUSER:
        snprintf(errbuf, errlen, "the device list served for %s names another user", user);
        break;
    case DEVICES_EPRIMARY:
        snprintf(errbuf, errlen,
                 "the device list of %s has no primary device (none or several "
                 "with the account key)",
                 user);
        break;
    default:
        snprintf(errbuf, errlen, "the device list of %s is malformed (%s)", user,
                 devices_strerror(rc));
        break;
    }
    return -1;
}

int devlist_find(const devlist *l, const char *id)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->d[i].id, id) == 0)
            return i;
    return -1;
}

int devlist_find_key(const devlist *l, const uint8_t key[32])
{
    for (int i = 0; i < l->n; i++)
        if (sodium_memcmp(l->d[i].key, key, 32) == 0)
            return i;
    return -1;
}

void devlist_implicit(devlist *l, const char *user, const uint8_t account_pk[32])
{
    memset(l, 0, sizeof *l);
    snprintf(l->user, sizeof l->user, "%s", user);
    l->n = 1;
    memcpy(l->d[0].key, account_pk, 32);
}

void devlist_fingerprint(const uint8_t key[32], char out[DEVLIST_FPR_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    static const char hex[] = "0123456789abcdef";
    crypto_hash_sha256(h, key, 32);
    size_t o = 0;
    for (int i = 0; i < 10; i++) {
        if (i && i % 2 == 0)
            out[o++] = ' ';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 15];
    }
    out[o] = 0;
}
