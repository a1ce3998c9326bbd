/*
 * test_x3dh.c - X3DH agreement with and without a one-time prekey, and
 * refusal of bundles whose signed prekey signature does not verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"
#include "ratchet.h"
#include "x3dh.h"

typedef struct {
    keys_identity alice, bob;
    keys_signed_prekey spk;
    keys_one_time_prekey opk;
    x3dh_bundle bundle;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (!f || keys_identity_generate(&f->alice) != E2E_OK ||
        keys_identity_generate(&f->bob) != E2E_OK ||
        keys_signed_prekey_generate(&f->bob, 7, &f->spk) != E2E_OK ||
        keys_one_time_prekeys_generate(42, 1, &f->opk) != E2E_OK)
        return -1;
    memcpy(f->bundle.identity_key, f->bob.pk, 32);
    f->bundle.signed_prekey_id = f->spk.key_id;
    memcpy(f->bundle.signed_prekey, f->spk.kp.pk, 32);
    memcpy(f->bundle.signed_prekey_signature, f->spk.signature, 64);
    f->bundle.has_one_time_prekey = true;
    f->bundle.one_time_prekey_id = f->opk.key_id;
    memcpy(f->bundle.one_time_prekey, f->opk.kp.pk, 32);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    keys_wipe(*state, sizeof(fixture));
    free(*state);
    return 0;
}

static void agree(fixture *f, bool with_opk)
{
    keys_x25519 eph;
    uint8_t sk_a[32], ad_a[64], sk_b[32], ad_b[64];

    f->bundle.has_one_time_prekey = with_opk;
    assert_int_equal(keys_x25519_generate(&eph), E2E_OK);
    assert_int_equal(x3dh_initiate(&f->alice, &f->bundle, &eph, sk_a, ad_a), E2E_OK);
    assert_int_equal(x3dh_respond(&f->bob, &f->spk.kp, with_opk ? &f->opk.kp : NULL, f->alice.pk,
                                  eph.pk, sk_b, ad_b),
                     E2E_OK);
    assert_memory_equal(sk_a, sk_b, 32);
    assert_memory_equal(ad_a, ad_b, 64);
    assert_memory_equal(ad_a, f->alice.pk, 32);
    assert_memory_equal(ad_a + 32, f->bob.pk, 32);
    /* Using (or omitting) the one-time prekey on one side only diverges. */
    assert_int_equal(x3dh_respond(&f->bob, &f->spk.kp, with_opk ? NULL : &f->opk.kp, f->alice.pk,
                                  eph.pk, sk_b, ad_b),
                     E2E_OK);
    assert_memory_not_equal(sk_a, sk_b, 32);
    keys_wipe(&eph, sizeof(eph));
    keys_wipe(sk_a, sizeof(sk_a));
    keys_wipe(sk_b, sizeof(sk_b));
}

static void test_with_one_time_prekey(void **state)
{
    agree(*state, true);
}

static void test_without_one_time_prekey(void **state)
{
    agree(*state, false);
}

static void test_bad_signature_refused(void **state)
{
    fixture *f = *state;
    x3dh_bundle b = f->bundle;
    keys_identity mallory;
    keys_x25519 eph;
    ratchet_session *s = NULL;
    uint8_t sk[32], ad[64], zero[32] = {0};
    size_t bit;

    assert_int_equal(keys_x25519_generate(&eph), E2E_OK);
    /* Any single flipped bit of the signature. */
    for (bit = 0; bit < 64 * 8; bit += 37) {
        b = f->bundle;
        b.signed_prekey_signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(sk, 0x55, sizeof(sk));
        assert_int_equal(x3dh_initiate(&f->alice, &b, &eph, sk, ad), E2E_ERR_SIGNATURE);
        assert_memory_equal(sk, zero, 32);
    }
    /* A prekey swapped by the server, signed by another identity. */
    b = f->bundle;
    assert_int_equal(keys_identity_generate(&mallory), E2E_OK);
    assert_int_equal(crypto_sign_detached(b.signed_prekey_signature, NULL, eph.pk, 32, mallory.sk),
                     0);
    memcpy(b.signed_prekey, eph.pk, 32);
    assert_int_equal(x3dh_initiate(&f->alice, &b, &eph, sk, ad), E2E_ERR_SIGNATURE);
    assert_int_equal(ratchet_session_initiate(&s, &f->alice, &b), E2E_ERR_SIGNATURE);
    assert_null(s);
    /* The genuine bundle is accepted. */
    assert_int_equal(ratchet_session_initiate(&s, &f->alice, &f->bundle), E2E_OK);
    assert_non_null(s);
    ratchet_session_free(s);
    keys_wipe(&mallory, sizeof(mallory));
    keys_wipe(&eph, sizeof(eph));
}

static void test_identity_conversion(void **state)
{
    fixture *f = *state;
    uint8_t xpk[32], xsk[32], derived[32];

    /* The X25519 forms of the Ed25519 identity are a key pair. */
    assert_int_equal(keys_identity_pk_to_x25519(xpk, f->alice.pk), E2E_OK);
    assert_int_equal(keys_identity_sk_to_x25519(xsk, f->alice.sk), E2E_OK);
    assert_int_equal(crypto_scalarmult_base(derived, xsk), 0);
    assert_memory_equal(derived, xpk, 32);
    keys_wipe(xsk, sizeof(xsk));
    /* The signed prekey signature verifies and binds the prekey. */
    assert_int_equal(keys_signed_prekey_verify(f->bob.pk, f->spk.kp.pk, f->spk.signature), E2E_OK);
    assert_int_equal(keys_signed_prekey_verify(f->alice.pk, f->spk.kp.pk, f->spk.signature),
                     E2E_ERR_SIGNATURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_with_one_time_prekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_one_time_prekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_conversion, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
