/*
 * ratchet.c - pairwise sessions: X3DH + Double Ratchet with header
 * (see ratchet.h for the construction and the contracts).
 *
 * Every decryption runs on a private copy of the session and replaces the
 * caller's session only when the AEAD tag verified: a failed decrypt
 * leaves the session untouched.
 */
#include "ratchet.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.pb-c.h"
#include "kdf.h"
#include "mkstore.h"

#define RATCHET_PREV_CHAINS 5            /* old receiving ratchet keys remembered */
#define RATCHET_HEADER_MAX 128           /* bytes of a serialized RatchetHeader */
#define RATCHET_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

enum {
    RATCHET_F_INITIATOR = 1 << 0,
    RATCHET_F_PENDING = 1 << 1,     /* initiator: still sending PreKey messages */
    RATCHET_F_HAS_DHR = 1 << 2,
    RATCHET_F_HAS_CKS = 1 << 3,
    RATCHET_F_HAS_CKR = 1 << 4,
    RATCHET_F_HAS_OPK = 1 << 5,
    RATCHET_F_ALL = (1 << 6) - 1,
};

struct ratchet_session {
    uint32_t flags;
    uint8_t ad[X3DH_AD_LEN];     /* IK_A || IK_B */
    uint8_t base_key[32];        /* initiator's X3DH ephemeral public key */
    uint32_t spk_id, opk_id;     /* prekey ids named by the PreKey messages */
    uint8_t rk[32];
    keys_x25519 dhs;
    uint8_t dhr[32];
    uint8_t cks[32], ckr[32];
    uint32_t ns, nr, pn;
    uint8_t prev_dhr[RATCHET_PREV_CHAINS][32];   /* oldest first */
    uint32_t n_prev;
    mkstore skipped;             /* tag = the chain's ratchet public key */
};

/* ---- allocation -------------------------------------------------------- */

void ratchet_session_free(ratchet_session *s)
{
    if (!s)
        return;
    mkstore_clear(&s->skipped);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

/* A deep copy of s, or NULL (out of memory). */
static ratchet_session *ratchet_clone(const ratchet_session *s)
{
    ratchet_session *t = malloc(sizeof(*t));

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

/* Replace *s by *t (consumed), wiping what *s held. */
static void ratchet_commit(ratchet_session *s, ratchet_session *t)
{
    mkstore_clear(&s->skipped);
    memcpy(s, t, sizeof(*s));
    sodium_memzero(t, sizeof(*t));
    free(t);
}

/* ---- KDFs -------------------------------------------------------------- */

/* rk, ck = HKDF(salt = rk, ikm = DH(dhs, dhr), info "Parley_Ratchet_v1", 64). */
static e2e_status ratchet_kdf_rk(uint8_t rk[32], uint8_t ck[32], const keys_x25519 *dhs,
                                 const uint8_t dhr[32])
{
    uint8_t dh[32], okm[64];
    e2e_status rc = E2E_OK;

    if (crypto_scalarmult(dh, dhs->sk, dhr) != 0) {
        rc = E2E_ERR_KEY;
        goto fail;
    }
    rc = kdf_hkdf(okm, sizeof(okm), rk, 32, dh, sizeof(dh), (const uint8_t *)KDF_INFO_RATCHET,
                  strlen(KDF_INFO_RATCHET));
    if (rc != E2E_OK)
        goto fail;
    memcpy(rk, okm, 32);
    memcpy(ck, okm + 32, 32);
fail:
    sodium_memzero(dh, sizeof(dh));
    sodium_memzero(okm, sizeof(okm));
    return rc;
}

/* ---- constructors ------------------------------------------------------ */

e2e_status ratchet_session_initiate(ratchet_session **out, const keys_identity *self,
                                    const x3dh_bundle *peer)
{
    ratchet_session *s = NULL;
    keys_x25519 eph;
    uint8_t sk[X3DH_SK_LEN];
    e2e_status rc;

    memset(&eph, 0, sizeof(eph));
    memset(sk, 0, sizeof(sk));
    if (!out)
        return E2E_ERR_INVALID;
    *out = NULL;
    if (!self || !peer)
        return E2E_ERR_INVALID;
    if ((rc = keys_x25519_generate(&eph)) != E2E_OK)
        goto fail;
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    rc = x3dh_initiate(self, peer, &eph, sk, s->ad);
    if (rc != E2E_OK)
        goto fail;
    s->flags = RATCHET_F_INITIATOR | RATCHET_F_PENDING | RATCHET_F_HAS_DHR | RATCHET_F_HAS_CKS;
    if (peer->has_one_time_prekey)
        s->flags |= RATCHET_F_HAS_OPK;
    memcpy(s->base_key, eph.pk, 32);
    s->spk_id = peer->signed_prekey_id;
    s->opk_id = peer->has_one_time_prekey ? peer->one_time_prekey_id : 0;
    memcpy(s->dhr, peer->signed_prekey, 32);
    memcpy(s->rk, sk, 32);
    if ((rc = keys_x25519_generate(&s->dhs)) != E2E_OK)
        goto fail;
    if ((rc = ratchet_kdf_rk(s->rk, s->cks, &s->dhs, s->dhr)) != E2E_OK)
        goto fail;
    *out = s;
    s = NULL;
fail:
    sodium_memzero(&eph, sizeof(eph));
    sodium_memzero(sk, sizeof(sk));
    ratchet_session_free(s);
    return rc;
}

e2e_status ratchet_session_respond(ratchet_session **out, const keys_identity *self,
                                   const keys_x25519 *signed_prekey,
                                   const keys_x25519 *one_time_prekey, const uint8_t *msg,
                                   size_t len, uint8_t **pt, size_t *pt_len)
{
    ratchet_session *s = NULL;
    e2e_message_info info;
    uint8_t sk[X3DH_SK_LEN];
    e2e_status rc;

    memset(sk, 0, sizeof(sk));
    if (!out || !pt || !pt_len)
        return E2E_ERR_INVALID;
    *out = NULL;
    *pt = NULL;
    *pt_len = 0;
    if (!self || !signed_prekey || !msg)
        return E2E_ERR_INVALID;
    rc = e2e_message_inspect(msg, len, &info);
    if (rc != E2E_OK)
        return rc;
    if (info.kind != E2E_KIND_PREKEY ||
        (info.has_one_time_prekey != 0) != (one_time_prekey != NULL))
        return E2E_ERR_INVALID;
    s = calloc(1, sizeof(*s));
    if (!s)
        return E2E_ERR_NOMEM;
    rc = x3dh_respond(self, signed_prekey, one_time_prekey, info.identity_key, info.base_key, sk,
                      s->ad);
    if (rc != E2E_OK)
        goto fail;
    memcpy(s->base_key, info.base_key, 32);
    s->spk_id = info.signed_prekey_id;
    if (info.has_one_time_prekey) {
        s->flags |= RATCHET_F_HAS_OPK;
        s->opk_id = info.one_time_prekey_id;
    }
    memcpy(&s->dhs, signed_prekey, sizeof(s->dhs));
    memcpy(s->rk, sk, 32);
    rc = ratchet_decrypt(s, msg, len, pt, pt_len);
    if (rc != E2E_OK)
        goto fail;
    *out = s;
    s = NULL;
fail:
    sodium_memzero(sk, sizeof(sk));
    ratchet_session_free(s);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

const uint8_t *ratchet_session_peer_identity(const ratchet_session *s)
{
    return (s->flags & RATCHET_F_INITIATOR) ? s->ad + 32 : s->ad;
}

const uint8_t *ratchet_session_base_key(const ratchet_session *s)
{
    return s->base_key;
}

int ratchet_session_pending_prekey(const ratchet_session *s)
{
    return (s->flags & RATCHET_F_PENDING) ? 1 : 0;
}

/* ---- encryption -------------------------------------------------------- */

/* AEAD associated data = AD || header bytes into buf (X3DH_AD_LEN + RATCHET_HEADER_MAX). */
static size_t ratchet_aead_ad(const ratchet_session *s, const uint8_t *hdr, size_t hdr_len,
                              uint8_t *buf)
{
    memcpy(buf, s->ad, X3DH_AD_LEN);
    memcpy(buf + X3DH_AD_LEN, hdr, hdr_len);
    return X3DH_AD_LEN + hdr_len;
}

e2e_status ratchet_encrypt(ratchet_session *s, const uint8_t *pt, size_t pt_len, uint8_t **out,
                           size_t *out_len)
{
    Parley__E2e__V1__RatchetHeader hdr = PARLEY__E2E__V1__RATCHET_HEADER__INIT;
    Parley__E2e__V1__RatchetMessage rm = PARLEY__E2E__V1__RATCHET_MESSAGE__INIT;
    Parley__E2e__V1__PreKeyMessage pkm = PARLEY__E2E__V1__PRE_KEY_MESSAGE__INIT;
    Parley__E2e__V1__E2EMessage em = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    uint8_t hdr_buf[RATCHET_HEADER_MAX], ad_buf[X3DH_AD_LEN + RATCHET_HEADER_MAX];
    uint8_t seed[32], next_ck[32];
    uint8_t *ct = NULL, *buf = NULL;
    size_t hdr_len, ad_len, ct_len, n;
    e2e_status rc;

    if (!out || !out_len)
        return E2E_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!s || (!pt && pt_len) || pt_len > RATCHET_MAX_PLAINTEXT)
        return E2E_ERR_INVALID;
    if (!(s->flags & RATCHET_F_HAS_CKS) || s->ns == UINT32_MAX)
        return E2E_ERR_STATE;

    kdf_chain_step(s->cks, seed, next_ck);
    hdr.ratchet_key.data = s->dhs.pk;
    hdr.ratchet_key.len = 32;
    hdr.pn = s->pn;
    hdr.n = s->ns;
    hdr_len = parley__e2e__v1__ratchet_header__pack(&hdr, hdr_buf);
    ad_len = ratchet_aead_ad(s, hdr_buf, hdr_len, ad_buf);

    rc = mkstore_seal(seed, KDF_INFO_MESSAGE_KEYS, pt, pt_len, ad_buf, ad_len, &ct, &ct_len);
    if (rc != E2E_OK)
        goto fail;
    rm.header.data = hdr_buf;
    rm.header.len = hdr_len;
    rm.ciphertext.data = ct;
    rm.ciphertext.len = ct_len;
    if (s->flags & RATCHET_F_PENDING) {
        pkm.identity_key.data = s->ad;  /* the initiator is IK_A */
        pkm.identity_key.len = 32;
        pkm.base_key.data = s->base_key;
        pkm.base_key.len = 32;
        pkm.signed_prekey_id = s->spk_id;
        pkm.has_one_time_prekey = (s->flags & RATCHET_F_HAS_OPK) ? 1 : 0;
        pkm.one_time_prekey_id = s->opk_id;
        pkm.message = &rm;
        em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY;
        em.prekey = &pkm;
    } else {
        em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET;
        em.ratchet = &rm;
    }
    n = parley__e2e__v1__e2_emessage__get_packed_size(&em);
    buf = malloc(n ? n : 1);
    if (!buf) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    parley__e2e__v1__e2_emessage__pack(&em, buf);
    /* Commit: nothing below can fail. */
    memcpy(s->cks, next_ck, 32);
    s->ns++;
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = E2E_OK;
fail:
    free(ct);
    free(buf);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(next_ck, sizeof(next_ck));
    return rc;
}

/* ---- decryption -------------------------------------------------------- */

/* Store the keys of messages nr..until-1 of the current receiving chain
 * (only the newest RATCHET_MAX_MESSAGE_KEYS can survive; the oldest stored
 * keys are evicted to make room). E2E_ERR_TOO_FAR beyond the jump limit. */
static e2e_status ratchet_skip(ratchet_session *t, uint32_t until)
{
    uint8_t seed[32];
    uint32_t m, keep, i;
    e2e_status rc;

    if (!(t->flags & RATCHET_F_HAS_CKR) || until <= t->nr)
        return E2E_OK;
    m = until - t->nr;
    if (m > RATCHET_MAX_FORWARD_JUMPS)
        return E2E_ERR_TOO_FAR;
    keep = m < RATCHET_MAX_MESSAGE_KEYS ? m : RATCHET_MAX_MESSAGE_KEYS;
    if ((rc = mkstore_reserve(&t->skipped, keep, RATCHET_MAX_MESSAGE_KEYS)) != E2E_OK)
        return rc;
    for (i = 0; i < m; i++) {
        kdf_chain_step(t->ckr, seed, t->ckr);
        if (i >= m - keep)
            mkstore_push(&t->skipped, t->dhr, t->nr, seed);
        t->nr++;
    }
    sodium_memzero(seed, sizeof(seed));
    return E2E_OK;
}

/* The Double Ratchet step on receiving a new ratchet key dh. */
static e2e_status ratchet_dh_step(ratchet_session *t, const uint8_t dh[32])
{
    e2e_status rc;

    if (t->flags & RATCHET_F_HAS_DHR) {
        if (t->n_prev == RATCHET_PREV_CHAINS) {
            memmove(t->prev_dhr[0], t->prev_dhr[1], (RATCHET_PREV_CHAINS - 1) * 32);
            t->n_prev--;
        }
        memcpy(t->prev_dhr[t->n_prev++], t->dhr, 32);
    }
    t->pn = t->ns;
    t->ns = 0;
    t->nr = 0;
    memcpy(t->dhr, dh, 32);
    t->flags |= RATCHET_F_HAS_DHR;
    if ((rc = ratchet_kdf_rk(t->rk, t->ckr, &t->dhs, t->dhr)) != E2E_OK)
        return rc;
    t->flags |= RATCHET_F_HAS_CKR;
    sodium_memzero(&t->dhs, sizeof(t->dhs));
    if ((rc = keys_x25519_generate(&t->dhs)) != E2E_OK)
        return rc;
    if ((rc = ratchet_kdf_rk(t->rk, t->cks, &t->dhs, t->dhr)) != E2E_OK)
        return rc;
    t->flags |= RATCHET_F_HAS_CKS;
    return E2E_OK;
}

/* Decrypt one ratchet message on the working copy t. */
static e2e_status ratchet_decrypt_on(ratchet_session *t, const Parley__E2e__V1__RatchetMessage *rm,
                                     uint8_t **pt, size_t *pt_len)
{
    Parley__E2e__V1__RatchetHeader *hdr = NULL;
    uint8_t ad_buf[X3DH_AD_LEN + RATCHET_HEADER_MAX], seed[32];
    size_t ad_len, i;
    long k;
    e2e_status rc = E2E_ERR_FORMAT;

    memset(seed, 0, sizeof(seed));
    if (rm->header.len > RATCHET_HEADER_MAX || rm->ciphertext.len < RATCHET_ABYTES ||
        rm->ciphertext.len - RATCHET_ABYTES > RATCHET_MAX_PLAINTEXT)
        goto fail;
    hdr = parley__e2e__v1__ratchet_header__unpack(NULL, rm->header.len, rm->header.data);
    /* n = UINT32_MAX is never sent (ratchet_encrypt stops before): refusing it
     * keeps nr from wrapping. */
    if (!hdr || hdr->ratchet_key.len != 32 || hdr->n == UINT32_MAX)
        goto fail;
    ad_len = ratchet_aead_ad(t, rm->header.data, rm->header.len, ad_buf);

    /* 1. a key skipped earlier */
    k = mkstore_find(&t->skipped, hdr->ratchet_key.data, hdr->n);
    if (k >= 0) {
        rc = mkstore_open(t->skipped.e[k].seed, KDF_INFO_MESSAGE_KEYS, rm->ciphertext.data,
                          rm->ciphertext.len, ad_buf, ad_len, pt, pt_len);
        if (rc == E2E_OK)
            mkstore_remove(&t->skipped, (size_t)k);
        goto fail;
    }
    /* 2. a new ratchet key: finish the current chain, then step */
    if (!(t->flags & RATCHET_F_HAS_DHR) || sodium_memcmp(t->dhr, hdr->ratchet_key.data, 32) != 0) {
        for (i = 0; i < t->n_prev; i++) {
            if (sodium_memcmp(t->prev_dhr[i], hdr->ratchet_key.data, 32) == 0) {
                rc = E2E_ERR_DUPLICATE;   /* an old chain whose key is gone */
                goto fail;
            }
        }
        if ((rc = ratchet_skip(t, hdr->pn)) != E2E_OK)
            goto fail;
        if ((rc = ratchet_dh_step(t, hdr->ratchet_key.data)) != E2E_OK)
            goto fail;
    }
    /* 3. the current receiving chain */
    if (hdr->n < t->nr) {
        rc = E2E_ERR_DUPLICATE;
        goto fail;
    }
    if ((rc = ratchet_skip(t, hdr->n)) != E2E_OK)
        goto fail;
    kdf_chain_step(t->ckr, seed, t->ckr);
    t->nr++;
    rc = mkstore_open(seed, KDF_INFO_MESSAGE_KEYS, rm->ciphertext.data, rm->ciphertext.len, ad_buf,
                      ad_len, pt, pt_len);
fail:
    sodium_memzero(seed, sizeof(seed));
    if (hdr)
        parley__e2e__v1__ratchet_header__free_unpacked(hdr, NULL);
    return rc;
}

e2e_status ratchet_decrypt(ratchet_session *s, const uint8_t *msg, size_t len, uint8_t **pt,
                           size_t *pt_len)
{
    Parley__E2e__V1__E2EMessage *em = NULL;
    const Parley__E2e__V1__RatchetMessage *rm = NULL;
    ratchet_session *t = NULL;
    e2e_status rc = E2E_ERR_FORMAT;

    if (!pt || !pt_len)
        return E2E_ERR_INVALID;
    *pt = NULL;
    *pt_len = 0;
    if (!s || !msg)
        return E2E_ERR_INVALID;
    em = parley__e2e__v1__e2_emessage__unpack(NULL, len, msg);
    if (!em)
        goto fail;
    if (em->body_case == PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET) {
        rm = em->ratchet;
    } else if (em->body_case == PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY) {
        const Parley__E2e__V1__PreKeyMessage *p = em->prekey;
        if (p->base_key.len != 32 || p->identity_key.len != 32 || !p->message)
            goto fail;
        /* Every X3DH parameter must be the one this session was built from. */
        if ((s->flags & RATCHET_F_INITIATOR) || sodium_memcmp(p->base_key.data, s->base_key, 32) ||
            sodium_memcmp(p->identity_key.data, s->ad, 32) || p->signed_prekey_id != s->spk_id ||
            !p->has_one_time_prekey != !(s->flags & RATCHET_F_HAS_OPK) ||
            (p->has_one_time_prekey && p->one_time_prekey_id != s->opk_id)) {
            rc = E2E_ERR_NO_SESSION;
            goto fail;
        }
        rm = p->message;
    } else {
        rc = E2E_ERR_INVALID;   /* a sender-key message, or nothing */
        goto fail;
    }
    t = ratchet_clone(s);
    if (!t) {
        rc = E2E_ERR_NOMEM;
        goto fail;
    }
    rc = ratchet_decrypt_on(t, rm, pt, pt_len);
    if (rc != E2E_OK)
        goto fail;
    t->flags &= ~(uint32_t)RATCHET_F_PENDING;   /* the peer has our session */
    ratchet_commit(s, t);
    t = NULL;
fail:
    ratchet_session_free(t);
    if (em)
        parley__e2e__v1__e2_emessage__free_unpacked(em, NULL);
    return rc;
}

/* ---- serialization ------------------------------------------------------ */

#define RATCHET_SER_FIXED \
    (1 + 4 + X3DH_AD_LEN + 32 + 4 + 4 + 32 + 32 + 32 + 32 + 32 + 32 + 4 + 4 + 4 + 4)

e2e_status ratchet_session_serialize(const ratchet_session *s, uint8_t **out, size_t *out_len)
{
    uint8_t *buf, *p;
    size_t n, i;
    uint8_t version = RATCHET_STATE_VERSION;

    if (!out || !out_len)
        return E2E_ERR_INVALID;
    *out = NULL;
    *out_len = 0;
    if (!s)
        return E2E_ERR_INVALID;
    n = RATCHET_SER_FIXED + s->n_prev * 32 + mkstore_serialized_size(&s->skipped);
    buf = p = malloc(n);
    if (!buf)
        return E2E_ERR_NOMEM;
    e2e__put(&p, &version, 1);
    e2e__put_u32(&p, s->flags);
    e2e__put(&p, s->ad, X3DH_AD_LEN);
    e2e__put(&p, s->base_key, 32);
    e2e__put_u32(&p, s->spk_id);
    e2e__put_u32(&p, s->opk_id);
    e2e__put(&p, s->rk, 32);
    e2e__put(&p, s->dhs.pk, 32);
    e2e__put(&p, s->dhs.sk, 32);
    e2e__put(&p, s->dhr, 32);
    e2e__put(&p, s->cks, 32);
    e2e__put(&p, s->ckr, 32);
    e2e__put_u32(&p, s->ns);
    e2e__put_u32(&p, s->nr);
    e2e__put_u32(&p, s->pn);
    e2e__put_u32(&p, s->n_prev);
    for (i = 0; i < s->n_prev; i++)
        e2e__put(&p, s->prev_dhr[i], 32);
    mkstore_write(&s->skipped, &p);
    *out = buf;
    *out_len = n;
    return E2E_OK;
}

e2e_status ratchet_session_deserialize(ratchet_session **out, const uint8_t *in, size_t len)
{
    ratchet_session *s = NULL;
    const uint8_t *p = NULL;
    size_t left = 0, i;
    e2e_status rc;

    if (!out)
        return E2E_ERR_INVALID;
    *out = NULL;
    if ((rc = e2e__state_begin(in, len, RATCHET_STATE_VERSION, &p, &left)) != E2E_OK)
        return rc;
    rc = E2E_ERR_FORMAT;
    s = calloc(1, sizeof(*s));
    if (!s)
        return E2E_ERR_NOMEM;
    if (e2e__get_u32(&p, &left, &s->flags) || (s->flags & ~(uint32_t)RATCHET_F_ALL) ||
        e2e__get(&p, &left, s->ad, X3DH_AD_LEN) || e2e__get(&p, &left, s->base_key, 32) ||
        e2e__get_u32(&p, &left, &s->spk_id) || e2e__get_u32(&p, &left, &s->opk_id) ||
        e2e__get(&p, &left, s->rk, 32) || e2e__get(&p, &left, s->dhs.pk, 32) ||
        e2e__get(&p, &left, s->dhs.sk, 32) || e2e__get(&p, &left, s->dhr, 32) ||
        e2e__get(&p, &left, s->cks, 32) || e2e__get(&p, &left, s->ckr, 32) ||
        e2e__get_u32(&p, &left, &s->ns) || e2e__get_u32(&p, &left, &s->nr) ||
        e2e__get_u32(&p, &left, &s->pn) || e2e__get_u32(&p, &left, &s->n_prev) ||
        s->n_prev > RATCHET_PREV_CHAINS)
        goto fail;
    for (i = 0; i < s->n_prev; i++)
        if (e2e__get(&p, &left, s->prev_dhr[i], 32))
            goto fail;
    if ((rc = mkstore_read_last(&s->skipped, &p, &left, RATCHET_MAX_MESSAGE_KEYS)) != E2E_OK)
        goto fail;
    *out = s;
    s = NULL;
    rc = E2E_OK;
fail:
    ratchet_session_free(s);
    return rc;
}
