/*
 * test_kat.c - the core against an independent reference: vectors/parley_kat.txt
 * is produced by vectors/gen_parley_kat.py (Python `cryptography`, written
 * from docs/protocol.md, no code shared with the core). Covers key
 * derivation from seeds, the Ed25519 -> X25519 map, the signed-prekey
 * signature, X3DH, the first ratchet step, the message keys, the header
 * encoding, a PreKey message built from the reference's bytes that the
 * responder must open, a sender-key message, and a safety number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "e2e.pb-c.h"
#include "kdf.h"
#include "keys.h"
#include "ratchet.h"
#include "safety_number.h"
#include "sender_keys.h"
#include "vectors.h"
#include "x3dh.h"

static vectors_file *kat;

/* The field's bytes into out; its length must be n. */
static void field(const char *name, uint8_t *out, size_t n)
{
    size_t len = 0;
    uint8_t *v = vectors_hex(&kat->records[0], name, &len);

    assert_non_null(v);
    assert_int_equal(len, n);
    memcpy(out, v, n);
    free(v);
}

/* A malloc'd copy of a variable-length field. */
static uint8_t *field_dup(const char *name, size_t *len)
{
    uint8_t *v = vectors_hex(&kat->records[0], name, len);

    assert_non_null(v);
    return v;
}

static int setup(void **state)
{
    (void)state;
    kat = vectors_load("parley_kat.txt");
    return kat && kat->n_records == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vectors_free(kat);
    return 0;
}

typedef struct {
    keys_identity alice, bob;
    keys_x25519 spk, opk, eph;
    x3dh_bundle bundle;
} parties;

static void load_parties(parties *p)
{
    uint8_t seed[32], secret[32], expect[64];

    field("alice_seed", seed, 32);
    assert_int_equal(keys_identity_from_seed(&p->alice, seed), E2E_OK);
    field("alice_ik", expect, 32);
    assert_memory_equal(p->alice.pk, expect, 32);
    field("bob_seed", seed, 32);
    assert_int_equal(keys_identity_from_seed(&p->bob, seed), E2E_OK);
    field("bob_ik", expect, 32);
    assert_memory_equal(p->bob.pk, expect, 32);
    field("spk_secret", secret, 32);
    assert_int_equal(keys_x25519_from_secret(&p->spk, secret), E2E_OK);
    field("spk_pub", expect, 32);
    assert_memory_equal(p->spk.pk, expect, 32);
    field("opk_secret", secret, 32);
    assert_int_equal(keys_x25519_from_secret(&p->opk, secret), E2E_OK);
    field("opk_pub", expect, 32);
    assert_memory_equal(p->opk.pk, expect, 32);
    field("eph_secret", secret, 32);
    assert_int_equal(keys_x25519_from_secret(&p->eph, secret), E2E_OK);
    field("eph_pub", expect, 32);
    assert_memory_equal(p->eph.pk, expect, 32);

    memset(&p->bundle, 0, sizeof(p->bundle));
    memcpy(p->bundle.identity_key, p->bob.pk, 32);
    p->bundle.signed_prekey_id = 7;
    memcpy(p->bundle.signed_prekey, p->spk.pk, 32);
    field("spk_signature", p->bundle.signed_prekey_signature, 64);
    p->bundle.has_one_time_prekey = true;
    p->bundle.one_time_prekey_id = 42;
    memcpy(p->bundle.one_time_prekey, p->opk.pk, 32);
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(secret, sizeof(secret));
}

static void test_keys_and_x3dh(void **state)
{
    parties p;
    uint8_t buf[64], expect[64], sk[32], ad[64];

    (void)state;
    load_parties(&p);
    /* Ed25519 -> X25519 */
    assert_int_equal(keys_identity_pk_to_x25519(buf, p.bob.pk), E2E_OK);
    field("bob_ik_x25519", expect, 32);
    assert_memory_equal(buf, expect, 32);
    assert_int_equal(keys_identity_sk_to_x25519(buf, p.alice.sk), E2E_OK);
    field("alice_ik_x25519_secret", expect, 32);
    assert_memory_equal(buf, expect, 32);
    /* Ed25519 is deterministic: the signature over the raw prekey matches. */
    assert_int_equal(crypto_sign_detached(buf, NULL, p.spk.pk, 32, p.bob.sk), 0);
    assert_memory_equal(buf, p.bundle.signed_prekey_signature, 64);
    assert_int_equal(keys_signed_prekey_verify(p.bob.pk, p.spk.pk, buf), E2E_OK);
    /* X3DH, both sides, with and without the one-time prekey */
    assert_int_equal(x3dh_initiate(&p.alice, &p.bundle, &p.eph, sk, ad), E2E_OK);
    field("x3dh_sk", expect, 32);
    assert_memory_equal(sk, expect, 32);
    field("ad", expect, 64);
    assert_memory_equal(ad, expect, 64);
    assert_int_equal(x3dh_respond(&p.bob, &p.spk, &p.opk, p.alice.pk, p.eph.pk, sk, ad), E2E_OK);
    field("x3dh_sk", expect, 32);
    assert_memory_equal(sk, expect, 32);
    p.bundle.has_one_time_prekey = false;
    assert_int_equal(x3dh_initiate(&p.alice, &p.bundle, &p.eph, sk, ad), E2E_OK);
    field("x3dh_sk_no_opk", expect, 32);
    assert_memory_equal(sk, expect, 32);
    sodium_memzero(sk, sizeof(sk));
    keys_wipe(&p, sizeof(p));
}

static void test_ratchet_step_and_message_keys(void **state)
{
    uint8_t sk[32], secret[32], spk_pub[32], dh[32], okm[64], expect[32];
    uint8_t seed[32], next[32], key[32], nonce[24], exp_nonce[24];
    Parley__E2e__V1__RatchetHeader hdr = PARLEY__E2E__V1__RATCHET_HEADER__INIT;
    keys_x25519 ratchet;
    uint8_t packed[64], *want;
    size_t want_len, n;

    (void)state;
    field("x3dh_sk", sk, 32);
    field("ratchet_secret", secret, 32);
    field("spk_pub", spk_pub, 32);
    assert_int_equal(keys_x25519_from_secret(&ratchet, secret), E2E_OK);
    field("ratchet_pub", expect, 32);
    assert_memory_equal(ratchet.pk, expect, 32);
    /* KDF_RK */
    assert_int_equal(crypto_scalarmult(dh, ratchet.sk, spk_pub), 0);
    assert_int_equal(kdf_hkdf(okm, 64, sk, 32, dh, 32, (const uint8_t *)KDF_INFO_RATCHET,
                              strlen(KDF_INFO_RATCHET)),
                     E2E_OK);
    field("rk1", expect, 32);
    assert_memory_equal(okm, expect, 32);
    field("cks", expect, 32);
    assert_memory_equal(okm + 32, expect, 32);
    /* KDF_CK and the message keys */
    kdf_chain_step(okm + 32, seed, next);
    field("mk_seed", expect, 32);
    assert_memory_equal(seed, expect, 32);
    field("ck_next", expect, 32);
    assert_memory_equal(next, expect, 32);
    kdf_message_keys(seed, KDF_INFO_MESSAGE_KEYS, key, nonce);
    field("aead_key", expect, 32);
    assert_memory_equal(key, expect, 32);
    field("aead_nonce", exp_nonce, 24);
    assert_memory_equal(nonce, exp_nonce, 24);
    /* The header's protobuf encoding matches the reference byte for byte. */
    hdr.ratchet_key.data = ratchet.pk;
    hdr.ratchet_key.len = 32;
    hdr.pn = 7;
    hdr.n = 300;
    n = parley__e2e__v1__ratchet_header__pack(&hdr, packed);
    want = field_dup("header_pn7_n300", &want_len);
    assert_int_equal(n, want_len);
    assert_memory_equal(packed, want, n);
    free(want);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(okm, sizeof(okm));
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(key, sizeof(key));
    keys_wipe(&ratchet, sizeof(ratchet));
}

/* Alice's first message as the reference made it, wrapped in a PreKey
 * message: bob's core must build the session and read "hello bob". */
static void test_responder_opens_reference_message(void **state)
{
    Parley__E2e__V1__RatchetMessage rm = PARLEY__E2E__V1__RATCHET_MESSAGE__INIT;
    Parley__E2e__V1__PreKeyMessage pkm = PARLEY__E2E__V1__PRE_KEY_MESSAGE__INIT;
    Parley__E2e__V1__E2EMessage em = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    parties p;
    ratchet_session *bob = NULL;
    uint8_t *header, *ct, *plain, *msg, *pt = NULL;
    size_t header_len, ct_len, plain_len, msg_len, pt_len = 0;

    (void)state;
    load_parties(&p);
    header = field_dup("header", &header_len);
    ct = field_dup("ciphertext", &ct_len);
    plain = field_dup("plaintext", &plain_len);
    rm.header.data = header;
    rm.header.len = header_len;
    rm.ciphertext.data = ct;
    rm.ciphertext.len = ct_len;
    pkm.identity_key.data = p.alice.pk;
    pkm.identity_key.len = 32;
    pkm.base_key.data = p.eph.pk;
    pkm.base_key.len = 32;
    pkm.signed_prekey_id = 7;
    pkm.has_one_time_prekey = 1;
    pkm.one_time_prekey_id = 42;
    pkm.message = &rm;
    em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY;
    em.prekey = &pkm;
    msg_len = parley__e2e__v1__e2_emessage__get_packed_size(&em);
    msg = malloc(msg_len);
    assert_non_null(msg);
    parley__e2e__v1__e2_emessage__pack(&em, msg);
    assert_int_equal(
        ratchet_session_respond(&bob, &p.bob, &p.spk, &p.opk, msg, msg_len, &pt, &pt_len), E2E_OK);
    assert_int_equal(pt_len, plain_len);
    assert_memory_equal(pt, plain, plain_len);
    assert_memory_equal(ratchet_session_peer_identity(bob), p.alice.pk, 32);
    free(pt);
    ratchet_session_free(bob);
    free(msg);
    free(header);
    free(ct);
    free(plain);
    keys_wipe(&p, sizeof(p));
}

static void test_sender_key_message(void **state)
{
    Parley__E2e__V1__SenderKeyMessage skm = PARLEY__E2E__V1__SENDER_KEY_MESSAGE__INIT;
    Parley__E2e__V1__E2EMessage em = PARLEY__E2E__V1__E2_EMESSAGE__INIT;
    sender_keys_distribution d;
    sender_keys_state *r = NULL;
    uint8_t chain_id_be[4], *group, *ct, *sig, *plain, *msg, *pt = NULL;
    size_t group_len, ct_len, sig_len, plain_len, msg_len, pt_len = 0;

    (void)state;
    memset(&d, 0, sizeof(d));
    group = field_dup("sk_group", &group_len);
    assert_true(group_len <= SENDER_KEYS_GROUP_MAX);
    memcpy(d.group_id, group, group_len);
    field("sk_chain_id", chain_id_be, 4);
    d.chain_id = ((uint32_t)chain_id_be[0] << 24) | ((uint32_t)chain_id_be[1] << 16) |
                 ((uint32_t)chain_id_be[2] << 8) | chain_id_be[3];
    d.iteration = 0;
    field("sk_chain_key", d.chain_key, 32);
    field("sk_signature_key", d.signature_key, 32);
    assert_int_equal(sender_keys_from_distribution(&r, &d), E2E_OK);
    ct = field_dup("sk_ciphertext_5", &ct_len);
    sig = field_dup("sk_signature_5", &sig_len);
    plain = field_dup("plaintext", &plain_len);
    skm.chain_id = d.chain_id;
    skm.iteration = 5;
    skm.ciphertext.data = ct;
    skm.ciphertext.len = ct_len;
    skm.signature.data = sig;
    skm.signature.len = sig_len;
    em.body_case = PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY;
    em.sender_key = &skm;
    msg_len = parley__e2e__v1__e2_emessage__get_packed_size(&em);
    msg = malloc(msg_len);
    assert_non_null(msg);
    parley__e2e__v1__e2_emessage__pack(&em, msg);
    assert_int_equal(sender_keys_decrypt(r, msg, msg_len, &pt, &pt_len), E2E_OK);
    assert_int_equal(pt_len, plain_len);
    assert_memory_equal(pt, plain, plain_len);
    free(pt);
    sender_keys_free(r);
    keys_wipe(&d, sizeof(d));
    free(msg);
    free(group);
    free(ct);
    free(sig);
    free(plain);
}

static void test_safety_number(void **state)
{
    uint8_t a[32], b[32];
    char digits[SAFETY_NUMBER_DIGITS + 1];

    (void)state;
    field("alice_ik", a, 32);
    field("bob_ik", b, 32);
    assert_int_equal(safety_number_compute("alice", a, "bob", b, digits), E2E_OK);
    assert_string_equal(digits, vectors_str(&kat->records[0], "safety_number"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_x3dh),
        cmocka_unit_test(test_ratchet_step_and_message_keys),
        cmocka_unit_test(test_responder_opens_reference_message),
        cmocka_unit_test(test_sender_key_message),
        cmocka_unit_test(test_safety_number),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
