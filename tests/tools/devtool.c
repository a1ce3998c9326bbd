/*
 * devtool.c - a test utility for linked devices (docs/protocol.md
 * "Devices"): signed device lists, link requests and device tokens for the
 * keyserver and broker plugin integration tests. Key directories are those
 * of ptool (identity.sk/identity.pk) or kstool (sk/pk).
 *
 *   devtool list USER VERSION ACCT_DIR [--sign-with DIR] ID=KEYDIR[=NAME]...
 *        the PUT /v2/devices body {"list","signature"}: the canonical list of
 *        the entries in order, signed by ACCT_DIR's key (or DIR's: a forgery)
 *   devtool store-list STORE_URI USER VERSION ACCT_DIR ID=KEYDIR[=NAME]...
 *        the same list written straight into the store over the stored one
 *        (what a keyserver's PUT stores; for tests without a keyserver)
 *   devtool link-body USER DEVICE_ID DIR [NAME] [--bad-sig]
 *        the POST /v2/link body signed by DIR's key (--bad-sig: a broken one)
 *   devtool token DIR USER CLIENT_ID AUDIENCE [TTL_S]
 *        a token signed by DIR's key (any client id: the server decides)
 *
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "devices.h"
#include "store.h"
#include "testkit.h"
#include "token.h"

static int usage(void)
{
    fprintf(stderr, "usage: devtool list|store-list|link-body|token ... "
                    "(see tests/tools/devtool.c)\n");
    return 2;
}

/* DIR's key (name "pk" or "sk"): identity.NAME (ptool) or NAME (kstool). */
static int read_key(const char *dir, const char *name, uint8_t *buf, size_t len)
{
    char full[16];
    snprintf(full, sizeof full, "identity.%s", name);
    if (testkit_read_file(NULL, dir, full, buf, len) == 0 ||
        testkit_read_file(NULL, dir, name, buf, len) == 0)
        return 0;
    fprintf(stderr, "devtool: no %s key in %s\n", name, dir);
    return -1;
}

static void b64url(char *out, size_t outlen, const uint8_t *buf, size_t len)
{
    sodium_bin2base64(out, outlen, buf, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Build and sign a list from argv (after USER VERSION ACCT_DIR): *text, sig. */
static int make_list(const char *user, const char *version, const char *acct, int argc, char **argv,
                     char **text, size_t *len, uint8_t sig[64])
{
    uint8_t sk[64];
    const char *signer = acct;
    devices_list l = {0};
    int rc = 1;
    snprintf(l.user_id, sizeof l.user_id, "%s", user);
    l.version = strtoull(version, NULL, 10);
    l.dev = calloc((size_t)argc + 1, sizeof *l.dev);
    if (!l.dev)
        return 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--sign-with") && i + 1 < argc) {
            signer = argv[++i];
            continue;
        }
        char *spec = strdup(argv[i]), *eq = strchr(spec, '='), *name = NULL;
        if (!eq) {
            free(spec);
            fprintf(stderr, "devtool: an entry is ID=KEYDIR[=NAME]: %s\n", argv[i]);
            goto out;
        }
        *eq = '\0';
        if ((name = strchr(eq + 1, '=')))
            *name++ = '\0';
        devices_entry *e = &l.dev[l.n++];
        snprintf(e->device_id, sizeof e->device_id, "%s", spec);
        snprintf(e->name, sizeof e->name, "%s", name ? name : "");
        e->added_at = (int64_t)time(NULL) * 1000;
        int kr = read_key(eq + 1, "pk", e->key, sizeof e->key);
        free(spec);
        if (kr != 0)
            goto out;
    }
    int brc = devices_build(&l, text, len);
    if (brc != DEVICES_OK) {
        fprintf(stderr, "devtool: %s\n", devices_strerror(brc));
        goto out;
    }
    if (read_key(signer, "sk", sk, sizeof sk) != 0)
        goto out;
    devices_sign((const uint8_t *)*text, *len, sk, sig);
    sodium_memzero(sk, sizeof sk);
    rc = 0;
out:
    devices_list_free(&l);
    return rc;
}

static int cmd_list(int argc, char **argv)
{
    char *text = NULL;
    size_t len = 0;
    uint8_t sig[64];
    if (argc < 4)
        return usage();
    if (make_list(argv[0], argv[1], argv[2], argc - 3, argv + 3, &text, &len, sig) != 0)
        return 1;
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *enc = malloc(n), s64[100];
    if (!enc)
        return 1;
    b64url(enc, n, (uint8_t *)text, len);
    b64url(s64, sizeof s64, sig, sizeof sig);
    printf("{\"list\":\"%s\",\"signature\":\"%s\"}\n", enc, s64);
    free(enc);
    free(text);
    return 0;
}

static int cmd_store_list(int argc, char **argv)
{
    char *text = NULL;
    size_t len = 0;
    uint8_t sig[64];
    store_t *s = NULL;
    store_user u = {0};
    if (argc < 5)
        return usage();
    if (make_list(argv[1], argv[2], argv[3], argc - 4, argv + 4, &text, &len, sig) != 0)
        return 1;
    int rc = store_open(argv[0], NULL, &s);
    if (rc == STORE_OK)
        rc = store_user_get(s, argv[1], &u);
    if (rc == STORE_OK) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rc = store_user_set_devices(s, argv[1], u.devices_version, strtoull(argv[2], NULL, 10),
                                    (uint8_t *)text, len, sig,
                                    (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    }
    if (rc != STORE_OK)
        fprintf(stderr, "devtool: store-list %s: %s (%s)\n", argv[1], store_strerror(rc),
                store_last_error(s));
    store_user_free(&u);
    store_close(s);
    free(text);
    return rc == STORE_OK ? 0 : 1;
}

static int cmd_link_body(int argc, char **argv)
{
    uint8_t pk[32], sk[64], sig[64];
    char key[64], s64[100], msg[512];
    if (argc < 3 || argc > 5)
        return usage();
    const char *name = argc >= 4 && strcmp(argv[3], "--bad-sig") ? argv[3] : "";
    int bad = !strcmp(argv[argc - 1], "--bad-sig");
    if (read_key(argv[2], "pk", pk, sizeof pk) != 0 || read_key(argv[2], "sk", sk, sizeof sk))
        return 1;
    b64url(key, sizeof key, pk, sizeof pk);
    int n = snprintf(msg, sizeof msg, "parley-link-v1\n%s\n%s\n%s\n%s", argv[0], argv[1], key,
                     name);
    crypto_sign_detached(sig, NULL, (uint8_t *)msg, (size_t)n, sk);
    sodium_memzero(sk, sizeof sk);
    if (bad)
        sig[0] ^= 1;
    b64url(s64, sizeof s64, sig, sizeof sig);
    printf("{\"user_id\":\"%s\",\"device_id\":\"%s\",\"device_key\":\"%s\",\"name\":\"%s\","
           "\"signature\":\"%s\"}\n",
           argv[0], argv[1], key, name, s64);
    return 0;
}

static int cmd_token(int argc, char **argv)
{
    uint8_t sk[64];
    if (argc < 4 || argc > 5)
        return usage();
    if (read_key(argv[0], "sk", sk, sizeof sk) != 0)
        return 1;
    int rc = testkit_print_token(argv[3], argv[1], argv[2],
                                 argc == 5 ? atoll(argv[4]) : TOKEN_DEFAULT_LIFETIME_S, sk);
    if (rc != TOKEN_OK) {
        fprintf(stderr, "devtool: token: %s\n", token_strerror(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || argc < 2)
        return usage();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "list"))
        return cmd_list(argc - 2, argv + 2);
    if (!strcmp(cmd, "store-list"))
        return cmd_store_list(argc - 2, argv + 2);
    if (!strcmp(cmd, "link-body"))
        return cmd_link_body(argc - 2, argv + 2);
    if (!strcmp(cmd, "token"))
        return cmd_token(argc - 2, argv + 2);
    return usage();
}
