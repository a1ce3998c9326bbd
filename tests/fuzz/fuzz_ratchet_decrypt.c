/*
 * fuzz_ratchet_decrypt.c - ratchet_decrypt() of arbitrary bytes against a
 * fixed, established pairwise session (Bob's, fixture.c).
 *
 * Invariants (ratchet.h): never crash; on error *pt is NULL and the session
 * is unchanged (its serialization is byte-identical before and after); on
 * success the plaintext is NUL-terminated and decrypting the same bytes
 * again is refused as E2E_ERR_DUPLICATE, again without changing the session.
 */
#include "fuzz.h"
#include "fixture.h"

#include <sodium.h>

#include "ratchet.h"

static fuzz_fixture fx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fx.state.data)
        return 0;
    if (fuzz_fixture_ratchet(&fx) != 0)
        abort();
    return 0;
}

static int known_status(e2e_status rc)
{
    return rc == E2E_ERR_INVALID || rc == E2E_ERR_FORMAT || rc == E2E_ERR_DECRYPT ||
           rc == E2E_ERR_DUPLICATE || rc == E2E_ERR_TOO_FAR || rc == E2E_ERR_KEY ||
           rc == E2E_ERR_NO_SESSION;
}

/* Serialize s and compare it with want[0..want_len). */
static void check_state(const ratchet_session *s, const uint8_t *want, size_t want_len)
{
    uint8_t *now = NULL;
    size_t now_len = 0;

    FUZZ_CHECK(ratchet_session_serialize(s, &now, &now_len) == E2E_OK);
    FUZZ_CHECK(now_len == want_len && memcmp(now, want, now_len) == 0);
    sodium_memzero(now, now_len);
    free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ratchet_session *s = NULL;
    uint8_t *pt = (uint8_t *)"sentinel", *after = NULL;
    size_t pt_len = 12345, after_len = 0;
    e2e_status rc;

    LLVMFuzzerInitialize(NULL, NULL);
    FUZZ_CHECK(ratchet_session_deserialize(&s, fx.state.data, fx.state.len) == E2E_OK);
    rc = ratchet_decrypt(s, data, size, &pt, &pt_len);
    if (rc != E2E_OK) {
        FUZZ_CHECK(known_status(rc));
        FUZZ_CHECK(pt == NULL && pt_len == 0);
        check_state(s, fx.state.data, fx.state.len);
        goto done;
    }
    FUZZ_CHECK(pt != NULL && pt[pt_len] == '\0');
    free(pt);
    /* A replay of a message that decrypted is refused and changes nothing. */
    FUZZ_CHECK(ratchet_session_serialize(s, &after, &after_len) == E2E_OK);
    pt = (uint8_t *)"sentinel";
    rc = ratchet_decrypt(s, data, size, &pt, &pt_len);
    FUZZ_CHECK(rc == E2E_ERR_DUPLICATE);
    FUZZ_CHECK(pt == NULL);
    check_state(s, after, after_len);
    sodium_memzero(after, after_len);
    free(after);
done:
    ratchet_session_free(s);
    return 0;
}
