/*
 * test_tokcache.c - the verified-token cache (broker-plugin/tokcache.c) with
 * real tokens: a repeated token is answered without a verification; any
 * change of user id, client id, audience, key or a passed expiry makes the
 * entry count no more and gives token_verify's exact refusal; a refused
 * token is never remembered; the table stays within its capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../../broker-plugin/tokcache.c"

#define NOW 1800000000LL

static uint8_t pk_a[32], sk_a[64], pk_b[32], sk_b[64];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(pk_a, sk_a);
    crypto_sign_keypair(pk_b, sk_b);
    return 0;
}

static void mint(char *out, token_audience aud, const char *user, const char *cid,
                 int64_t expires_at, const uint8_t *sk)
{
    assert_int_equal(token_mint(aud, user, cid, expires_at, sk, out, TOKEN_MAX_LEN), TOKEN_OK);
}

static tokcache_stats stats(const tokcache *c)
{
    tokcache_stats s;
    tokcache__get_stats(c, &s);
    return s;
}

static int verify(tokcache *c, const char *tok, token_audience aud, const char *user,
                  const char *cid, int64_t now, const uint8_t *pk, int64_t *exp)
{
    return tokcache__verify(c, tok, aud, user, cid, now, pk, exp);
}

static void test_repeat_is_a_hit(void **state)
{
    (void)state;
    tokcache *c = tokcache__new(1024);
    char tok[TOKEN_MAX_LEN];
    int64_t exp = 0;
    assert_non_null(c);
    mint(tok, TOKEN_AUD_MQTT, "alice", "alice.phone", NOW + 600, sk_a);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "alice", "alice.phone", NOW, pk_a, &exp),
                     TOKEN_OK);
    assert_int_equal(exp, NOW + 600);
    assert_int_equal(stats(c).misses, 1);
    assert_int_equal(stats(c).hits, 0);
    assert_int_equal(stats(c).entries, 1);
    exp = 0;
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "alice", "alice.phone", NOW + 5, pk_a, &exp),
                     TOKEN_OK);
    assert_int_equal(exp, NOW + 600);
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(stats(c).misses, 1);
    assert_int_equal(stats(c).entries, 1);
    tokcache__free(c);
}

/* A changed key (a refresh found the user's key rotated; with devices, a
 * removed device's key is gone): the cached entry is not used, the token is
 * refused as by token_verify, and the entry is dropped for good: the old
 * key coming back means a full verification again. */
static void test_other_key_is_not_a_hit(void **state)
{
    (void)state;
    tokcache *c = tokcache__new(1024);
    char tok[TOKEN_MAX_LEN];
    int64_t exp;
    mint(tok, TOKEN_AUD_MQTT, "bob", "bob.1", NOW + 600, sk_a);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_b, &exp),
                     TOKEN_ESIGNATURE);
    assert_int_equal(stats(c).hits, 0);
    assert_int_equal(stats(c).misses, 2);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_b, &exp),
                     TOKEN_ESIGNATURE);
    assert_int_equal(stats(c).misses, 3);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(stats(c).misses, 4);
    assert_int_equal(stats(c).hits, 0);
    /* a token signed by the new key is its own entry */
    char tok2[TOKEN_MAX_LEN];
    mint(tok2, TOKEN_AUD_MQTT, "bob", "bob.1", NOW + 600, sk_b);
    assert_int_equal(verify(c, tok2, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_b, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok2, TOKEN_AUD_MQTT, "bob", "bob.1", NOW, pk_b, &exp), TOKEN_OK);
    assert_int_equal(stats(c).hits, 1);
    tokcache__free(c);
}

/* The same token text claimed for another client id, another user or
 * another audience gets token_verify's own refusal, never a hit. */
static void test_other_ids_or_audience(void **state)
{
    (void)state;
    tokcache *c = tokcache__new(1024);
    char tok[TOKEN_MAX_LEN];
    int64_t exp;
    mint(tok, TOKEN_AUD_MQTT, "carol", "carol.a", NOW + 600, sk_a);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "carol", "carol.a", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "carol", "carol.b", NOW, pk_a, &exp),
                     TOKEN_ECLIENT);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "carol", "carol.a", NOW, pk_a, &exp),
                     TOKEN_OK); /* verified again: the mismatch dropped the entry */
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "dave", "carol.a", NOW, pk_a, &exp),
                     TOKEN_EUSER);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "carol", "carol.a", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok, TOKEN_AUD_KEYSERVER, "carol", "carol.a", NOW, pk_a, &exp),
                     TOKEN_EAUDIENCE);
    assert_int_equal(stats(c).hits, 0);
    assert_int_equal(stats(c).misses, 6);
    tokcache__free(c);
}

/* Valid through its expires_at second, as token_verify decides; a second
 * later it is refused as expired and the entry is gone; a clock set back
 * makes it too far ahead, as for token_verify. */
static void test_expiry(void **state)
{
    (void)state;
    tokcache *c = tokcache__new(1024);
    char tok[TOKEN_MAX_LEN];
    int64_t exp;
    mint(tok, TOKEN_AUD_MQTT, "erin", "erin.1", NOW + 10, sk_a);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "erin", "erin.1", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "erin", "erin.1", NOW + 10, pk_a, &exp),
                     TOKEN_OK);
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "erin", "erin.1", NOW + 11, pk_a, &exp),
                     TOKEN_EEXPIRED);
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(stats(c).entries, 0);
    /* A clock set back by more than the longest lifetime: refused as
     * token_verify refuses it, cached or not. */
    mint(tok, TOKEN_AUD_MQTT, "erin", "erin.2", NOW + 3600, sk_a);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "erin", "erin.2", NOW, pk_a, &exp), TOKEN_OK);
    assert_int_equal(verify(c, tok, TOKEN_AUD_MQTT, "erin", "erin.2", NOW - 2 * 86400, pk_a, &exp),
                     TOKEN_ELIFETIME);
    assert_int_equal(stats(c).hits, 1);
    tokcache__free(c);
}

/* Nothing refused is remembered: a forged token costs a verification
 * every time. */
static void test_refused_not_remembered(void **state)
{
    (void)state;
    tokcache *c = tokcache__new(1024);
    char forged[TOKEN_MAX_LEN];
    int64_t exp;
    mint(forged, TOKEN_AUD_MQTT, "frank", "frank.1", NOW + 600, sk_b);
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify(c, forged, TOKEN_AUD_MQTT, "frank", "frank.1", NOW, pk_a, &exp),
                         TOKEN_ESIGNATURE);
    assert_int_equal(verify(c, "not-a-token", TOKEN_AUD_MQTT, "frank", "frank.1", NOW, pk_a, &exp),
                     TOKEN_EMALFORMED);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(stats(c).hits, 0);
    assert_int_equal(stats(c).misses, 4);
    tokcache__free(c);
}

/* Capacity bounds the table; below it the table grows and keeps nearly all
 * it was given (8-way sets: a set overflows rarely below 3/4 load), so
 * nearly every token is a hit on the second pass. */
static void test_bounds_and_growth(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char toks[N][TOKEN_MAX_LEN];
    char user[32], cid[40];
    int64_t exp;
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(cid, sizeof cid, "u%d.x", i);
        mint(toks[i], TOKEN_AUD_MQTT, user, cid, NOW + 600 + i, sk_a);
    }
    tokcache *small = tokcache__new(60), *big = tokcache__new(4096);
    assert_non_null(small);
    assert_non_null(big);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++) {
            snprintf(user, sizeof user, "u%d", i);
            snprintf(cid, sizeof cid, "u%d.x", i);
            assert_int_equal(verify(small, toks[i], TOKEN_AUD_MQTT, user, cid, NOW, pk_a, &exp),
                             TOKEN_OK);
            assert_int_equal(verify(big, toks[i], TOKEN_AUD_MQTT, user, cid, NOW, pk_a, &exp),
                             TOKEN_OK);
            assert_int_equal(exp, NOW + 600 + i);
        }
    assert_true(stats(small).slots <= 64);
    assert_true(stats(small).entries <= 64);
    assert_true(stats(big).slots > 256 && stats(big).slots <= 4096);
    assert_true(stats(big).entries <= stats(big).slots);
    assert_int_equal(stats(big).hits + stats(big).misses, 2 * N);
    assert_true(stats(big).hits >= 95 * N / 100);
    tokcache__free(small);
    tokcache__free(big);
}

/* No cache (capacity 0): every call verifies, with the same answers. */
static void test_no_cache(void **state)
{
    (void)state;
    char tok[TOKEN_MAX_LEN];
    int64_t exp = 0;
    assert_null(tokcache__new(0));
    mint(tok, TOKEN_AUD_MQTT, "gina", "gina.1", NOW + 60, sk_a);
    assert_int_equal(verify(NULL, tok, TOKEN_AUD_MQTT, "gina", "gina.1", NOW, pk_a, &exp),
                     TOKEN_OK);
    assert_int_equal(exp, NOW + 60);
    assert_int_equal(verify(NULL, tok, TOKEN_AUD_MQTT, "gina", "gina.1", NOW, pk_b, &exp),
                     TOKEN_ESIGNATURE);
    tokcache_stats s = stats(NULL);
    assert_int_equal(s.hits + s.misses + s.entries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_is_a_hit),
        cmocka_unit_test(test_other_key_is_not_a_hit),
        cmocka_unit_test(test_other_ids_or_audience),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_refused_not_remembered),
        cmocka_unit_test(test_bounds_and_growth),
        cmocka_unit_test(test_no_cache),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
