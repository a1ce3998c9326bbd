/*
 * service.c - the HTTP service skeleton (service.h) on libmicrohttpd.
 */
#include "service.h"

#include "bearer.h"
#include "devices.h"
#include "guard.h"
#include "ids.h"
#include "listen.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARG_MAX 128               /* longest path argument kept; a longer one reads "/" */
#define METHOD_MAX 15
#define STREAM_BLOCK (64 * 1024)  /* streamed bodies are read in blocks of this size */

struct http_service {
    http_service_config cfg;
    struct MHD_Daemon *mhd;
    http_guard *guard;
    pthread_key_t store_key;      /* this thread's store_t */
    bool store_key_set;
    http_tls *tls;                /* HTTPS: the certificate and key, for the daemon's life */
};

struct http_request {
    http_service *svc;
    struct MHD_Connection *conn;
    const http_route *route;
    char method[METHOD_MAX + 1];
    char arg[ARG_MAX + 1];
    char user[IDS_USER_MAX + 1];
    char device[DEVICES_ID_MAX + 1];  /* the token's device ("" for an implicit list) */
    bool primary;                     /* ... whose key is the account key */
    int64_t start_us;
    unsigned status;              /* status sent; 0 = none yet */
    const char *error;            /* its error code */
    bool store_broken;            /* close this thread's store handle when done */
    char *body;                   /* buffered body */
    size_t len, cap;
    bool too_large;
    void *state;                  /* the route's */
};

/* --------------------------------------------------------------- signals */

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void http_signals_block(void)
{
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int http_signals_wait(void)
{
    sigset_t set;
    int sig = 0;
    stop_signals(&set);
    sigwait(&set, &sig);
    return sig;
}

/* --------------------------------------------------------------- replies */

void http_reply_clear(http_reply *r)
{
    json_decref(r->json);
    free(r->text);
    if (r->stream_free)
        r->stream_free(r->stream_cls);
    memset(r, 0, sizeof *r);
}

/* Drop the body r holds, keep its headers. */
static void drop_body(http_reply *r)
{
    json_decref(r->json);
    free(r->text);
    if (r->stream_free)
        r->stream_free(r->stream_cls);
    r->json = NULL;
    r->text = NULL;
    r->stream_read = NULL;
    r->stream_free = NULL;
    r->stream_cls = NULL;
    r->stream_len = 0;
}

void http_reply_json(http_reply *r, unsigned status, json_t *json)
{
    drop_body(r);
    r->json = json;
    r->status = json ? status : 500;
}

void http_reply_error(http_reply *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    drop_body(r);
    r->json = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (!r->json) /* msg held bytes that are not UTF-8 (from the request) */
        r->json = json_pack("{s:s, s:s}", "error", code, "message", "(not representable)");
    r->status = status;
    r->error = code;
}

void http_reply_store_error(http_reply *r, int rc, const char *detail)
{
    log_msg(PARLEY_LOG_ERROR, "http", "store: %s: %s", store_strerror(rc), detail ? detail : "");
    http_reply_error(r, 503, "store_unavailable", "the store failed: %s", store_strerror(rc));
}

void http_reply_text(http_reply *r, unsigned status, char *text, const char *content_type)
{
    drop_body(r);
    if (!text) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    r->text = text;
    r->status = status;
    http_reply_content_type(r, content_type);
}

void http_reply_stream(http_reply *r, unsigned status, uint64_t len, http_stream_read_fn read,
                       http_stream_free_fn free_fn, void *cls)
{
    drop_body(r);
    r->status = status;
    r->stream_len = len;
    r->stream_read = read;
    r->stream_free = free_fn;
    r->stream_cls = cls;
}

void http_reply_header(http_reply *r, const char *name, const char *value)
{
    if (r->n_headers >= HTTP_REPLY_HEADERS_MAX)
        return;
    r->headers[r->n_headers].name = name;
    snprintf(r->headers[r->n_headers].value, HTTP_HEADER_VALUE_MAX, "%s", value);
    r->n_headers++;
}

void http_reply_content_type(http_reply *r, const char *content_type)
{
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type);
}

typedef struct {
    http_stream_read_fn read;
    http_stream_free_fn free_fn;
    void *cls;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *st = cls;
    ssize_t n = st->read(st->cls, buf, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void stream_free(void *cls)
{
    stream *st = cls;
    if (st->free_fn)
        st->free_fn(st->cls);
    free(st);
}

/* The libmicrohttpd response of r; r's body moves into it. NULL on OOM. */
static struct MHD_Response *make_response(http_reply *r)
{
    struct MHD_Response *resp = NULL;
    if (r->stream_read) {
        stream *st = malloc(sizeof *st);
        if (!st)
            return NULL; /* r still owns the stream: cleared by the caller */
        *st = (stream){r->stream_read, r->stream_free, r->stream_cls};
        r->stream_read = NULL;
        r->stream_free = NULL;
        resp = MHD_create_response_from_callback(r->stream_len, STREAM_BLOCK, stream_read, st,
                                                 stream_free);
        if (!resp)
            stream_free(st);
        return resp;
    }
    char *text = r->text;
    r->text = NULL;
    if (!text && r->json)
        text = json_dumps(r->json, JSON_COMPACT);
    resp = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (void *)"",
                                           text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(text);
    return resp;
}

/* Queue r (consumed) on rq's connection with the headers it asks for. */
static enum MHD_Result send_reply(http_request *rq, http_reply *r)
{
    if (!r->status)
        http_reply_error(r, 500, "internal", "the handler gave no answer");
    struct MHD_Response *resp = make_response(r);
    if (!resp) {
        http_reply_clear(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type[0] ? r->content_type : "application/json");
    const char *cc = r->cache_control ? r->cache_control : "no-store";
    if (cc[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
    if (r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"parley\"");
    for (unsigned i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    rq->status = r->status;
    rq->error = r->error;
    enum MHD_Result ret = MHD_queue_response(rq->conn, r->status, resp);
    MHD_destroy_response(resp);
    http_reply_clear(r);
    return ret;
}

/* -------------------------------------------------------------- requests */

const char *http_request_method(const http_request *rq)
{
    return rq->method;
}
const http_route *http_request_route(const http_request *rq)
{
    return rq->route;
}
const char *http_request_arg(const http_request *rq)
{
    return rq->arg;
}
const char *http_request_user(const http_request *rq)
{
    return rq->user;
}
const char *http_request_device(const http_request *rq)
{
    return rq->device;
}
bool http_request_primary(const http_request *rq)
{
    return rq->primary;
}
void **http_request_state(http_request *rq)
{
    return &rq->state;
}

const char *http_request_header(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void http_request_client_key(const http_request *rq, char *out, size_t outlen)
{
    http_conn_client_key(rq->conn, out, outlen);
}

const char *http_request_body(const http_request *rq, size_t *len)
{
    *len = rq->len;
    return rq->body;
}

/* This thread's store: STORE_OK and *out, or the store_open error. */
static int thread_store(http_service *s, store_t **out)
{
    store_t *st = pthread_getspecific(s->store_key);
    if (!st) {
        int rc = store_open(s->cfg.store_uri, NULL, &st);
        if (rc != STORE_OK) {
            log_msg(PARLEY_LOG_ERROR, s->cfg.component, "cannot open store: %s (%s)",
                    store_strerror(rc), store_last_error(NULL));
            return rc;
        }
        pthread_setspecific(s->store_key, st);
    }
    *out = st;
    return STORE_OK;
}

store_t *http_request_store(http_request *rq)
{
    store_t *st = NULL;
    if (thread_store(rq->svc, &st) != STORE_OK)
        rq->store_broken = true;
    return st;
}

void http_request_store_failed(http_request *rq)
{
    rq->store_broken = true;
}

void http_reply_metrics(http_request *rq, http_reply *r, char *text, const char *prefix,
                        const char *labels, const char *content_type)
{
    http_reply_text(r, 200, http_guard_metrics_append(rq->svc->guard, text, prefix, labels),
                    content_type);
}

/* --------------------------------------------------------------- routing */

/* Does url match pattern? *arg / *arglen: what '*' matched. */
static bool route_match(const http_route *rt, const char *url, const char **arg, size_t *arglen)
{
    const char *star = strchr(rt->pattern, '*');
    *arg = "";
    *arglen = 0;
    if (!star)
        return strcmp(rt->pattern, url) == 0;
    size_t pre = (size_t)(star - rt->pattern), suf = strlen(star + 1), n = strlen(url);
    if (n < pre + suf || strncmp(url, rt->pattern, pre) != 0 ||
        strcmp(url + n - suf, star + 1) != 0)
        return false;
    *arg = url + pre;
    *arglen = n - pre - suf;
    return !(rt->flags & HTTP_ROUTE_SEGMENT) || !memchr(*arg, '/', *arglen);
}

/* Is method one of allow ("GET, PUT")? */
static bool method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allow; *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && strncmp(p, method, n) == 0)
            return true;
        p += len;
        p += strspn(p, ", ");
    }
    return false;
}

/* Steps 1 to 5 of service.h; r answered or not. */
static void on_headers(http_service *s, http_request *rq, const char *url, http_reply *r)
{
    const http_service_config *c = &s->cfg;
    if (!http_path_ok(url)) {
        http_reply_error(r, 400, "invalid_path",
                         "the path holds a control character (raw or percent-encoded)");
        return;
    }
    const char *arg = "";
    size_t arglen = 0;
    for (size_t i = 0; i < c->n_routes && !rq->route; i++)
        if (route_match(&c->routes[i], url, &arg, &arglen))
            rq->route = &c->routes[i];
    if (!rq->route) {
        http_reply_error(r, 404, "not_found", "no route %s", url);
        return;
    }
    if (arglen > ARG_MAX)
        snprintf(rq->arg, sizeof rq->arg, "/"); /* too long: refused as an invalid id */
    else
        memcpy(rq->arg, arg, arglen);
    const http_route *rt = rq->route;
    if (!method_allowed(rt->allow, rq->method)) {
        http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s", rq->method, url);
        r->allow = rt->allow;
        return;
    }
    if (!(rt->flags & HTTP_ROUTE_OPEN)) {
        if (c->admit && (c->admit(c->app, rq, r), r->status))
            return;
        const char *cl = http_request_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && !rt->body && c->max_body) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && v > c->max_body) {
                http_reply_error(r, 413, "body_too_large", "request body over %zu bytes",
                                 c->max_body);
                return;
            }
        }
    }
    if (rt->flags & HTTP_ROUTE_AUTH) {
        store_t *st = NULL;
        int rc = thread_store(s, &st);
        if (rc != STORE_OK) {
            rq->store_broken = true;
            http_reply_store_error(r, rc, "cannot open a store connection");
            return;
        }
        http_bearer_result br;
        int brc = http_bearer_check(st, http_request_header(rq, MHD_HTTP_HEADER_AUTHORIZATION),
                                    c->audience, clock_now_ms() / 1000, &br);
        if (brc == HTTP_BEARER_ESTORE) {
            http_reply_store_error(r, br.store_rc, store_last_error(st));
            return;
        }
        if (brc == HTTP_BEARER_EREFUSED) {
            if (c->auth_failed)
                c->auth_failed(c->app, br.label);
            http_reply_error(r, 403, br.error, "%s", br.reason);
            return;
        }
        if (brc != HTTP_BEARER_OK) {
            if (c->auth_failed)
                c->auth_failed(c->app, br.label);
            http_reply_error(r, 401, brc == HTTP_BEARER_EDEVICE ? "unknown_device" : "unauthorized",
                             "%s", br.reason);
            r->www_authenticate = true;
            return;
        }
        memcpy(rq->user, br.user_id, sizeof rq->user);
        memcpy(rq->device, br.device_id, sizeof rq->device);
        rq->primary = br.primary;
        if (c->authenticated && (c->authenticated(c->app, rq, r), r->status))
            return;
    }
    if (rt->begin)
        rt->begin(c->app, rq, r);
}

/* A chunk of a buffered body: keep it up to max_body; past it, discard. */
static void buffer_body(http_service *s, http_request *rq, const char *data, size_t n)
{
    size_t max = s->cfg.max_body;
    if (rq->too_large)
        return;
    if (n > max - rq->len) {
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
        if (ncap > max)
            ncap = max;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_service *s = cls;
    http_request *rq = *con_cls;
    http_reply r = {0};
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        rq->svc = s;
        rq->conn = conn;
        rq->start_us = clock_mono_us();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        *con_cls = rq;
        http_guard_headers_done(conn);
        on_headers(s, rq, url, &r);
        return r.status ? send_reply(rq, &r) : MHD_YES;
    }
    const http_route *rt = rq->route;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rt->body)
            return rt->body(s->cfg.app, rq, upload_data, n) ? MHD_YES : MHD_NO;
        buffer_body(s, rq, upload_data, n);
        return MHD_YES;
    }
    if (rq->too_large)
        http_reply_error(&r, 413, "body_too_large", "request body over %zu bytes", s->cfg.max_body);
    else if (rt->handle)
        rt->handle(s->cfg.app, rq, &r);
    return send_reply(rq, &r); /* no answer: 500 */
}

/* Characters an argument may have to be logged as it is. */
static bool loggable(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return false;
    return true;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_service *s = cls;
    http_request *rq = *con_cls;
    http_guard_request_done(conn);
    if (!rq)
        return;
    const http_service_config *c = &s->cfg;
    int64_t took_us = clock_mono_us() - rq->start_us;
    if (rq->route && rq->route->done)
        rq->route->done(c->app, rq);
    if (rq->status) {
        if (c->finished)
            c->finished(c->app, rq, rq->status, rq->error, took_us);
        log_msg(PARLEY_LOG_DEBUG, c->component, "%s %s user '%s' arg '%s': %u in %lld us",
                rq->method, rq->route ? rq->route->pattern : "-", rq->user,
                rq->arg[0] && loggable(rq->arg) ? rq->arg : "-", rq->status, (long long)took_us);
    }
    if (rq->status >= 500 || (rq->status && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK))
        log_msg(PARLEY_LOG_WARN, c->component, "request finished with status %u (termination %d)",
                rq->status, (int)toe);
    if (rq->store_broken || (rq->error && strcmp(rq->error, "store_unavailable") == 0)) {
        store_t *st = pthread_getspecific(s->store_key);
        store_close(st); /* the next request of this thread reconnects */
        pthread_setspecific(s->store_key, NULL);
    }
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    http_service *s = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_msg(PARLEY_LOG_WARN, s->cfg.component, "libmicrohttpd: %s", line);
}

/* ------------------------------------------------------------- lifecycle */

static void store_key_free(void *p)
{
    store_close(p);
}

int http_service_start(const http_service_config *cfg, http_service **out)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    char err[512];
    if (http_listen_parse(cfg->listen, &ss, &sslen, err, sizeof err) != 0) {
        log_msg(PARLEY_LOG_ERROR, cfg->component, "%s", err);
        return -1;
    }
    store_t *probe = NULL;
    int rc = store_open(cfg->store_uri, NULL, &probe);
    if (rc != STORE_OK) {
        log_msg(PARLEY_LOG_ERROR, cfg->component, "cannot open store %s: %s (%s)", cfg->store_uri,
                store_strerror(rc), store_last_error(NULL));
        return -1;
    }
    store_close(probe);
    http_service *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->cfg = *cfg;
    if (pthread_key_create(&s->store_key, store_key_free) != 0)
        goto fail;
    s->store_key_set = true;
    http_guard_config gc = {.per_ip_connections = cfg->conns_per_ip,
                            .header_timeout_ms = cfg->header_timeout_s * 1000u,
                            .component = cfg->component};
    if (!(s->guard = http_guard_new(&gc)))
        goto fail;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[7];
    size_t n = 0;
    if (cfg->tls_cert || cfg->tls_key) {
        if (!cfg->tls_cert || !cfg->tls_key) {
            log_msg(PARLEY_LOG_ERROR, cfg->component, "TLS needs both --tls-cert and --tls-key");
            goto fail_quiet;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            log_msg(PARLEY_LOG_ERROR, cfg->component,
                    "this libmicrohttpd was built without TLS: cannot serve HTTPS");
            goto fail_quiet;
        }
        if (http_tls_load(cfg->tls_cert, cfg->tls_key, &s->tls, err, sizeof err) != 0) {
            log_msg(PARLEY_LOG_ERROR, cfg->component, "%s", err);
            goto fail_quiet;
        }
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            (void *)http_tls_cert(s->tls)};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            (void *)http_tls_key(s->tls)};
    }
    if (cfg->threads) {
        flags |= MHD_USE_AUTO;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cfg->connection_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
                                            NULL};
    if (cfg->connection_memory)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)cfg->connection_memory, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
                                        NULL};
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->mhd = MHD_start_daemon(
        flags, 0, http_guard_accept, s->guard, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, s, MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, s->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, http_guard_unescape, s->guard, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_ARRAY,
        opts, MHD_OPTION_END);
    if (!s->mhd) {
        if (s->tls)
            log_msg(PARLEY_LOG_ERROR, cfg->component,
                    "cannot serve HTTPS on %s with --tls-cert %s and --tls-key %s: "
                    "libmicrohttpd's reason is above",
                    cfg->listen, cfg->tls_cert, cfg->tls_key);
        else
            log_msg(PARLEY_LOG_ERROR, cfg->component, "cannot listen on %s: %s", cfg->listen,
                    strerror(errno));
        goto fail_quiet;
    }
    *out = s;
    return 0;
fail:
    if (!s)
        log_msg(PARLEY_LOG_ERROR, cfg->component, "out of memory");
fail_quiet:
    http_service_stop(s);
    return -1;
}

void http_service_stop(http_service *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* worker threads end: their store handles close */
    http_guard_free(s->guard);
    if (s->store_key_set)
        pthread_key_delete(s->store_key);
    http_tls_free(s->tls);
    free(s);
}
