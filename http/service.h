/*
 * service.h - the HTTP service skeleton both Parley services are built on
 * (parley-keyserver, parley-media), over libmicrohttpd 0.9.75 and jansson.
 * Route handlers see an http_request and fill an http_reply; they never
 * touch libmicrohttpd.
 *
 * A request goes through these steps, any of which may answer and end it:
 *   1. a control character in the path: 400 invalid_path (guard.h);
 *   2. the route table, in order: 404 not_found, 405 method_not_allowed
 *      (with Allow);
 *   3. unless the route is HTTP_ROUTE_OPEN: the service's admit hook
 *      (e.g. a rate limit by client address); for a buffered body a
 *      declared Content-Length over max_body is 413 body_too_large;
 *   4. HTTP_ROUTE_AUTH: the Bearer token (bearer.h) for the service's
 *      audience: 401 unauthorized (WWW-Authenticate) or 503; then the
 *      service's authenticated hook (e.g. a rate limit by user);
 *   5. the route's begin handler (headers only, nothing of the body read);
 *   6. the body: streamed to the route's body handler, or buffered up to
 *      max_body (past it the rest is discarded and the answer is 413);
 *   7. the route's handle handler, once the body is complete.
 * When the request ends (answered, or cut off), the route's done handler
 * runs, the finished hook gets the status and error code, and a debug
 * access log line is written (a warning for 5xx or a cut-off).
 */
#ifndef PARLEY_HTTP_SERVICE_H
#define PARLEY_HTTP_SERVICE_H

#include "clock.h" /* clock_now_ms, clock_mono_us */
#include "store.h"
#include "token.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------- replies */

#define HTTP_REPLY_HEADERS_MAX 4
#define HTTP_HEADER_VALUE_MAX 160

/* A streamed body: read up to max bytes into buf; > 0 bytes, 0 at the end,
 * < 0 on failure (the connection is then closed). free runs once. */
typedef ssize_t (*http_stream_read_fn)(void *cls, char *buf, size_t max);
typedef void (*http_stream_free_fn)(void *cls);

/* What a handler answers. status 0 = no answer yet. Owned by the service
 * once a handler returns. */
typedef struct {
    unsigned status;
    json_t *json;                    /* JSON body (owned), or NULL */
    char *text;                      /* other body (malloc'd, owned), or NULL */
    const char *error;               /* the error code of an error reply (static) */
    char content_type[HTTP_HEADER_VALUE_MAX]; /* "" = application/json */
    const char *cache_control;       /* static; NULL = "no-store", "" = none */
    const char *allow;               /* static Allow header value, or NULL */
    bool www_authenticate;           /* WWW-Authenticate: Bearer realm="parley" */
    unsigned retry_after;            /* seconds; 0 = no Retry-After */
    struct {
        const char *name;            /* static */
        char value[HTTP_HEADER_VALUE_MAX];
    } headers[HTTP_REPLY_HEADERS_MAX];
    unsigned n_headers;
    uint64_t stream_len;             /* streamed body, when stream_read is set */
    http_stream_read_fn stream_read;
    http_stream_free_fn stream_free;
    void *stream_cls;
} http_reply;

/* status with body json (ownership taken; NULL = out of memory: 500).
 * Replaces any body r held. */
void http_reply_json(http_reply *r, unsigned status, json_t *json);
/* status with {"error": code, "message": <printf text>}; code must be a
 * static string. Replaces any body r held. */
void http_reply_error(http_reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 503 store_unavailable naming the store error rc; logs rc and detail. */
void http_reply_store_error(http_reply *r, int rc, const char *detail);
/* 200 with text (malloc'd, ownership taken; NULL = out of memory: 500). */
void http_reply_text(http_reply *r, unsigned status, char *text, const char *content_type);
/* A streamed body of len bytes (ownership of cls taken: free runs once,
 * even if the reply is never sent). */
void http_reply_stream(http_reply *r, unsigned status, uint64_t len, http_stream_read_fn read,
                       http_stream_free_fn free_fn, void *cls);
/* Add a header (name static, value copied and cut at HTTP_HEADER_VALUE_MAX). */
void http_reply_header(http_reply *r, const char *name, const char *value);
void http_reply_content_type(http_reply *r, const char *content_type);
/* Free what r holds (body, stream) and zero it. */
void http_reply_clear(http_reply *r);

/* ------------------------------------------------------------ requests */

typedef struct http_request http_request;
typedef struct http_route http_route;

const char *http_request_method(const http_request *rq);
/* The route matched (NULL before routing or when none did). */
const http_route *http_request_route(const http_request *rq);
/* What '*' of the route's pattern matched ("" if none). */
const char *http_request_arg(const http_request *rq);
/* The authenticated user ("" without HTTP_ROUTE_AUTH). */
const char *http_request_user(const http_request *rq);
/* The authenticated token's device: its id in the user's device list ("" for
 * an implicit list, and without HTTP_ROUTE_AUTH), and whether its key is the
 * account key (the primary device; always for an implicit list). */
const char *http_request_device(const http_request *rq);
bool http_request_primary(const http_request *rq);
/* A request header's value, or NULL. */
const char *http_request_header(const http_request *rq, const char *name);
/* The client's rate-limit key: IPv4 address or IPv6 /64 (guard.h). */
void http_request_client_key(const http_request *rq, char *out, size_t outlen);
/* The buffered body (not NUL-terminated) and its length. */
const char *http_request_body(const http_request *rq, size_t *len);
/* The route's per-request state slot (NULL at first); the route's done
 * handler frees what it put there. */
void **http_request_state(http_request *rq);
/* This thread's store handle, opened on first use and kept for the
 * thread's life (a store_t is single-threaded); NULL if it cannot be
 * opened (logged). A 503 store_unavailable reply closes it after the
 * request, so the next one reconnects. */
store_t *http_request_store(http_request *rq);
/* The store failed this request in a way the handle may not survive:
 * close this thread's handle after the request (the next one reconnects). */
void http_request_store_failed(http_request *rq);
/* The guard's connection counters appended to text (a malloc'd
 * Prometheus text, consumed) under prefix and labels; then r is 200 with
 * it as content_type (500 on out of memory). */
void http_reply_metrics(http_request *rq, http_reply *r, char *text, const char *prefix,
                        const char *labels, const char *content_type);

/* -------------------------------------------------------------- routes */

typedef void (*http_handler_fn)(void *app, http_request *rq, http_reply *r);

enum {
    HTTP_ROUTE_OPEN = 1u << 0,     /* no admit hook, no Content-Length check (monitoring) */
    HTTP_ROUTE_AUTH = 1u << 1,     /* Bearer token required (step 4) */
    HTTP_ROUTE_SEGMENT = 1u << 2,  /* '*' matches one path segment (no '/') */
};

struct http_route {
    const char *pattern;   /* "/v2/keys", or with one star for the argument */
    const char *allow;     /* allowed methods, "GET, PUT" (also the Allow header) */
    unsigned flags;
    int id;                /* the service's own number for the route (metrics) */
    http_handler_fn begin; /* headers received; may answer. NULL: nothing to do */
    /* body chunk for a streamed body; NULL: buffer it up to max_body.
     * false: stop reading and close the connection without an answer. */
    bool (*body)(void *app, http_request *rq, const char *data, size_t n);
    http_handler_fn handle;/* body complete; must answer */
    void (*done)(void *app, http_request *rq); /* request over; NULL: nothing to free */
};

/* ------------------------------------------------------------- service */

typedef struct {
    const char *component;         /* log component, e.g. "keyserver" */
    const char *listen;            /* "HOST:PORT" or "[V6ADDR]:PORT" (listen.h) */
    const char *store_uri;         /* opened once at start to fail early, then per thread */
    const http_route *routes;      /* matched in order */
    size_t n_routes;
    void *app;                     /* handed to every handler and hook */
    token_audience audience;       /* of HTTP_ROUTE_AUTH tokens */
    size_t max_body;               /* buffered bodies; larger is 413 body_too_large */
    unsigned threads;              /* worker threads; 0 = one thread per connection */
    unsigned connection_limit;     /* 0 = libmicrohttpd's default */
    unsigned connection_timeout_s; /* idle timeout */
    size_t connection_memory;      /* per-connection buffer; 0 = libmicrohttpd's default */
    unsigned conns_per_ip;         /* per IPv4 address / IPv6 /64; 0 = no limit */
    unsigned header_timeout_s;     /* request line + headers deadline; 0 = none */
    /* HTTPS (tls.h): both PEM files, or both NULL for plain HTTP. */
    const char *tls_cert;          /* certificate chain, the server's own first */
    const char *tls_key;           /* its private key */
    /* Hooks; each may be NULL. admit / authenticated may answer (refuse). */
    http_handler_fn admit;
    http_handler_fn authenticated;
    void (*auth_failed)(void *app, const char *label);
    /* A request that got an answer: status, error code (NULL if none),
     * microseconds since its headers arrived. */
    void (*finished)(void *app, const http_request *rq, unsigned status, const char *error,
                     int64_t took_us);
} http_service_config;

typedef struct http_service http_service;

/*
 * Check the store URI, load the TLS files (if any), bind, start the threads. cfg is copied; its
 * strings, routes and app must outlive the service. Returns 0 and *out, or
 * -1 after logging why (nothing left running).
 */
int http_service_start(const http_service_config *cfg, http_service **out);
/* Stop accepting, let in-flight requests finish (or be cut off: done
 * handlers run), close the threads' store handles, free. NULL is fine. */
void http_service_stop(http_service *s);

/* Block SIGINT and SIGTERM in the calling thread, so in every thread it
 * starts afterwards (call it first in main, before any thread), and ignore
 * SIGPIPE (a client that went away is an error return, not a death). */
void http_signals_block(void);
/* Wait for SIGINT or SIGTERM (blocked by http_signals_block); returns it. */
int http_signals_wait(void);

#endif
