/*
 * test_ratchet.c - property tests of pairwise sessions (ratchet.c):
 * PreKey start, out-of-order / skipped / lost / duplicated / tampered
 * messages, simultaneous sending, thousands of messages in a seeded random
 * order, the forward-jump and stored-key bounds, and serialization.
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
#include "ratchet.h"

typedef struct {
    keys_identity alice, bob;
    keys_signed_prekey spk;
    keys_one_time_prekey opk;
    x3dh_bundle bundle;
    ratchet_session *a, *b;     /* alice's (initiator) and bob's sessions */
} fixture;

typedef struct {
    uint8_t *data;
    size_t len;
    char text[64];
} wire;

/* ---- helpers ----------------------------------------------------------- */

static void wire_free(wire *w)
{
    free(w->data);
    w->data = NULL;
}

/* Encrypt "text" on s into w. */
static void send_msg(ratchet_session *s, const char *text, wire *w)
{
    snprintf(w->text, sizeof(w->text), "%s", text);
    assert_int_equal(ratchet_encrypt(s, (const uint8_t *)text, strlen(text), &w->data, &w->len),
                     E2E_OK);
}

/* Decrypt w on s and check the plaintext. */
static void recv_ok(ratchet_session *s, const wire *w)
{
    uint8_t *pt = NULL;
    size_t n = 0;

    assert_int_equal(ratchet_decrypt(s, w->data, w->len, &pt, &n), E2E_OK);
    assert_int_equal(n, strlen(w->text));
    assert_memory_equal(pt, w->text, n);
    assert_int_equal(pt[n], '\0');
    free(pt);
}

static e2e_status recv_rc(ratchet_session *s, const wire *w)
{
    uint8_t *pt = (uint8_t *)"not reset";
    size_t n = 0;
    e2e_status rc = ratchet_decrypt(s, w->data, w->len, &pt, &n);

    if (rc == E2E_OK)
        free(pt);
    else
        assert_null(pt);
    return rc;
}

/* Serialized state, to compare sessions before and after a failed call. */
static uint8_t *snapshot(const ratchet_session *s, size_t *len)
{
    uint8_t *p = NULL;

    assert_int_equal(ratchet_session_serialize(s, &p, len), E2E_OK);
    return p;
}

static void assert_unchanged(const ratchet_session *s, const uint8_t *before, size_t len)
{
    size_t n;
    uint8_t *now = snapshot(s, &n);

    assert_int_equal(n, len);
    assert_memory_equal(now, before, len);
    sodium_memzero(now, n);
    free(now);
}

/* Bob receives alice's first (PreKey) message and builds his session. */
static void bob_accepts(fixture *f, const wire *first)
{
    e2e_message_info info;
    uint8_t *pt = NULL;
    size_t n = 0;

    assert_int_equal(e2e_message_inspect(first->data, first->len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_PREKEY);
    assert_int_equal(info.signed_prekey_id, f->spk.key_id);
    assert_int_equal(info.has_one_time_prekey, f->bundle.has_one_time_prekey ? 1 : 0);
    assert_memory_equal(info.identity_key, f->alice.pk, 32);
    assert_int_equal(ratchet_session_respond(&f->b, &f->bob, &f->spk.kp,
                                             info.has_one_time_prekey ? &f->opk.kp : NULL,
                                             first->data, first->len, &pt, &n),
                     E2E_OK);
    assert_int_equal(n, strlen(first->text));
    assert_memory_equal(pt, first->text, n);
    assert_memory_equal(ratchet_session_peer_identity(f->b), f->alice.pk, 32);
    assert_memory_equal(ratchet_session_base_key(f->b), info.base_key, 32);
    free(pt);
}

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
    if (ratchet_session_initiate(&f->a, &f->alice, &f->bundle) != E2E_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    ratchet_session_free(f->a);
    ratchet_session_free(f->b);
    keys_wipe(f, sizeof(*f));
    free(f);
    return 0;
}

/* Deterministic PRNG (xorshift64*) so random scenarios are reproducible. */
static uint64_t prng_state;
static uint32_t prng(void)
{
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    return (uint32_t)((prng_state * 2685821657736338717ULL) >> 32);
}

/* ---- tests ------------------------------------------------------------- */

static void test_prekey_then_ratchet(void **state)
{
    fixture *f = *state;
    wire m1, m2, m3, r1, m4;
    e2e_message_info info;

    send_msg(f->a, "hello bob", &m1);
    send_msg(f->a, "are you there?", &m2);
    assert_true(ratchet_session_pending_prekey(f->a));
    bob_accepts(f, &m1);
    /* A second PreKey message of the same session decrypts on bob's session. */
    assert_int_equal(e2e_message_inspect(m2.data, m2.len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_PREKEY);
    recv_ok(f->b, &m2);
    /* Bob replies; once alice has decrypted, she sends plain ratchet messages. */
    send_msg(f->b, "hi alice", &r1);
    assert_int_equal(e2e_message_inspect(r1.data, r1.len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_RATCHET);
    recv_ok(f->a, &r1);
    assert_false(ratchet_session_pending_prekey(f->a));
    send_msg(f->a, "third", &m3);
    assert_int_equal(e2e_message_inspect(m3.data, m3.len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_RATCHET);
    recv_ok(f->b, &m3);
    /* Empty plaintexts are allowed. */
    send_msg(f->b, "", &m4);
    recv_ok(f->a, &m4);
    wire_free(&m1);
    wire_free(&m2);
    wire_free(&m3);
    wire_free(&r1);
    wire_free(&m4);
}

static void test_without_one_time_prekey(void **state)
{
    fixture *f = *state;
    wire m1, r1;
    uint8_t *pt = NULL;
    size_t n;

    ratchet_session_free(f->a);
    f->bundle.has_one_time_prekey = false;
    assert_int_equal(ratchet_session_initiate(&f->a, &f->alice, &f->bundle), E2E_OK);
    send_msg(f->a, "no opk", &m1);
    /* Supplying a one-time prekey the message does not name is refused. */
    assert_int_equal(
        ratchet_session_respond(&f->b, &f->bob, &f->spk.kp, &f->opk.kp, m1.data, m1.len, &pt, &n),
        E2E_ERR_INVALID);
    assert_null(f->b);
    bob_accepts(f, &m1);
    send_msg(f->b, "ok", &r1);
    recv_ok(f->a, &r1);
    wire_free(&m1);
    wire_free(&r1);
}

static void test_wrong_prekey_fails_cleanly(void **state)
{
    fixture *f = *state;
    keys_signed_prekey other;
    wire m1;
    uint8_t *pt = NULL;
    size_t n;

    assert_int_equal(keys_signed_prekey_generate(&f->bob, 8, &other), E2E_OK);
    send_msg(f->a, "x", &m1);
    assert_int_equal(
        ratchet_session_respond(&f->b, &f->bob, &other.kp, &f->opk.kp, m1.data, m1.len, &pt, &n),
        E2E_ERR_DECRYPT);
    assert_null(f->b);
    assert_null(pt);
    keys_wipe(&other, sizeof(other));
    wire_free(&m1);
}

static void test_out_of_order_skipped_lost(void **state)
{
    fixture *f = *state;
    wire a[8], b[6], c[3];
    int i;

    send_msg(f->a, "a0", &a[0]);
    bob_accepts(f, &a[0]);
    for (i = 1; i < 8; i++) {
        char t[8];
        snprintf(t, sizeof(t), "a%d", i);
        send_msg(f->a, t, &a[i]);
    }
    /* Reverse order within one chain; a[3] is lost forever. */
    for (i = 7; i >= 1; i--)
        if (i != 3)
            recv_ok(f->b, &a[i]);
    /* Bob replies across two of his chains; alice sees them shuffled. */
    for (i = 0; i < 3; i++) {
        char t[8];
        snprintf(t, sizeof(t), "b%d", i);
        send_msg(f->b, t, &b[i]);
    }
    recv_ok(f->a, &b[2]);       /* alice ratchets, skipping b0 and b1 */
    send_msg(f->a, "c0", &c[0]);
    recv_ok(f->b, &c[0]);       /* bob ratchets: a new sending chain */
    for (i = 3; i < 6; i++) {
        char t[8];
        snprintf(t, sizeof(t), "b%d", i);
        send_msg(f->b, t, &b[i]);
    }
    recv_ok(f->a, &b[5]);       /* pn in the header lets alice keep b0, b1 */
    recv_ok(f->a, &b[0]);
    recv_ok(f->a, &b[4]);
    recv_ok(f->a, &b[1]);
    recv_ok(f->a, &b[3]);
    /* The lost message still decrypts if it turns up late. */
    recv_ok(f->b, &a[3]);
    for (i = 0; i < 8; i++)
        wire_free(&a[i]);
    for (i = 0; i < 6; i++)
        wire_free(&b[i]);
    wire_free(&c[0]);
}

static void test_duplicates_rejected(void **state)
{
    fixture *f = *state;
    wire a0, a1, a2, b0, a3;

    send_msg(f->a, "a0", &a0);
    send_msg(f->a, "a1", &a1);
    send_msg(f->a, "a2", &a2);
    bob_accepts(f, &a0);
    recv_ok(f->b, &a2);
    /* In-order duplicate, and a duplicate of a message decrypted via a skipped key. */
    assert_int_equal(recv_rc(f->b, &a2), E2E_ERR_DUPLICATE);
    recv_ok(f->b, &a1);
    assert_int_equal(recv_rc(f->b, &a1), E2E_ERR_DUPLICATE);
    /* The first (PreKey) message again. */
    assert_int_equal(recv_rc(f->b, &a0), E2E_ERR_DUPLICATE);
    /* After both sides ratcheted, a message of the old chain is still a duplicate. */
    send_msg(f->b, "b0", &b0);
    recv_ok(f->a, &b0);
    send_msg(f->a, "a3", &a3);
    recv_ok(f->b, &a3);
    assert_int_equal(recv_rc(f->b, &a2), E2E_ERR_DUPLICATE);
    assert_int_equal(recv_rc(f->a, &b0), E2E_ERR_DUPLICATE);
    wire_free(&a0);
    wire_free(&a1);
    wire_free(&a2);
    wire_free(&b0);
    wire_free(&a3);
}

static void test_tampered_rejected_state_unchanged(void **state)
{
    fixture *f = *state;
    wire a0, a1, a2;
    uint8_t *before;
    size_t before_len, i, accepted = 0;

    send_msg(f->a, "a0", &a0);
    bob_accepts(f, &a0);
    send_msg(f->a, "a1 with some text", &a1);
    send_msg(f->a, "a2", &a2);
    before = snapshot(f->b, &before_len);
    /* Flip every bit of the (PreKey) message in turn: each variant is
     * refused (the AEAD covers header and ciphertext; damaged encodings are
     * malformed; other X3DH parameters name another session) and bob's
     * session never changes. The only exception is protobuf's own
     * normalisation: a bool field encoded as another non-zero varint decodes
     * to the very same message; such a variant may decrypt, to the same
     * plaintext (bob's session is then restored for the next round). */
    for (i = 0; i < a2.len * 8; i++) {
        uint8_t *pt = NULL;
        size_t n = 0;
        e2e_status rc;

        a2.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        rc = ratchet_decrypt(f->b, a2.data, a2.len, &pt, &n);
        if (rc == E2E_OK) {
            Parley__E2e__V1__E2EMessage *m = parley__e2e__v1__e2_emessage__unpack(NULL, a2.len,
                                                                                  a2.data);
            assert_non_null(m);
            assert_int_equal(m->body_case, PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY);
            assert_true(m->prekey->has_one_time_prekey);
            parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
            assert_int_equal(n, strlen(a2.text));
            assert_memory_equal(pt, a2.text, n);
            free(pt);
            accepted++;
            ratchet_session_free(f->b);
            f->b = NULL;
            assert_int_equal(ratchet_session_deserialize(&f->b, before, before_len), E2E_OK);
        } else {
            assert_null(pt);
            /* header fields are checked (duplicate, jump) before the AEAD */
            assert_true(rc == E2E_ERR_DECRYPT || rc == E2E_ERR_FORMAT || rc == E2E_ERR_INVALID ||
                        rc == E2E_ERR_NO_SESSION || rc == E2E_ERR_DUPLICATE ||
                        rc == E2E_ERR_TOO_FAR || rc == E2E_ERR_KEY);
        }
        assert_unchanged(f->b, before, before_len);
        a2.data[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_true(accepted <= 7);   /* at most the 7 other bits of the bool byte */
    /* Truncations too. */
    for (i = 0; i < a2.len; i += 3) {
        uint8_t *pt = NULL;
        size_t n;
        assert_int_not_equal(ratchet_decrypt(f->b, a2.data, i, &pt, &n), E2E_OK);
        assert_unchanged(f->b, before, before_len);
    }
    /* The genuine messages still decrypt, in any order. */
    recv_ok(f->b, &a2);
    recv_ok(f->b, &a1);
    sodium_memzero(before, before_len);
    free(before);
    wire_free(&a0);
    wire_free(&a1);
    wire_free(&a2);
}

static void test_simultaneous_sending(void **state)
{
    fixture *f = *state;
    wire a0, a[4], b[4];
    int i;

    send_msg(f->a, "a0", &a0);
    bob_accepts(f, &a0);
    /* Both send four messages before either receives anything. */
    for (i = 0; i < 4; i++) {
        char t[8];
        snprintf(t, sizeof(t), "A%d", i);
        send_msg(f->a, t, &a[i]);
        snprintf(t, sizeof(t), "B%d", i);
        send_msg(f->b, t, &b[i]);
    }
    for (i = 0; i < 4; i++) {
        recv_ok(f->b, &a[3 - i]);
        recv_ok(f->a, &b[i]);
    }
    for (i = 0; i < 4; i++) {
        wire_free(&a[i]);
        wire_free(&b[i]);
    }
    wire_free(&a0);
}

#define RANDOM_MESSAGES 3000
#define IN_FLIGHT_MAX 40

/* Thousands of messages, random direction, random delivery order within
 * a bounded in-flight window, some lost; seeded and reproducible. */
static void test_random_conversation(void **state)
{
    fixture *f = *state;
    wire first;
    wire *flight[2];
    size_t n_flight[2] = {0, 0}, delivered = 0, lost = 0;
    int sent;

    prng_state = 0x5eed5eed12345678ULL;
    flight[0] = calloc(IN_FLIGHT_MAX, sizeof(wire));
    flight[1] = calloc(IN_FLIGHT_MAX, sizeof(wire));
    assert_non_null(flight[0]);
    assert_non_null(flight[1]);
    send_msg(f->a, "start", &first);
    bob_accepts(f, &first);
    for (sent = 0; sent < RANDOM_MESSAGES || n_flight[0] || n_flight[1];) {
        uint32_t r = prng();
        int dir = (int)(r & 1);   /* 0: alice -> bob, 1: bob -> alice */
        ratchet_session *from = dir ? f->b : f->a, *to = dir ? f->a : f->b;

        if (sent < RANDOM_MESSAGES && n_flight[dir] < IN_FLIGHT_MAX && ((r >> 1) % 3) != 0) {
            char t[32];
            snprintf(t, sizeof(t), "%s #%d", dir ? "bob" : "alice", sent++);
            send_msg(from, t, &flight[dir][n_flight[dir]++]);
        } else if (n_flight[dir]) {
            size_t k = (r >> 8) % n_flight[dir];
            wire w = flight[dir][k];

            flight[dir][k] = flight[dir][--n_flight[dir]];
            if ((r >> 24) % 50 == 0) {
                lost++;               /* dropped by the network */
            } else {
                recv_ok(to, &w);
                delivered++;
            }
            wire_free(&w);
        }
    }
    assert_true(delivered > RANDOM_MESSAGES * 9 / 10);
    assert_true(lost > 0);
    print_message("random conversation: %zu delivered, %zu lost\n", delivered, lost);
    free(flight[0]);
    free(flight[1]);
    wire_free(&first);
}

static void test_forward_jump_limit(void **state)
{
    fixture *f = *state;
    wire a0, w, first_skipped, in_window;
    uint8_t *before;
    size_t before_len;
    int i;

    send_msg(f->a, "a0", &a0);
    bob_accepts(f, &a0);
    /* Messages 1 .. MAX_FORWARD_JUMPS + 1 of alice's chain; keep 1, the one
     * just inside the stored-key window, and the last. */
    send_msg(f->a, "first skipped", &first_skipped);
    for (i = 2; i <= RATCHET_MAX_FORWARD_JUMPS + 1; i++) {
        if (i == RATCHET_MAX_FORWARD_JUMPS - 5) {
            send_msg(f->a, "in window", &in_window);
            continue;
        }
        assert_int_equal(ratchet_encrypt(f->a, (const uint8_t *)"x", 1, &w.data, &w.len), E2E_OK);
        if (i == RATCHET_MAX_FORWARD_JUMPS + 1)
            break;
        if (i == RATCHET_MAX_FORWARD_JUMPS) {
            /* n = 25000 after bob's nr = 1: a jump of 24999, allowed - keep for later. */
            break;
        }
        wire_free(&w);
    }
    /* w is message n = MAX_FORWARD_JUMPS; now make n = MAX_FORWARD_JUMPS + 2,
     * a jump of MAX_FORWARD_JUMPS + 1 from bob's nr = 1: refused. */
    {
        wire far, ok = w;
        assert_int_equal(ratchet_encrypt(f->a, (const uint8_t *)"y", 1, &w.data, &w.len), E2E_OK);
        wire_free(&w);
        send_msg(f->a, "too far", &far);
        before = snapshot(f->b, &before_len);
        assert_int_equal(recv_rc(f->b, &far), E2E_ERR_TOO_FAR);
        assert_unchanged(f->b, before, before_len);
        /* n = MAX_FORWARD_JUMPS: a jump of MAX_FORWARD_JUMPS - 1 is accepted. */
        snprintf(ok.text, sizeof(ok.text), "x");
        recv_ok(f->b, &ok);
        wire_free(&ok);
        /* Only the newest MAX_MESSAGE_KEYS skipped keys are kept. */
        assert_int_equal(recv_rc(f->b, &first_skipped), E2E_ERR_DUPLICATE);
        recv_ok(f->b, &in_window);
        /* Now within reach. */
        recv_ok(f->b, &far);
        wire_free(&far);
    }
    sodium_memzero(before, before_len);
    free(before);
    wire_free(&a0);
    wire_free(&first_skipped);
    wire_free(&in_window);
}

static void test_serialization_mid_conversation(void **state)
{
    fixture *f = *state;
    wire a[5], b0, a5;
    uint8_t *blob = NULL;
    size_t len = 0;
    ratchet_session *copy = NULL;
    int i;

    for (i = 0; i < 5; i++) {
        char t[8];
        snprintf(t, sizeof(t), "a%d", i);
        send_msg(f->a, t, &a[i]);
    }
    bob_accepts(f, &a[0]);
    recv_ok(f->b, &a[4]); /* bob now holds skipped keys for a1..a3 */
    send_msg(f->b, "b0", &b0);
    /* Both sides go through storage. */
    assert_int_equal(ratchet_session_serialize(f->b, &blob, &len), E2E_OK);
    assert_int_equal(blob[0], RATCHET_STATE_VERSION);
    ratchet_session_free(f->b);
    f->b = NULL;
    assert_int_equal(ratchet_session_deserialize(&f->b, blob, len), E2E_OK);
    /* Damaged blobs are refused. */
    assert_int_equal(ratchet_session_deserialize(&copy, blob, len - 1), E2E_ERR_FORMAT);
    assert_null(copy);
    blob[0] = 99;
    assert_int_equal(ratchet_session_deserialize(&copy, blob, len), E2E_ERR_VERSION);
    assert_null(copy);
    sodium_memzero(blob, len);
    free(blob);
    assert_int_equal(ratchet_session_serialize(f->a, &blob, &len), E2E_OK);
    ratchet_session_free(f->a);
    f->a = NULL;
    assert_int_equal(ratchet_session_deserialize(&f->a, blob, len), E2E_OK);
    assert_true(ratchet_session_pending_prekey(f->a));
    sodium_memzero(blob, len);
    free(blob);

    recv_ok(f->b, &a[2]);
    recv_ok(f->a, &b0);
    recv_ok(f->b, &a[1]);
    send_msg(f->a, "a5", &a5);
    recv_ok(f->b, &a5);
    recv_ok(f->b, &a[3]);
    assert_int_equal(recv_rc(f->b, &a[4]), E2E_ERR_DUPLICATE);
    for (i = 0; i < 5; i++)
        wire_free(&a[i]);
    wire_free(&b0);
    wire_free(&a5);
}

static void test_other_session_prekey(void **state)
{
    fixture *f = *state;
    wire a0, x0;
    ratchet_session *a2 = NULL;

    send_msg(f->a, "a0", &a0);
    bob_accepts(f, &a0);
    /* Alice reinstalls and starts over: a PreKey message with another base
     * key is not for bob's current session. */
    f->bundle.has_one_time_prekey = false;
    assert_int_equal(ratchet_session_initiate(&a2, &f->alice, &f->bundle), E2E_OK);
    send_msg(a2, "new session", &x0);
    assert_int_equal(recv_rc(f->b, &x0), E2E_ERR_NO_SESSION);
    /* A ratchet-less receiver cannot send: the initiator can. */
    ratchet_session_free(a2);
    wire_free(&a0);
    wire_free(&x0);
}

/* Random bytes and every truncation of a valid serialized state are
 * refused cleanly (no crash, no leak under the sanitizers, session intact). */
static void test_garbage_input(void **state)
{
    fixture *f = *state;
    wire a0;
    uint8_t buf[300], *blob = NULL, *before;
    size_t blob_len = 0, before_len, i, len;
    ratchet_session *x = NULL;
    e2e_message_info info;

    send_msg(f->a, "a0", &a0);
    bob_accepts(f, &a0);
    before = snapshot(f->b, &before_len);
    prng_state = 0x6a7b6a7b6a7b6a7bULL;
    for (i = 0; i < 5000; i++) {
        uint8_t *pt = NULL;
        size_t n, j;

        len = prng() % sizeof(buf);
        for (j = 0; j < len; j++)
            buf[j] = (uint8_t)prng();
        (void)e2e_message_inspect(buf, len, &info);
        assert_int_not_equal(ratchet_decrypt(f->b, buf, len, &pt, &n), E2E_OK);
        assert_null(pt);
        assert_int_not_equal(ratchet_session_deserialize(&x, buf, len), E2E_OK);
        assert_null(x);
    }
    assert_unchanged(f->b, before, before_len);
    assert_int_equal(ratchet_session_serialize(f->b, &blob, &blob_len), E2E_OK);
    for (len = 0; len < blob_len; len++) {
        assert_int_not_equal(ratchet_session_deserialize(&x, blob, len), E2E_OK);
        assert_null(x);
    }
    sodium_memzero(blob, blob_len);
    free(blob);
    sodium_memzero(before, before_len);
    free(before);
    wire_free(&a0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prekey_then_ratchet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_one_time_prekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_prekey_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_skipped_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_rejected_state_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simultaneous_sending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_jump_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serialization_mid_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_session_prekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_input, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
