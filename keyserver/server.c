#include "server.h"

#include "auth.h"
#include "guard.h"
#include "identity.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "prekeys.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define LOG_COMPONENT "keyserver"
#define ARG_MAX 128                  /* longest path argument kept; longer is invalid */

struct server {
    server_config cfg;
    struct MHD_Daemon *mhd;
    pool *pool;
    ratelimit *rl;                   /* NULL: rate limiting off */
    ratelimit *otpk_pair;            /* one-time prekey hand-outs per (requester, target) */
    ratelimit *otpk_target;          /* ... per target; NULL: that limit is off */
    http_guard *guard;               /* per-IP connection limit, header deadline */
    metrics *m;
};

/* What a route needs before its body is read. */
typedef enum {
    ROUTE_NONE = 0,
    ROUTE_IDENTITY,                  /* /v1/identity/{user}: PUT, GET */
    ROUTE_KEYS,                      /* /v2/keys: PUT, GET (auth) */
    ROUTE_KEYS_USER,                 /* /v2/keys/{user}: GET (auth) */
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
} route_kind;

/* Per-request state (MHD's con_cls), freed by on_completed. */
typedef struct {
    route_kind kind;
    metrics_route mroute;
    bool is_put;
    char arg[ARG_MAX + 1];           /* path argument (user id), "" if none */
    char user[IDS_USER_MAX + 1];     /* authenticated user, "" if none */
    int64_t start_us;
    unsigned status;                 /* status sent, for metrics */
    char *body;
    size_t len, cap;
    bool too_large;
} request;

/* ------------------------------------------------------------ replies */

int64_t server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void server_reply_json(server_reply *r, unsigned status, json_t *json)
{
    json_decref(r->json);
    r->json = json;
    r->status = json ? status : 500;
}

void server_reply_error(server_reply *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->json);
    r->json = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (!r->json) /* msg held bytes that are not UTF-8 (from the request) */
        r->json = json_pack("{s:s, s:s}", "error", code, "message", "(not representable)");
    r->status = status;
}

void server_reply_store_error(server_reply *r, int rc, const char *detail)
{
    log_msg(LOG_ERROR, LOG_COMPONENT, "store: %s: %s", store_strerror(rc), detail ? detail : "");
    server_reply_error(r, 503, "store_unavailable", "the store failed: %s", store_strerror(rc));
}

/* Queue r (consumed) on conn with the headers its status needs. */
static enum MHD_Result send_reply(struct MHD_Connection *conn, request *rq, server_reply *r,
                                  const char *allow, bool www_auth)
{
    char *text = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
    json_decref(r->json);
    r->json = NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"parley\"");
    rq->status = r->status ? r->status : 500;
    enum MHD_Result ret = MHD_queue_response(conn, rq->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, request *rq, unsigned status,
                                 char *text, const char *content_type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    rq->status = status;
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ------------------------------------------------------------ routing */

/* Match url: sets rq->kind, rq->mroute, rq->arg. false: no such route. */
static bool match_route(const char *url, request *rq)
{
    static const char id_prefix[] = "/v1/identity/", keys[] = "/v2/keys";
    const char *arg = NULL;
    if (strncmp(url, id_prefix, sizeof id_prefix - 1) == 0) {
        rq->kind = ROUTE_IDENTITY;
        arg = url + sizeof id_prefix - 1;
    } else if (strcmp(url, keys) == 0) {
        rq->kind = ROUTE_KEYS;
    } else if (strncmp(url, keys, sizeof keys - 1) == 0 && url[sizeof keys - 1] == '/') {
        rq->kind = ROUTE_KEYS_USER;
        arg = url + sizeof keys;
    } else if (strcmp(url, "/healthz") == 0) {
        rq->kind = ROUTE_HEALTHZ;
        rq->mroute = METRICS_ROUTE_HEALTHZ;
    } else if (strcmp(url, "/metrics") == 0) {
        rq->kind = ROUTE_METRICS;
        rq->mroute = METRICS_ROUTE_METRICS;
    } else {
        return false;
    }
    if (arg) {
        size_t n = strlen(arg);
        if (n > ARG_MAX)
            snprintf(rq->arg, sizeof rq->arg, "/"); /* too long: refused as an invalid id */
        else
            memcpy(rq->arg, arg, n + 1);
    }
    return true;
}

/* The allowed methods of a route ("GET, PUT"), and whether method is one. */
static const char *route_allow(route_kind k)
{
    return (k == ROUTE_IDENTITY || k == ROUTE_KEYS) ? "GET, PUT" : "GET";
}

static bool method_ok(request *rq, const char *method)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
    if (!get && !put)
        return false;
    if (put && strcmp(route_allow(rq->kind), "GET") == 0)
        return false;
    rq->is_put = put;
    switch (rq->kind) {
    case ROUTE_IDENTITY:
        rq->mroute = put ? METRICS_ROUTE_IDENTITY_PUT : METRICS_ROUTE_IDENTITY_GET;
        break;
    case ROUTE_KEYS:
        rq->mroute = put ? METRICS_ROUTE_KEYS_PUT : METRICS_ROUTE_KEYS_COUNT;
        break;
    case ROUTE_KEYS_USER:
        rq->mroute = METRICS_ROUTE_KEYS_BUNDLE;
        break;
    default:
        break;
    }
    return true;
}

/* Take one request from key's budget; false fills r with 429. */
static bool rate_ok(server *s, const char *kind, const char *who, server_reply *r)
{
    if (!s->rl)
        return true;
    char key[IDS_USER_MAX + HTTP_CLIENT_KEY_MAX + 8];
    snprintf(key, sizeof key, "%s:%s", kind, who);
    unsigned retry = 0;
    if (ratelimit_take(s->rl, key, mono_us() / 1000, &retry))
        return true;
    metrics_inc(s->m, METRICS_RATE_LIMITED, 1);
    server_reply_error(r, 429, "rate_limited", "more than %u requests per minute from this %s",
                       s->cfg.rate_limit, strcmp(kind, "ip") == 0 ? "address" : "user");
    r->retry_after = retry;
    return false;
}

/* ------------------------------------------------------- request phases */

/*
 * First call of a request (headers received, no body yet): route, method,
 * rate limit by IP, declared body size, authentication and rate limit by
 * user. Returns the result of queueing an early refusal, or MHD_YES with
 * nothing queued to go on reading the body.
 */
static enum MHD_Result on_headers(server *s, struct MHD_Connection *conn, request *rq,
                                  const char *url, const char *method)
{
    server_reply r = {0};
    if (!http_path_ok(url)) {
        rq->mroute = METRICS_ROUTE_OTHER;
        metrics_inc(s->m, METRICS_INVALID_PATH, 1);
        server_reply_error(&r, 400, "invalid_path",
                           "the path holds a control character (raw or percent-encoded)");
        return send_reply(conn, rq, &r, NULL, false);
    }
    if (!match_route(url, rq)) {
        rq->mroute = METRICS_ROUTE_OTHER;
        server_reply_error(&r, 404, "not_found", "no route %s", url);
        return send_reply(conn, rq, &r, NULL, false);
    }
    if (!method_ok(rq, method)) {
        metrics_route keep = rq->mroute;
        rq->mroute = keep == METRICS_ROUTE_HEALTHZ || keep == METRICS_ROUTE_METRICS
                         ? keep
                         : METRICS_ROUTE_OTHER;
        server_reply_error(&r, 405, "method_not_allowed", "%s is not allowed on %s", method, url);
        return send_reply(conn, rq, &r, route_allow(rq->kind), false);
    }
    if (rq->kind == ROUTE_HEALTHZ || rq->kind == ROUTE_METRICS)
        return MHD_YES; /* monitoring is never rate limited */

    char ip[HTTP_CLIENT_KEY_MAX];
    http_conn_client_key(conn, ip, sizeof ip); /* IPv6: the /64 */
    if (!rate_ok(s, "ip", ip, &r))
        return send_reply(conn, rq, &r, NULL, false);

    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && v > s->cfg.max_body) {
            metrics_inc(s->m, METRICS_BODY_TOO_LARGE, 1);
            server_reply_error(&r, 413, "body_too_large", "request body over %zu bytes",
                               s->cfg.max_body);
            return send_reply(conn, rq, &r, NULL, false);
        }
    }

    if (rq->kind == ROUTE_KEYS || rq->kind == ROUTE_KEYS_USER) {
        store_t *st = NULL;
        int rc = pool_acquire(s->pool, &st);
        if (rc != STORE_OK) {
            server_reply_store_error(&r, rc, "cannot open a store connection");
            return send_reply(conn, rq, &r, NULL, false);
        }
        auth_result ar;
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
        int arc = auth_check(st, authz, server_now_ms() / 1000, &ar);
        if (arc == AUTH_ESTORE)
            server_reply_store_error(&r, ar.store_rc, store_last_error(st));
        pool_release(s->pool, st, arc == AUTH_ESTORE);
        if (arc == AUTH_ESTORE)
            return send_reply(conn, rq, &r, NULL, false);
        if (arc != AUTH_OK) {
            metrics_auth_failure(s->m, ar.label);
            server_reply_error(&r, 401, "unauthorized", "%s", ar.reason);
            return send_reply(conn, rq, &r, NULL, true);
        }
        memcpy(rq->user, ar.user_id, sizeof rq->user);
        if (!rate_ok(s, "user", rq->user, &r))
            return send_reply(conn, rq, &r, NULL, false);
    }
    return MHD_YES;
}

/* A chunk of body: buffer it up to max_body; past it, discard the rest. */
static void on_body(server *s, request *rq, const char *data, size_t n)
{
    if (rq->too_large)
        return;
    if (n > s->cfg.max_body - rq->len) {
        rq->too_large = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return;
    }
    if (rq->len + n > rq->cap) {
        size_t ncap = rq->cap ? rq->cap : 1024;
        while (ncap < rq->len + n)
            ncap *= 2;
        if (ncap > s->cfg.max_body)
            ncap = s->cfg.max_body;
        char *nb = realloc(rq->body, ncap);
        if (!nb) {
            rq->too_large = true; /* answered 413 rather than half a body */
            return;
        }
        rq->body = nb;
        rq->cap = ncap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static void health(server *s, server_reply *r)
{
    store_t *st = NULL;
    store_user u = {0};
    int rc = pool_acquire(s->pool, &st);
    if (rc == STORE_OK) {
        rc = store_user_get(st, "healthz.probe", &u);
        store_user_free(&u);
        if (rc == STORE_ENOTFOUND)
            rc = STORE_OK;
        pool_release(s->pool, st, rc != STORE_OK);
    }
    if (rc == STORE_OK)
        server_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    else
        server_reply_json(r, 503, json_pack("{s:s, s:s}", "status", "unavailable", "message",
                                            store_strerror(rc)));
}

/*
 * May a bundle of target fetched by requester hand out a one-time prekey?
 * Takes one from the (requester, target) bucket, then one from target's
 * bucket. Over either limit the bundle is served without one (never 429:
 * session set-up stays available, only the draining stops).
 */
static bool otpk_allowed(server *s, const char *requester, const char *target)
{
    if (!ids_valid_user(target))
        return true; /* refused as invalid_user_id anyway */
    char key[IDS_USER_MAX + ARG_MAX + 8];
    int64_t now = mono_us() / 1000;
    if (s->otpk_pair) {
        snprintf(key, sizeof key, "%s>%s", requester, target);
        if (!ratelimit_take(s->otpk_pair, key, now, NULL))
            return false;
    }
    if (s->otpk_target && !ratelimit_take(s->otpk_target, target, now, NULL))
        return false;
    return true;
}

/* The whole request is in: run its handler. */
static enum MHD_Result on_complete(server *s, struct MHD_Connection *conn, request *rq)
{
    server_reply r = {0};
    if (rq->too_large) {
        metrics_inc(s->m, METRICS_BODY_TOO_LARGE, 1);
        server_reply_error(&r, 413, "body_too_large", "request body over %zu bytes",
                           s->cfg.max_body);
        return send_reply(conn, rq, &r, NULL, false);
    }
    if (rq->kind == ROUTE_METRICS) {
        char *text = http_guard_metrics_append(s->guard, metrics_render(s->m),
                                               "parley_keyserver", "");
        if (!text)
            return MHD_NO;
        return send_text(conn, rq, 200, text, "text/plain; version=0.0.4; charset=utf-8");
    }
    if (rq->kind == ROUTE_HEALTHZ) {
        health(s, &r);
        return send_reply(conn, rq, &r, NULL, false);
    }

    store_t *st = NULL;
    int rc = pool_acquire(s->pool, &st);
    if (rc != STORE_OK) {
        server_reply_store_error(&r, rc, "cannot open a store connection");
        return send_reply(conn, rq, &r, NULL, false);
    }
    switch (rq->kind) {
    case ROUTE_IDENTITY:
        if (rq->is_put)
            identity_put(st, s->m, rq->arg, rq->body, rq->len, &r);
        else
            identity_get(st, rq->arg, &r);
        break;
    case ROUTE_KEYS:
        if (rq->is_put)
            prekeys_put(st, s->m, rq->user, rq->body, rq->len, &r);
        else
            prekeys_count(st, rq->user, &r);
        break;
    case ROUTE_KEYS_USER:
        prekeys_bundle(st, s->m, rq->arg, otpk_allowed(s, rq->user, rq->arg), &r);
        break;
    default:
        server_reply_error(&r, 404, "not_found", "no such route");
        break;
    }
    pool_release(s->pool, st, r.status == 503);
    return send_reply(conn, rq, &r, NULL, false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->start_us = mono_us();
        *con_cls = rq;
        http_guard_headers_done(conn);
        return on_headers(s, conn, rq, url, method);
    }
    if (*upload_data_size) {
        on_body(s, rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return on_complete(s, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    request *rq = *con_cls;
    http_guard_request_done(conn);
    if (!rq)
        return;
    int64_t took_us = mono_us() - rq->start_us;
    if (rq->status) {
        metrics_request(s->m, rq->mroute, rq->status, took_us);
        log_msg(LOG_DEBUG, LOG_COMPONENT, "route %d user '%s' arg '%s': %u in %lld us",
                (int)rq->mroute, rq->user, ids_valid_user(rq->arg) ? rq->arg : "-", rq->status,
                (long long)took_us);
    }
    if (rq->status >= 500 || (rq->status && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK))
        log_msg(LOG_WARN, LOG_COMPONENT, "request finished with status %u (termination %d)",
                rq->status, (int)toe);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_msg(LOG_WARN, LOG_COMPONENT, "libmicrohttpd: %s", line);
}

/* ------------------------------------------------------------ lifecycle */

/* Resolve "HOST:PORT" / "[V6]:PORT" into ss. 0 or -1 (logged). */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !colon[1]) {
        log_msg(LOG_ERROR, LOG_COMPONENT, "--listen %s: expected HOST:PORT", spec);
        return -1;
    }
    size_t hlen = (size_t)(colon - spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        log_msg(LOG_ERROR, LOG_COMPONENT, "--listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int server_start(const server_config *cfg, server **out)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (parse_listen(cfg->listen, &ss, &sslen) != 0)
        return -1;
    server *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->cfg = *cfg;
    if (!(s->m = metrics_new()))
        goto fail;
    if (cfg->rate_limit && !(s->rl = ratelimit_new(cfg->rate_limit)))
        goto fail;
    if (cfg->otpk_pair_limit && !(s->otpk_pair = ratelimit_new_period(cfg->otpk_pair_limit, 3600)))
        goto fail;
    if (cfg->otpk_target_limit &&
        !(s->otpk_target = ratelimit_new_period(cfg->otpk_target_limit, 3600)))
        goto fail;
    http_guard_config gc = {.per_ip_connections = cfg->conns_per_ip,
                            .header_timeout_ms = cfg->header_timeout_s * 1000u,
                            .component = LOG_COMPONENT};
    if (!(s->guard = http_guard_new(&gc)))
        goto fail;
    int rc = pool_new(cfg->store_uri, &s->pool);
    if (rc != STORE_OK) {
        log_msg(LOG_ERROR, LOG_COMPONENT, "cannot open store %s: %s", cfg->store_uri,
                store_strerror(rc));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, http_guard_accept, s->guard, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, s, MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, s->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, http_guard_unescape, s->guard,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)(cfg->threads ? cfg->threads : 1), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)30, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        log_msg(LOG_ERROR, LOG_COMPONENT, "cannot listen on %s", cfg->listen);
        goto fail;
    }
    log_msg(LOG_INFO, LOG_COMPONENT,
            "listening on %s (store %s, %u threads, max body %zu, rate limit %u/min, "
            "%u connections per IP, header deadline %u s, one-time prekeys per hour: %u per "
            "requester and target, %u per target)",
            cfg->listen, cfg->store_uri, cfg->threads, cfg->max_body, cfg->rate_limit,
            cfg->conns_per_ip, cfg->header_timeout_s, cfg->otpk_pair_limit,
            cfg->otpk_target_limit);
    *out = s;
    return 0;
fail:
    server_stop(s);
    return -1;
}

void server_stop(server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    http_guard_free(s->guard);
    pool_free(s->pool);
    ratelimit_free(s->rl);
    ratelimit_free(s->otpk_pair);
    ratelimit_free(s->otpk_target);
    metrics_free(s->m);
    free(s);
}
