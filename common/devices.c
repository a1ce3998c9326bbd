/*
 * devices.c - a user's signed device list: canonical text, strict parser,
 * the rules of a valid list, and the device a token's client id names
 * (devices.h; normative: docs/protocol.md "Devices").
 */
#include "devices.h"

#include "b64.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *devices_strerror(int rc)
{
    switch (rc) {
    case DEVICES_OK: return "ok";
    case DEVICES_EMALFORMED: return "malformed device list";
    case DEVICES_ESIGNATURE: return "device list not signed by the account key";
    case DEVICES_EUSER: return "device list of another user";
    case DEVICES_EDUPLICATE: return "a device id or key appears twice";
    case DEVICES_EPRIMARY: return "not exactly one primary device (the account key)";
    case DEVICES_ETOOMANY: return "too many devices";
    case DEVICES_ENOMEM: return "out of memory";
    default: return "unknown device list error";
    }
}

void devices_list_free(devices_list *l)
{
    if (!l)
        return;
    free(l->dev);
    memset(l, 0, sizeof *l);
}

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* s[0..n) is a device id */
static bool valid_id_n(const char *s, size_t n)
{
    if (n == 0 || n > DEVICES_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i]))
            return false;
    return true;
}

static bool valid_name_n(const char *s, size_t n)
{
    if (n > DEVICES_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

bool devices_valid_id(const char *s)
{
    return s && valid_id_n(s, strnlen(s, DEVICES_ID_MAX + 1));
}

bool devices_valid_name(const char *s)
{
    return s && valid_name_n(s, strnlen(s, DEVICES_NAME_MAX + 1));
}

int devices_implicit(const char *user_id, const uint8_t account_key[DEVICES_KEY_LEN],
                     devices_list *out)
{
    memset(out, 0, sizeof *out);
    if (!ids_valid_user(user_id))
        return DEVICES_EMALFORMED;
    out->dev = calloc(1, sizeof *out->dev);
    if (!out->dev)
        return DEVICES_ENOMEM;
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    out->n = 1;
    memcpy(out->dev[0].key, account_key, DEVICES_KEY_LEN);
    return DEVICES_OK;
}

/* Canonical decimal s[0..n) (no sign, no leading zero, <= INT64_MAX). */
static bool parse_dec(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = v;
    return true;
}

/* The 43 characters s decode to exactly one 32-byte key, in the one
 * spelling libsodium writes (unused bits zero). */
static bool parse_key(const char *s, size_t n, uint8_t key[DEVICES_KEY_LEN])
{
    char again[DEVICES_KEY_B64_LEN + 1];
    if (n != DEVICES_KEY_B64_LEN ||
        b64_decode(key, DEVICES_KEY_LEN, s, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) !=
            DEVICES_KEY_LEN)
        return false;
    sodium_bin2base64(again, sizeof again, key, DEVICES_KEY_LEN,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return memcmp(again, s, n) == 0;
}

/* The next line of t[*pos..len) without its '\n'; false if there is no '\n'. */
static bool next_line(const char *t, size_t len, size_t *pos, const char **line, size_t *n)
{
    const char *start = t + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    if (!nl)
        return false;
    *line = start;
    *n = (size_t)(nl - start);
    *pos += *n + 1;
    return true;
}

/* One entry line: id SP key SP added_at SP name */
static bool parse_entry(const char *s, size_t n, devices_entry *e)
{
    const char *end = s + n, *sp1, *sp2, *sp3;
    uint64_t at;
    if (!(sp1 = memchr(s, ' ', n)) || !(sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) ||
        !(sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1))))
        return false;
    if (!valid_id_n(s, (size_t)(sp1 - s)) || !parse_key(sp1 + 1, (size_t)(sp2 - sp1 - 1), e->key) ||
        !parse_dec(sp2 + 1, (size_t)(sp3 - sp2 - 1), &at) ||
        !valid_name_n(sp3 + 1, (size_t)(end - sp3 - 1)))
        return false;
    memcpy(e->device_id, s, (size_t)(sp1 - s));
    e->device_id[sp1 - s] = '\0';
    e->added_at = (int64_t)at;
    memcpy(e->name, sp3 + 1, (size_t)(end - sp3 - 1));
    e->name[end - sp3 - 1] = '\0';
    return true;
}

int devices_parse(const uint8_t *text, size_t len, devices_list *out)
{
    const char *t = (const char *)text, *line;
    size_t pos = 0, n, cap = 0;
    int rc = DEVICES_EMALFORMED;
    memset(out, 0, sizeof *out);
    if (!text || len == 0 || len > DEVICES_TEXT_MAX || memchr(t, '\0', len))
        return DEVICES_EMALFORMED;
    if (!next_line(t, len, &pos, &line, &n) || n != sizeof DEVICES_MAGIC - 1 ||
        memcmp(line, DEVICES_MAGIC, n) != 0)
        goto fail;
    if (!next_line(t, len, &pos, &line, &n) || n > IDS_USER_MAX)
        goto fail;
    memcpy(out->user_id, line, n);
    out->user_id[n] = '\0';
    if (!ids_valid_user(out->user_id))
        goto fail;
    if (!next_line(t, len, &pos, &line, &n) || !parse_dec(line, n, &out->version) ||
        out->version == 0)
        goto fail;
    while (pos < len) {
        if (!next_line(t, len, &pos, &line, &n) || out->n == DEVICES_MAX_LIMIT)
            goto fail;
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            devices_entry *d = realloc(out->dev, ncap * sizeof *d);
            if (!d) {
                rc = DEVICES_ENOMEM;
                goto fail;
            }
            out->dev = d;
            cap = ncap;
        }
        memset(&out->dev[out->n], 0, sizeof out->dev[out->n]);
        if (!parse_entry(line, n, &out->dev[out->n]))
            goto fail;
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->dev[i].device_id, out->dev[out->n].device_id) == 0 ||
                sodium_memcmp(out->dev[i].key, out->dev[out->n].key, DEVICES_KEY_LEN) == 0) {
                rc = DEVICES_EDUPLICATE;
                goto fail;
            }
        out->n++;
    }
    if (out->n == 0)
        goto fail;
    return DEVICES_OK;
fail:
    devices_list_free(out);
    return rc;
}

const devices_entry *devices_primary(const devices_list *l,
                                     const uint8_t account_key[DEVICES_KEY_LEN])
{
    const devices_entry *p = NULL;
    for (size_t i = 0; l && i < l->n; i++)
        if (sodium_memcmp(l->dev[i].key, account_key, DEVICES_KEY_LEN) == 0) {
            if (p)
                return NULL;
            p = &l->dev[i];
        }
    return p;
}

int devices_check(const devices_list *l, const uint8_t account_key[DEVICES_KEY_LEN], size_t max)
{
    if (max == 0 || max > DEVICES_MAX_LIMIT)
        max = DEVICES_MAX_LIMIT;
    if (!l || l->n == 0)
        return DEVICES_EMALFORMED;
    if (!devices_primary(l, account_key))
        return DEVICES_EPRIMARY;
    if (l->n > max)
        return DEVICES_ETOOMANY;
    return DEVICES_OK;
}

int devices_verify(const uint8_t *text, size_t len, const uint8_t sig[DEVICES_SIG_LEN],
                   const uint8_t account_key[DEVICES_KEY_LEN], const char *user_id, size_t max,
                   devices_list *out)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!text || !sig || len == 0 || len > DEVICES_TEXT_MAX)
        return DEVICES_EMALFORMED;
    if (crypto_sign_verify_detached(sig, text, len, account_key) != 0)
        return DEVICES_ESIGNATURE;
    if ((rc = devices_parse(text, len, out)) != DEVICES_OK)
        return rc;
    if (user_id && strcmp(user_id, out->user_id) != 0)
        rc = DEVICES_EUSER;
    else
        rc = devices_check(out, account_key, max);
    if (rc != DEVICES_OK)
        devices_list_free(out);
    return rc;
}

int devices_build(const devices_list *l, char **out, size_t *len)
{
    char *buf = NULL, key[DEVICES_KEY_B64_LEN + 1];
    size_t cap = DEVICES_TEXT_MAX + 1, used;
    int n;
    *out = NULL;
    *len = 0;
    if (!l || !ids_valid_user(l->user_id) || l->version == 0 || l->version > INT64_MAX ||
        l->n == 0 || l->n > DEVICES_MAX_LIMIT)
        return DEVICES_EMALFORMED;
    if (!(buf = malloc(cap)))
        return DEVICES_ENOMEM;
    n = snprintf(buf, cap, "%s\n%s\n%llu\n", DEVICES_MAGIC, l->user_id,
                 (unsigned long long)l->version);
    used = (size_t)n;
    for (size_t i = 0; i < l->n; i++) {
        const devices_entry *e = &l->dev[i];
        if (!devices_valid_id(e->device_id) || !devices_valid_name(e->name) || e->added_at < 0)
            goto bad;
        sodium_bin2base64(key, sizeof key, e->key, DEVICES_KEY_LEN,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        n = snprintf(buf + used, cap - used, "%s %s %lld %s\n", e->device_id, key,
                     (long long)e->added_at, e->name);
        if (n < 0 || (size_t)n >= cap - used)
            goto bad;
        used += (size_t)n;
    }
    *out = buf;
    *len = used;
    return DEVICES_OK;
bad:
    free(buf);
    return DEVICES_EMALFORMED;
}

void devices_sign(const uint8_t *text, size_t len, const uint8_t sk[64],
                  uint8_t sig[DEVICES_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, text, len, sk);
}

const devices_entry *devices_find(const devices_list *l, const char *device_id)
{
    for (size_t i = 0; l && device_id && i < l->n; i++)
        if (strcmp(l->dev[i].device_id, device_id) == 0)
            return &l->dev[i];
    return NULL;
}

size_t devices_match_tag(const devices_list *l, const char *tag, const devices_entry **out,
                         size_t max)
{
    size_t found = 0, tlen;
    if (!l || !tag || max == 0)
        return 0;
    if (l->version == 0)
        return l->n ? (out[0] = &l->dev[0], 1) : 0;
    tlen = strnlen(tag, DEVICES_ID_MAX + 1);
    if (tlen > DEVICES_ID_MAX)
        return 0;
    for (size_t i = 0; i < l->n && found < max; i++)
        if (strcmp(l->dev[i].device_id, tag) == 0)
            out[found++] = &l->dev[i];
    /* "{device}-{suffix}": each '-' with text after it ends a candidate id */
    for (size_t p = 1; p + 1 < tlen && found < max; p++) {
        if (tag[p] != '-')
            continue;
        for (size_t i = 0; i < l->n && found < max; i++) {
            const char *id = l->dev[i].device_id;
            if (strlen(id) == p && memcmp(id, tag, p) == 0)
                out[found++] = &l->dev[i];
        }
    }
    return found;
}

const char *devices_client_tag(const char *user_id, const char *client_id)
{
    if (!ids_valid_client_id(user_id, client_id))
        return NULL;
    return client_id + strlen(user_id) + 1;
}

int devices_token_verify(const devices_list *l, const char *token, token_audience aud,
                         const char *user_id, const char *client_id, int64_t now,
                         int64_t *expires_at, const devices_entry **which)
{
    token_claims c;
    const devices_entry *cand[DEVICES_MAX_LIMIT];
    const char *tag;
    size_t n;
    int rc;
    if (which)
        *which = NULL;
    if (!l || !token || token_parse(token, &c) != TOKEN_OK)
        return TOKEN_EMALFORMED;
    if (c.audience != aud)
        return TOKEN_EAUDIENCE;
    if (!user_id || strcmp(c.user_id, user_id) != 0)
        return TOKEN_EUSER;
    if (client_id && strcmp(c.client_id, client_id) != 0)
        return TOKEN_ECLIENT;
    if (l->version == 0) {
        /* implicit: the account key, whatever the tag (today's behaviour) */
        n = devices_match_tag(l, "", cand, 1);
    } else {
        tag = devices_client_tag(user_id, c.client_id);
        n = tag ? devices_match_tag(l, tag, cand, DEVICES_MAX_LIMIT) : 0;
    }
    if (n == 0)
        return TOKEN_EDEVICE;
    rc = TOKEN_ESIGNATURE;
    for (size_t i = 0; i < n; i++) {
        rc = token_verify(token, aud, user_id, client_id, now, cand[i]->key, expires_at);
        if (rc == TOKEN_OK) {
            if (which)
                *which = cand[i];
            return TOKEN_OK;
        }
        if (rc != TOKEN_ESIGNATURE)
            return rc; /* expiry, lifetime: the same for every candidate */
    }
    return rc;
}
