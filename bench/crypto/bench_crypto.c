/*
 * bench_crypto.c - per-operation costs of the end-to-end core (pairwise
 * sessions, X3DH, sender keys, safety numbers) next to the libsodium
 * primitives they are built from, measured in the same run.
 *
 * usage: bench_crypto [scale]   (scale multiplies the iteration counts; 1 by default)
 * Prints a Markdown table: operation | iterations | µs/op | ops/s, in process
 * CPU time (CLOCK_PROCESS_CPUTIME_ID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kdf.h"
#include "keys.h"
#include "ratchet.h"
#include "safety_number.h"
#include "sender_keys.h"
#include "x3dh.h"

#define MSG_LEN 100

/* CPU time of this (single-threaded) process: on a shared machine, time
 * spent waiting for a core is not charged to the operation. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *what, long iters, double seconds)
{
    double us = seconds * 1e6 / (double)iters;

    printf("| %s | %ld | %.2f | %.0f |\n", what, iters, us, 1e6 / us);
    fflush(stdout);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_crypto: %s failed: %s\n", what, e2e_strerror(rc));
    exit(1);
}

/* A fresh pair of sessions: alice initiated, bob accepted her first message,
 * alice decrypted bob's reply (so both have full chains). */
static void session_pair(ratchet_session **a, ratchet_session **b)
{
    keys_identity alice, bob;
    keys_signed_prekey spk;
    x3dh_bundle bundle;
    uint8_t *m = NULL, *pt = NULL;
    size_t n, ptn;
    int rc;

    memset(&bundle, 0, sizeof(bundle));
    if (keys_identity_generate(&alice) || keys_identity_generate(&bob) ||
        keys_signed_prekey_generate(&bob, 1, &spk))
        die("keys", E2E_ERR_CRYPTO);
    memcpy(bundle.identity_key, bob.pk, 32);
    bundle.signed_prekey_id = 1;
    memcpy(bundle.signed_prekey, spk.kp.pk, 32);
    memcpy(bundle.signed_prekey_signature, spk.signature, 64);
    if ((rc = ratchet_session_initiate(a, &alice, &bundle)) != E2E_OK)
        die("initiate", rc);
    if ((rc = ratchet_encrypt(*a, (const uint8_t *)"hi", 2, &m, &n)) != E2E_OK)
        die("encrypt", rc);
    if ((rc = ratchet_session_respond(b, &bob, &spk.kp, NULL, m, n, &pt, &ptn)) != E2E_OK)
        die("respond", rc);
    free(m);
    free(pt);
    if ((rc = ratchet_encrypt(*b, (const uint8_t *)"yo", 2, &m, &n)) != E2E_OK)
        die("encrypt", rc);
    if ((rc = ratchet_decrypt(*a, m, n, &pt, &ptn)) != E2E_OK)
        die("decrypt", rc);
    free(m);
    free(pt);
    keys_wipe(&alice, sizeof(alice));
    keys_wipe(&bob, sizeof(bob));
    keys_wipe(&spk, sizeof(spk));
}

/* One message from -> to, encrypted and decrypted. */
static void one_message(ratchet_session *from, ratchet_session *to, const uint8_t *msg)
{
    uint8_t *m = NULL, *pt = NULL;
    size_t n, ptn;
    int rc;

    if ((rc = ratchet_encrypt(from, msg, MSG_LEN, &m, &n)) != E2E_OK)
        die("encrypt", rc);
    if ((rc = ratchet_decrypt(to, m, n, &pt, &ptn)) != E2E_OK)
        die("decrypt", rc);
    free(m);
    free(pt);
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? atol(argv[1]) : 1;
    uint8_t msg[MSG_LEN], key[32], nonce[24], ct[MSG_LEN + 16], out[MSG_LEN], sig[64];
    uint8_t x_sk[32], x_pk[32], peer_pk[32], shared[32], h[32], seed[32], ck[32];
    unsigned char ed_pk[32], ed_sk[64];
    unsigned long long clen, mlen;
    double t;
    long i, n;

    if (scale < 1)
        scale = 1;
    if (sodium_init() < 0)
        return 1;
    randombytes_buf(msg, sizeof(msg));
    randombytes_buf(key, sizeof(key));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(x_sk, sizeof(x_sk));
    crypto_scalarmult_base(x_pk, x_sk);
    randombytes_buf(seed, sizeof(seed));
    crypto_scalarmult_base(peer_pk, seed);
    crypto_sign_keypair(ed_pk, ed_sk);

    printf("| operation | iterations | µs/op | ops/s |\n|---|---:|---:|---:|\n");

    /* libsodium primitives */
    n = 2000 * scale;
    t = now_s();
    for (i = 0; i < n; i++)
        if (crypto_scalarmult(shared, x_sk, peer_pk) != 0)
            return 1;
    row("libsodium X25519 scalarmult", n, now_s() - t);

    t = now_s();
    for (i = 0; i < n; i++)
        crypto_sign_detached(sig, NULL, msg, sizeof(msg), ed_sk);
    row("libsodium Ed25519 sign (100 B)", n, now_s() - t);

    t = now_s();
    for (i = 0; i < n; i++)
        if (crypto_sign_verify_detached(sig, msg, sizeof(msg), ed_pk) != 0)
            return 1;
    row("libsodium Ed25519 verify (100 B)", n, now_s() - t);

    n = 200000 * scale;
    t = now_s();
    for (i = 0; i < n; i++)
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, msg, sizeof(msg), NULL, 0, NULL,
                                                   nonce, key);
    row("libsodium XChaCha20-Poly1305 encrypt (100 B)", n, now_s() - t);

    t = now_s();
    for (i = 0; i < n; i++)
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, clen, NULL, 0, nonce,
                                                       key) != 0)
            return 1;
    row("libsodium XChaCha20-Poly1305 decrypt (100 B)", n, now_s() - t);

    t = now_s();
    for (i = 0; i < n; i++)
        crypto_auth_hmacsha256(h, msg, 1, key);
    row("libsodium HMAC-SHA256 (1 B, 32 B key)", n, now_s() - t);

    /* the core */
    memcpy(ck, key, 32);
    t = now_s();
    for (i = 0; i < n; i++)
        kdf_chain_step(ck, seed, ck);
    row("kdf_chain_step (2 HMAC)", n, now_s() - t);

    t = now_s();
    for (i = 0; i < n; i++)
        kdf_message_keys(seed, KDF_INFO_MESSAGE_KEYS, key, nonce);
    row("kdf_message_keys (HKDF -> key + nonce)", n, now_s() - t);

    {
        ratchet_session *a = NULL, *b = NULL;

        session_pair(&a, &b);
        n = 50000 * scale;
        t = now_s();
        for (i = 0; i < n; i++)
            one_message(a, b, msg);   /* same direction: symmetric chain only */
        row("ratchet message, symmetric chain (encrypt + decrypt, 100 B)", n, now_s() - t);

        n = 2000 * scale;
        t = now_s();
        for (i = 0; i < n; i++)
            one_message(i % 2 ? b : a, i % 2 ? a : b, msg);   /* alternate: a DH step each */
        row("ratchet message with DH ratchet step (encrypt + decrypt, 100 B)", n, now_s() - t);
        ratchet_session_free(a);
        ratchet_session_free(b);
    }

    {
        keys_identity alice, bob;
        keys_signed_prekey spk;
        keys_one_time_prekey opk;
        x3dh_bundle bundle;
        keys_x25519 eph;
        uint8_t sk_a[32], sk_b[32], ad[64];

        memset(&bundle, 0, sizeof(bundle));
        if (keys_identity_generate(&alice) || keys_identity_generate(&bob) ||
            keys_signed_prekey_generate(&bob, 1, &spk) ||
            keys_one_time_prekeys_generate(1, 1, &opk))
            die("keys", E2E_ERR_CRYPTO);
        memcpy(bundle.identity_key, bob.pk, 32);
        bundle.signed_prekey_id = 1;
        memcpy(bundle.signed_prekey, spk.kp.pk, 32);
        memcpy(bundle.signed_prekey_signature, spk.signature, 64);
        bundle.has_one_time_prekey = true;
        bundle.one_time_prekey_id = 1;
        memcpy(bundle.one_time_prekey, opk.kp.pk, 32);
        n = 1000 * scale;
        t = now_s();
        for (i = 0; i < n; i++) {
            int rc;
            if ((rc = keys_x25519_generate(&eph)) != E2E_OK ||
                (rc = x3dh_initiate(&alice, &bundle, &eph, sk_a, ad)) != E2E_OK ||
                (rc = x3dh_respond(&bob, &spk.kp, &opk.kp, alice.pk, eph.pk, sk_b, ad)) != E2E_OK)
                die("x3dh", rc);
            if (memcmp(sk_a, sk_b, 32) != 0)
                die("x3dh agreement", E2E_ERR_DECRYPT);
        }
        row("X3DH handshake, both sides (verify + 4+4 DH + HKDF)", n, now_s() - t);

        t = now_s();
        for (i = 0; i < n; i++) {
            ratchet_session *a = NULL, *b = NULL;
            uint8_t *m = NULL, *pt = NULL;
            size_t mn, ptn;
            int rc;
            if ((rc = ratchet_session_initiate(&a, &alice, &bundle)) != E2E_OK ||
                (rc = ratchet_encrypt(a, msg, MSG_LEN, &m, &mn)) != E2E_OK ||
                (rc = ratchet_session_respond(&b, &bob, &spk.kp, &opk.kp, m, mn, &pt, &ptn)) !=
                    E2E_OK)
                die("session setup", rc);
            free(m);
            free(pt);
            ratchet_session_free(a);
            ratchet_session_free(b);
        }
        row("session setup: initiate + PreKey message + respond/decrypt", n, now_s() - t);

        t = now_s();
        for (i = 0; i < n / 10 + 1; i++) {
            char digits[SAFETY_NUMBER_DIGITS + 1];
            if (safety_number_compute("alice", alice.pk, "bob", bob.pk, digits) != E2E_OK)
                die("safety number", E2E_ERR_INVALID);
        }
        row("safety number (2 x 5200 SHA-512)", n / 10 + 1, now_s() - t);
        keys_wipe(&alice, sizeof(alice));
        keys_wipe(&bob, sizeof(bob));
        keys_wipe(&spk, sizeof(spk));
        keys_wipe(&opk, sizeof(opk));
        keys_wipe(&eph, sizeof(eph));
        sodium_memzero(sk_a, sizeof(sk_a));
        sodium_memzero(sk_b, sizeof(sk_b));
    }

    {
        sender_keys_state *s = NULL, *r = NULL;
        sender_keys_distribution d;
        int rc;

        if ((rc = sender_keys_create(&s, "g:bench")) != E2E_OK ||
            (rc = sender_keys_distribution_get(s, &d)) != E2E_OK ||
            (rc = sender_keys_from_distribution(&r, &d)) != E2E_OK)
            die("sender keys", rc);
        keys_wipe(&d, sizeof(d));
        n = 2000 * scale;
        t = now_s();
        for (i = 0; i < n; i++) {
            uint8_t *m = NULL, *pt = NULL;
            size_t mn, ptn;
            if ((rc = sender_keys_encrypt(s, msg, MSG_LEN, &m, &mn)) != E2E_OK ||
                (rc = sender_keys_decrypt(r, m, mn, &pt, &ptn)) != E2E_OK)
                die("sender keys message", rc);
            free(m);
            free(pt);
        }
        row("sender-key message (encrypt + sign + verify + decrypt, 100 B)", n, now_s() - t);
        sender_keys_free(s);
        sender_keys_free(r);
    }
    sodium_memzero(x_sk, sizeof(x_sk));
    sodium_memzero(ed_sk, sizeof(ed_sk));
    sodium_memzero(key, sizeof(key));
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(ck, sizeof(ck));
    return 0;
}
