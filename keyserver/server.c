/*
 * server.c - the keyserver's routes and hooks on the HTTP skeleton
 * (server.h): rate limits by client address and by user, the one-time
 * prekey hand-out limits, /healthz, /metrics and request metrics.
 */
#include "server.h"

#include "devices.h"
#include "devroutes.h"
#include "identity.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "prekeys.h"
#include "ratelimit.h"
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "keyserver"

struct server {
    server_config cfg;
    http_service *http;
    ratelimit *rl;                   /* NULL: rate limiting off */
    ratelimit *otpk_pair;            /* one-time prekey hand-outs per (requester, target) */
    ratelimit *otpk_target;          /* ... per target; NULL: that limit is off */
    metrics *m;
};

/* Route ids (http_route.id). */
enum {
    ROUTE_IDENTITY,
    ROUTE_KEYS,
    ROUTE_KEYS_USER,
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_DEVICES,
    ROUTE_DEVICES_USER,
    ROUTE_LINK,
    ROUTE_LINK_CODE
};

static bool is_put(const http_request *rq)
{
    return strcmp(http_request_method(rq), "PUT") == 0;
}

/* Take one request from key's budget; false fills r with 429. */
static bool rate_ok(server *s, const char *kind, const char *who, http_reply *r)
{
    if (!s->rl)
        return true;
    char key[IDS_USER_MAX + 64 + 8];
    snprintf(key, sizeof key, "%s:%s", kind, who);
    unsigned retry = 0;
    if (ratelimit_take(s->rl, key, clock_mono_us() / 1000, &retry))
        return true;
    metrics_inc(s->m, METRICS_RATE_LIMITED, 1);
    http_reply_error(r, 429, "rate_limited", "more than %u requests per minute from this %s",
                     s->cfg.rate_limit, strcmp(kind, "ip") == 0 ? "address" : "user");
    r->retry_after = retry;
    return false;
}

/* ------------------------------------------------------------------ hooks */

static void admit(void *app, http_request *rq, http_reply *r)
{
    char ip[64];
    http_request_client_key(rq, ip, sizeof ip); /* IPv6: the /64 */
    rate_ok(app, "ip", ip, r);
}

static void authenticated(void *app, http_request *rq, http_reply *r)
{
    rate_ok(app, "user", http_request_user(rq), r);
}

static void auth_failed(void *app, const char *label)
{
    server *s = app;
    metrics_auth_failure(s->m, label);
}

static void finished(void *app, const http_request *rq, unsigned status, const char *error,
                     int64_t took_us)
{
    server *s = app;
    const http_route *rt = http_request_route(rq);
    metrics_route mr = METRICS_ROUTE_OTHER;
    if (error && strcmp(error, "invalid_path") == 0)
        metrics_inc(s->m, METRICS_INVALID_PATH, 1);
    if (error && strcmp(error, "body_too_large") == 0)
        metrics_inc(s->m, METRICS_BODY_TOO_LARGE, 1);
    bool method_refused = error && strcmp(error, "method_not_allowed") == 0;
    switch (rt ? rt->id : -1) {
    case ROUTE_IDENTITY:
        if (!method_refused)
            mr = is_put(rq) ? METRICS_ROUTE_IDENTITY_PUT : METRICS_ROUTE_IDENTITY_GET;
        break;
    case ROUTE_KEYS:
        if (!method_refused)
            mr = is_put(rq) ? METRICS_ROUTE_KEYS_PUT : METRICS_ROUTE_KEYS_COUNT;
        break;
    case ROUTE_KEYS_USER:
        if (!method_refused)
            mr = METRICS_ROUTE_KEYS_BUNDLE;
        break;
    case ROUTE_DEVICES:
    case ROUTE_DEVICES_USER:
    case ROUTE_LINK:
    case ROUTE_LINK_CODE:
        if (!method_refused)
            mr = METRICS_ROUTE_DEVICES;
        break;
    case ROUTE_HEALTHZ: mr = METRICS_ROUTE_HEALTHZ; break;
    case ROUTE_METRICS: mr = METRICS_ROUTE_METRICS; break;
    default: break;
    }
    metrics_request(s->m, mr, status, took_us);
}

/* ----------------------------------------------------------------- routes */

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
    char key[2 * IDS_USER_MAX + 8];
    int64_t now = clock_mono_us() / 1000;
    if (s->otpk_pair) {
        snprintf(key, sizeof key, "%s>%s", requester, target);
        if (!ratelimit_take(s->otpk_pair, key, now, NULL))
            return false;
    }
    if (s->otpk_target && !ratelimit_take(s->otpk_target, target, now, NULL))
        return false;
    return true;
}

/* The identity and prekey routes: the body is complete, run the handler. */
static void route_keys(void *app, http_request *rq, http_reply *r)
{
    server *s = app;
    store_t *st = http_request_store(rq);
    if (!st) {
        http_reply_store_error(r, STORE_EUNAVAIL, "cannot open a store connection");
        return;
    }
    size_t len = 0;
    const char *body = http_request_body(rq, &len);
    const char *arg = http_request_arg(rq), *user = http_request_user(rq);
    const char *device = http_request_device(rq), *method = http_request_method(rq);
    switch (http_request_route(rq)->id) {
    case ROUTE_IDENTITY:
        if (is_put(rq))
            identity_put(st, s->m, s->cfg.registration, arg, body, len, r);
        else
            identity_get(st, arg, r);
        break;
    case ROUTE_KEYS:
        if (is_put(rq))
            prekeys_put(st, s->m, user, device, body, len, r);
        else
            prekeys_count(st, user, device, r);
        break;
    case ROUTE_KEYS_USER: {
        /* {user} or {user}/{device_id}: no user id holds a '/' */
        char target[IDS_USER_MAX + 2];
        const char *slash = strchr(arg, '/');
        size_t tl = slash ? (size_t)(slash - arg) : strlen(arg);
        if (tl >= sizeof target) {
            http_reply_error(r, 400, "invalid_user_id",
                             "a user id is 1-64 characters of [A-Za-z0-9._-]");
            break;
        }
        memcpy(target, arg, tl);
        target[tl] = '\0';
        prekeys_bundle(st, s->m, target, slash ? slash + 1 : NULL, otpk_allowed(s, user, target),
                       r);
        break;
    }
    case ROUTE_DEVICES:
        devroutes_put(st, s->m, user, http_request_primary(rq), s->cfg.max_devices, body, len, r);
        break;
    case ROUTE_DEVICES_USER: devroutes_get(st, arg, r); break;
    case ROUTE_LINK: devroutes_link_post(st, s->m, body, len, r); break;
    default: /* ROUTE_LINK_CODE */
        if (strcmp(method, "DELETE") == 0)
            devroutes_link_delete(st, user, arg, r);
        else
            devroutes_link_get(st, user, arg, r);
        break;
    }
}

static void route_healthz(void *app, http_request *rq, http_reply *r)
{
    store_t *st = http_request_store(rq);
    store_user u = {0};
    int rc = st ? store_user_get(st, "healthz.probe", &u) : STORE_EUNAVAIL;
    store_user_free(&u);
    if (rc == STORE_ENOTFOUND)
        rc = STORE_OK;
    if (rc != STORE_OK)
        http_request_store_failed(rq);
    if (rc == STORE_OK)
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    else
        http_reply_json(
            r, 503,
            json_pack("{s:s, s:s}", "status", "unavailable", "message", store_strerror(rc)));
}

static void route_metrics(void *app, http_request *rq, http_reply *r)
{
    server *s = app;
    http_reply_metrics(rq, r, metrics_render(s->m), "parley_keyserver", "",
                       "text/plain; version=0.0.4; charset=utf-8");
}

/* The user ids in paths may hold any character: '*' takes the rest. */
static const http_route routes[] = {
    {"/v1/identity/*", "GET, PUT", 0, ROUTE_IDENTITY, NULL, NULL, route_keys, NULL},
    {"/v2/keys", "GET, PUT", HTTP_ROUTE_AUTH, ROUTE_KEYS, NULL, NULL, route_keys, NULL},
    {"/v2/keys/*", "GET", HTTP_ROUTE_AUTH, ROUTE_KEYS_USER, NULL, NULL, route_keys, NULL},
    {"/v2/devices", "PUT", HTTP_ROUTE_AUTH, ROUTE_DEVICES, NULL, NULL, route_keys, NULL},
    {"/v2/devices/*", "GET", HTTP_ROUTE_AUTH, ROUTE_DEVICES_USER, NULL, NULL, route_keys, NULL},
    /* no token: the new device is not in the list yet (its key signs the request) */
    {"/v2/link", "POST", 0, ROUTE_LINK, NULL, NULL, route_keys, NULL},
    {"/v2/link/*", "GET, DELETE", HTTP_ROUTE_AUTH, ROUTE_LINK_CODE, NULL, NULL, route_keys, NULL},
    {"/healthz", "GET", HTTP_ROUTE_OPEN, ROUTE_HEALTHZ, NULL, NULL, route_healthz, NULL},
    {"/metrics", "GET", HTTP_ROUTE_OPEN, ROUTE_METRICS, NULL, NULL, route_metrics, NULL},
};

/* -------------------------------------------------------------- lifecycle */

int server_start(const server_config *cfg, server **out)
{
    *out = NULL;
    server *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->cfg = *cfg;
    if (!s->cfg.max_devices)
        s->cfg.max_devices = DEVICES_MAX_DEFAULT;
    if (!(s->m = metrics_new()))
        goto fail;
    if (cfg->rate_limit && !(s->rl = ratelimit_new(cfg->rate_limit)))
        goto fail;
    if (cfg->otpk_pair_limit && !(s->otpk_pair = ratelimit_new_period(cfg->otpk_pair_limit, 3600)))
        goto fail;
    if (cfg->otpk_target_limit &&
        !(s->otpk_target = ratelimit_new_period(cfg->otpk_target_limit, 3600)))
        goto fail;
    http_service_config hc = {
        .component = LOG_COMPONENT,
        .listen = cfg->listen,
        .store_uri = cfg->store_uri,
        .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
        .app = s,
        .audience = TOKEN_AUD_KEYSERVER,
        .max_body = cfg->max_body,
        .threads = cfg->threads ? cfg->threads : 1,
        .connection_timeout_s = 30,
        .conns_per_ip = cfg->conns_per_ip,
        .header_timeout_s = cfg->header_timeout_s,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .admit = admit,
        .authenticated = authenticated,
        .auth_failed = auth_failed,
        .finished = finished,
    };
    if (http_service_start(&hc, &s->http) != 0)
        goto fail;
    log_msg(PARLEY_LOG_INFO, LOG_COMPONENT,
            "listening on %s (%s, store %s, %u threads, max body %zu, rate limit %u/min, "
            "%u connections per IP, header deadline %u s, one-time prekeys per hour: %u per "
            "requester and target, %u per target, registration %s, at most %zu devices per "
            "user)",
            cfg->listen, cfg->tls_cert ? "HTTPS" : "HTTP", cfg->store_uri, cfg->threads,
            cfg->max_body, cfg->rate_limit, cfg->conns_per_ip, cfg->header_timeout_s,
            cfg->otpk_pair_limit, cfg->otpk_target_limit,
            identity_registration_name(cfg->registration), s->cfg.max_devices);
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
    http_service_stop(s->http);
    ratelimit_free(s->rl);
    ratelimit_free(s->otpk_pair);
    ratelimit_free(s->otpk_target);
    metrics_free(s->m);
    free(s);
}
