/*
 * fuzz_crypto_state.c - ratchet_session_deserialize() and
 * sender_keys_deserialize() on arbitrary bytes: the client's local store
 * holds these blobs (a corrupted or tampered database must not crash it).
 *
 * Input: byte 0 even = a pairwise session, odd = a sender-key state; the
 * rest is the serialized state.
 * Invariants: no crash; a state that loads serializes back to exactly the
 * same bytes (the format has one encoding); a loaded state survives use:
 * encrypting, decrypting a message of the fixture and freeing.
 */
#include "fuzz.h"
#include "fixture.h"

#include <sodium.h>

#include "ratchet.h"
#include "sender_keys.h"

static fuzz_fixture rfx, sfx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (rfx.state.data)
        return 0;
    if (fuzz_fixture_ratchet(&rfx) != 0 || fuzz_fixture_sender_keys(&sfx) != 0)
        abort();
    return 0;
}

static void check_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
}

static void ratchet_case(const uint8_t *in, size_t len)
{
    ratchet_session *s = NULL;
    uint8_t *out = NULL, *ct = NULL, *pt = NULL;
    size_t out_len = 0, ct_len = 0, pt_len = 0;

    if (ratchet_session_deserialize(&s, in, len) != E2E_OK) {
        FUZZ_CHECK(s == NULL);
        return;
    }
    FUZZ_CHECK(ratchet_session_serialize(s, &out, &out_len) == E2E_OK);
    check_same(out, out_len, in, len);
    sodium_memzero(out, out_len);
    free(out);
    (void)ratchet_session_pending_prekey(s);
    if (ratchet_encrypt(s, (const uint8_t *)"x", 1, &ct, &ct_len) == E2E_OK)
        free(ct);
    for (size_t i = 0; i < rfx.n_msgs && i < 3; i++)
        if (ratchet_decrypt(s, rfx.msgs[i].data, rfx.msgs[i].len, &pt, &pt_len) == E2E_OK)
            free(pt);
    ratchet_session_free(s);
}

static void sender_keys_case(const uint8_t *in, size_t len)
{
    sender_keys_state *s = NULL;
    sender_keys_distribution d;
    uint8_t *out = NULL, *ct = NULL, *pt = NULL;
    size_t out_len = 0, ct_len = 0, pt_len = 0;

    if (sender_keys_deserialize(&s, in, len) != E2E_OK) {
        FUZZ_CHECK(s == NULL);
        return;
    }
    FUZZ_CHECK(sender_keys_serialize(s, &out, &out_len) == E2E_OK);
    check_same(out, out_len, in, len);
    sodium_memzero(out, out_len);
    free(out);
    FUZZ_CHECK(strlen(sender_keys_group_id(s)) >= 1 &&
               strlen(sender_keys_group_id(s)) <= SENDER_KEYS_GROUP_MAX);
    if (sender_keys_distribution_get(s, &d) == E2E_OK)
        sodium_memzero(&d, sizeof d);
    if (sender_keys_encrypt(s, (const uint8_t *)"x", 1, &ct, &ct_len) == E2E_OK)
        free(ct);
    for (size_t i = 0; i < sfx.n_msgs && i < 3; i++)
        if (sender_keys_decrypt(s, sfx.msgs[i].data, sfx.msgs[i].len, &pt, &pt_len) == E2E_OK)
            free(pt);
    sender_keys_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    LLVMFuzzerInitialize(NULL, NULL);
    if (size < 1)
        return 0;
    if (data[0] & 1)
        sender_keys_case(data + 1, size - 1);
    else
        ratchet_case(data + 1, size - 1);
    return 0;
}
