/*
 * mtool.c - test driver for the media tests (tests/media/, the .sh scripts): makes users
 * and tokens directly in the store and exposes the client-side media
 * functions (client-lib/src/media/) as subcommands.
 *
 *   mtool user STORE USER KEYFILE          new identity, stored; secret key -> KEYFILE
 *   mtool token KEYFILE USER [AUD] [TTL_S]  print a token (audience "media", 3600 s;
 *                                           client id USER.mtool)
 *   mtool encrypt IN OUT                   print "key=HEX sha256=HEX size=N csize=N"
 *   mtool decrypt IN OUT KEYHEX [SHAHEX]   verify and decrypt
 *   mtool upload URL TOKEN FILE [CTYPE]    upload ciphertext; print "media_id=ID size=N sha256=HEX"
 *   mtool download URL TOKEN ID OUT [SHAHEX]  download with resume; print "resumed_from=N"
 *   mtool send URL TOKEN IN [CTYPE]        media_send_file; print "media_id=.. key=.. sha256=.. size=.."
 *   mtool fetch URL TOKEN ID KEYHEX SHAHEX SIZE OUT  media_fetch_file (download, verify, decrypt)
 *   mtool delete URL TOKEN ID
 *
 * Exit status: 0 ok, 1 failure (reason on stderr), 2 usage. The key is
 * printed because this is a test tool: the tests check the plaintext.
 */
#include "media_crypto.h"
#include "media_file.h"
#include "media_http.h"
#include "ids.h"
#include "store.h"
#include "testkit.h"
#include "token.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: mtool user|token|encrypt|decrypt|upload|download|send|fetch|delete ...\n");
    return 2;
}

static int fail(const char *what, int rc, const char *err)
{
    fprintf(stderr, "mtool: %s: %s (%s)\n", what, media_strerror(rc), err);
    return 1;
}

static void print_hex(const char *name, const uint8_t *b, size_t n)
{
    char h[2 * 64 + 1];
    sodium_bin2hex(h, sizeof h, b, n);
    printf("%s=%s", name, h);
}

static int from_hex(const char *hex, uint8_t *out, size_t n)
{
    size_t bl = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &bl, NULL) == 0 && bl == n ? 0 : -1;
}

static int cmd_user(int argc, char **argv)
{
    if (argc != 5)
        return usage();
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    store_t *s = NULL;
    int rc = store_open(argv[2], NULL, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "mtool: store_open: %s\n", store_strerror(rc));
        return 1;
    }
    store_user u = {.user_id = argv[3], .created_at = (int64_t)time(NULL) * 1000};
    u.updated_at = u.created_at;
    memcpy(u.identity_key, pk, sizeof pk);
    rc = store_user_put(s, &u);
    if (rc != STORE_OK) {
        fprintf(stderr, "mtool: store_user_put: %s (%s)\n", store_strerror(rc),
                store_last_error(s));
        store_close(s);
        return 1;
    }
    store_close(s);
    char hex[2 * sizeof sk + 1];
    sodium_bin2hex(hex, sizeof hex, sk, sizeof sk);
    sodium_memzero(sk, sizeof sk);
    FILE *f = fopen(argv[4], "w");
    if (!f || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0) {
        sodium_memzero(hex, sizeof hex);
        fprintf(stderr, "mtool: cannot write %s\n", argv[4]);
        return 1;
    }
    sodium_memzero(hex, sizeof hex);
    return 0;
}

static int cmd_token(int argc, char **argv)
{
    if (argc < 4 || argc > 6)
        return usage();
    char hex[2 * crypto_sign_SECRETKEYBYTES + 2] = {0};
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    FILE *f = fopen(argv[2], "r");
    if (!f || !fgets(hex, sizeof hex, f)) {
        fprintf(stderr, "mtool: cannot read %s\n", argv[2]);
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    hex[strcspn(hex, "\n")] = '\0';
    if (from_hex(hex, sk, sizeof sk) != 0) {
        fprintf(stderr, "mtool: bad key file\n");
        return 1;
    }
    long ttl = argc > 5 ? strtol(argv[5], NULL, 10) : TOKEN_DEFAULT_LIFETIME_S;
    char client_id[IDS_USER_MAX + 8];
    snprintf(client_id, sizeof client_id, "%s.mtool", argv[3]);
    int rc = testkit_print_token(argc > 4 ? argv[4] : "media", argv[3], client_id, ttl, sk);
    sodium_memzero(hex, sizeof hex);
    if (rc != TOKEN_OK) {
        fprintf(stderr, "mtool: token_mint: %s\n", token_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_encrypt(int argc, char **argv)
{
    if (argc != 4)
        return usage();
    uint8_t key[MEDIA_KEY_LEN], sha[MEDIA_SHA256_LEN];
    uint64_t psize = 0, csize = 0;
    char err[MEDIA_ERR_MAX];
    int rc = media_encrypt_file(argv[2], argv[3], key, sha, &psize, &csize, err);
    if (rc != MEDIA_OK)
        return fail("encrypt", rc, err);
    print_hex("key", key, sizeof key);
    print_hex(" sha256", sha, sizeof sha);
    printf(" size=%llu csize=%llu\n", (unsigned long long)psize, (unsigned long long)csize);
    sodium_memzero(key, sizeof key);
    return 0;
}

static int cmd_decrypt(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        return usage();
    uint8_t key[MEDIA_KEY_LEN], sha[MEDIA_SHA256_LEN];
    if (from_hex(argv[4], key, sizeof key) != 0 ||
        (argc == 6 && from_hex(argv[5], sha, sizeof sha)))
        return usage();
    char err[MEDIA_ERR_MAX];
    uint64_t psize = 0;
    int rc = media_decrypt_file(argv[2], argv[3], key, argc == 6 ? sha : NULL, &psize, err);
    sodium_memzero(key, sizeof key);
    if (rc != MEDIA_OK)
        return fail("decrypt", rc, err);
    printf("size=%llu\n", (unsigned long long)psize);
    return 0;
}

static int cmd_upload(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        return usage();
    uint8_t sha[MEDIA_SHA256_LEN];
    char err[MEDIA_ERR_MAX];
    int rc = media_sha256_file(argv[4], sha, NULL, err);
    if (rc != MEDIA_OK)
        return fail("hash", rc, err);
    media_info info;
    rc = media_upload(argv[2], NULL, argv[3], argv[4], argc == 6 ? argv[5] : NULL, sha, NULL, &info,
                      err);
    if (rc != MEDIA_OK)
        return fail("upload", rc, err);
    printf("media_id=%s size=%llu ", info.media_id, (unsigned long long)info.size);
    print_hex("sha256", info.sha256, sizeof info.sha256);
    printf("\n");
    return 0;
}

static int cmd_download(int argc, char **argv)
{
    if (argc != 6 && argc != 7)
        return usage();
    uint8_t sha[MEDIA_SHA256_LEN];
    if (argc == 7 && from_hex(argv[6], sha, sizeof sha) != 0)
        return usage();
    char err[MEDIA_ERR_MAX];
    uint64_t from = 0;
    int rc = media_download(argv[2], NULL, argv[3], argv[4], argv[5], argc == 7 ? sha : NULL, 3,
                            &from, err);
    if (rc != MEDIA_OK)
        return fail("download", rc, err);
    printf("resumed_from=%llu\n", (unsigned long long)from);
    return 0;
}

static int cmd_send(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        return usage();
    media_ref ref;
    char err[MEDIA_ERR_MAX];
    int rc = media_send_file(argv[2], NULL, argv[3], argv[4], argc == 6 ? argv[5] : NULL, NULL,
                             &ref, err);
    if (rc != MEDIA_OK)
        return fail("send", rc, err);
    printf("media_id=%s ", ref.media_id);
    print_hex("key", ref.key, sizeof ref.key);
    print_hex(" sha256", ref.sha256, sizeof ref.sha256);
    printf(" size=%llu content_type=%s file_name=%s\n", (unsigned long long)ref.size,
           ref.content_type, ref.file_name);
    media_ref_wipe(&ref);
    return 0;
}

static int cmd_fetch(int argc, char **argv)
{
    if (argc != 9)
        return usage();
    media_ref ref = {0};
    char *end = NULL;
    snprintf(ref.media_id, sizeof ref.media_id, "%s", argv[4]);
    ref.size = strtoull(argv[7], &end, 10);
    if (from_hex(argv[5], ref.key, sizeof ref.key) != 0 ||
        from_hex(argv[6], ref.sha256, sizeof ref.sha256) != 0 || !end || *end)
        return usage();
    char err[MEDIA_ERR_MAX];
    int rc = media_fetch_file(argv[2], NULL, argv[3], &ref, argv[8], err);
    media_ref_wipe(&ref);
    if (rc != MEDIA_OK)
        return fail("fetch", rc, err);
    return 0;
}

static int cmd_delete(int argc, char **argv)
{
    if (argc != 5)
        return usage();
    char err[MEDIA_ERR_MAX];
    int rc = media_delete(argv[2], NULL, argv[3], argv[4], err);
    if (rc != MEDIA_OK)
        return fail("delete", rc, err);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"user", cmd_user},       {"token", cmd_token},   {"encrypt", cmd_encrypt},
        {"decrypt", cmd_decrypt}, {"upload", cmd_upload}, {"download", cmd_download},
        {"send", cmd_send},       {"fetch", cmd_fetch},   {"delete", cmd_delete},
    };
    int rc = -1;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            rc = cmds[i].fn(argc, argv);
    curl_global_cleanup();
    return rc < 0 ? usage() : rc;
}
