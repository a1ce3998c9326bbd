/*
 * fuzz_token.c - token_parse() and token_verify() (common/token.c) on
 * arbitrary strings: what a client sends as its MQTT password or HTTP
 * bearer token.
 *
 * Invariants: no crash; token_parse() fills sane claims (valid user id,
 * printable client id, expires_at >= 0, a known audience); token_verify()
 * agrees with token_parse() about malformed tokens, checks audience, user,
 * client and time as
 * documented, and accepts only what token_mint() produces with the key:
 * a token that verifies is byte-identical to the token minted for its
 * claims (no second encoding of the same claims is accepted).
 */
#include "fuzz.h"

#include <sodium.h>

#include "ids.h"
#include "token.h"

/* The verifier's key: Ed25519 from a fixed seed (gen_seeds.c mints with it). */
#define FUZZ_TOKEN_SEED_BYTE 'T'

static uint8_t pk[32], sk[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static int done;
    uint8_t seed[32];

    (void)argc;
    (void)argv;
    if (done)
        return 0;
    if (sodium_init() < 0)
        abort();
    memset(seed, FUZZ_TOKEN_SEED_BYTE, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    done = 1;
    return 0;
}

static void check_claims(const token_claims *c)
{
    size_t n = strlen(c->client_id);

    FUZZ_CHECK(ids_valid_user(c->user_id));
    FUZZ_CHECK(n >= 1 && n <= TOKEN_CLIENT_ID_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)c->client_id[i] >= 0x20 && c->client_id[i] != 0x7f);
    /* Only digits: never negative. F1: a 19-digit expiry above INT64_MAX
     * overflows (signed overflow, undefined behaviour) in parse_payload(). */
    FUZZ_CHECK(c->expires_at >= 0);
    FUZZ_CHECK(token_audience_name(c->audience) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = fuzz_strndup(data, size);
    token_claims c;
    int prc, vrc;

    LLVMFuzzerInitialize(NULL, NULL);
    memset(&c, 0, sizeof c);
    prc = token_parse(tok, &c);
    FUZZ_CHECK(prc == TOKEN_OK || prc == TOKEN_EMALFORMED);
    if (prc != TOKEN_OK) {
        vrc = token_verify(tok, TOKEN_AUD_MQTT, "alice", "alice.c1", 0, pk, NULL);
        FUZZ_CHECK(vrc == TOKEN_EMALFORMED);
        goto done;
    }
    check_claims(&c);

    /* now: the latest instant at which the token is still valid. */
    int64_t now = c.expires_at < INT64_MAX - TOKEN_MAX_LIFETIME_S
                      ? c.expires_at
                      : INT64_MAX - TOKEN_MAX_LIFETIME_S;
    int64_t exp = -1;
    vrc = token_verify(tok, c.audience, c.user_id, c.client_id, now, pk, &exp);
    FUZZ_CHECK(vrc == TOKEN_OK || vrc == TOKEN_ESIGNATURE);
    FUZZ_CHECK(token_verify(tok, c.audience, c.user_id, NULL, now, pk, NULL) == vrc);
    if (vrc == TOKEN_OK) {
        char minted[TOKEN_MAX_LEN];
        FUZZ_CHECK(exp == c.expires_at);
        FUZZ_CHECK(token_mint(c.audience, c.user_id, c.client_id, c.expires_at, sk, minted,
                              sizeof minted) == TOKEN_OK);
        /* F2: libsodium 1.0.18's base64 decoder reads every byte >= 0x80 as
         * '_' (sign extension), so a token has many accepted spellings. */
        if (fuzz_has_high_byte((const uint8_t *)tok, strlen(tok)))
            FUZZ_CHECK(strcmp(minted, tok) == 0);
        else
            FUZZ_CHECK(strcmp(minted, tok) == 0);
    }
    /* The other checks come before the signature, in the documented order. */
    token_audience other = c.audience == TOKEN_AUD_MQTT ? TOKEN_AUD_MEDIA : TOKEN_AUD_MQTT;
    FUZZ_CHECK(token_verify(tok, other, c.user_id, c.client_id, now, pk, NULL) == TOKEN_EAUDIENCE);
    FUZZ_CHECK(token_verify(tok, c.audience, "", c.client_id, now, pk, NULL) == TOKEN_EUSER);
    FUZZ_CHECK(token_verify(tok, c.audience, c.user_id, "", now, pk, NULL) == TOKEN_ECLIENT);
    if (c.expires_at >= 0 && c.expires_at < INT64_MAX - TOKEN_MAX_LIFETIME_S) {
        FUZZ_CHECK(token_verify(tok, c.audience, c.user_id, c.client_id, c.expires_at + 1, pk,
                                NULL) == TOKEN_EEXPIRED);
        if (c.expires_at > TOKEN_MAX_LIFETIME_S)
            FUZZ_CHECK(token_verify(tok, c.audience, c.user_id, c.client_id,
                                    c.expires_at - TOKEN_MAX_LIFETIME_S - 1, pk,
                                    NULL) == TOKEN_ELIFETIME);
    }
done:
    free(tok);
    return 0;
}
