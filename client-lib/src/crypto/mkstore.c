/*
 * mkstore.c - bounded skipped-message-key store and per-message AEAD
 * (see mkstore.h).
 */
#include "mkstore.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kdf.h"

#define MKSTORE_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

void mkstore_clear(mkstore *s)
{
    if (s->e) {
        sodium_memzero(s->e, s->cap * sizeof(*s->e));
        free(s->e);
    }
    s->e = NULL;
    s->count = s->cap = 0;
}

e2e_status mkstore_copy(mkstore *dst, const mkstore *src)
{
    dst->e = NULL;
    dst->count = dst->cap = 0;
    if (!src->count)
        return E2E_OK;
    dst->e = malloc(src->count * sizeof(*dst->e));
    if (!dst->e)
        return E2E_ERR_NOMEM;
    memcpy(dst->e, src->e, src->count * sizeof(*dst->e));
    dst->count = dst->cap = src->count;
    return E2E_OK;
}

e2e_status mkstore_reserve(mkstore *s, size_t adding, size_t max)
{
    size_t evict = s->count + adding > max ? s->count + adding - max : 0;
    size_t need = s->count + adding - evict;

    if (evict) {
        sodium_memzero(s->e, evict * sizeof(*s->e));
        memmove(s->e, s->e + evict, (s->count - evict) * sizeof(*s->e));
        s->count -= evict;
        sodium_memzero(s->e + s->count, evict * sizeof(*s->e));
    }
    if (need > s->cap) {
        size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
        mkstore_entry *p;

        if (cap > max)
            cap = max;
        p = malloc(cap * sizeof(*p));
        if (!p)
            return E2E_ERR_NOMEM;
        if (s->count)
            memcpy(p, s->e, s->count * sizeof(*p));
        if (s->e) {
            sodium_memzero(s->e, s->cap * sizeof(*s->e));
            free(s->e);
        }
        s->e = p;
        s->cap = cap;
    }
    return E2E_OK;
}

void mkstore_push(mkstore *s, const uint8_t tag[MKSTORE_TAG_LEN], uint32_t n,
                  const uint8_t seed[MKSTORE_SEED_LEN])
{
    mkstore_entry *k = &s->e[s->count++];

    memcpy(k->tag, tag, MKSTORE_TAG_LEN);
    k->n = n;
    memcpy(k->seed, seed, MKSTORE_SEED_LEN);
}

long mkstore_find(const mkstore *s, const uint8_t tag[MKSTORE_TAG_LEN], uint32_t n)
{
    size_t i;

    for (i = 0; i < s->count; i++)
        if (s->e[i].n == n && sodium_memcmp(s->e[i].tag, tag, MKSTORE_TAG_LEN) == 0)
            return (long)i;
    return -1;
}

void mkstore_remove(mkstore *s, size_t i)
{
    sodium_memzero(&s->e[i], sizeof(s->e[i]));
    memmove(&s->e[i], &s->e[i + 1], (s->count - i - 1) * sizeof(s->e[i]));
    s->count--;
    sodium_memzero(&s->e[s->count], sizeof(s->e[i]));
}

size_t mkstore_serialized_size(const mkstore *s)
{
    return 4 + s->count * MKSTORE_SERIALIZED_ENTRY;
}

void mkstore_write(const mkstore *s, uint8_t **p)
{
    size_t i;

    e2e__put_u32(p, (uint32_t)s->count);
    for (i = 0; i < s->count; i++) {
        e2e__put(p, s->e[i].tag, MKSTORE_TAG_LEN);
        e2e__put_u32(p, s->e[i].n);
        e2e__put(p, s->e[i].seed, MKSTORE_SEED_LEN);
    }
}

e2e_status mkstore_read(mkstore *s, const uint8_t **p, size_t *left, size_t max)
{
    uint32_t count, i;

    s->e = NULL;
    s->count = s->cap = 0;
    if (e2e__get_u32(p, left, &count) || count > max ||
        *left < (size_t)count * MKSTORE_SERIALIZED_ENTRY)
        return E2E_ERR_FORMAT;
    if (!count)
        return E2E_OK;
    s->e = calloc(count, sizeof(*s->e));
    if (!s->e)
        return E2E_ERR_NOMEM;
    s->cap = count;
    for (i = 0; i < count; i++) {
        /* lengths were checked above: these reads cannot fail */
        (void)e2e__get(p, left, s->e[i].tag, MKSTORE_TAG_LEN);
        (void)e2e__get_u32(p, left, &s->e[i].n);
        (void)e2e__get(p, left, s->e[i].seed, MKSTORE_SEED_LEN);
        s->count++;
    }
    return E2E_OK;
}

e2e_status mkstore_read_last(mkstore *s, const uint8_t **p, size_t *left, size_t max)
{
    e2e_status rc = mkstore_read(s, p, left, max);
    return rc == E2E_OK && *left != 0 ? E2E_ERR_FORMAT : rc;
}

e2e_status mkstore_seal(const uint8_t seed[MKSTORE_SEED_LEN], const char *info, const uint8_t *pt,
                        size_t pt_len, const uint8_t *ad, size_t ad_len, uint8_t **out,
                        size_t *out_len)
{
    uint8_t key[KDF_AEAD_KEY_LEN], nonce[KDF_AEAD_NONCE_LEN];
    unsigned long long n = 0;
    uint8_t *buf = malloc(pt_len + MKSTORE_ABYTES);

    *out = NULL;
    *out_len = 0;
    if (!buf)
        return E2E_ERR_NOMEM;
    kdf_message_keys(seed, info, key, nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf, &n, pt_len ? pt : (const uint8_t *)"", pt_len,
                                               ad, ad_len, NULL, nonce, key);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(nonce, sizeof(nonce));
    *out = buf;
    *out_len = (size_t)n;
    return E2E_OK;
}

e2e_status mkstore_open(const uint8_t seed[MKSTORE_SEED_LEN], const char *info, const uint8_t *ct,
                        size_t ct_len, const uint8_t *ad, size_t ad_len, uint8_t **pt,
                        size_t *pt_len)
{
    uint8_t key[KDF_AEAD_KEY_LEN], nonce[KDF_AEAD_NONCE_LEN];
    uint8_t *buf = NULL;
    unsigned long long n = 0;
    e2e_status rc = E2E_ERR_DECRYPT;

    *pt = NULL;
    *pt_len = 0;
    if (ct_len < MKSTORE_ABYTES)
        return E2E_ERR_DECRYPT;
    kdf_message_keys(seed, info, key, nonce);
    buf = malloc(ct_len - MKSTORE_ABYTES + 1);
    if (!buf) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &n, NULL, ct, ct_len, ad, ad_len, nonce,
                                                   key) != 0)
        goto fail;
    buf[n] = '\0';
    *pt = buf;
    *pt_len = (size_t)n;
    buf = NULL;
    rc = E2E_OK;
fail:
    free(buf);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(nonce, sizeof(nonce));
    return rc;
}
