/*
 * server.c - the media gateway's routes on the HTTP skeleton (server.h):
 * the route table, /healthz, /metrics and error counts.
 */
#include "server.h"

#include "log.h"
#include "metrics.h"
#include "objects.h"
#include "service.h"
#include "upload.h"

#include <stdio.h>
#include <stdlib.h>

struct server {
    server_config cfg;              /* first: the app argument of every route */
    http_service *http;
};

static void route_healthz(void *app, http_request *rq, http_reply *r)
{
    const server_config *cfg = app;
    store_t *s = http_request_store(rq);
    store_media m = {0};
    int rc = s ? store_media_get(s, "healthz-probe", &m) : STORE_EUNAVAIL;
    store_media_free(&m);
    bool ok = rc == STORE_OK || rc == STORE_ENOTFOUND;
    if (!ok)
        http_request_store_failed(rq);
    http_reply_json(r, ok ? 200 : 503,
                    json_pack("{s:s,s:s,s:s}", "status", ok ? "ok" : "unavailable", "backend",
                              cfg->blob->name, "store", ok ? "ok" : store_strerror(rc)));
}

/* What a client checks before uploading (docs/protocol.md, "Media gateway API"). */
static void route_limits(void *app, http_request *rq, http_reply *r)
{
    const server_config *cfg = app;
    http_reply_json(r, 200, json_pack("{s:I}", "max_size", (json_int_t)cfg->max_size));
}

static void route_metrics(void *app, http_request *rq, http_reply *r)
{
    const server_config *cfg = app;
    char *text = NULL;
    size_t len = 0;
    char labels[64];
    snprintf(labels, sizeof labels, "{backend=\"%s\"}", cfg->blob->name);
    if (metrics_render(&text, &len) != 0)
        text = NULL;
    http_reply_metrics(rq, r, text, "parley_media", labels, "text/plain; version=0.0.4");
}

/* Every error answer is counted by its code. */
static void finished(void *app, const http_request *rq, unsigned status, const char *error,
                     int64_t took_us)
{
    if (error)
        metrics_error(error);
}

/* Every route answers from its headers but the upload, whose body streams. */
static const http_route routes[] = {
    {"/healthz", "GET", HTTP_ROUTE_OPEN, 0, route_healthz, NULL, NULL, NULL},
    {"/metrics", "GET", HTTP_ROUTE_OPEN, 0, route_metrics, NULL, NULL, NULL},
    {"/v1/limits", "GET", HTTP_ROUTE_OPEN, 0, route_limits, NULL, NULL, NULL},
    {"/v1/media", "POST", HTTP_ROUTE_AUTH, 0, upload_begin, upload_body, upload_finish,
     upload_done},
    {"/v1/media/*/download", "GET", HTTP_ROUTE_AUTH | HTTP_ROUTE_SEGMENT, 0, objects_download, NULL,
     NULL, NULL},
    {"/v1/media/*", "GET, DELETE", HTTP_ROUTE_AUTH | HTTP_ROUTE_SEGMENT, 0, objects_item, NULL,
     NULL, NULL},
};

int server_start(const server_config *cfg, server **out)
{
    *out = NULL;
    server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        log_msg(PARLEY_LOG_ERROR, "media", "out of memory");
        return -1;
    }
    srv->cfg = *cfg;
    http_service_config hc = {
        .component = "media",
        .listen = cfg->listen,
        .store_uri = cfg->store_uri,
        .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
        .app = &srv->cfg,
        .audience = TOKEN_AUD_MEDIA,
        .threads = 0, /* one per connection */
        .connection_limit = 512,
        .connection_timeout_s = 120,
        .connection_memory = 256 * 1024,
        .conns_per_ip = cfg->conns_per_ip,
        .header_timeout_s = cfg->header_timeout_s,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .finished = finished,
    };
    if (http_service_start(&hc, &srv->http) != 0) {
        free(srv);
        return -1;
    }
    *out = srv;
    return 0;
}

void server_stop(server *srv)
{
    if (!srv)
        return;
    http_service_stop(srv->http);
    free(srv);
}
