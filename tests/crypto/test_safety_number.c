/*
 * test_safety_number.c - libsignal's numeric fingerprint vector, symmetry,
 * sensitivity to key and id changes, and formatting.
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
#include "safety_number.h"
#include "vectors.h"

static void test_libsignal_vector(void **state)
{
    vectors_file *f = vectors_load("signal_fingerprint.txt");
    const vectors_record *r;
    uint8_t *ak, *bk;
    size_t al, bl;
    char a[31], b[31], joined[61];

    (void)state;
    assert_non_null(f);
    r = &f->records[0];
    ak = vectors_hex(r, "alice_key", &al);
    bk = vectors_hex(r, "bob_key", &bl);
    assert_non_null(ak);
    assert_non_null(bk);
    assert_int_equal(safety_number_half(0, ak, al, vectors_str(r, "alice_id"), 5200, a), E2E_OK);
    assert_int_equal(safety_number_half(0, bk, bl, vectors_str(r, "bob_id"), 5200, b), E2E_OK);
    if (strcmp(a, b) <= 0)
        snprintf(joined, sizeof(joined), "%s%s", a, b);
    else
        snprintf(joined, sizeof(joined), "%s%s", b, a);
    assert_string_equal(joined, vectors_str(r, "displayable"));
    free(ak);
    free(bk);
    vectors_free(f);
}

static void test_symmetric_and_sensitive(void **state)
{
    keys_identity alice, bob, bob2;
    char ab[61], ba[61], changed[61], other_id[61], fmt[72];
    size_t i;

    (void)state;
    assert_int_equal(keys_identity_generate(&alice), E2E_OK);
    assert_int_equal(keys_identity_generate(&bob), E2E_OK);
    assert_int_equal(keys_identity_generate(&bob2), E2E_OK);
    assert_int_equal(safety_number_compute("alice", alice.pk, "bob", bob.pk, ab), E2E_OK);
    assert_int_equal(safety_number_compute("bob", bob.pk, "alice", alice.pk, ba), E2E_OK);
    assert_string_equal(ab, ba);
    assert_int_equal(strlen(ab), SAFETY_NUMBER_DIGITS);
    for (i = 0; i < SAFETY_NUMBER_DIGITS; i++)
        assert_true(ab[i] >= '0' && ab[i] <= '9');
    /* Bob's key changes: the number changes. */
    assert_int_equal(safety_number_compute("alice", alice.pk, "bob", bob2.pk, changed), E2E_OK);
    assert_string_not_equal(ab, changed);
    /* Same key bound to another user id: changes too. */
    assert_int_equal(safety_number_compute("alice", alice.pk, "mallory", bob.pk, other_id), E2E_OK);
    assert_string_not_equal(ab, other_id);

    assert_int_equal(safety_number_format(ab, fmt), E2E_OK);
    assert_int_equal(strlen(fmt), SAFETY_NUMBER_FORMATTED_LEN);
    for (i = 0; i < 12; i++) {
        assert_memory_equal(fmt + 6 * i, ab + 5 * i, 5);
        if (i < 11)
            assert_int_equal(fmt[6 * i + 5], ' ');
    }
    assert_int_equal(safety_number_format("123", fmt), E2E_ERR_INVALID);
    assert_int_equal(safety_number_compute("", alice.pk, "bob", bob.pk, ab), E2E_ERR_INVALID);
    keys_wipe(&alice, sizeof(alice));
    keys_wipe(&bob, sizeof(bob));
    keys_wipe(&bob2, sizeof(bob2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libsignal_vector),
        cmocka_unit_test(test_symmetric_and_sensitive),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
