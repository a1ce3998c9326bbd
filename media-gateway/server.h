/*
 * server.h - the media gateway's HTTP server (libmicrohttpd, one thread per
 * connection so a request may block on the blob backend): routing, bearer
 * auth, streaming upload and download with HTTP Range, delete, /healthz and
 * /metrics. The API is specified in docs/protocol.md ("Media gateway API")
 * and docs/media.md.
 */
#ifndef PARLEY_MEDIA_SERVER_H
#define PARLEY_MEDIA_SERVER_H

#include "blob.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *listen;         /* "HOST:PORT" (IPv4 address or "localhost") */
    const char *store_uri;      /* each connection thread opens its own handle */
    blob_backend *blob;         /* shared; outlives the server */
    uint64_t max_size;          /* largest accepted upload, bytes */
    int64_t retention_s;        /* expires_at = created_at + retention_s (0: never) */
    unsigned conns_per_ip;      /* concurrent connections per IPv4 address / IPv6 /64; 0 = off */
    unsigned header_timeout_s;  /* deadline for a request's line and headers; 0 = off */
} server_config;

typedef struct server server;

/* Start listening. cfg is copied (the strings and blob must outlive the
 * server). Returns 0 and *out, or -1 with a reason in err. */
int server_start(const server_config *cfg, server **out, char *err, size_t errlen);
/* Stop accepting, finish/abort every connection (aborted uploads leave
 * nothing behind) and free the server. NULL is fine. */
void server_stop(server *srv);

#endif
