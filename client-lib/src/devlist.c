/*
 * devlist.c - the signed device list as canonical text: parse (exactly one
 * spelling accepted), build, sign, verify against the pinned account key.
 * Contract in devlist.h. A leaf: no client state, no store, no network.
 */
#include "devlist.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "ids.h"

#define KEY_B64_LEN 43 /* 32 bytes, base64url without padding */

bool devlist_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > DEVLIST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

bool devlist_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!name || n > DEVLIST_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return false;
    return true;
}

/* A canonical decimal in s[0..n): digits only, no leading zero, fits. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The next line of text (without its "\n") at *pos; -1 if none ends. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    if (!nl)
        return -1;
    *line = start;
    *n = (size_t)(nl - start);
    *pos += *n + 1;
    return 0;
}

static int parse_device(const char *s, size_t n, devlist_device *d)
{
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s || (size_t)(sp1 - s) > DEVLIST_ID_MAX)
        return -1;
    memcpy(d->id, s, (size_t)(sp1 - s));
    d->id[sp1 - s] = 0;
    if (!devlist_valid_id(d->id))
        return -1;
    const char *k = sp1 + 1, *end = s + n;
    if (end - k < KEY_B64_LEN + 1 || k[KEY_B64_LEN] != ' ')
        return -1;
    if (b64_decode(d->key, sizeof d->key, k, KEY_B64_LEN,
                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 32)
        return -1;
    /* One spelling: the last character carries no stray bits. */
    char again[KEY_B64_LEN + 1];
    sodium_bin2base64(again, sizeof again, d->key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (memcmp(again, k, KEY_B64_LEN) != 0)
        return -1;
    const char *t = k + KEY_B64_LEN + 1;
    const char *sp3 = memchr(t, ' ', (size_t)(end - t));
    uint64_t at;
    if (!sp3 || parse_dec(t, (size_t)(sp3 - t), INT64_MAX, &at) != 0)
        return -1;
    d->added_at = (int64_t)at;
    size_t nlen = (size_t)(end - sp3 - 1);
    if (nlen > DEVLIST_NAME_MAX)
        return -1;
    memcpy(d->name, sp3 + 1, nlen);
    d->name[nlen] = 0;
    if (strlen(d->name) != nlen || !devlist_valid_name(d->name))
        return -1;
    return 0;
}

int devlist_parse(const char *text, size_t len, devlist *out)
{
    const char *line;
    size_t n, pos = 0, dlen = strlen(DEVLIST_DOMAIN);

    memset(out, 0, sizeof *out);
    if (!text || len < dlen || memcmp(text, DEVLIST_DOMAIN, dlen) != 0)
        return -1;
    pos = dlen;
    if (next_line(text, len, &pos, &line, &n) != 0 || n == 0 || n >= sizeof out->user)
        return -1;
    memcpy(out->user, line, n);
    if (strlen(out->user) != n || !ids_valid_user(out->user))
        return -1;
    if (next_line(text, len, &pos, &line, &n) != 0 ||
        parse_dec(line, n, UINT64_MAX, &out->version) != 0 || out->version < 1)
        return -1;
    while (pos < len) {
        if (out->n == DEVLIST_MAX || next_line(text, len, &pos, &line, &n) != 0 ||
            parse_device(line, n, &out->d[out->n]) != 0)
            return -1;
        for (int i = 0; i < out->n; i++)
            if (strcmp(out->d[i].id, out->d[out->n].id) == 0 ||
                sodium_memcmp(out->d[i].key, out->d[out->n].key, 32) == 0)
                return -1;
        out->n++;
    }
    return out->n >= 1 ? 0 : -1;
}

int devlist_build(const devlist *l, char **out, size_t *len)
{
    char *buf = NULL;
    size_t used = 0, cap = DEVLIST_TEXT_MAX;

    *out = NULL;
    if (!ids_valid_user(l->user) || l->version < 1 || l->n < 1 || l->n > DEVLIST_MAX)
        return -1;
    buf = malloc(cap);
    if (!buf)
        return -1;
    used = (size_t)snprintf(buf, cap, "%s%s\n%llu\n", DEVLIST_DOMAIN, l->user,
                            (unsigned long long)l->version);
    for (int i = 0; i < l->n; i++) {
        const devlist_device *d = &l->d[i];
        char key[KEY_B64_LEN + 1];
        if (!devlist_valid_id(d->id) || !devlist_valid_name(d->name) || d->added_at < 0)
            goto fail;
        for (int j = 0; j < i; j++)
            if (strcmp(l->d[j].id, d->id) == 0 || sodium_memcmp(l->d[j].key, d->key, 32) == 0)
                goto fail;
        sodium_bin2base64(key, sizeof key, d->key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        used += (size_t)snprintf(buf + used, cap - used, "%s %s %lld %s\n", d->id, key,
                                 (long long)d->added_at, d->name);
        if (used >= cap)
            goto fail;
    }
    *out = buf;
    *len = used;
    return 0;
fail:
    free(buf);
    return -1;
}

void devlist_sign(const char *text, size_t len, const uint8_t account_sk[64], uint8_t sig[64])
{
    crypto_sign_detached(sig, NULL, (const uint8_t *)text, len, account_sk);
}

int devlist_verify(const char *text, size_t len, const uint8_t sig[64],
                   const uint8_t account_pk[32], const char *user, devlist *out,
                   char *errbuf, size_t errlen)
{
    devlist tmp, *l = out ? out : &tmp;
    if (crypto_sign_verify_detached(sig, (const uint8_t *)text, len, account_pk) != 0) {
        snprintf(errbuf, errlen, "the device list of %s is not signed by its account key", user);
        return -1;
    }
    if (devlist_parse(text, len, l) != 0) {
        snprintf(errbuf, errlen, "the device list of %s is malformed", user);
        return -1;
    }
    if (strcmp(l->user, user) != 0) {
        snprintf(errbuf, errlen, "the device list served for %s names %s", user, l->user);
        return -1;
    }
    if (devlist_find_key(l, account_pk) < 0) {
        snprintf(errbuf, errlen, "the device list of %s has no primary device", user);
        return -1;
    }
    return 0;
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
