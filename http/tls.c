/*
 * tls.c - the services' certificate and key files, in memory for
 * libmicrohttpd (contract in tls.h).
 */
#define _GNU_SOURCE /* memmem */
#include "tls.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_tls {
    char *cert;
    char *key;
    size_t key_len;
};

/* The whole file as a NUL-terminated string, or NULL with err filled. */
static char *slurp(const char *what, const char *path, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(HTTP_TLS_FILE_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        goto fail;
    }
    n = fread(buf, 1, HTTP_TLS_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (n > HTTP_TLS_FILE_MAX) {
        snprintf(err, errlen, "%s %s: larger than %d bytes: not a PEM file", what, path,
                 HTTP_TLS_FILE_MAX);
        goto fail;
    }
    if (n == 0 || !memmem(buf, n, "-----BEGIN ", 11)) {
        snprintf(err, errlen, "%s %s: not a PEM file (no -----BEGIN line)", what, path);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;
fail:
    if (buf)
        sodium_memzero(buf, n < HTTP_TLS_FILE_MAX + 1 ? n : HTTP_TLS_FILE_MAX + 1);
    free(buf);
    fclose(f);
    return NULL;
}

int http_tls_load(const char *cert_path, const char *key_path, http_tls **out, char *err,
                  size_t errlen)
{
    size_t cert_len = 0;
    *out = NULL;
    http_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!(t->cert = slurp("--tls-cert", cert_path, &cert_len, err, errlen)) ||
        !(t->key = slurp("--tls-key", key_path, &t->key_len, err, errlen))) {
        http_tls_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

const char *http_tls_cert(const http_tls *t)
{
    return t->cert;
}

const char *http_tls_key(const http_tls *t)
{
    return t->key;
}

void http_tls_free(http_tls *t)
{
    if (!t)
        return;
    if (t->key)
        sodium_memzero(t->key, t->key_len);
    free(t->key);
    free(t->cert);
    free(t);
}
