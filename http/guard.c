/*
 * guard.c - per-client connection limit, request-header deadline and a
 * control-character-safe URL unescaper for libmicrohttpd (guard.h).
 *
 * libmicrohttpd 0.9.75 pairs MHD_CONNECTION_NOTIFY_STARTED with exactly one
 * MHD_CONNECTION_NOTIFY_CLOSED, and calls CLOSED before it closes the
 * socket. Every connection is on the guard's list (under g->lock) from
 * STARTED to CLOSED, so the sweeper only ever shuts down a descriptor that
 * still belongs to that connection (never a reused number).
 */
#define _GNU_SOURCE
#include "guard.h"
#include "prom.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define IP_BUCKETS 1024
#define KEY_LEN 9                 /* family byte + 4 (IPv4) or 8 (IPv6 /64) address bytes */

typedef struct ip_entry {
    struct ip_entry *next;
    unsigned count;
    uint8_t key[KEY_LEN];
} ip_entry;

typedef struct gconn {
    struct gconn *prev, *next;
    http_guard *g;
    int fd;
    uint8_t key[KEY_LEN];
    bool keyed;                   /* counted in the per-IP table */
    bool awaiting;                /* waiting for a request's headers */
    bool served;                  /* a request was answered before (keep-alive) */
    bool cut;                     /* already shut down by the guard */
    int64_t since_ms;             /* start of the current header wait */
} gconn;

struct http_guard {
    http_guard_config cfg;
    char component[32];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t sweeper;
    bool sweeper_running, stop;
    ip_entry *ips[IP_BUCKETS];
    gconn *conns;
    unsigned open;
    uint64_t refused, header_timeouts;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ client keys */

/* The per-IP key of sa; false for other families. */
static bool addr_key(const struct sockaddr *sa, uint8_t key[KEY_LEN])
{
    memset(key, 0, KEY_LEN);
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        key[0] = 4;
        memcpy(key + 1, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            key[0] = 4;
            memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, in6->sin6_addr.s6_addr, 8); /* the /64 */
        }
        return true;
    }
    return false;
}

void http_client_key(const struct sockaddr *sa, char *out, size_t outlen)
{
    uint8_t key[KEY_LEN];
    char buf[INET6_ADDRSTRLEN];
    snprintf(out, outlen, "unknown");
    if (!addr_key(sa, key))
        return;
    if (key[0] == 4) {
        if (inet_ntop(AF_INET, key + 1, buf, sizeof buf))
            snprintf(out, outlen, "%s", buf);
    } else {
        uint8_t a[16] = {0};
        memcpy(a, key + 1, 8);
        if (inet_ntop(AF_INET6, a, buf, sizeof buf))
            snprintf(out, outlen, "%s/64", buf);
    }
}

void http_conn_client_key(struct MHD_Connection *c, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    http_client_key(ci ? ci->client_addr : NULL, out, outlen);
}

/* ------------------------------------------------------- per-IP counting */

static unsigned key_hash(const uint8_t *k)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (unsigned i = 0; i < KEY_LEN; i++)
        h = (h ^ k[i]) * 16777619u;
    return h % IP_BUCKETS;
}

static ip_entry *ip_find(http_guard *g, const uint8_t *k, ip_entry ***where)
{
    ip_entry **pp = &g->ips[key_hash(k)];
    while (*pp && memcmp((*pp)->key, k, KEY_LEN) != 0)
        pp = &(*pp)->next;
    if (where)
        *where = pp;
    return *pp;
}

/* Add one connection for k; the new count, or 0 on out of memory. */
static unsigned ip_add(http_guard *g, const uint8_t *k)
{
    ip_entry **pp;
    ip_entry *e = ip_find(g, k, &pp);
    if (!e) {
        if (!(e = calloc(1, sizeof *e)))
            return 0;
        memcpy(e->key, k, KEY_LEN);
        *pp = e;
    }
    return ++e->count;
}

static void ip_del(http_guard *g, const uint8_t *k)
{
    ip_entry **pp;
    ip_entry *e = ip_find(g, k, &pp);
    if (e && --e->count == 0) {
        *pp = e->next;
        free(e);
    }
}

enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    http_guard *g = cls;
    uint8_t k[KEY_LEN];
    if (!g->cfg.per_ip_connections || !addr_key(addr, k))
        return MHD_YES;
    pthread_mutex_lock(&g->lock);
    ip_entry *e = ip_find(g, k, NULL);
    bool ok = !e || e->count < g->cfg.per_ip_connections;
    if (!ok)
        g->refused++;
    pthread_mutex_unlock(&g->lock);
    return ok ? MHD_YES : MHD_NO;
}

/* ----------------------------------------------------- connection tracking */

static void cut(gconn *gc, const char *reply)
{
    if (reply)
        (void)send(gc->fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(gc->fd, SHUT_RDWR);
    gc->cut = true;
}

void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        gconn *gc = calloc(1, sizeof *gc);
        *socket_context = gc;
        if (!gc)
            return; /* untracked: no deadline, not counted (fails open) */
        gc->g = g;
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CONNECTION_FD);
        gc->fd = fi ? fi->connect_fd : -1;
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        gc->awaiting = true;
        gc->since_ms = mono_ms();
        pthread_mutex_lock(&g->lock);
        if (addr_key(ai ? ai->client_addr : NULL, gc->key)) {
            unsigned n = ip_add(g, gc->key);
            gc->keyed = n > 0;
            /* The accept check and this count are not atomic across the
             * worker threads: the loser of a race is cut here. */
            if (g->cfg.per_ip_connections && n > g->cfg.per_ip_connections && gc->fd >= 0) {
                cut(gc, NULL);
                g->refused++;
            }
        }
        gc->next = g->conns;
        if (g->conns)
            g->conns->prev = gc;
        g->conns = gc;
        g->open++;
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        gconn *gc = *socket_context;
        *socket_context = NULL;
        if (!gc)
            return;
        pthread_mutex_lock(&g->lock);
        if (gc->prev)
            gc->prev->next = gc->next;
        else
            g->conns = gc->next;
        if (gc->next)
            gc->next->prev = gc->prev;
        if (gc->keyed)
            ip_del(g, gc->key);
        g->open--;
        pthread_mutex_unlock(&g->lock);
        free(gc);
    }
}

static gconn *conn_state(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_guard_headers_done(struct MHD_Connection *c)
{
    gconn *gc = conn_state(c);
    if (!gc)
        return;
    pthread_mutex_lock(&gc->g->lock);
    gc->awaiting = false;
    pthread_mutex_unlock(&gc->g->lock);
}

void http_guard_request_done(struct MHD_Connection *c)
{
    gconn *gc = conn_state(c);
    if (!gc)
        return;
    pthread_mutex_lock(&gc->g->lock);
    gc->awaiting = true;
    gc->served = true;
    gc->since_ms = mono_ms();
    pthread_mutex_unlock(&gc->g->lock);
}

/* --------------------------------------------------------------- sweeper */

static void *sweeper_main(void *arg)
{
    http_guard *g = arg;
    int64_t timeout = g->cfg.header_timeout_ms;
    int64_t step = timeout / 4;
    if (step < 50)
        step = 50;
    if (step > 500)
        step = 500;
    char reply[512];
    char body[160];
    snprintf(body, sizeof body,
             "{\"error\":\"request_timeout\",\"message\":\"request headers not received "
             "within %u ms\"}",
             g->cfg.header_timeout_ms);
    snprintf(reply, sizeof reply,
             "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nCache-Control: no-store\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        int64_t now = mono_ms();
        for (gconn *gc = g->conns; gc; gc = gc->next) {
            if (!gc->awaiting || gc->cut || gc->fd < 0 || now - gc->since_ms < timeout)
                continue;
            /* A first request gets a JSON 408; an idle keep-alive connection
             * is closed silently (a client reusing it would otherwise read a
             * stale 408 as the answer to its next request). */
            cut(gc, gc->served ? NULL : reply);
            g->header_timeouts++;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(step % 1000) * 1000000L;
        ts.tv_sec += step / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

http_guard *http_guard_new(const http_guard_config *cfg)
{
    http_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    snprintf(g->component, sizeof g->component, "%s", cfg->component ? cfg->component : "http");
    g->cfg.component = g->component;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (cfg->header_timeout_ms) {
        int rc = pthread_create(&g->sweeper, NULL, sweeper_main, g);
        if (rc != 0) {
            log_msg(PARLEY_LOG_ERROR, g->component, "cannot start the header-deadline thread: %s",
                    strerror(rc));
            http_guard_free(g);
            return NULL;
        }
        g->sweeper_running = true;
    }
    return g;
}

void http_guard_free(http_guard *g)
{
    if (!g)
        return;
    if (g->sweeper_running) {
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->sweeper, NULL);
    }
    for (unsigned i = 0; i < IP_BUCKETS; i++) {
        ip_entry *e = g->ips[i];
        while (e) {
            ip_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    gconn *gc = g->conns; /* only if the daemon was not stopped first */
    while (gc) {
        gconn *n = gc->next;
        free(gc);
        gc = n;
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void http_guard_get_stats(http_guard *g, http_guard_stats *out)
{
    pthread_mutex_lock(&g->lock);
    out->refused = g->refused;
    out->header_timeouts = g->header_timeouts;
    out->open = g->open;
    pthread_mutex_unlock(&g->lock);
}

char *http_guard_metrics_append(http_guard *g, char *text, const char *prefix, const char *labels)
{
    if (!text)
        return NULL;
    http_guard_stats st;
    http_guard_get_stats(g, &st);
    http_prom t = {0};
    char name[128];
    http_prom_printf(&t, "%s", text);
    free(text);
    snprintf(name, sizeof name, "%s_connections_refused_total", prefix);
    http_prom_counter(&t, name, "Connections refused by the per-IP connection limit.", labels,
                      st.refused);
    snprintf(name, sizeof name, "%s_header_timeouts_total", prefix);
    http_prom_counter(&t, name,
                      "Connections cut because the request headers did not arrive within the "
                      "deadline.",
                      labels, st.header_timeouts);
    snprintf(name, sizeof name, "%s_connections_open", prefix);
    http_prom_gauge(&t, name, "HTTP connections open now.", labels, st.open);
    return http_prom_finish(&t);
}

/* ------------------------------------------------------------ URL paths */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The byte %XX at p encodes, or -1 if p is not an escape. */
static int escape_at(const char *p)
{
    if (p[0] != '%')
        return -1;
    int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
    return lo < 0 ? -1 : hi * 16 + lo;
}

static bool is_ctl(int b)
{
    return b < 0x20 || b == 0x7f;
}

size_t http_guard_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *r = s, *w = s;
    while (*r) {
        int b = escape_at(r);
        if (b >= 0 && !is_ctl(b)) {
            *w++ = (char)b;
            r += 3;
        } else {
            *w++ = *r++; /* a control escape stays "%XX": http_path_ok refuses it */
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

bool http_path_ok(const char *url)
{
    for (const char *p = url; *p; p++) {
        if (is_ctl((unsigned char)*p))
            return false;
        int b = escape_at(p);
        if (b >= 0 && is_ctl(b))
            return false;
    }
    return true;
}
