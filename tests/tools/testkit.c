/*
 * testkit.c - helpers shared by the test utilities (see testkit.h).
 */
#include "testkit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <sodium.h>

#include "token.h"

/* ------------------------------------------------------------ key files */

int testkit_read_file(const char *prog, const char *dir, const char *name, uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (prog)
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    if (n != len) {
        if (prog)
            fprintf(stderr, "%s: %s: short file\n", prog, path);
        return -1;
    }
    return 0;
}

int testkit_write_file(const char *prog, const char *dir, const char *name, const uint8_t *buf,
                       size_t len, int mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) {
        if (prog)
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        if (prog)
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    if (mode >= 0)
        chmod(path, (mode_t)mode);
    return 0;
}

int testkit_keygen(const char *prog, const char *dir, const char *sk_name, int sk_mode,
                   const char *pk_name, int pk_mode)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    int rc = testkit_write_file(prog, dir, sk_name, sk, sizeof sk, sk_mode) != 0 ||
                     testkit_write_file(prog, dir, pk_name, pk, sizeof pk, pk_mode) != 0
                 ? -1
                 : 0;
    sodium_memzero(sk, sizeof sk);
    return rc;
}

/* ------------------------------------------------------------ tokens */

int testkit_print_token(const char *audience, const char *user, const char *client_id,
                        long long ttl_s, uint8_t *sk)
{
    char tok[TOKEN_MAX_LEN];
    int aud = token_audience_parse(audience);
    int rc = aud < 0 ? TOKEN_EMALFORMED
                     : token_mint((token_audience)aud, user, client_id,
                                  (int64_t)time(NULL) + (int64_t)ttl_s, sk, tok, sizeof tok);
    sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
    if (rc == TOKEN_OK)
        printf("%s\n", tok);
    return rc;
}

/* ------------------------------------------------------------ protobuf */

int testkit_write_msg(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 1;
    protobuf_c_message_pack(m, buf);
    int rc = fwrite(buf, 1, len, stdout) == len ? 0 : 1;
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ hex */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long testkit_unhex(const char *hex, size_t n, uint8_t *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval((unsigned char)hex[i]), lo = hexval((unsigned char)hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

/* ------------------------------------------------------------ decoding */

const testkit_decoder *testkit_decoder_find(const testkit_decoder *table, const char *name)
{
    for (; table->name; table++)
        if (!strcmp(table->name, name))
            return table;
    return NULL;
}

static void decode_one(const testkit_decoder *d, const uint8_t *buf, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d->desc, NULL, len, buf);
    if (!m) {
        printf("{\"error\":\"undecodable\"}\n");
        return;
    }
    d->print(m);
    putchar('\n');
    protobuf_c_message_free_unpacked(m, NULL);
}

int testkit_decode_hex_lines(const testkit_decoder *d)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        uint8_t *buf = malloc((size_t)n / 2 + 1);
        if (!buf)
            break;
        long len = testkit_unhex(line, (size_t)n, buf);
        if (len >= 0)
            decode_one(d, buf, (size_t)len);
        else
            printf("{\"error\":\"not hex\"}\n");
        fflush(stdout);
        free(buf);
    }
    free(line);
    return 0;
}

/* ------------------------------------------------------------ JSON */

void testkit_json_strn(const char *key, const char *s, size_t len, int *first)
{
    printf("%s\"%s\":\"", *first ? "" : ",", key);
    *first = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void testkit_json_str(const char *key, const char *s, int *first)
{
    testkit_json_strn(key, s ? s : "", s ? strlen(s) : 0, first);
}

void testkit_json_num(const char *key, long long v, int *first)
{
    printf("%s\"%s\":%lld", *first ? "" : ",", key, v);
    *first = 0;
}

const char *testkit_receipt_status(int status)
{
    static const char *const names[] = {"unspecified", "stored",   "delivered",
                                        "read",        "rejected", "resync"};
    return status >= 0 && status <= 5 ? names[status] : "unknown";
}
