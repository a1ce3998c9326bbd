/*
 * server.h - the media gateway's HTTP service: its route table on the
 * shared skeleton (http/service.h: listening, routing, Bearer tokens,
 * JSON replies, access log, per-thread store handles), /healthz and
 * /metrics. libmicrohttpd runs one thread per connection, so a handler may
 * block on the blob backend (an S3 part upload). The routes live in
 * upload.c (POST /v1/media, streamed) and objects.c (metadata, download,
 * delete); they never touch libmicrohttpd. The API is specified in
 * docs/protocol.md ("Media gateway API") and docs/media.md.
 */
#ifndef PARLEY_MEDIA_SERVER_H
#define PARLEY_MEDIA_SERVER_H

#include "blob.h"

#include <stddef.h>
#include <stdint.h>

/* Also what every route handler gets as its app argument. */
typedef struct {
    const char *listen;         /* "HOST:PORT" or "[V6ADDR]:PORT" */
    const char *store_uri;      /* each connection thread opens its own handle */
    blob_backend *blob;         /* shared; outlives the server */
    uint64_t max_size;          /* largest accepted upload, bytes */
    int64_t retention_s;        /* expires_at = created_at + retention_s (0: never) */
    unsigned conns_per_ip;      /* concurrent connections per IPv4 address / IPv6 /64; 0 = off */
    unsigned header_timeout_s;  /* deadline for a request's line and headers; 0 = off */
    const char *tls_cert;       /* HTTPS: PEM certificate chain and key (http/tls.h); */
    const char *tls_key;        /* both NULL: plain HTTP */
} server_config;

typedef struct server server;

/* Start listening. cfg is copied (the strings and blob must outlive the
 * server). Returns 0 and *out, or -1 after logging the reason. */
int server_start(const server_config *cfg, server **out);
/* Stop accepting, finish/abort every connection (aborted uploads leave
 * nothing behind) and free the server. NULL is fine. */
void server_stop(server *srv);

#endif
