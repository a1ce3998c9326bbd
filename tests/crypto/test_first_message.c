/*
 * test_first_message.c - one complete first message, as wire bytes, from
 * vectors/parley_kat.txt (first_content, first_message, first_envelope; made
 * by the independent reference vectors/gen_parley_kat.py from fixed keys).
 *
 * The core must (1) reproduce the reference's bytes exactly when alice's
 * X3DH ephemeral key and first ratchet key are the reference's fixed secrets
 * (libsodium's random source is replaced, before sodium_init, by one that
 * hands out eph_secret then ratchet_secret), and (2) as bob, build the
 * session from those bytes and read the Content back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "e2e.h"
#include "e2e.pb-c.h"
#include "keys.h"
#include "parley.pb-c.h"
#include "ratchet.h"
#include "vectors.h"
#include "x3dh.h"

/* ---- a random source that hands out the reference's secrets --------------- */

static uint8_t g_secrets[2][32];
static int g_next;     /* secrets handed out */
static int g_unplanned; /* other random requests */

static const char *fixed_name(void)
{
    return "parley-kat-fixed";
}

static uint32_t fixed_random(void)
{
    g_unplanned++;
    return 0x5eed5eedu;
}

static void fixed_stir(void)
{
}

static void fixed_buf(void *const buf, const size_t size)
{
    if (size == 32 && g_next < 2) {
        memcpy(buf, g_secrets[g_next++], 32);
        return;
    }
    g_unplanned++;
    memset(buf, 0x42, size);
}

static int fixed_close(void)
{
    return 0;
}

static randombytes_implementation fixed_rng = {
    .implementation_name = fixed_name,
    .random = fixed_random,
    .stir = fixed_stir,
    .uniform = NULL,
    .buf = fixed_buf,
    .close = fixed_close,
};

/* ---- vectors ---------------------------------------------------------------- */

static vectors_file *kat;

static uint8_t *hex(const char *name, size_t *len)
{
    uint8_t *v = vectors_hex(&kat->records[0], name, len);
    assert_non_null(v);
    return v;
}

static void hex32(const char *name, uint8_t out[32])
{
    size_t len = 0;
    uint8_t *v = hex(name, &len);
    assert_int_equal(len, 32);
    memcpy(out, v, 32);
    free(v);
}

typedef struct {
    keys_identity alice, bob;
    keys_x25519 spk, opk;
    x3dh_bundle bundle;
} parties;

static void load_parties(parties *p)
{
    uint8_t b[32];
    size_t len = 0;

    hex32("alice_seed", b);
    assert_int_equal(keys_identity_from_seed(&p->alice, b), E2E_OK);
    hex32("bob_seed", b);
    assert_int_equal(keys_identity_from_seed(&p->bob, b), E2E_OK);
    hex32("spk_secret", b);
    assert_int_equal(keys_x25519_from_secret(&p->spk, b), E2E_OK);
    hex32("opk_secret", b);
    assert_int_equal(keys_x25519_from_secret(&p->opk, b), E2E_OK);
    memset(&p->bundle, 0, sizeof p->bundle);
    memcpy(p->bundle.identity_key, p->bob.pk, 32);
    p->bundle.signed_prekey_id = 7;
    memcpy(p->bundle.signed_prekey, p->spk.pk, 32);
    uint8_t *sig = hex("spk_signature", &len);
    assert_int_equal(len, 64);
    memcpy(p->bundle.signed_prekey_signature, sig, 64);
    free(sig);
    p->bundle.has_one_time_prekey = true;
    p->bundle.one_time_prekey_id = 42;
    memcpy(p->bundle.one_time_prekey, p->opk.pk, 32);
    sodium_memzero(b, sizeof b);
}

/* ---- tests ------------------------------------------------------------------ */

static void initiator_reproduces_the_wire_bytes(void **state)
{
    parties p;
    ratchet_session *alice = NULL;
    uint8_t *content, *want, *want_env, *msg = NULL;
    size_t content_len, want_len, want_env_len, msg_len = 0;

    (void)state;
    load_parties(&p);
    content = hex("first_content", &content_len);
    want = hex("first_message", &want_len);
    want_env = hex("first_envelope", &want_env_len);

    g_next = g_unplanned = 0;
    assert_int_equal(ratchet_session_initiate(&alice, &p.alice, &p.bundle), E2E_OK);
    assert_int_equal(g_next, 2); /* the ephemeral key, then the first ratchet key */
    assert_int_equal(g_unplanned, 0);
    assert_int_equal(ratchet_encrypt(alice, content, content_len, &msg, &msg_len), E2E_OK);
    assert_int_equal(g_unplanned, 0); /* the message itself draws no randomness */
    assert_int_equal(msg_len, want_len);
    assert_memory_equal(msg, want, want_len);

    /* The Envelope the client publishes around it (client fields only). */
    Parley__V1__Envelope env = PARLEY__V1__ENVELOPE__INIT;
    env.client_msg_id = "kat-first-message";
    env.body.data = msg;
    env.body.len = msg_len;
    env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    size_t env_len = parley__v1__envelope__get_packed_size(&env);
    uint8_t *env_buf = malloc(env_len);
    assert_non_null(env_buf);
    parley__v1__envelope__pack(&env, env_buf);
    assert_int_equal(env_len, want_env_len);
    assert_memory_equal(env_buf, want_env, want_env_len);

    free(env_buf);
    free(msg);
    ratchet_session_free(alice);
    free(content);
    free(want);
    free(want_env);
    keys_wipe(&p, sizeof p);
}

static void responder_opens_the_wire_bytes(void **state)
{
    parties p;
    ratchet_session *bob = NULL;
    uint8_t *content, *env_bytes, *pt = NULL;
    size_t content_len, env_len, pt_len = 0;

    (void)state;
    load_parties(&p);
    content = hex("first_content", &content_len);
    env_bytes = hex("first_envelope", &env_len);

    /* From the Envelope as published down to the Content. */
    Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, env_len, env_bytes);
    assert_non_null(env);
    assert_string_equal(env->client_msg_id, "kat-first-message");
    e2e_message_info info;
    assert_int_equal(e2e_message_inspect(env->body.data, env->body.len, &info), E2E_OK);
    assert_int_equal(info.kind, E2E_KIND_PREKEY);
    assert_memory_equal(info.identity_key, p.alice.pk, 32);
    assert_int_equal(ratchet_session_respond(&bob, &p.bob, &p.spk, &p.opk, env->body.data,
                                             env->body.len, &pt, &pt_len),
                     E2E_OK);
    assert_int_equal(pt_len, content_len);
    assert_memory_equal(pt, content, content_len);
    assert_memory_equal(ratchet_session_peer_identity(bob), p.alice.pk, 32);

    Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, pt_len, pt);
    assert_non_null(ct);
    assert_string_equal(ct->text, "hello bob");
    assert_string_equal(ct->client_msg_id, env->client_msg_id); /* bound inside */
    assert_int_equal(ct->sent_at, 1700000000000);

    /* The same bytes again are a duplicate for the new session. */
    uint8_t *pt2 = NULL;
    size_t pt2_len = 0;
    assert_int_not_equal(ratchet_decrypt(bob, env->body.data, env->body.len, &pt2, &pt2_len),
                         E2E_OK);
    assert_null(pt2);

    parley__e2e__v1__content__free_unpacked(ct, NULL);
    parley__v1__envelope__free_unpacked(env, NULL);
    free(pt);
    ratchet_session_free(bob);
    free(content);
    free(env_bytes);
    keys_wipe(&p, sizeof p);
}

int main(void)
{
    /* Before sodium_init, as libsodium requires. */
    if (randombytes_set_implementation(&fixed_rng) != 0)
        return 1;
    if (e2e_init() != E2E_OK)
        return 1;
    kat = vectors_load("parley_kat.txt");
    if (!kat || kat->n_records != 1)
        return 1;
    hex32("eph_secret", g_secrets[0]);
    hex32("ratchet_secret", g_secrets[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(initiator_reproduces_the_wire_bytes),
        cmocka_unit_test(responder_opens_the_wire_bytes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vectors_free(kat);
    return rc;
}
