/*
 * fixture.h - deterministic end-to-end state for the crypto fuzz targets
 * and the seed generator (gen_seeds.c).
 *
 * fuzz_rng_install() replaces libsodium's randombytes with a seeded PRNG
 * (before sodium_init; test binaries only!), so the "established session"
 * a target decrypts against, and the valid messages the seed generator
 * writes for it, are the same on every run and every machine.
 */
#ifndef PARLEY_FUZZ_FIXTURE_H
#define PARLEY_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_FIXTURE_MAX_MSGS 24
#define FUZZ_GROUP_ID "g:fuzzgroup0000000000000"

typedef struct {
    char name[48];
    uint8_t *data;
    size_t len;
} fuzz_blob;

typedef struct {
    fuzz_blob state;                        /* the receiver's serialized state */
    fuzz_blob peer_state;                   /* the sender's serialized state */
    fuzz_blob msgs[FUZZ_FIXTURE_MAX_MSGS];  /* named wire messages, valid and invalid */
    size_t n_msgs;
    uint8_t sig_sk[64];                     /* sender keys: the sender's Ed25519 key */
} fuzz_fixture;

/* Deterministic randombytes for this process. Call before anything calls
 * sodium_init(); idempotent. Aborts if libsodium refuses. */
void fuzz_rng_install(void);
/* Restart the deterministic stream. */
void fuzz_rng_reset(uint64_t seed);

/* Alice (initiator) and Bob (responder) after X3DH with a one-time prekey
 * and a few exchanged messages, Bob holding one skipped key. f->state is
 * Bob's session; f->msgs are messages from Alice: some decrypt on it
 * ("ok_*"), some must fail ("bad_*"). Returns 0, or -1 (printed). */
int fuzz_fixture_ratchet(fuzz_fixture *f);

/* A sender-key chain of FUZZ_GROUP_ID: f->peer_state the sender's state,
 * f->state a member's receiving state (after decrypting iterations 0, 2, 3:
 * it holds the skipped key of 1), f->sig_sk the sender's signing key,
 * f->msgs E2EMessages from the sender. Returns 0 or -1. */
int fuzz_fixture_sender_keys(fuzz_fixture *f);

void fuzz_fixture_free(fuzz_fixture *f);

/* The header the sender signs ("Parley_SenderKey_v1" || u8 len(group) ||
 * group || be32 chain_id || be32 iteration), as sender_keys.h specifies;
 * returns its length (buf holds at least 19 + 1 + 140 + 8 bytes). */
size_t fuzz_sender_key_header(const char *group, uint32_t chain_id, uint32_t iteration,
                              uint8_t *buf);

/* Re-sign an E2EMessage{sender_key} in msg[0..len) with sk for group:
 * *out (malloc'd) is the same message with a valid signature over whatever
 * chain id, iteration and ciphertext it carries. Returns 0, or -1 if msg is
 * not a sender-key E2EMessage. */
int fuzz_sender_key_resign(const uint8_t *msg, size_t len, const char *group, const uint8_t sk[64],
                           uint8_t **out, size_t *out_len);

#endif
