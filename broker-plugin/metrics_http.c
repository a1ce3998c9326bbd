/*
 * metrics_http.c - the broker's Prometheus endpoint (metrics_http.h).
 *
 * Threads: metrics_http__start/__stop/__set/__set_interval run on the
 * broker thread; the request handler runs on libmicrohttpd's one internal
 * thread. They share only the snapshot (text, time), under mh_lock, held
 * for a pointer swap or a copy. At most 8 connections, 10 s each.
 */
#include "plugin_int.h"
#include "metrics_http.h"
#include "listen.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct MHD_Daemon *mh_daemon;
static pthread_mutex_t mh_lock = PTHREAD_MUTEX_INITIALIZER;
static char *mh_text;          /* the snapshot; NULL before the first */
static int64_t mh_updated_ms;  /* monotonic time of the snapshot */
static int mh_interval_s = 10;

static int64_t mh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result mh_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                char *body /* malloc'd, taken */)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result mh_handle(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)con_cls;
    const char *text_type = "text/plain; charset=utf-8";
    if (*upload_size) /* a body is never expected: drop it */
        *upload_size = 0;
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0)
        return mh_reply(c, MHD_HTTP_NOT_FOUND, text_type, strdup("not found\n"));
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return mh_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text_type, strdup("method not allowed\n"));
    pthread_mutex_lock(&mh_lock);
    char *copy = mh_text ? strdup(mh_text) : NULL;
    int64_t age_ms = mh_now_ms() - mh_updated_ms;
    int64_t limit_ms = (int64_t)mh_interval_s * 3000 + 5000;
    pthread_mutex_unlock(&mh_lock);
    if (!strcmp(url, "/healthz")) {
        free(copy);
        if (!mh_updated_ms)
            return mh_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_type, strdup("starting\n"));
        if (age_ms > limit_ms)
            return mh_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_type, strdup("stale\n"));
        return mh_reply(c, MHD_HTTP_OK, text_type, strdup("ok\n"));
    }
    if (!copy)
        return mh_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_type, strdup("no report yet\n"));
    return mh_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", copy);
}

int metrics_http__start(const char *spec, int interval_s)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char err[256];
    if (!spec)
        return 0;
    if (http_listen_parse(spec, &ss, &sslen, err, sizeof err) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: option metrics_listen: %s", err);
        return -1;
    }
    mh_interval_s = interval_s;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    mh_daemon = MHD_start_daemon(flags, 0, NULL, NULL, mh_handle, NULL, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 8u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    if (!mh_daemon) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot serve metrics on %s (address in use?)",
                             spec);
        return -1;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: Prometheus metrics on http://%s/metrics", spec);
    return 0;
}

bool metrics_http__enabled(void)
{
    return mh_daemon != NULL;
}

void metrics_http__set(char *text)
{
    if (!text)
        return;
    pthread_mutex_lock(&mh_lock);
    char *old = mh_text;
    mh_text = text;
    mh_updated_ms = mh_now_ms();
    pthread_mutex_unlock(&mh_lock);
    free(old);
}

void metrics_http__set_interval(int interval_s)
{
    pthread_mutex_lock(&mh_lock);
    mh_interval_s = interval_s;
    pthread_mutex_unlock(&mh_lock);
}

void metrics_http__stop(void)
{
    if (mh_daemon)
        MHD_stop_daemon(mh_daemon); /* joins its thread */
    mh_daemon = NULL;
    pthread_mutex_lock(&mh_lock);
    free(mh_text);
    mh_text = NULL;
    mh_updated_ms = 0;
    pthread_mutex_unlock(&mh_lock);
}
