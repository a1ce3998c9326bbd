/*
 * fixture.c - deterministic crypto state for the fuzz targets (fixture.h).
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.pb-c.h"
#include "ratchet.h"
#include "sender_keys.h"

/* ---- deterministic randombytes (splitmix64) ------------------------------ */

static uint64_t rng_state = 0x5eed;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const char *rng_name(void)
{
    return "parley-fuzz-deterministic";
}

static uint32_t rng_random(void)
{
    return (uint32_t)(rng_next() >> 32);
}

static void rng_buf(void *const buf, const size_t size)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < size; i += 8) {
        uint64_t v = rng_next();
        size_t n = size - i < 8 ? size - i : 8;
        memcpy(p + i, &v, n);
    }
}

static struct randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .stir = NULL,
    .uniform = NULL,   /* libsodium derives it from random() */
    .buf = rng_buf,
    .close = NULL,
};

void fuzz_rng_install(void)
{
    static int done;

    if (done)
        return;
    if (randombytes_set_implementation(&rng_impl) != 0 || sodium_init() < 0) {
        fprintf(stderr, "fixture: cannot install the deterministic RNG\n");
        abort();
    }
    done = 1;
}

void fuzz_rng_reset(uint64_t seed)
{
    rng_state = seed;
}

/* ---- helpers --------------------------------------------------------------- */

#define TRY(expr) \
    do { \
        e2e_status rc_ = (expr); \
        if (rc_ != E2E_OK) { \
            fprintf(stderr, "fixture: %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
                    e2e_strerror(rc_)); \
            goto fail; \
        } \
    } while (0)

static fuzz_blob *add_msg(fuzz_fixture *f, const char *name, uint8_t *data, size_t len)
{
    fuzz_blob *b;

    if (f->n_msgs == FUZZ_FIXTURE_MAX_MSGS) {
        fprintf(stderr, "fixture: too many messages\n");
        abort();
    }
    b = &f->msgs[f->n_msgs++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->data = data;
    b->len = len;
    return b;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);

    if (!d)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

static e2e_status r_send(ratchet_session *s, const char *text, uint8_t **out, size_t *len)
{
    return ratchet_encrypt(s, (const uint8_t *)text, strlen(text), out, len);
}

static e2e_status r_recv(ratchet_session *s, const uint8_t *m, size_t len)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    e2e_status rc = ratchet_decrypt(s, m, len, &pt, &n);

    free(pt);
    return rc;
}

/* A RatchetMessage E2EMessage with a header of our choosing (malloc'd). */
static uint8_t *forge_ratchet(const uint8_t *key, size_t key_len, uint32_t pn, uint32_t n,
                              size_t ct_len, size_t *out_len)
{
    Parley__E2e__V1__RatchetHeader h = PARLEY__E2E__V1__RATCHET_HEADER__INIT;
    Parley__E2e__V1__RatchetMessage rm = PARLEY__E2E__V1__RATCHET_MESSAGE__INIT;
    Parley__E2e__V1__E2EMessage em = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    uint8_t hbuf[128], ct[64];
    uint8_t *out;

    memset(ct, 0xab, sizeof ct);
    h.ratchet_key.data = (uint8_t *)key;
    h.ratchet_key.len = key_len;
    h.pn = pn;
    h.n = n;
    rm.header.len = parley__e2e__v1__ratchet_header__pack(&h, hbuf);
    rm.header.data = hbuf;
    rm.ciphertext.data = ct;
    rm.ciphertext.len = ct_len < sizeof ct ? ct_len : sizeof ct;
    em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET;
    em.ratchet = &rm;
    *out_len = parley__e2e__v1__e2_emessage__get_packed_size(&em);
    out = malloc(*out_len);
    if (!out)
        abort();
    parley__e2e__v1__e2_emessage__pack(&em, out);
    return out;
}

/* ---- pairwise sessions ----------------------------------------------------- */

int fuzz_fixture_ratchet(fuzz_fixture *f)
{
    keys_identity alice, bob;
    keys_signed_prekey spk;
    keys_one_time_prekey opk;
    x3dh_bundle bundle;
    ratchet_session *a = NULL, *b = NULL;
    uint8_t *m[7] = {0}, *r1 = NULL, *r2 = NULL, *pt = NULL, seed[32];
    size_t ml[7] = {0}, r1l = 0, r2l = 0, ptl = 0;
    int ret = -1;

    memset(f, 0, sizeof(*f));
    fuzz_rng_install();
    fuzz_rng_reset(0x9a7c4e7);
    memset(seed, 'A', sizeof seed);
    TRY(keys_identity_from_seed(&alice, seed));
    memset(seed, 'B', sizeof seed);
    TRY(keys_identity_from_seed(&bob, seed));
    TRY(keys_signed_prekey_generate(&bob, 7, &spk));
    TRY(keys_one_time_prekeys_generate(100, 1, &opk));
    memset(&bundle, 0, sizeof bundle);
    memcpy(bundle.identity_key, bob.pk, 32);
    bundle.signed_prekey_id = spk.key_id;
    memcpy(bundle.signed_prekey, spk.kp.pk, 32);
    memcpy(bundle.signed_prekey_signature, spk.signature, 64);
    bundle.has_one_time_prekey = true;
    bundle.one_time_prekey_id = opk.key_id;
    memcpy(bundle.one_time_prekey, opk.kp.pk, 32);

    /* Alice's chain 1: m1 (PreKey). Bob answers r1; Alice's chain 2: m2 m3 m4,
     * Bob receives m3 only (keeps m2's key) and answers r2; Alice's chain 3:
     * m5 m6. Bob's final state is the fixture. */
    TRY(ratchet_session_initiate(&a, &alice, &bundle));
    TRY(r_send(a, "m1 hello bob", &m[1], &ml[1]));
    TRY(ratchet_session_respond(&b, &bob, &spk.kp, &opk.kp, m[1], ml[1], &pt, &ptl));
    TRY(r_send(b, "r1 hello alice", &r1, &r1l));
    TRY(r_recv(a, r1, r1l));
    TRY(r_send(a, "m2 skipped by bob", &m[2], &ml[2]));
    TRY(r_send(a, "m3", &m[3], &ml[3]));
    TRY(r_recv(b, m[3], ml[3]));
    TRY(r_send(a, "m4 next in chain 2", &m[4], &ml[4]));
    TRY(r_send(b, "r2", &r2, &r2l));
    TRY(r_recv(a, r2, r2l));
    TRY(r_send(a, "m5 first of chain 3", &m[5], &ml[5]));
    TRY(r_send(a, "m6 second of chain 3", &m[6], &ml[6]));
    TRY(ratchet_session_serialize(b, &f->state.data, &f->state.len));
    snprintf(f->state.name, sizeof f->state.name, "bob_session");
    TRY(ratchet_session_serialize(a, &f->peer_state.data, &f->peer_state.len));
    snprintf(f->peer_state.name, sizeof f->peer_state.name, "alice_session");

    add_msg(f, "ok_skipped_m2", m[2], ml[2]);
    add_msg(f, "ok_next_m4", m[4], ml[4]);
    add_msg(f, "ok_new_chain_m5", m[5], ml[5]);
    add_msg(f, "ok_new_chain_skip_m6", m[6], ml[6]);
    add_msg(f, "bad_dup_prekey_m1", m[1], ml[1]);
    add_msg(f, "bad_dup_m3", m[3], ml[3]);
    m[1] = m[2] = m[3] = m[4] = m[5] = m[6] = NULL;   /* owned by f now */
    {
        fuzz_blob *t = add_msg(f, "bad_tampered_m4", dup_bytes(f->msgs[1].data, f->msgs[1].len),
                               f->msgs[1].len);
        t->data[t->len - 1] ^= 0x01;
    }
    add_msg(f, "bad_own_r2", r2, r2l);
    r2 = NULL;
    {
        static const uint8_t zero[32];
        uint8_t key[32];
        size_t n;
        uint8_t *x;

        memset(key, 0x42, sizeof key);
        x = forge_ratchet(key, 32, 0, 3000, 40, &n);   /* > MAX_MESSAGE_KEYS: evicts */
        add_msg(f, "bad_far_jump", x, n);
        x = forge_ratchet(key, 32, 30000, 0, 40, &n);
        add_msg(f, "bad_far_pn", x, n);
        x = forge_ratchet(key, 32, 0, 0xFFFFFFFFu, 40, &n);
        add_msg(f, "bad_n_max", x, n);
        x = forge_ratchet(zero, 32, 0, 0, 40, &n);
        add_msg(f, "bad_low_order_key", x, n);
        x = forge_ratchet(key, 31, 0, 0, 40, &n);
        add_msg(f, "bad_short_key", x, n);
        x = forge_ratchet(key, 32, 0, 0, 15, &n);
        add_msg(f, "bad_short_ciphertext", x, n);
    }
    ret = 0;
fail:
    for (size_t i = 0; i < 7; i++)
        free(m[i]);
    free(r1);
    free(r2);
    free(pt);
    ratchet_session_free(a);
    ratchet_session_free(b);
    sodium_memzero(&alice, sizeof alice);
    sodium_memzero(&bob, sizeof bob);
    sodium_memzero(&spk, sizeof spk);
    sodium_memzero(&opk, sizeof opk);
    if (ret != 0)
        fuzz_fixture_free(f);
    return ret;
}

/* ---- sender keys ----------------------------------------------------------- */

size_t fuzz_sender_key_header(const char *group, uint32_t chain_id, uint32_t iteration,
                              uint8_t *buf)
{
    static const char ctx[] = "Parley_SenderKey_v1";
    size_t glen = strlen(group), n = 0;

    memcpy(buf, ctx, sizeof ctx - 1);
    n += sizeof ctx - 1;
    buf[n++] = (uint8_t)glen;
    memcpy(buf + n, group, glen);
    n += glen;
    for (int i = 3; i >= 0; i--)
        buf[n++] = (uint8_t)(chain_id >> (8 * i));
    for (int i = 3; i >= 0; i--)
        buf[n++] = (uint8_t)(iteration >> (8 * i));
    return n;
}

int fuzz_sender_key_resign(const uint8_t *msg, size_t len, const char *group, const uint8_t sk[64],
                           uint8_t **out, size_t *out_len)
{
    Parley__E2e__V1__E2EMessage *em = parley__e2e__v1__e2_emessage__unpack(NULL, len, msg);
    Parley__E2e__V1__SenderKeyMessage *m;
    uint8_t sig[64], *signed_buf = NULL;
    size_t hlen;
    uint8_t *old_sig;
    size_t old_len;
    int ret = -1;

    *out = NULL;
    *out_len = 0;
    if (!em || em->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY)
        goto done;
    m = em->sender_key;
    signed_buf = malloc(19 + 1 + 255 + 8 + m->ciphertext.len);
    if (!signed_buf)
        abort();
    hlen = fuzz_sender_key_header(group, m->chain_id, m->iteration, signed_buf);
    if (m->ciphertext.len)
        memcpy(signed_buf + hlen, m->ciphertext.data, m->ciphertext.len);
    crypto_sign_detached(sig, NULL, signed_buf, hlen + m->ciphertext.len, sk);
    old_sig = m->signature.data;
    old_len = m->signature.len;
    m->signature.data = sig;
    m->signature.len = sizeof sig;
    *out_len = parley__e2e__v1__e2_emessage__get_packed_size(em);
    *out = malloc(*out_len ? *out_len : 1);
    if (!*out)
        abort();
    parley__e2e__v1__e2_emessage__pack(em, *out);
    m->signature.data = old_sig;   /* free_unpacked owns the original */
    m->signature.len = old_len;
    ret = 0;
done:
    free(signed_buf);
    if (em)
        parley__e2e__v1__e2_emessage__free_unpacked(em, NULL);
    return ret;
}

/* A sender-key message with the fields of m but another chain id / iteration, re-signed. */
static uint8_t *sk_variant(const fuzz_fixture *f, const uint8_t *msg, size_t len, int chain_delta,
                           uint32_t iteration, size_t *out_len)
{
    Parley__E2e__V1__E2EMessage *em = parley__e2e__v1__e2_emessage__unpack(NULL, len, msg);
    uint8_t *packed, *out = NULL;
    size_t plen;

    if (!em || em->body_case != PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY)
        abort();
    em->sender_key->chain_id += (uint32_t)chain_delta;
    em->sender_key->iteration = iteration;
    plen = parley__e2e__v1__e2_emessage__get_packed_size(em);
    if (!(packed = malloc(plen)))
        abort();
    parley__e2e__v1__e2_emessage__pack(em, packed);
    parley__e2e__v1__e2_emessage__free_unpacked(em, NULL);
    if (fuzz_sender_key_resign(packed, plen, FUZZ_GROUP_ID, f->sig_sk, &out, out_len) != 0)
        abort();
    free(packed);
    return out;
}

static e2e_status sk_recv(sender_keys_state *s, const uint8_t *m, size_t len)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    e2e_status rc = sender_keys_decrypt(s, m, len, &pt, &n);

    free(pt);
    return rc;
}

int fuzz_fixture_sender_keys(fuzz_fixture *f)
{
    sender_keys_state *a = NULL, *b = NULL;
    sender_keys_distribution d;
    uint8_t *m[6] = {0}, pk[32];
    size_t ml[6] = {0}, off;
    char text[32];
    int ret = -1;

    memset(f, 0, sizeof(*f));
    memset(&d, 0, sizeof d);
    fuzz_rng_install();
    fuzz_rng_reset(0x5e9de7);
    TRY(sender_keys_create(&a, FUZZ_GROUP_ID));
    TRY(sender_keys_distribution_get(a, &d));
    TRY(sender_keys_from_distribution(&b, &d));
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "s%d group message", i);
        TRY(sender_keys_encrypt(a, (const uint8_t *)text, strlen(text), &m[i], &ml[i]));
    }
    TRY(sk_recv(b, m[0], ml[0]));
    TRY(sk_recv(b, m[2], ml[2]));
    TRY(sk_recv(b, m[3], ml[3]));
    TRY(sender_keys_serialize(b, &f->state.data, &f->state.len));
    snprintf(f->state.name, sizeof f->state.name, "member_state");
    TRY(sender_keys_serialize(a, &f->peer_state.data, &f->peer_state.len));
    snprintf(f->peer_state.name, sizeof f->peer_state.name, "sender_state");
    /* The sender's signing key, read from its serialized state (version, flags, glen, group,
     * chain id, iteration, chain key, sig pk, sig sk, ...), checked against the public key. */
    off = 1 + 4 + 1 + strlen(FUZZ_GROUP_ID) + 4 + 4 + 32 + 32;
    if (f->peer_state.len < off + 64) {
        fprintf(stderr, "fixture: sender state layout changed\n");
        goto fail;
    }
    memcpy(f->sig_sk, f->peer_state.data + off, 64);
    if (crypto_sign_ed25519_sk_to_pk(pk, f->sig_sk) != 0 || memcmp(pk, d.signature_key, 32) != 0) {
        fprintf(stderr, "fixture: sender state layout changed (signing key)\n");
        goto fail;
    }

    add_msg(f, "ok_skipped_s1", m[1], ml[1]);
    add_msg(f, "ok_next_s4", m[4], ml[4]);
    add_msg(f, "ok_skip_s5", m[5], ml[5]);
    add_msg(f, "bad_dup_s0", m[0], ml[0]);
    add_msg(f, "bad_dup_s3", m[3], ml[3]);
    {
        size_t n;
        uint8_t *x;

        x = sk_variant(f, m[4], ml[4], 1, 4, &n);
        add_msg(f, "bad_wrong_chain", x, n);
        x = sk_variant(f, m[4], ml[4], 0, 4 + 25001, &n);
        add_msg(f, "bad_too_far", x, n);
        x = sk_variant(f, m[4], ml[4], 0, 4 + 2500, &n);
        add_msg(f, "bad_far_jump_resigned", x, n);
        x = sk_variant(f, m[4], ml[4], 0, 0xFFFFFFFFu, &n);
        add_msg(f, "bad_iteration_max", x, n);
        x = dup_bytes(m[5], ml[5]);
        x[ml[5] - 1] ^= 0x80;   /* last byte of the signature */
        add_msg(f, "bad_signature", x, ml[5]);
    }
    free(m[2]);   /* the others are owned by f now */
    for (int i = 0; i < 6; i++)
        m[i] = NULL;
    ret = 0;
fail:
    for (int i = 0; i < 6; i++)
        free(m[i]);
    sodium_memzero(&d, sizeof d);
    sender_keys_free(a);
    sender_keys_free(b);
    if (ret != 0)
        fuzz_fixture_free(f);
    return ret;
}

void fuzz_fixture_free(fuzz_fixture *f)
{
    if (f->state.data)
        sodium_memzero(f->state.data, f->state.len);
    free(f->state.data);
    if (f->peer_state.data)
        sodium_memzero(f->peer_state.data, f->peer_state.len);
    free(f->peer_state.data);
    for (size_t i = 0; i < f->n_msgs; i++)
        free(f->msgs[i].data);
    sodium_memzero(f, sizeof(*f));
}
