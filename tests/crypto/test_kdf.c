/*
 * test_kdf.c - known answers for kdf.c: RFC 5869 HKDF-SHA256 test cases 1-3
 * and libsignal's chain-key vector, plus argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kdf.h"
#include "vectors.h"

static void test_hkdf_rfc5869(void **state)
{
    vectors_file *f = vectors_load("hkdf_sha256_rfc5869.txt");
    size_t i;

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->n_records, 3);
    for (i = 0; i < f->n_records; i++) {
        size_t ikm_len, salt_len, info_len, prk_len, okm_len;
        uint8_t *ikm = vectors_hex(&f->records[i], "ikm", &ikm_len);
        uint8_t *salt = vectors_hex(&f->records[i], "salt", &salt_len);
        uint8_t *info = vectors_hex(&f->records[i], "info", &info_len);
        uint8_t *prk = vectors_hex(&f->records[i], "prk", &prk_len);
        uint8_t *okm = vectors_hex(&f->records[i], "okm", &okm_len);
        uint8_t got_prk[KDF_HASH_LEN], got[128];

        assert_non_null(ikm);
        assert_non_null(salt);
        assert_non_null(info);
        assert_non_null(prk);
        assert_non_null(okm);
        assert_true(okm_len <= sizeof(got));
        kdf_hkdf_extract(got_prk, salt, salt_len, ikm, ikm_len);
        assert_memory_equal(got_prk, prk, prk_len);
        assert_int_equal(kdf_hkdf_expand(got, okm_len, got_prk, info, info_len), E2E_OK);
        assert_memory_equal(got, okm, okm_len);
        memset(got, 0, sizeof(got));
        assert_int_equal(kdf_hkdf(got, okm_len, salt, salt_len, ikm, ikm_len, info, info_len),
                         E2E_OK);
        assert_memory_equal(got, okm, okm_len);
        free(ikm);
        free(salt);
        free(info);
        free(prk);
        free(okm);
    }
    vectors_free(f);
}

static void test_hkdf_limits(void **state)
{
    uint8_t prk[KDF_HASH_LEN] = {1}, out[KDF_HKDF_MAX + 1];

    (void)state;
    assert_int_equal(kdf_hkdf_expand(out, 0, prk, NULL, 0), E2E_ERR_INVALID);
    assert_int_equal(kdf_hkdf_expand(out, KDF_HKDF_MAX + 1, prk, NULL, 0), E2E_ERR_INVALID);
    assert_int_equal(kdf_hkdf_expand(out, KDF_HKDF_MAX, prk, NULL, 0), E2E_OK);
    /* An output prefix does not depend on the requested length. */
    {
        uint8_t a[40], b[KDF_HASH_LEN];
        assert_int_equal(kdf_hkdf_expand(a, sizeof(a), prk, (const uint8_t *)"x", 1), E2E_OK);
        assert_int_equal(kdf_hkdf_expand(b, sizeof(b), prk, (const uint8_t *)"x", 1), E2E_OK);
        assert_memory_equal(a, b, sizeof(b));
    }
}

static void test_signal_chain_key(void **state)
{
    vectors_file *f = vectors_load("signal_chain_key.txt");
    size_t ck_len, ciph_len, mac_len, next_len;
    uint8_t *ck, *cipher_key, *mac_key, *next_ck;
    uint8_t seed[KDF_HASH_LEN], next[KDF_CHAIN_KEY_LEN], okm[80], alias[KDF_CHAIN_KEY_LEN];
    static const char info[] = "WhisperMessageKeys";

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->n_records, 1);
    ck = vectors_hex(&f->records[0], "chain_key", &ck_len);
    cipher_key = vectors_hex(&f->records[0], "cipher_key", &ciph_len);
    mac_key = vectors_hex(&f->records[0], "mac_key", &mac_len);
    next_ck = vectors_hex(&f->records[0], "next_chain_key", &next_len);
    assert_non_null(ck);
    assert_non_null(cipher_key);
    assert_non_null(mac_key);
    assert_non_null(next_ck);
    assert_int_equal(ck_len, 32);

    kdf_chain_step(ck, seed, next);
    assert_memory_equal(next, next_ck, 32);
    /* libsignal's message keys: HKDF(no salt, seed, "WhisperMessageKeys") -> 80 bytes. */
    assert_int_equal(kdf_hkdf(okm, sizeof(okm), NULL, 0, seed, sizeof(seed), (const uint8_t *)info,
                              strlen(info)),
                     E2E_OK);
    assert_memory_equal(okm, cipher_key, 32);
    assert_memory_equal(okm + 32, mac_key, 32);

    /* In-place stepping (next aliases ck) gives the same chain key. */
    memcpy(alias, ck, 32);
    kdf_chain_step(alias, seed, alias);
    assert_memory_equal(alias, next_ck, 32);

    free(ck);
    free(cipher_key);
    free(mac_key);
    free(next_ck);
    vectors_free(f);
}

static void test_message_keys(void **state)
{
    uint8_t seed[32], key[32], nonce[24], key2[32], nonce2[24], okm[56];

    (void)state;
    randombytes_buf(seed, sizeof(seed));
    kdf_message_keys(seed, KDF_INFO_MESSAGE_KEYS, key, nonce);
    /* The documented construction: HKDF(zero salt, seed, info, 56) = key || nonce. */
    assert_int_equal(kdf_hkdf(okm, sizeof(okm), NULL, 0, seed, 32,
                              (const uint8_t *)KDF_INFO_MESSAGE_KEYS,
                              strlen(KDF_INFO_MESSAGE_KEYS)),
                     E2E_OK);
    assert_memory_equal(okm, key, 32);
    assert_memory_equal(okm + 32, nonce, 24);
    /* Another info string separates the domains. */
    kdf_message_keys(seed, KDF_INFO_SENDER_KEYS, key2, nonce2);
    assert_memory_not_equal(key, key2, 32);
    assert_memory_not_equal(nonce, nonce2, 24);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_hkdf_limits),
        cmocka_unit_test(test_signal_chain_key),
        cmocka_unit_test(test_message_keys),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
