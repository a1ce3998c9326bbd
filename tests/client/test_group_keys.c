/*
 * test_group_keys.c - the client's Sender Keys glue (group.c) without a
 * network: a distribution received from a member is stored per (group,
 * sender, chain); that member's group messages decrypt through the local
 * store; replays, unknown senders, foreign chains and malformed
 * distributions are refused; a member leaving drops our sending chain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley_int.h"
#include "crypto/sender_keys.h"
#include "e2e.pb-c.h"
#include "parley.pb-c.h"

#define GROUP "g:AAAAAAAAAAAAAAAAAAAAAA"

typedef struct {
    char dir[128];
    parley_client *bob;
    sender_keys_state *alice; /* alice's sending chain for GROUP */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-groupkeys.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/bob", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->bob) != PARLEY_OK ||
        parley_identity_create(f->bob, "bob") != PARLEY_OK)
        return -1;
    if (sender_keys_create(&f->alice, GROUP) != E2E_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    parley_close(f->bob);
    sender_keys_free(f->alice);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Hand a chain to bob as a pairwise Content.skd from alice would. */
static int give_dist(parley_client *bob, sender_keys_distribution d, size_t key_len)
{
    Parley__E2e__V1__SenderKeyDistribution skd = PARLEY__E2E__V1__SENDER_KEY_DISTRIBUTION__INIT;
    skd.group_id = d.group_id;
    skd.chain_id = d.chain_id;
    skd.iteration = d.iteration;
    skd.chain_key.data = d.chain_key;
    skd.chain_key.len = key_len;
    skd.signature_key.data = d.signature_key;
    skd.signature_key.len = sizeof d.signature_key;
    assert_int_equal(lstore_begin(bob->store), 0);
    int rc = skeys__on_skd(bob, "alice", &skd);
    assert_int_equal(lstore_commit(bob->store), 0);
    keys_wipe(&d, sizeof d);
    return rc;
}

/* The chain of s at its current iteration. */
static int give_chain(parley_client *bob, sender_keys_state *s, size_t key_len)
{
    sender_keys_distribution d;
    assert_int_equal(sender_keys_distribution_get(s, &d), E2E_OK);
    return give_dist(bob, d, key_len);
}

/* A group message from alice: Content{text, group_id} under her chain. */
static void group_message(sender_keys_state *s, const char *text, uint8_t **out, size_t *len)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    ct.text = (char *)text;
    ct.group_id = GROUP;
    ct.client_msg_id = "m1";
    size_t n = parley__e2e__v1__content__get_packed_size(&ct);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    parley__e2e__v1__content__pack(&ct, buf);
    assert_int_equal(sender_keys_encrypt(s, buf, n, out, len), E2E_OK);
    free(buf);
}

static int decrypt(parley_client *bob, const char *sender, const uint8_t *body, size_t len,
                   char *text, size_t textlen)
{
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    assert_int_equal(lstore_begin(bob->store), 0);
    int rc = skeys__decrypt(bob, GROUP, sender, body, len, &pt, &ptlen);
    assert_int_equal(lstore_commit(bob->store), 0);
    if (rc == PARLEY_OK) {
        Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, ptlen, pt);
        assert_non_null(ct);
        snprintf(text, textlen, "%s", ct->text);
        assert_string_equal(ct->group_id, GROUP);
        parley__e2e__v1__content__free_unpacked(ct, NULL);
        free(pt);
    }
    return rc;
}

static void test_member_reads_group_messages(void **state)
{
    fixture *f = *state;
    uint8_t *m1 = NULL, *m2 = NULL;
    size_t l1 = 0, l2 = 0;
    char text[64];

    assert_int_equal(give_chain(f->bob, f->alice, 32), PARLEY_OK);
    /* Learning the chain makes the group known locally. */
    lstore_chat ch;
    assert_int_equal(lstore_chat_get(f->bob->store, GROUP, &ch), 1);
    assert_int_equal(ch.type, 2);

    group_message(f->alice, "first", &m1, &l1);
    group_message(f->alice, "second", &m2, &l2);
    /* Out of order within the chain is fine (skipped keys are kept). */
    assert_int_equal(decrypt(f->bob, "alice", m2, l2, text, sizeof text), PARLEY_OK);
    assert_string_equal(text, "second");
    assert_int_equal(decrypt(f->bob, "alice", m1, l1, text, sizeof text), PARLEY_OK);
    assert_string_equal(text, "first");
    /* A replay is refused, and the state survives it. */
    assert_int_equal(decrypt(f->bob, "alice", m1, l1, text, sizeof text), PARLEY_ECRYPTO);
    free(m1);
    free(m2);
    group_message(f->alice, "third", &m1, &l1);
    assert_int_equal(decrypt(f->bob, "alice", m1, l1, text, sizeof text), PARLEY_OK);
    assert_string_equal(text, "third");
    /* The same bytes claimed by another sender: no chain of carol's. */
    assert_int_equal(decrypt(f->bob, "carol", m1, l1, text, sizeof text), PARLEY_ECRYPTO);
    assert_non_null(strstr(parley_last_error(f->bob), "no sender key from carol"));
    free(m1);
}

static void test_new_chain_needs_its_distribution(void **state)
{
    fixture *f = *state;
    sender_keys_state *rotated = NULL;
    uint8_t *m = NULL;
    size_t l = 0;
    char text[64];

    sender_keys_distribution d;
    assert_int_equal(give_chain(f->bob, f->alice, 32), PARLEY_OK);
    assert_int_equal(sender_keys_create(&rotated, GROUP), E2E_OK);
    /* The distribution is taken before the first message, as group.c does. */
    assert_int_equal(sender_keys_distribution_get(rotated, &d), E2E_OK);
    group_message(rotated, "rotated", &m, &l);
    assert_int_equal(decrypt(f->bob, "alice", m, l, text, sizeof text), PARLEY_ECRYPTO);
    assert_int_equal(give_dist(f->bob, d, 32), PARLEY_OK);
    assert_int_equal(decrypt(f->bob, "alice", m, l, text, sizeof text), PARLEY_OK);
    assert_string_equal(text, "rotated");
    /* Both chains are kept (messages of the old one may still be in flight). */
    assert_int_equal(lstore_blob_count(f->bob->store, "sk_peer"), 2);
    free(m);
    sender_keys_free(rotated);
}

static void test_malformed_distribution(void **state)
{
    fixture *f = *state;
    assert_int_equal(give_chain(f->bob, f->alice, 5), PARLEY_ECRYPTO);
    assert_int_equal(lstore_blob_count(f->bob->store, "sk_peer"), 0);
    /* Garbage is not a group message. */
    uint8_t junk[40] = {1, 2, 3};
    char text[8];
    assert_int_equal(decrypt(f->bob, "alice", junk, sizeof junk, text, sizeof text),
                     PARLEY_ECRYPTO);
}

static void test_departure_drops_own_chain(void **state)
{
    fixture *f = *state;
    assert_int_equal(lstore_blob_set(f->bob->store, "sk_own", GROUP, "state", 5), 0);
    Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED;
    assert_int_equal(skeys__on_system(f->bob, GROUP, &ev), PARLEY_OK);
    assert_int_equal(lstore_blob_count(f->bob->store, "sk_own"), 1);
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT;
    assert_int_equal(skeys__on_system(f->bob, GROUP, &ev), PARLEY_OK);
    assert_int_equal(lstore_blob_count(f->bob->store, "sk_own"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_member_reads_group_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_chain_needs_its_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_departure_drops_own_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
