/*
 * test_devices.c - unit tests of common/devices.c: the canonical signed
 * device list (build, parse, verify), forged and garbled lists, the rules of
 * a valid list, the device a client id tag names, and token verification
 * per device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"

typedef struct {
    uint8_t pk[32], sk[64];
} kp;

static kp acct, dev2, dev3, other;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(acct.pk, acct.sk);
    crypto_sign_keypair(dev2.pk, dev2.sk);
    crypto_sign_keypair(dev3.pk, dev3.sk);
    crypto_sign_keypair(other.pk, other.sk);
    return 0;
}

static void entry(devices_entry *e, const char *id, const uint8_t *key, int64_t at,
                  const char *name)
{
    memset(e, 0, sizeof *e);
    snprintf(e->device_id, sizeof e->device_id, "%s", id);
    memcpy(e->key, key, 32);
    e->added_at = at;
    snprintf(e->name, sizeof e->name, "%s", name);
}

/* alice's list: primary "p1" (account key), "lap-top", "a" */
static devices_list three(uint64_t version)
{
    devices_list l = {.version = version, .n = 3};
    snprintf(l.user_id, sizeof l.user_id, "alice");
    l.dev = calloc(3, sizeof *l.dev);
    assert_non_null(l.dev);
    entry(&l.dev[0], "p1", acct.pk, 1700000000000, "phone");
    entry(&l.dev[1], "lap-top", dev2.pk, 1700000001000, "my laptop (work)");
    entry(&l.dev[2], "a", dev3.pk, 0, "");
    return l;
}

static void test_roundtrip_and_verify(void **state)
{
    (void)state;
    devices_list l = three(7), back;
    char *text = NULL;
    size_t len = 0;
    uint8_t sig[64];

    assert_int_equal(devices_build(&l, &text, &len), DEVICES_OK);
    assert_int_equal(strlen(text), len);
    assert_memory_equal(text, "parley-devices-v1\nalice\n7\np1 ", 29);
    assert_non_null(strstr(text, " 1700000001000 my laptop (work)\n"));
    assert_non_null(strstr(text, " 0 \n")); /* empty name */
    devices_sign((uint8_t *)text, len, acct.sk, sig);

    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                     DEVICES_OK);
    assert_string_equal(back.user_id, "alice");
    assert_int_equal(back.version, 7);
    assert_int_equal(back.n, 3);
    assert_string_equal(back.dev[1].device_id, "lap-top");
    assert_memory_equal(back.dev[1].key, dev2.pk, 32);
    assert_int_equal(back.dev[1].added_at, 1700000001000);
    assert_string_equal(back.dev[1].name, "my laptop (work)");
    assert_string_equal(back.dev[2].name, "");
    assert_ptr_equal(devices_primary(&back, acct.pk), &back.dev[0]);
    assert_ptr_equal(devices_find(&back, "a"), &back.dev[2]);
    assert_null(devices_find(&back, "nope"));
    devices_list_free(&back);

    /* rebuilding the parse gives the same bytes: one spelling per list */
    assert_int_equal(devices_parse((uint8_t *)text, len, &back), DEVICES_OK);
    char *again = NULL;
    size_t alen = 0;
    assert_int_equal(devices_build(&back, &again, &alen), DEVICES_OK);
    assert_int_equal(alen, len);
    assert_memory_equal(again, text, len);
    free(again);
    devices_list_free(&back);

    /* NULL user skips the user check */
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, NULL, 0, &back),
                     DEVICES_OK);
    devices_list_free(&back);
    free(text);
    devices_list_free(&l);
}

/* Not signed by the account key, signed over other bytes, for another user,
 * without its primary, over the limit. */
static void test_forged_lists(void **state)
{
    (void)state;
    devices_list l = three(2), back;
    char *text = NULL;
    size_t len = 0;
    uint8_t sig[64];

    assert_int_equal(devices_build(&l, &text, &len), DEVICES_OK);
    /* a device key (even one in the list) is not the account key */
    devices_sign((uint8_t *)text, len, dev2.sk, sig);
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                     DEVICES_ESIGNATURE);
    assert_null(back.dev);
    devices_sign((uint8_t *)text, len, other.sk, sig);
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                     DEVICES_ESIGNATURE);
    /* one changed byte anywhere breaks the signature */
    devices_sign((uint8_t *)text, len, acct.sk, sig);
    for (size_t i = 0; i < len; i += 7) {
        text[i] ^= 0x01;
        assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                         DEVICES_ESIGNATURE);
        text[i] ^= 0x01;
    }
    sig[10] ^= 0x80;
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                     DEVICES_ESIGNATURE);
    sig[10] ^= 0x80;
    /* a truncated text */
    assert_int_equal(devices_verify((uint8_t *)text, len - 1, sig, acct.pk, "alice", 5, &back),
                     DEVICES_ESIGNATURE);
    /* alice's genuine list presented as bob's */
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "bob", 5, &back),
                     DEVICES_EUSER);
    /* too many for the limit */
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 2, &back),
                     DEVICES_ETOOMANY);
    free(text);

    /* signed by the account key, but the primary is missing */
    memcpy(l.dev[0].key, other.pk, 32);
    assert_int_equal(devices_build(&l, &text, &len), DEVICES_OK);
    devices_sign((uint8_t *)text, len, acct.sk, sig);
    assert_int_equal(devices_verify((uint8_t *)text, len, sig, acct.pk, "alice", 5, &back),
                     DEVICES_EPRIMARY);
    free(text);
    devices_list_free(&l);
}

static int parse_str(const char *t)
{
    devices_list l;
    int rc = devices_parse((const uint8_t *)t, strlen(t), &l);
    if (rc == DEVICES_OK)
        devices_list_free(&l);
    else
        assert_null(l.dev);
    return rc;
}

/* Garbled texts: everything that is not the canonical form is refused. */
static void test_garbled(void **state)
{
    (void)state;
    char key[44], key2[44], t[1024];
    sodium_bin2base64(key, sizeof key, acct.pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(key2, sizeof key2, dev2.pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_OK);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 phone", key); /* no final \n */
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v2\nalice\n1\np1 %s 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\r\nalice\n1\np1 %s 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    const char *versions[] = {"0", "01", "-1", "+1", "", "1 ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        snprintf(t, sizeof t, "parley-devices-v1\nalice\n%s\np1 %s 5 phone\n", versions[i], key);
        assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    }
    snprintf(t, sizeof t, "parley-devices-v1\nal ice\n1\np1 %s 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\n"); /* no device */
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\n\n");
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    const char *ids[] = {"",    "p.1",       "p/1",
                         "p 1", "p\xc3\xa9", "abcdefghijabcdefghijabcdefghijabc" /* 33 */};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\n%s %s 5 phone\n", ids[i], key);
        assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    }
    /* keys: too short, padded, standard alphabet, non-canonical trailing bits */
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %.42s 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s= 5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    char bad[44];
    memcpy(bad, key, sizeof bad);
    bad[0] = '+';
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 phone\n", bad);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    memcpy(bad, key, sizeof bad);
    /* the last character carries 6 bits of which 4 are data: flip an unused one */
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alpha, bad[42]) - alpha);
    bad[42] = alpha[v ^ 1];
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 phone\n", bad);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    /* times and names */
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 05 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s -5 phone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5\n", key); /* no name field */
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 ph\tone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 ph\x7fone\n", key);
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 %s\n", key,
             "123456789012345678901234567890123"); /* 33 */
    assert_int_equal(parse_str(t), DEVICES_EMALFORMED);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 %s\n", key,
             " two  spaces  around ");
    assert_int_equal(parse_str(t), DEVICES_OK);
    /* a NUL inside */
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 phone\n", key);
    devices_list l;
    size_t tl = strlen(t);
    t[tl - 3] = '\0';
    assert_int_equal(devices_parse((uint8_t *)t, tl, &l), DEVICES_EMALFORMED);
    /* duplicates */
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 a\np1 %s 6 b\n", key, key2);
    assert_int_equal(parse_str(t), DEVICES_EDUPLICATE);
    snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\np1 %s 5 a\np2 %s 6 b\n", key, key);
    assert_int_equal(parse_str(t), DEVICES_EDUPLICATE);
    /* more entries than any list may hold */
    size_t used = (size_t)snprintf(t, sizeof t, "parley-devices-v1\nalice\n1\n");
    char *big = malloc(8192);
    assert_non_null(big);
    memcpy(big, t, used);
    for (int i = 0; i < DEVICES_MAX_LIMIT + 1; i++) {
        uint8_t pk[32], sk[64];
        char k[44];
        crypto_sign_keypair(pk, sk);
        sodium_bin2base64(k, sizeof k, pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        used += (size_t)snprintf(big + used, 8192 - used, "d%d %s 1 x\n", i, k);
    }
    assert_int_equal(devices_parse((uint8_t *)big, used, &l), DEVICES_EMALFORMED);
    free(big);
    /* NULL and empty */
    assert_int_equal(devices_parse(NULL, 5, &l), DEVICES_EMALFORMED);
    assert_int_equal(devices_parse((const uint8_t *)"", 0, &l), DEVICES_EMALFORMED);
}

static void test_build_refuses(void **state)
{
    (void)state;
    devices_list l = three(1);
    char *text = NULL;
    size_t len = 0;
    snprintf(l.dev[1].name, sizeof l.dev[1].name, "bad\nname");
    assert_int_equal(devices_build(&l, &text, &len), DEVICES_EMALFORMED);
    assert_null(text);
    snprintf(l.dev[1].name, sizeof l.dev[1].name, "ok");
    l.dev[2].device_id[0] = '\0';
    assert_int_equal(devices_build(&l, &text, &len), DEVICES_EMALFORMED);
    snprintf(l.dev[2].device_id, sizeof l.dev[2].device_id, "a");
    l.version = 0;
    assert_int_equal(devices_build(&l, &text, &len), DEVICES_EMALFORMED);
    devices_list_free(&l);
    assert_true(devices_valid_id("ab-_9Z"));
    assert_false(devices_valid_id(""));
    assert_false(devices_valid_id("a.b"));
    assert_true(devices_valid_name(""));
    assert_false(devices_valid_name("\x01"));
}

static void test_match_tag(void **state)
{
    (void)state;
    devices_list l = three(3), imp;
    const devices_entry *m[8];
    /* "a" and "lap-top": exact, with a transient suffix, ids holding '-' */
    assert_int_equal(devices_match_tag(&l, "a", m, 8), 1);
    assert_string_equal(m[0]->device_id, "a");
    assert_int_equal(devices_match_tag(&l, "a-x1", m, 8), 1);
    assert_string_equal(m[0]->device_id, "a");
    assert_int_equal(devices_match_tag(&l, "lap-top", m, 8), 1);
    assert_string_equal(m[0]->device_id, "lap-top");
    assert_int_equal(devices_match_tag(&l, "lap-top-9f", m, 8), 1);
    assert_string_equal(m[0]->device_id, "lap-top");
    assert_int_equal(devices_match_tag(&l, "lap", m, 8), 0);
    assert_int_equal(devices_match_tag(&l, "a-", m, 8), 0);   /* an empty suffix */
    assert_int_equal(devices_match_tag(&l, "ab", m, 8), 0);
    assert_int_equal(devices_match_tag(&l, "p1x", m, 8), 0);
    assert_int_equal(devices_match_tag(&l, "", m, 8), 0);
    /* "lap" and "lap-top" both in a list: "lap-top-1" names either */
    snprintf(l.dev[2].device_id, sizeof l.dev[2].device_id, "lap");
    assert_int_equal(devices_match_tag(&l, "lap-top-1", m, 8), 2);
    assert_int_equal(devices_match_tag(&l, "lap-top", m, 8), 2); /* exact first */
    assert_string_equal(m[0]->device_id, "lap-top");
    assert_string_equal(m[1]->device_id, "lap");
    devices_list_free(&l);

    /* the implicit list: its one device for any tag */
    assert_int_equal(devices_implicit("alice", acct.pk, &imp), DEVICES_OK);
    assert_int_equal(imp.version, 0);
    assert_int_equal(devices_match_tag(&imp, "anything-at-all", m, 8), 1);
    assert_memory_equal(m[0]->key, acct.pk, 32);
    devices_list_free(&imp);

    assert_string_equal(devices_client_tag("alice", "alice.p1-x"), "p1-x");
    assert_null(devices_client_tag("alice", "bob.p1"));
    assert_null(devices_client_tag("alice", "alice.p.1"));
    assert_null(devices_client_tag("alice", "alice."));
}

static void mint(const uint8_t *sk, const char *user, const char *cid, char *out)
{
    assert_int_equal(
        token_mint(TOKEN_AUD_MQTT, user, cid, (int64_t)time(NULL) + 600, sk, out, TOKEN_MAX_LEN),
        TOKEN_OK);
}

static void test_token_per_device(void **state)
{
    (void)state;
    devices_list l = three(4), imp;
    const devices_entry *which = NULL;
    char tok[TOKEN_MAX_LEN];
    int64_t now = (int64_t)time(NULL), exp = 0;

    mint(dev2.sk, "alice", "alice.lap-top", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.lap-top", now, &exp, &which),
        TOKEN_OK);
    assert_string_equal(which->device_id, "lap-top");
    assert_true(exp > now);
    /* HTTP: any client id of the token, still its device's key */
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", NULL, now, NULL, &which), TOKEN_OK);
    /* a transient connection of the device */
    mint(dev2.sk, "alice", "alice.lap-top-cli7", tok);
    assert_int_equal(devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.lap-top-cli7",
                                          now, NULL, &which),
                     TOKEN_OK);
    /* the client-id takeover: a device's client id with another device's key */
    mint(dev3.sk, "alice", "alice.lap-top", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.lap-top", now, NULL, &which),
        TOKEN_ESIGNATURE);
    assert_null(which);
    /* the account key signs only for the primary */
    mint(acct.sk, "alice", "alice.lap-top", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.lap-top", now, NULL, NULL),
        TOKEN_ESIGNATURE);
    mint(acct.sk, "alice", "alice.p1", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.p1", now, NULL, NULL),
        TOKEN_OK);
    /* a device not in the list (removed, or never added) */
    mint(other.sk, "alice", "alice.tablet", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.tablet", now, NULL, NULL),
        TOKEN_EDEVICE);
    assert_int_equal(devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", NULL, now, NULL, NULL),
                     TOKEN_EDEVICE);
    /* another user's token, another client id, another audience */
    mint(dev2.sk, "bob", "bob.lap-top", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "bob.lap-top", now, NULL, NULL),
        TOKEN_EUSER);
    mint(dev2.sk, "alice", "alice.lap-top", tok);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", "alice.a", now, NULL, NULL),
        TOKEN_ECLIENT);
    assert_int_equal(devices_token_verify(&l, tok, TOKEN_AUD_MEDIA, "alice", NULL, now, NULL, NULL),
                     TOKEN_EAUDIENCE);
    assert_int_equal(
        devices_token_verify(&l, tok, TOKEN_AUD_MQTT, "alice", NULL, now + 7200, NULL, NULL),
        TOKEN_EEXPIRED);
    assert_int_equal(
        devices_token_verify(&l, "garbage", TOKEN_AUD_MQTT, "alice", NULL, now, NULL, NULL),
        TOKEN_EMALFORMED);
    devices_list_free(&l);

    /* implicit: the account key for any tag, nothing else */
    assert_int_equal(devices_implicit("alice", acct.pk, &imp), DEVICES_OK);
    mint(acct.sk, "alice", "alice.whatever", tok);
    assert_int_equal(
        devices_token_verify(&imp, tok, TOKEN_AUD_MQTT, "alice", "alice.whatever", now, NULL, NULL),
        TOKEN_OK);
    mint(dev2.sk, "alice", "alice.whatever", tok);
    assert_int_equal(
        devices_token_verify(&imp, tok, TOKEN_AUD_MQTT, "alice", "alice.whatever", now, NULL, NULL),
        TOKEN_ESIGNATURE);
    devices_list_free(&imp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_verify),
        cmocka_unit_test(test_forged_lists),
        cmocka_unit_test(test_garbled),
        cmocka_unit_test(test_build_refuses),
        cmocka_unit_test(test_match_tag),
        cmocka_unit_test(test_token_per_device),
    };
    return cmocka_run_group_tests_name("common_devices", tests, setup, NULL);
}
