/*
 * sender_keys.c - Sender Keys for groups (see sender_keys.h).
 *
 * Like ratchet.c, decryption runs on a private copy of the state that
 * replaces the caller's only after the signature and the AEAD tag verified.
 */
#include "sender_keys.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.pb-c.h"
#include "kdf.h"
#include "mkstore.h"

#define SK_SIG_CONTEXT "Parley_SenderKey_v1"
#define SK_HEADER_MAX (sizeof(SK_SIG_CONTEXT) - 1 + 1 + SENDER_KEYS_GROUP_MAX + 4 + 4)
#define SK_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SK_MAX_PLAINTEXT (64u * 1024u * 1024u)

enum { SK_F_SENDING = 1 << 0, SK_F_ALL = 1 };

struct sender_keys_state {
    uint32_t flags;
    char group_id[SENDER_KEYS_GROUP_MAX + 1];
    uint32_t chain_id, iteration;
    uint8_t chain_key[32];
    uint8_t sig_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sig_sk[crypto_sign_SECRETKEYBYTES];    /* sending states only */
    mkstore skipped;                                /* tag all zero, n = iteration */
};

static const uint8_t sk_no_tag[MKSTORE_TAG_LEN];

void sender_keys_free(sender_keys_state *s)
{
    if (!s)
        return;
    mkstore_clear(&s->skipped);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

static int sender_keys_valid_group(const char *g)
{
    size_t n = g ? strnlen(g, SENDER_KEYS_GROUP_MAX + 1) : 0;
    return n >= 1 && n <= SENDER_KEYS_GROUP_MAX;
}

e2e_status sender_keys_create(sender_keys_state **out, const char *group_id)
{
    sender_keys_state *s = NULL;

    if (!out)
        return E2E_ERR_INVALID;
    *out = NULL;
    if (!sender_keys_valid_group(group_id))
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    s = calloc(1, sizeof(*s));
    if (!s)
        return E2E_ERR_NOMEM;
    s->flags = SK_F_SENDING;
    strcpy(s->group_id, group_id);
    s->chain_id = randombytes_random();
    randombytes_buf(s->chain_key, sizeof(s->chain_key));
    if (crypto_sign_keypair(s->sig_pk, s->sig_sk) != 0) {
        sender_keys_free(s);
        return E2E_ERR_CRYPTO;
    }
    *out = s;
    return E2E_OK;
}

e2e_status sender_keys_distribution_get(const sender_keys_state *s, sender_keys_distribution *out)
{
    if (!s || !out || !(s->flags & SK_F_SENDING))
        return E2E_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    strcpy(out->group_id, s->group_id);
    out->chain_id = s->chain_id;
    out->iteration = s->iteration;
    memcpy(out->chain_key, s->chain_key, 32);
    memcpy(out->signature_key, s->sig_pk, 32);
    return E2E_OK;
}

e2e_status sender_keys_from_distribution(sender_keys_state **out, const sender_keys_distribution *d)
{
    sender_keys_state *s;

    if (!out)
        return E2E_ERR_INVALID;
    *out = NULL;
    if (!d || !sender_keys_valid_group(d->group_id))
        return E2E_ERR_INVALID;
    s = calloc(1, sizeof(*s));
    if (!s)
        return E2E_ERR_NOMEM;
    strcpy(s->group_id, d->group_id);
    s->chain_id = d->chain_id;
    s->iteration = d->iteration;
    memcpy(s->chain_key, d->chain_key, 32);
    memcpy(s->sig_pk, d->signature_key, 32);
    *out = s;
    return E2E_OK;
}

uint32_t sender_keys_chain_id(const sender_keys_state *s)
{
    return s->chain_id;
}

const char *sender_keys_group_id(const sender_keys_state *s)
{
    return s->group_id;
}

/* The signed header: context || u8 len(group) || group || be32 chain || be32 iteration. */
static size_t sender_keys_header(const sender_keys_state *s, uint32_t iteration, uint8_t *buf)
{
    uint8_t *p = buf;
    uint8_t glen = (uint8_t)strlen(s->group_id);

    e2e__put(&p, SK_SIG_CONTEXT, sizeof(SK_SIG_CONTEXT) - 1);
    e2e__put(&p, &glen, 1);
    e2e__put(&p, s->group_id, glen);
    e2e__put_u32(&p, s->chain_id);
    e2e__put_u32(&p, iteration);
    return (size_t)(p - buf);
}

e2e_status sender_keys_encrypt(sender_keys_state *s, const uint8_t *pt, size_t pt_len,
                               uint8_t **out, size_t *out_len)
{
    Parley__E2e__V1__SenderKeyMessage skm = PARLEY__E2E__V1__SENDER_KEY_MESSAGE__INIT;
    Parley__E2e__V1__E2EMessage em = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    uint8_t hdr[SK_HEADER_MAX], sig[crypto_sign_BYTES];
    uint8_t seed[32], next_ck[32];
    uint8_t *ct = NULL, *signed_buf = NULL, *buf = NULL;
    size_t hdr_len, ct_len, n;
    e2e_status rc;

    if (!out || !out_len)
        return E2E_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!s || (!pt && pt_len) || pt_len > SK_MAX_PLAINTEXT)
        return E2E_ERR_INVALID;
    if (!(s->flags & SK_F_SENDING) || s->iteration == UINT32_MAX)
        return E2E_ERR_STATE;

    kdf_chain_step(s->chain_key, seed, next_ck);
    hdr_len = sender_keys_header(s, s->iteration, hdr);
    rc = mkstore_seal(seed, KDF_INFO_SENDER_KEYS, pt, pt_len, hdr, hdr_len, &ct, &ct_len);
    if (rc != E2E_OK)
        goto fail;
    rc = E2E_ERR_NOMEM;
    signed_buf = malloc(hdr_len + ct_len);   /* header || ciphertext */
    if (!signed_buf)
        goto fail;
    memcpy(signed_buf, hdr, hdr_len);
    memcpy(signed_buf + hdr_len, ct, ct_len);
    crypto_sign_detached(sig, NULL, signed_buf, hdr_len + ct_len, s->sig_sk);
    skm.chain_id = s->chain_id;
    skm.iteration = s->iteration;
    skm.ciphertext.data = ct;
    skm.ciphertext.len = ct_len;
    skm.signature.data = sig;
    skm.signature.len = sizeof(sig);
    em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY;
    em.sender_key = &skm;
    n = parley__e2e__v1__e2_emessage__get_packed_size(&em);
    buf = malloc(n);
    if (!buf)
        goto fail;
    parley__e2e__v1__e2_emessage__pack(&em, buf);
    memcpy(s->chain_key, next_ck, 32);   /* commit: nothing below fails */
    s->iteration++;
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = E2E_OK;
fail:
    free(ct);
    free(signed_buf);
    free(buf);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(next_ck, sizeof(next_ck));
    return rc;
}

/* A deep copy of s, or NULL. */
static sender_keys_state *sender_keys_clone(const sender_keys_state *s)
{
    sender_keys_state *t = malloc(sizeof(*t));

    if (!t)
        return NULL;
    memcpy(t, s, sizeof(*t));
    if (mkstore_copy(&t->skipped, &s->skipped) != E2E_OK) {
        sodium_memzero(t, sizeof(*t));
        free(t);
        return NULL;
    }
    return t;
}

/* Advance t to iteration `until`, keeping the newest skipped seeds. */
static e2e_status sender_keys_skip(sender_keys_state *t, uint32_t until)
{
    uint8_t seed[32];
    uint32_t m = until - t->iteration, keep, i;
    e2e_status rc;

    keep = m < SENDER_KEYS_MAX_MESSAGE_KEYS ? m : SENDER_KEYS_MAX_MESSAGE_KEYS;
    if ((rc = mkstore_reserve(&t->skipped, keep, SENDER_KEYS_MAX_MESSAGE_KEYS)) != E2E_OK)
        return rc;
    for (i = 0; i < m; i++) {
        kdf_chain_step(t->chain_key, seed, t->chain_key);
        if (i >= m - keep)
            mkstore_push(&t->skipped, sk_no_tag, t->iteration, seed);
        t->iteration++;
    }
    sodium_memzero(seed, sizeof(seed));
    return E2E_OK;
}

e2e_status sender_keys_decrypt(sender_keys_state *s, const uint8_t *msg, size_t len, uint8_t **pt,
                               size_t *pt_len)
{
    Parley__E2e__V1__E2EMessage *em = NULL;
    const Parley__E2e__V1__SenderKeyMessage *m;
    sender_keys_state *t = NULL;
    uint8_t hdr[SK_HEADER_MAX], seed[32];
    uint8_t *signed_buf = NULL;
    size_t hdr_len;
    long k;
    e2e_status rc = E2E_ERR_FORMAT;

    memset(seed, 0, sizeof(seed));
    if (!pt || !pt_len)
        return E2E_ERR_INVALID;
    *pt = NULL;
    *pt_len = 0;
    if (!s || !msg)
        return E2E_ERR_INVALID;
    em = parley__e2e__v1__e2_emessage__unpack(NULL, len, msg);
    if (!em)
        goto fail;
    if (em->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY) {
        rc = E2E_ERR_INVALID;
        goto fail;
    }
    m = em->sender_key;
    /* iteration UINT32_MAX is never sent (sender_keys_encrypt stops before). */
    if (m->signature.len != crypto_sign_BYTES || m->ciphertext.len < SK_ABYTES ||
        m->ciphertext.len - SK_ABYTES > SK_MAX_PLAINTEXT || m->iteration == UINT32_MAX)
        goto fail;
    if (m->chain_id != s->chain_id) {
        rc = E2E_ERR_WRONG_CHAIN;
        goto fail;
    }
    hdr_len = sender_keys_header(s, m->iteration, hdr);
    signed_buf = malloc(hdr_len + m->ciphertext.len);
    if (!signed_buf) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    memcpy(signed_buf, hdr, hdr_len);
    memcpy(signed_buf + hdr_len, m->ciphertext.data, m->ciphertext.len);
    if (crypto_sign_verify_detached(m->signature.data, signed_buf, hdr_len + m->ciphertext.len,
                                    s->sig_pk) != 0) {
        rc = E2E_ERR_SIGNATURE;
        goto fail;
    }
    t = sender_keys_clone(s);
    if (!t) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    if (m->iteration < t->iteration) {
        /* Older than the chain: only a key skipped earlier and still held works. */
        k = mkstore_find(&t->skipped, sk_no_tag, m->iteration);
        rc = E2E_ERR_DUPLICATE;
        if (k >= 0) {
            rc = mkstore_open(t->skipped.e[k].seed, KDF_INFO_SENDER_KEYS, m->ciphertext.data,
                              m->ciphertext.len, hdr, hdr_len, pt, pt_len);
            if (rc == E2E_OK)
                mkstore_remove(&t->skipped, (size_t)k);
        }
    } else if (m->iteration - t->iteration > SENDER_KEYS_MAX_FORWARD_JUMPS) {
        rc = E2E_ERR_TOO_FAR;
    } else if ((rc = sender_keys_skip(t, m->iteration)) == E2E_OK) {
        kdf_chain_step(t->chain_key, seed, t->chain_key);
        t->iteration++;
        rc = mkstore_open(seed, KDF_INFO_SENDER_KEYS, m->ciphertext.data, m->ciphertext.len, hdr,
                          hdr_len, pt, pt_len);
    }
    if (rc != E2E_OK)
        goto fail;
    /* Commit t into s. */
    mkstore_clear(&s->skipped);
    memcpy(s, t, sizeof(*s));
    sodium_memzero(t, sizeof(*t));
    free(t);
    t = NULL;
fail:
    sodium_memzero(seed, sizeof(seed));
    sender_keys_free(t);
    free(signed_buf);
    if (em)
        parley__e2e__v1__e2_emessage__free_unpacked(em, NULL);
    return rc;
}

/* version, flags, u8 glen, group, chain_id, iteration, chain_key, sig_pk, sig_sk, then the
 * skipped keys (mkstore_write) */
#define SK_SER_FIXED(glen) (1 + 4 + 1 + (glen) + 4 + 4 + 32 + 32 + 64)

e2e_status sender_keys_serialize(const sender_keys_state *s, uint8_t **out, size_t *out_len)
{
    uint8_t *buf, *p;
    uint8_t version = SENDER_KEYS_STATE_VERSION, glen;
    size_t n;

    if (!out || !out_len)
        return E2E_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!s)
        return E2E_ERR_INVALID;
    glen = (uint8_t)strlen(s->group_id);
    n = SK_SER_FIXED(glen) + mkstore_serialized_size(&s->skipped);
    buf = p = malloc(n);
    if (!buf)
        return E2E_ERR_NOMEM;
    e2e__put(&p, &version, 1);
    e2e__put_u32(&p, s->flags);
    e2e__put(&p, &glen, 1);
    e2e__put(&p, s->group_id, glen);
    e2e__put_u32(&p, s->chain_id);
    e2e__put_u32(&p, s->iteration);
    e2e__put(&p, s->chain_key, 32);
    e2e__put(&p, s->sig_pk, 32);
    e2e__put(&p, s->sig_sk, 64);
    mkstore_write(&s->skipped, &p);
    *out = buf;
    *out_len = n;
    return E2E_OK;
}

e2e_status sender_keys_deserialize(sender_keys_state **out, const uint8_t *in, size_t len)
{
    sender_keys_state *s = NULL;
    const uint8_t *p = NULL;
    size_t left = 0;
    uint8_t glen;
    e2e_status rc;

    if (!out)
        return E2E_ERR_INVALID;
    *out = NULL;
    if ((rc = e2e__state_begin(in, len, SENDER_KEYS_STATE_VERSION, &p, &left)) != E2E_OK)
        return rc;
    rc = E2E_ERR_FORMAT;
    s = calloc(1, sizeof(*s));
    if (!s)
        return E2E_ERR_NOMEM;
    if (e2e__get_u32(&p, &left, &s->flags) || (s->flags & ~(uint32_t)SK_F_ALL) ||
        e2e__get(&p, &left, &glen, 1) || glen == 0 || glen > SENDER_KEYS_GROUP_MAX ||
        e2e__get(&p, &left, s->group_id, glen) || memchr(s->group_id, '\0', glen) ||
        e2e__get_u32(&p, &left, &s->chain_id) || e2e__get_u32(&p, &left, &s->iteration) ||
        e2e__get(&p, &left, s->chain_key, 32) || e2e__get(&p, &left, s->sig_pk, 32) ||
        e2e__get(&p, &left, s->sig_sk, 64))
        goto fail;
    if ((rc = mkstore_read_last(&s->skipped, &p, &left, SENDER_KEYS_MAX_MESSAGE_KEYS)) != E2E_OK)
        goto fail;
    *out = s;
    s = NULL;
    rc = E2E_OK;
fail:
    sender_keys_free(s);
    return rc;
}
