/*
 * test_sender_keys.c - Sender Keys: round trip to several members, out of
 * order and duplicates, tampering and forgery rejected with the state
 * unchanged, late joiners cannot read earlier messages, rotation, the
 * forward-jump bound, group binding and serialization.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "e2e.pb-c.h"
#include "sender_keys.h"

#define GROUP "g:AAAAAAAAAAAAAAAAAAAAAA"

typedef struct {
    uint8_t *data;
    size_t len;
    char text[32];
} wire;

static void sk_send(sender_keys_state *s, const char *text, wire *w)
{
    snprintf(w->text, sizeof(w->text), "%s", text);
    assert_int_equal(sender_keys_encrypt(s, (const uint8_t *)text, strlen(text), &w->data, &w->len),
                     E2E_OK);
}

static void sk_recv_ok(sender_keys_state *s, const wire *w)
{
    uint8_t *pt = NULL;
    size_t n = 0;

    assert_int_equal(sender_keys_decrypt(s, w->data, w->len, &pt, &n), E2E_OK);
    assert_int_equal(n, strlen(w->text));
    assert_memory_equal(pt, w->text, n);
    free(pt);
}

static e2e_status sk_recv_rc(sender_keys_state *s, const wire *w)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    e2e_status rc = sender_keys_decrypt(s, w->data, w->len, &pt, &n);

    if (rc == E2E_OK)
        free(pt);
    else
        assert_null(pt);
    return rc;
}

static sender_keys_state *member_from(const sender_keys_state *sender)
{
    sender_keys_distribution d;
    sender_keys_state *r = NULL;

    assert_int_equal(sender_keys_distribution_get(sender, &d), E2E_OK);
    assert_int_equal(sender_keys_from_distribution(&r, &d), E2E_OK);
    keys_wipe(&d, sizeof(d));
    return r;
}

static uint8_t *snap(const sender_keys_state *s, size_t *len)
{
    uint8_t *p = NULL;

    assert_int_equal(sender_keys_serialize(s, &p, len), E2E_OK);
    return p;
}

static void assert_same(const sender_keys_state *s, const uint8_t *before, size_t len)
{
    size_t n;
    uint8_t *now = snap(s, &n);

    assert_int_equal(n, len);
    assert_memory_equal(now, before, len);
    sodium_memzero(now, n);
    free(now);
}

static void test_round_trip_and_order(void **state)
{
    sender_keys_state *alice = NULL, *bob, *carol;
    e2e_message_info info;
    wire w[10];
    int i;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    assert_string_equal(sender_keys_group_id(alice), GROUP);
    bob = member_from(alice);
    carol = member_from(alice);
    assert_int_equal(sender_keys_chain_id(bob), sender_keys_chain_id(alice));
    for (i = 0; i < 10; i++) {
        char t[16];
        snprintf(t, sizeof(t), "msg %d", i);
        sk_send(alice, t, &w[i]);
    }
    assert_int_equal(e2e_message_inspect(w[3].data, w[3].len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_SENDER_KEY);
    assert_int_equal(info.chain_id, sender_keys_chain_id(alice));
    assert_int_equal(info.iteration, 3);
    /* Bob in order; carol backwards with gaps filled late. */
    for (i = 0; i < 10; i++)
        sk_recv_ok(bob, &w[i]);
    for (i = 9; i >= 0; i -= 2)
        sk_recv_ok(carol, &w[i]);
    for (i = 0; i < 10; i += 2)
        sk_recv_ok(carol, &w[i]);
    /* Everything again: duplicates. */
    for (i = 0; i < 10; i++) {
        assert_int_equal(sk_recv_rc(bob, &w[i]), E2E_ERR_DUPLICATE);
        assert_int_equal(sk_recv_rc(carol, &w[i]), E2E_ERR_DUPLICATE);
    }
    /* A sender does not read its own messages back. */
    assert_int_equal(sk_recv_rc(alice, &w[9]), E2E_ERR_DUPLICATE);
    for (i = 0; i < 10; i++)
        free(w[i].data);
    sender_keys_free(alice);
    sender_keys_free(bob);
    sender_keys_free(carol);
}

static void test_tamper_and_forgery(void **state)
{
    sender_keys_state *alice = NULL, *mallory = NULL, *bob;
    sender_keys_distribution d, forged;
    wire w, f;
    uint8_t *before;
    size_t before_len, i, accepted = 0;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    bob = member_from(alice);
    sk_send(alice, "genuine", &w);
    before = snap(bob, &before_len);
    /* Every single-bit change is refused with the state unchanged, except
     * protobuf's own normalisation (e.g. the unused high bits of a 5-byte
     * uint32 varint), which decodes to the very same message and therefore
     * the same plaintext; bob's state is restored after such a variant. */
    for (i = 0; i < w.len * 8; i++) {
        uint8_t *pt = NULL;
        size_t n = 0;
        e2e_status rc;

        w.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        rc = sender_keys_decrypt(bob, w.data, w.len, &pt, &n);
        if (rc == E2E_OK) {
            assert_int_equal(n, strlen(w.text));
            assert_memory_equal(pt, w.text, n);
            free(pt);
            accepted++;
            sender_keys_free(bob);
            bob = NULL;
            assert_int_equal(sender_keys_deserialize(&bob, before, before_len), E2E_OK);
        } else {
            assert_null(pt);
            assert_true(rc == E2E_ERR_SIGNATURE || rc == E2E_ERR_FORMAT || rc == E2E_ERR_INVALID ||
                        rc == E2E_ERR_WRONG_CHAIN);
        }
        assert_same(bob, before, before_len);
        w.data[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_true(accepted <= 8);
    /* Mallory, a member, knows alice's chain key (she got the same
     * distribution) but not her signing key: a message she makes with
     * alice's chain id and keys but her own signature is refused. */
    assert_int_equal(sender_keys_distribution_get(alice, &d), E2E_OK);
    assert_int_equal(sender_keys_create(&mallory, GROUP), E2E_OK);
    assert_int_equal(sender_keys_distribution_get(mallory, &forged), E2E_OK);
    {
        /* Rebuild mallory as a sender with alice's chain and her own key:
         * serialize, patch chain id/key in the codec's documented layout. */
        uint8_t *blob = NULL;
        size_t len = 0, off = 1 + 4 + 1 + strlen(GROUP);
        sender_keys_state *m2 = NULL;
        assert_int_equal(sender_keys_serialize(mallory, &blob, &len), E2E_OK);
        blob[off] = (uint8_t)(d.chain_id >> 24);
        blob[off + 1] = (uint8_t)(d.chain_id >> 16);
        blob[off + 2] = (uint8_t)(d.chain_id >> 8);
        blob[off + 3] = (uint8_t)d.chain_id;
        memcpy(blob + off + 8, d.chain_key, 32);
        assert_int_equal(sender_keys_deserialize(&m2, blob, len), E2E_OK);
        assert_int_equal(sender_keys_chain_id(m2), d.chain_id);
        sk_send(m2, "forged", &f);
        assert_int_equal(sk_recv_rc(bob, &f), E2E_ERR_SIGNATURE);
        assert_same(bob, before, before_len);
        sender_keys_free(m2);
        sodium_memzero(blob, len);
        free(blob);
        free(f.data);
    }
    sk_recv_ok(bob, &w);
    keys_wipe(&d, sizeof(d));
    keys_wipe(&forged, sizeof(forged));
    sodium_memzero(before, before_len);
    free(before);
    free(w.data);
    sender_keys_free(alice);
    sender_keys_free(mallory);
    sender_keys_free(bob);
}

static void test_late_joiner(void **state)
{
    sender_keys_state *alice = NULL, *bob, *dave;
    wire early[5], late;
    int i;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    bob = member_from(alice);
    for (i = 0; i < 5; i++)
        sk_send(alice, "before dave", &early[i]);
    /* Dave joins now: he receives the chain at iteration 5. */
    dave = member_from(alice);
    sk_send(alice, "after dave", &late);
    for (i = 0; i < 5; i++) {
        assert_int_equal(sk_recv_rc(dave, &early[i]), E2E_ERR_DUPLICATE);
        sk_recv_ok(bob, &early[i]);
    }
    sk_recv_ok(dave, &late);
    sk_recv_ok(bob, &late);
    for (i = 0; i < 5; i++)
        free(early[i].data);
    free(late.data);
    sender_keys_free(alice);
    sender_keys_free(bob);
    sender_keys_free(dave);
}

static void test_rotation(void **state)
{
    sender_keys_state *alice = NULL, *alice2 = NULL, *bob, *carol, *bob2;
    wire old_msg, new_msg;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    bob = member_from(alice);
    carol = member_from(alice);
    sk_send(alice, "everyone", &old_msg);
    sk_recv_ok(carol, &old_msg);
    /* Carol leaves: alice rotates and redistributes to bob only. */
    assert_int_equal(sender_keys_create(&alice2, GROUP), E2E_OK);
    assert_int_not_equal(sender_keys_chain_id(alice2), sender_keys_chain_id(alice));
    bob2 = member_from(alice2);
    sk_send(alice2, "without carol", &new_msg);
    assert_int_equal(sk_recv_rc(carol, &new_msg), E2E_ERR_WRONG_CHAIN);
    assert_int_equal(sk_recv_rc(bob, &new_msg), E2E_ERR_WRONG_CHAIN);
    sk_recv_ok(bob2, &new_msg);
    /* Messages of the old chain in flight still decrypt with the old state. */
    sk_recv_ok(bob, &old_msg);
    free(old_msg.data);
    free(new_msg.data);
    sender_keys_free(alice);
    sender_keys_free(alice2);
    sender_keys_free(bob);
    sender_keys_free(bob2);
    sender_keys_free(carol);
}

static void test_forward_jump_and_serialization(void **state)
{
    sender_keys_state *alice = NULL, *bob, *bob2 = NULL;
    wire first, kept, far, w;
    uint8_t *blob = NULL, *before;
    size_t len = 0, before_len;
    int i;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    bob = member_from(alice);
    sk_send(alice, "first", &first);
    for (i = 1; i <= SENDER_KEYS_MAX_FORWARD_JUMPS; i++) {
        if (i == SENDER_KEYS_MAX_FORWARD_JUMPS - 1) {
            sk_send(alice, "kept", &kept);
            continue;
        }
        sk_send(alice, "x", &w);
        free(w.data);
    }
    sk_send(alice, "far", &far);   /* iteration MAX + 1: a jump of MAX + 1 from 0 */
    before = snap(bob, &before_len);
    assert_int_equal(sk_recv_rc(bob, &far), E2E_ERR_TOO_FAR);
    assert_same(bob, before, before_len);
    /* Iteration MAX - 1 is within reach; it skips (and stores) the newest keys. */
    sk_recv_ok(bob, &kept);
    assert_int_equal(sk_recv_rc(bob, &first), E2E_ERR_DUPLICATE);   /* key evicted */
    /* Serialization round trip with stored keys, then carry on. */
    assert_int_equal(sender_keys_serialize(bob, &blob, &len), E2E_OK);
    assert_int_equal(blob[0], SENDER_KEYS_STATE_VERSION);
    assert_int_equal(sender_keys_deserialize(&bob2, blob, len - 1), E2E_ERR_FORMAT);
    assert_null(bob2);
    assert_int_equal(sender_keys_deserialize(&bob2, blob, len), E2E_OK);
    assert_string_equal(sender_keys_group_id(bob2), GROUP);
    sk_recv_ok(bob2, &far);
    assert_int_equal(sk_recv_rc(bob2, &kept), E2E_ERR_DUPLICATE);
    blob[0] = 7;
    sender_keys_free(bob2);
    bob2 = NULL;
    assert_int_equal(sender_keys_deserialize(&bob2, blob, len), E2E_ERR_VERSION);
    sodium_memzero(blob, len);
    free(blob);
    sodium_memzero(before, before_len);
    free(before);
    free(first.data);
    free(kept.data);
    free(far.data);
    sender_keys_free(alice);
    sender_keys_free(bob);
}

static void test_group_binding(void **state)
{
    sender_keys_state *alice = NULL, *other = NULL;
    sender_keys_distribution d;
    wire w;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    assert_int_equal(sender_keys_distribution_get(alice, &d), E2E_OK);
    /* The same keys believed to belong to another group do not verify. */
    snprintf(d.group_id, sizeof(d.group_id), "g:BBBBBBBBBBBBBBBBBBBBBB");
    assert_int_equal(sender_keys_from_distribution(&other, &d), E2E_OK);
    sk_send(alice, "for group A", &w);
    assert_int_equal(sk_recv_rc(other, &w), E2E_ERR_SIGNATURE);
    /* Receiving states cannot send or redistribute. */
    {
        uint8_t *out = (uint8_t *)"not reset";
        size_t out_len = 1;
        sender_keys_state *bad = alice;
        assert_int_equal(sender_keys_encrypt(other, (const uint8_t *)"x", 1, &out, &out_len),
                         E2E_ERR_STATE);
        assert_null(out);
        assert_int_equal(sender_keys_distribution_get(other, &d), E2E_ERR_INVALID);
        assert_int_equal(sender_keys_create(&bad, ""), E2E_ERR_INVALID);
        assert_null(bad);
    }
    free(w.data);
    keys_wipe(&d, sizeof(d));
    sender_keys_free(alice);
    sender_keys_free(other);
}

/* Random bytes and truncated states are refused cleanly. */
static void test_garbage_input(void **state)
{
    sender_keys_state *alice = NULL, *bob, *x = NULL;
    uint8_t buf[300], *blob = NULL;
    size_t blob_len = 0, i, len;
    uint32_t r = 0x9e3779b9u;

    (void)state;
    assert_int_equal(sender_keys_create(&alice, GROUP), E2E_OK);
    bob = member_from(alice);
    for (i = 0; i < 3000; i++) {
        uint8_t *pt = NULL;
        size_t n, j;

        r = r * 1664525u + 1013904223u;
        len = (r >> 8) % sizeof(buf);
        for (j = 0; j < len; j++) {
            r = r * 1664525u + 1013904223u;
            buf[j] = (uint8_t)(r >> 24);
        }
        assert_int_not_equal(sender_keys_decrypt(bob, buf, len, &pt, &n), E2E_OK);
        assert_null(pt);
        assert_int_not_equal(sender_keys_deserialize(&x, buf, len), E2E_OK);
        assert_null(x);
    }
    assert_int_equal(sender_keys_serialize(alice, &blob, &blob_len), E2E_OK);
    for (len = 0; len < blob_len; len++) {
        assert_int_not_equal(sender_keys_deserialize(&x, blob, len), E2E_OK);
        assert_null(x);
    }
    sodium_memzero(blob, blob_len);
    free(blob);
    sender_keys_free(alice);
    sender_keys_free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_order),
        cmocka_unit_test(test_tamper_and_forgery),
        cmocka_unit_test(test_late_joiner),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_forward_jump_and_serialization),
        cmocka_unit_test(test_group_binding),
        cmocka_unit_test(test_garbage_input),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
