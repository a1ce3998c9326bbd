/*
 * fuzz_sender_keys_decrypt.c - sender_keys_decrypt() of arbitrary bytes
 * against a fixed member state of a group (fixture.c).
 *
 * Input: one mode byte, then the message. Mode bit 0 set: the target first
 * re-signs the message (if it is an E2EMessage{sender_key}) with the
 * sender's real signing key, so the fuzzer gets past the signature check
 * and exercises chain ids, iterations, skipped keys and the AEAD.
 *
 * Invariants (sender_keys.h): never crash; on error *pt is NULL and the
 * state is unchanged (byte-identical serialization); on success the
 * plaintext is NUL-terminated and a replay is refused as E2E_ERR_DUPLICATE.
 */
#include "fuzz.h"
#include "fixture.h"

#include <sodium.h>

#include "sender_keys.h"

static fuzz_fixture fx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fx.state.data)
        return 0;
    if (fuzz_fixture_sender_keys(&fx) != 0)
        abort();
    return 0;
}

static int known_status(e2e_status rc)
{
    return rc == E2E_ERR_INVALID || rc == E2E_ERR_FORMAT || rc == E2E_ERR_WRONG_CHAIN ||
           rc == E2E_ERR_SIGNATURE || rc == E2E_ERR_DECRYPT || rc == E2E_ERR_DUPLICATE ||
           rc == E2E_ERR_TOO_FAR;
}

static void check_state(const sender_keys_state *s, const uint8_t *want, size_t want_len)
{
    uint8_t *now = NULL;
    size_t now_len = 0;

    FUZZ_CHECK(sender_keys_serialize(s, &now, &now_len) == E2E_OK);
    FUZZ_CHECK(now_len == want_len && memcmp(now, want, now_len) == 0);
    sodium_memzero(now, now_len);
    free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sender_keys_state *s = NULL;
    uint8_t *resigned = NULL, *after = NULL, *pt = (uint8_t *)"sentinel";
    const uint8_t *msg;
    size_t len, pt_len = 12345, after_len = 0, resigned_len = 0;
    e2e_status rc;

    LLVMFuzzerInitialize(NULL, NULL);
    if (size < 1)
        return 0;
    msg = data + 1;
    len = size - 1;
    if ((data[0] & 1) &&
        fuzz_sender_key_resign(msg, len, FUZZ_GROUP_ID, fx.sig_sk, &resigned, &resigned_len) == 0) {
        msg = resigned;
        len = resigned_len;
    }
    FUZZ_CHECK(sender_keys_deserialize(&s, fx.state.data, fx.state.len) == E2E_OK);
    rc = sender_keys_decrypt(s, msg, len, &pt, &pt_len);
    if (rc != E2E_OK) {
        FUZZ_CHECK(known_status(rc));
        FUZZ_CHECK(pt == NULL && pt_len == 0);
        check_state(s, fx.state.data, fx.state.len);
        goto done;
    }
    FUZZ_CHECK(pt != NULL && pt[pt_len] == '\0');
    free(pt);
    FUZZ_CHECK(sender_keys_serialize(s, &after, &after_len) == E2E_OK);
    pt = (uint8_t *)"sentinel";
    rc = sender_keys_decrypt(s, msg, len, &pt, &pt_len);
    FUZZ_CHECK(rc == E2E_ERR_DUPLICATE);
    FUZZ_CHECK(pt == NULL);
    check_state(s, after, after_len);
    sodium_memzero(after, after_len);
    free(after);
done:
    sender_keys_free(s);
    free(resigned);
    return 0;
}
