/*
 * tls.h - HTTPS for the Parley services: the certificate chain and private
 * key given with --tls-cert / --tls-key (PEM files), read once at start and
 * handed to libmicrohttpd, which terminates TLS with GnuTLS
 * (docs/operations.md, "TLS"). The key's bytes are wiped when the service
 * stops.
 */
#ifndef PARLEY_HTTP_TLS_H
#define PARLEY_HTTP_TLS_H

#include <stddef.h>

#define HTTP_TLS_FILE_MAX (1024 * 1024) /* a PEM file larger than this is refused */

typedef struct http_tls http_tls;

/* Read the PEM certificate chain and private key. Returns 0 and *out, or
 * -1 with err filled ("--tls-key /x: No such file or directory"). Whether
 * they parse and belong together is checked by the server when it starts. */
int http_tls_load(const char *cert_path, const char *key_path, http_tls **out, char *err,
                  size_t errlen);
/* The PEM texts (NUL-terminated), valid until http_tls_free. */
const char *http_tls_cert(const http_tls *t);
const char *http_tls_key(const http_tls *t);
/* Wipe the key and free. NULL is fine. */
void http_tls_free(http_tls *t);

#endif
