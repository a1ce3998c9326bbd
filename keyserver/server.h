/*
 * server.h - the keyserver's HTTP service: its route table and hooks on the
 * shared skeleton (http/service.h: listening, routing, bodies with a size
 * limit, Bearer tokens, JSON replies, access log, per-thread store
 * handles). Route handlers live in identity.c and prekeys.c and fill an
 * http_reply; they never touch libmicrohttpd.
 */
#ifndef PARLEY_KS_SERVER_H
#define PARLEY_KS_SERVER_H

#include "identity.h"

#include <stddef.h>

typedef struct {
    const char *listen;        /* "HOST:PORT" ("[v6addr]:PORT" for IPv6) */
    const char *store_uri;
    size_t max_body;           /* bytes; larger bodies are 413 */
    unsigned rate_limit;       /* requests per minute per user and per IP; 0 = off */
    unsigned threads;          /* libmicrohttpd worker threads */
    unsigned conns_per_ip;     /* concurrent connections per IPv4 address / IPv6 /64; 0 = off */
    unsigned header_timeout_s; /* deadline for a request's line and headers; 0 = off */
    unsigned otpk_pair_limit;  /* one-time prekeys per (requester, target) per hour; 0 = off */
    unsigned otpk_target_limit;/* one-time prekeys per target per hour; 0 = off */
    identity_registration registration; /* who may register new user ids (open) */
    size_t max_devices;        /* devices per user's list (1..DEVICES_MAX_LIMIT); 0 = 5 */
    const char *tls_cert;      /* HTTPS: PEM certificate chain and key (http/tls.h); */
    const char *tls_key;       /* both NULL: plain HTTP */
} server_config;

typedef struct server server;

/*
 * Check the store (once, to fail early on a bad URI), bind the listening
 * socket and start the worker threads. Returns 0 and *out, or -1 after
 * logging the reason (nothing left running).
 */
int server_start(const server_config *cfg, server **out);
/* Stop accepting, finish in-flight requests, close every store handle and
 * free the server. NULL is fine. */
void server_stop(server *s);

#endif
