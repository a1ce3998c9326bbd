/*
 * kstool - test helper for the keyserver integration tests (not installed).
 * Makes identity keys, request bodies with real signatures, and tokens:
 *
 *   kstool keygen DIR                       write DIR/sk (64 bytes) and DIR/pk (32 bytes)
 *   kstool pubkey DIR                       print base64(pk)
 *   kstool register-body DIR USER           PUT /v1/identity body
 *   kstool change-body OLDDIR NEWDIR USER   key-change body (signed by OLDDIR's key)
 *   kstool prekeys-body DIR N [--start-id K] [--bad-sig] [--no-signed] [--dup]
 *                                           PUT /v2/keys body: a signed prekey with id K
 *                                           and N one-time prekeys with ids K..K+N-1
 *   kstool token DIR USER AUDIENCE [TTL]    a token for AUDIENCE (keyserver, media,
 *                                           mqtt) expiring TTL seconds from now
 *                                           (default 3600; negative = already expired)
 *
 * Output goes to stdout; errors to stderr with exit status 1.
 */
#include "ids.h"
#include "testkit.h"
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define B64_32 sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)
#define B64_64 sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)

static int die(const char *what)
{
    fprintf(stderr, "kstool: %s\n", what);
    return 1;
}

static void b64(char *out, size_t outlen, const uint8_t *buf, size_t len)
{
    sodium_bin2base64(out, outlen, buf, len, sodium_base64_VARIANT_ORIGINAL);
}

static int keygen(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return die("cannot create the key directory");
    if (testkit_keygen(NULL, dir, "sk", -1, "pk", -1) != 0)
        return die("cannot write the key files");
    return 0;
}

static int pubkey(const char *dir)
{
    uint8_t pk[32];
    char s[B64_32];
    if (testkit_read_file(NULL, dir, "pk", pk, sizeof pk) != 0)
        return die("cannot read pk");
    b64(s, sizeof s, pk, sizeof pk);
    printf("%s\n", s);
    return 0;
}

/* Sign prefix || a || b (b may be NULL) with dir's secret key. */
static bool sign_with(const char *dir, const char *prefix, const char *a, const uint8_t *b,
                      size_t blen, uint8_t sig[64])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    unsigned char msg[512];
    size_t plen = strlen(prefix), alen = strlen(a);
    if (plen + alen + blen > sizeof msg || testkit_read_file(NULL, dir, "sk", sk, sizeof sk) != 0)
        return false;
    memcpy(msg, prefix, plen);
    memcpy(msg + plen, a, alen);
    if (b)
        memcpy(msg + plen + alen, b, blen);
    crypto_sign_detached(sig, NULL, msg, plen + alen + blen, sk);
    sodium_memzero(sk, sizeof sk);
    return true;
}

static int register_body(const char *dir, const char *user)
{
    uint8_t pk[32], sig[64];
    char spk[B64_32], ssig[B64_64];
    if (testkit_read_file(NULL, dir, "pk", pk, sizeof pk) != 0 ||
        !sign_with(dir, "parley-register-v1\n", user, NULL, 0, sig))
        return die("cannot read the keys");
    b64(spk, sizeof spk, pk, sizeof pk);
    b64(ssig, sizeof ssig, sig, sizeof sig);
    printf("{\"identity_key\":\"%s\",\"proof\":\"%s\"}\n", spk, ssig);
    return 0;
}

static int change_body(const char *olddir, const char *newdir, const char *user)
{
    uint8_t pk[32], proof[64], change[64], tail[33];
    char spk[B64_32], sproof[B64_64], schange[B64_64];
    if (testkit_read_file(NULL, newdir, "pk", pk, sizeof pk) != 0 ||
        !sign_with(newdir, "parley-register-v1\n", user, NULL, 0, proof))
        return die("cannot read the new keys");
    tail[0] = '\n';
    memcpy(tail + 1, pk, 32);
    if (!sign_with(olddir, "parley-key-change-v1\n", user, tail, sizeof tail, change))
        return die("cannot read the old keys");
    b64(spk, sizeof spk, pk, sizeof pk);
    b64(sproof, sizeof sproof, proof, sizeof proof);
    b64(schange, sizeof schange, change, sizeof change);
    printf("{\"identity_key\":\"%s\",\"proof\":\"%s\",\"change_signature\":\"%s\"}\n", spk, sproof,
           schange);
    return 0;
}

/* A fresh X25519 public key (its secret key is wiped: tests never use it). */
static void x25519_pub(uint8_t pk[32])
{
    uint8_t sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(pk, sk);
    sodium_memzero(sk, sizeof sk);
}

static int prekeys_body(int argc, char **argv)
{
    const char *dir = argv[0];
    char *end = NULL;
    long n = strtol(argv[1], &end, 10);
    unsigned long start = 1;
    bool bad_sig = false, no_signed = false, dup = false;
    if (*end || n < 0 || n > 100000)
        return die("bad N");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--bad-sig") == 0)
            bad_sig = true;
        else if (strcmp(argv[i], "--no-signed") == 0)
            no_signed = true;
        else if (strcmp(argv[i], "--dup") == 0)
            dup = true;
        else if (strcmp(argv[i], "--start-id") == 0 && i + 1 < argc)
            start = strtoul(argv[++i], NULL, 10);
        else
            return die("unknown prekeys-body option");
    }
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[32], sig[64];
    char spk[B64_32], ssig[B64_64];
    printf("{");
    if (!no_signed) {
        if (testkit_read_file(NULL, dir, "sk", sk, sizeof sk) != 0)
            return die("cannot read sk");
        x25519_pub(pk);
        crypto_sign_detached(sig, NULL, pk, sizeof pk, sk);
        sodium_memzero(sk, sizeof sk);
        if (bad_sig)
            sig[10] ^= 0x01;
        b64(spk, sizeof spk, pk, sizeof pk);
        b64(ssig, sizeof ssig, sig, sizeof sig);
        printf("\"signed_prekey\":{\"key_id\":%lu,\"public_key\":\"%s\",\"signature\":\"%s\"}%s",
               start, spk, ssig, n ? "," : "");
    }
    if (n) {
        printf("\"one_time_prekeys\":[");
        for (long i = 0; i < n; i++) {
            x25519_pub(pk);
            b64(spk, sizeof spk, pk, sizeof pk);
            unsigned long id = start + (unsigned long)i;
            if (dup && i == n - 1 && n > 1)
                id = start; /* repeat the first id */
            printf("%s{\"key_id\":%lu,\"public_key\":\"%s\"}", i ? "," : "", id, spk);
        }
        printf("]");
    }
    printf("}\n");
    return 0;
}

static int token(const char *dir, const char *user, const char *audience, const char *ttl_s)
{
    char client_id[IDS_USER_MAX + 8];
    snprintf(client_id, sizeof client_id, "%s.kstool", user);
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    long ttl = ttl_s ? strtol(ttl_s, NULL, 10) : TOKEN_DEFAULT_LIFETIME_S;
    if (testkit_read_file(NULL, dir, "sk", sk, sizeof sk) != 0)
        return die("cannot read sk");
    int rc = testkit_print_token(audience, user, client_id, ttl, sk);
    if (rc != TOKEN_OK)
        return die(token_strerror(rc));
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return die("libsodium failed to initialise");
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "keygen") == 0 && argc == 3)
        return keygen(argv[2]);
    if (strcmp(cmd, "pubkey") == 0 && argc == 3)
        return pubkey(argv[2]);
    if (strcmp(cmd, "register-body") == 0 && argc == 4)
        return register_body(argv[2], argv[3]);
    if (strcmp(cmd, "change-body") == 0 && argc == 5)
        return change_body(argv[2], argv[3], argv[4]);
    if (strcmp(cmd, "prekeys-body") == 0 && argc >= 4)
        return prekeys_body(argc - 2, argv + 2);
    if (strcmp(cmd, "token") == 0 && (argc == 5 || argc == 6))
        return token(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    fprintf(stderr, "usage: kstool keygen DIR | pubkey DIR | register-body DIR USER |\n"
                    "       change-body OLDDIR NEWDIR USER |\n"
                    "       prekeys-body DIR N [--start-id K] [--bad-sig] [--no-signed] [--dup] |\n"
                    "       token DIR USER AUDIENCE [TTL]\n");
    return 2;
}
