/*
 * guard.h - connection hygiene shared by the two HTTP services (keyserver,
 * media gateway), on top of libmicrohttpd 0.9.75:
 *
 *  - a per-client limit on concurrent connections, keyed by the IPv4
 *    address or by the IPv6 /64 (one host usually owns a whole /64);
 *    over-limit connections are refused at accept (closed, no reply);
 *  - an absolute deadline for receiving a request's line and headers,
 *    counted from the connection's start (first request) or from the end
 *    of the previous response (keep-alive). libmicrohttpd's
 *    MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout only, which a client
 *    trickling one byte per second never reaches. A sweeper thread cuts
 *    late connections: a first request gets a JSON 408 and the socket is
 *    shut down; libmicrohttpd then sees end-of-file and closes it.
 *  - a URL unescaper that refuses to decode control characters (%00-%1F,
 *    %7F), so a path id cannot be silently truncated at a decoded NUL;
 *    http_path_ok() then refuses such paths.
 *
 * Wiring (both services):
 *   g = http_guard_new(&cfg);
 *   MHD_start_daemon(flags, port, http_guard_accept, g, handler, cls,
 *       MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, g,
 *       MHD_OPTION_UNESCAPE_CALLBACK, http_guard_unescape, g, ...);
 *   first call of the access handler for a request: http_guard_headers_done(c)
 *   MHD_OPTION_NOTIFY_COMPLETED callback:            http_guard_request_done(c)
 *   after MHD_stop_daemon:                           http_guard_free(g)
 */
#ifndef PARLEY_HTTP_GUARD_H
#define PARLEY_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
    unsigned
        per_ip_connections; /* concurrent connections per IPv4 address / IPv6 /64; 0 = no limit */
    unsigned header_timeout_ms; /* deadline for request line + headers; 0 = none */
    const char *component; /* log component, e.g. "keyserver" */
} http_guard_config;

typedef struct http_guard http_guard;

/* NULL on out of memory or if the sweeper thread cannot start. */
http_guard *http_guard_new(const http_guard_config *cfg);
/* Stop the sweeper and free. Call after MHD_stop_daemon. NULL is fine. */
void http_guard_free(http_guard *g);

/* libmicrohttpd hooks (cls = the guard). */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
size_t http_guard_unescape(void *cls, struct MHD_Connection *c, char *s);

/* The request's headers are complete: its header deadline no longer applies. */
void http_guard_headers_done(struct MHD_Connection *c);
/* The request is finished: the next request's header deadline starts now. */
void http_guard_request_done(struct MHD_Connection *c);

/* Counters since start. */
typedef struct {
    uint64_t refused; /* connections refused by the per-IP limit */
    uint64_t header_timeouts; /* connections cut at the header deadline */
    unsigned open; /* connections open now */
} http_guard_stats;
void http_guard_get_stats(http_guard *g, http_guard_stats *out);
/* text (a malloc'd Prometheus text, or NULL) followed by the guard's
 * counters named PREFIX_connections_refused_total,
 * PREFIX_header_timeouts_total and PREFIX_connections_open (with labels,
 * e.g. "{backend=\"file\"}", or ""). text is consumed; NULL on OOM. */
char *http_guard_metrics_append(http_guard *g, char *text, const char *prefix, const char *labels);

/* false if url holds a control character (raw, or an escape the guard's
 * unescaper left undecoded). */
bool http_path_ok(const char *url);

/* The rate-limit key of a client address: "192.0.2.1", or for IPv6 the
 * /64 prefix "2001:db8:1:2::/64" (IPv4-mapped IPv6 gives the IPv4 form).
 * "unknown" when sa is NULL or of another family. */
#define HTTP_CLIENT_KEY_MAX 64
void http_client_key(const struct sockaddr *sa, char *out, size_t outlen);
void http_conn_client_key(struct MHD_Connection *c, char *out, size_t outlen);

#endif
