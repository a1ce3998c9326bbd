/*
 * server.h - the keyserver's HTTP front end (libmicrohttpd): listening,
 * routing, request bodies with a size limit, authentication and rate
 * limiting, JSON replies, metrics. Route handlers live in identity.c and
 * prekeys.c and produce a server_reply; they never touch libmicrohttpd.
 */
#ifndef PARLEY_KS_SERVER_H
#define PARLEY_KS_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What a handler answers. Owned by the server once returned. */
typedef struct {
    unsigned status;
    json_t *json;              /* response body (owned); NULL = no body */
    unsigned retry_after;      /* seconds for Retry-After; 0 = header absent */
} server_reply;

/* Set r to {"error": code, "message": <printf text>} with the given status.
 * Replaces (and frees) any body r already held. Out of memory leaves
 * r->json NULL; the server then answers with an empty body. */
void server_reply_error(server_reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set r to status with body json (ownership taken; NULL = out of memory,
 * answered as 500). */
void server_reply_json(server_reply *r, unsigned status, json_t *json);
/* 503 store_unavailable with the store's error text. */
void server_reply_store_error(server_reply *r, int rc, const char *detail);

/* Milliseconds since the Unix epoch. */
int64_t server_now_ms(void);

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
} server_config;

typedef struct server server;

/*
 * Open the store (once, to fail early on a bad URI), bind the listening
 * socket and start the worker threads. Returns 0 and *out, or -1 after
 * logging the reason (nothing left running).
 */
int server_start(const server_config *cfg, server **out);
/* Stop accepting, finish in-flight requests, close every store handle and
 * free the server. NULL is fine. */
void server_stop(server *s);

#endif
