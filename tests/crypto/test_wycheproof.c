/*
 * test_wycheproof.c - Wycheproof vectors for the primitives the core relies
 * on: X25519 (including low-order public keys, which the core must refuse)
 * and XChaCha20-Poly1305 (known answers, and every single-bit tamper of tag,
 * ciphertext and associated data refused).
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
#include "vectors.h"
#include "x3dh.h"

static void test_x25519(void **state)
{
    vectors_file *f = vectors_load("wycheproof_x25519.txt");
    size_t i, n_zero = 0;

    (void)state;
    assert_non_null(f);
    assert_true(f->n_records >= 5);
    for (i = 0; i < f->n_records; i++) {
        const vectors_record *r = &f->records[i];
        size_t pl, sl, shl;
        uint8_t *pub = vectors_hex(r, "public", &pl);
        uint8_t *priv = vectors_hex(r, "private", &sl);
        uint8_t *shared = vectors_hex(r, "shared", &shl);
        const char *result = vectors_str(r, "result");
        uint8_t out[32];
        int rc;

        assert_non_null(pub);
        assert_non_null(priv);
        assert_non_null(shared);
        assert_non_null(result);
        rc = crypto_scalarmult(out, priv, pub);
        if (strcmp(result, "zero") == 0) {
            assert_int_equal(rc, -1);
            n_zero++;
        } else {
            assert_int_equal(rc, 0);
            assert_memory_equal(out, shared, 32);
        }
        free(pub);
        free(priv);
        free(shared);
    }
    assert_true(n_zero >= 3);
    vectors_free(f);
}

/* A correctly signed bundle whose signed prekey is a low-order point is
 * refused by X3DH with E2E_ERR_KEY (and the secret output stays zero). */
static void test_x3dh_low_order_prekey(void **state)
{
    vectors_file *f = vectors_load("wycheproof_x25519.txt");
    keys_identity alice, bob;
    keys_x25519 eph;
    size_t i, checked = 0;

    (void)state;
    assert_non_null(f);
    assert_int_equal(keys_identity_generate(&alice), E2E_OK);
    assert_int_equal(keys_identity_generate(&bob), E2E_OK);
    assert_int_equal(keys_x25519_generate(&eph), E2E_OK);
    for (i = 0; i < f->n_records; i++) {
        const vectors_record *r = &f->records[i];
        x3dh_bundle b;
        uint8_t sk[32], ad[64], zero[32] = {0};
        size_t pl;
        uint8_t *pub;

        if (strcmp(vectors_str(r, "result"), "zero") != 0)
            continue;
        pub = vectors_hex(r, "public", &pl);
        assert_non_null(pub);
        memset(&b, 0, sizeof(b));
        memcpy(b.identity_key, bob.pk, 32);
        memcpy(b.signed_prekey, pub, 32);
        assert_int_equal(crypto_sign_detached(b.signed_prekey_signature, NULL, pub, 32, bob.sk), 0);
        memset(sk, 0xAA, sizeof(sk));
        assert_int_equal(x3dh_initiate(&alice, &b, &eph, sk, ad), E2E_ERR_KEY);
        assert_memory_equal(sk, zero, 32);
        free(pub);
        checked++;
    }
    assert_true(checked >= 3);
    keys_wipe(&alice, sizeof(alice));
    keys_wipe(&bob, sizeof(bob));
    keys_wipe(&eph, sizeof(eph));
    vectors_free(f);
}

static void test_xchacha20poly1305(void **state)
{
    vectors_file *f = vectors_load("wycheproof_xchacha20poly1305.txt");
    size_t i;

    (void)state;
    assert_non_null(f);
    assert_true(f->n_records >= 4);
    for (i = 0; i < f->n_records; i++) {
        const vectors_record *r = &f->records[i];
        size_t kl, nl, al, ml, cl, tl, j;
        uint8_t *key = vectors_hex(r, "key", &kl);
        uint8_t *iv = vectors_hex(r, "iv", &nl);
        uint8_t *aad = vectors_hex(r, "aad", &al);
        uint8_t *msg = vectors_hex(r, "msg", &ml);
        uint8_t *ct = vectors_hex(r, "ct", &cl);
        uint8_t *tag = vectors_hex(r, "tag", &tl);
        uint8_t *sealed, *opened;
        unsigned long long sl = 0, ol = 0;

        assert_non_null(key);
        assert_non_null(iv);
        assert_non_null(aad);
        assert_non_null(msg);
        assert_non_null(ct);
        assert_non_null(tag);
        assert_int_equal(kl, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
        assert_int_equal(nl, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        sealed = malloc(ml + 16);
        opened = malloc(ml + 1);
        assert_non_null(sealed);
        assert_non_null(opened);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sl, msg, ml, aad, al, NULL, iv, key);
        assert_int_equal(sl, cl + tl);
        assert_memory_equal(sealed, ct, cl);
        assert_memory_equal(sealed + cl, tag, tl);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(opened, &ol, NULL, sealed, sl,
                                                                    aad, al, iv, key),
                         0);
        assert_int_equal(ol, ml);
        assert_memory_equal(opened, msg, ml);
        /* Every single-bit change of ciphertext||tag is refused. */
        for (j = 0; j < sl * 8; j++) {
            sealed[j / 8] ^= (uint8_t)(1u << (j % 8));
            assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(opened, &ol, NULL, sealed,
                                                                        sl, aad, al, iv, key),
                             -1);
            sealed[j / 8] ^= (uint8_t)(1u << (j % 8));
        }
        /* ... and so is every single-bit change of the associated data. */
        for (j = 0; j < al * 8; j++) {
            aad[j / 8] ^= (uint8_t)(1u << (j % 8));
            assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(opened, &ol, NULL, sealed,
                                                                        sl, aad, al, iv, key),
                             -1);
            aad[j / 8] ^= (uint8_t)(1u << (j % 8));
        }
        free(sealed);
        free(opened);
        free(key);
        free(iv);
        free(aad);
        free(msg);
        free(ct);
        free(tag);
    }
    vectors_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x25519),
        cmocka_unit_test(test_x3dh_low_order_prekey),
        cmocka_unit_test(test_xchacha20poly1305),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
