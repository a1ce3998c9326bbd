/*
 * bus.c - the node's NATS connection (bus.h, docs/cluster.md).
 *
 * One bus thread owns the natsConnection and every natsSubscription: the
 * broker thread never calls libnats (a publish can block in libnats on a
 * full socket, subscribe takes the connection's lock). The broker thread
 * queues commands (bounded: a publish beyond the bound is dropped and
 * counted); the bus thread executes them in order, so a subscribe, an
 * unsubscribe and a subscribe again of one subject keep their order.
 *
 * libnats calls back on its own threads (message delivery, connection
 * events). Those callbacks only copy what arrived into a pp_task and push
 * it onto the completion queue (tasks__push); counters shared with them
 * are atomics. Everything else here is the broker thread's.
 */
#include "plugin_int.h"
#include "bus.h"

#include <nats/nats.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUS_QUEUE_MAX_BYTES (64u * 1024 * 1024) /* publishes waiting for the bus thread */
#define BUS_INFLIGHT_MAX 100000  /* arrivals waiting for the broker thread */
#define BUS_FRAME_MAX (1024 * 1024 - 1024) /* nats-server's default max_payload, less headers */
#define BUS_RECONNECT_WAIT_MS 250
#define BUS_CONNECT_TIMEOUT_MS 2000
#define BUS_WRITE_DEADLINE_MS 2000
#define BUS_PING_INTERVAL_MS 2000 /* a dead server is noticed within ~2 pings */
#define BUS_STOP_FLUSH_MS 500
#define BUS_MAX_SERVERS 32
#define BUS_MAX_HOOKS 4

typedef enum { BUS_CMD_PUB, BUS_CMD_SUB, BUS_CMD_UNSUB, BUS_CMD_STOP } bus_op;

typedef struct bus_cmd {
    struct bus_cmd *next;
    bus_op op;
    size_t len;     /* bytes of data */
    uint8_t *data;  /* points into the same allocation */
    char subject[]; /* NUL-terminated, then data */
} bus_cmd;

/* ---- state shared with the bus thread and libnats' threads ---------------- */

static pthread_mutex_t bus_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bus_cond = PTHREAD_COND_INITIALIZER;
static bus_cmd *bus_head, *bus_tail;
static size_t bus_queued_bytes; /* under bus_lock */

static atomic_uint_fast64_t st_in, st_out, st_bytes_in, st_bytes_out, st_drop_out, st_drop_in,
    st_disconnects, st_reconnects, st_subs;
static atomic_bool st_connected;
static atomic_long bus_inflight; /* arrivals pushed and not yet handled */

/* ---- broker thread only ---------------------------------------------------- */

static bool bus_on;
static pthread_t bus_thread;
static natsOptions *bus_opts; /* handed to the bus thread, freed by bus__stop */
static char bus_node[BUS_NODE_ID_MAX + 1];
static strmap *bus_watches; /* subject -> size_t* (watch count) */
static bus_handler bus_handlers[BUS_T_COUNT];
static bus_resync_fn bus_resync[BUS_MAX_HOOKS], bus_connect_hooks[BUS_MAX_HOOKS];
static int bus_nresync, bus_nconnect;
static bool bus_ever_connected;
static int64_t bus_dup_warned_us; /* last warning about a node with our id */

/* ---- tasks: what libnats' threads hand to the broker thread --------------- */

typedef enum {
    BUS_EV_CONNECTED,
    BUS_EV_RECONNECTED,
    BUS_EV_DISCONNECTED,
    BUS_EV_CLOSED,
    BUS_EV_ERROR,
    BUS_EV_NOT_YET
} bus_event;

typedef struct {
    pp_task base;
    bus_event ev;
    char text[256];
} bus_event_task;

typedef struct {
    pp_task base;
    bus_kind kind;
    size_t len;
    char id[BUS_ID_MAX + 1];
    uint8_t data[]; /* the frame */
} bus_msg_task;

static void bus_event_done(pp_task *t, bool stopping)
{
    bus_event_task *e = (bus_event_task *)t;
    if (!stopping) {
        switch (e->ev) {
        case BUS_EV_CONNECTED:
        case BUS_EV_RECONNECTED: {
            bool again = bus_ever_connected;
            bus_ever_connected = true;
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: cluster: node %s %s to NATS %s",
                                 bus_node, again ? "reconnected" : "connected", e->text);
            for (int i = 0; i < bus_nconnect; i++)
                bus_connect_hooks[i]();
            if (again)
                for (int i = 0; i < bus_nresync; i++)
                    bus_resync[i]();
            break;
        }
        case BUS_EV_DISCONNECTED:
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: cluster: node %s disconnected from NATS; reconnecting",
                                 bus_node);
            break;
        case BUS_EV_CLOSED:
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: cluster: NATS connection closed");
            break;
        case BUS_EV_NOT_YET:
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: cluster: no NATS server reachable yet (%s); retrying",
                                 e->text);
            break;
        case BUS_EV_ERROR:
            mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: cluster: %s", e->text);
            break;
        }
    }
    free(e);
}

/* Any thread. */
static void bus_event_push(bus_event ev, const char *prefix, const char *arg)
{
    bus_event_task *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->base.done = bus_event_done;
    e->ev = ev;
    snprintf(e->text, sizeof e->text, "%s%s", prefix, arg ? arg : "");
    tasks__push(&e->base);
}

static void bus_msg_done(pp_task *t, bool stopping)
{
    bus_msg_task *m = (bus_msg_task *)t;
    atomic_fetch_sub(&bus_inflight, 1);
    if (!stopping) {
        bus_msg bm = {.kind = m->kind, .id = m->id};
        char node[BUS_NODE_ID_MAX + 1];
        uint8_t type = 0;
        if (!bus__unframe(m->data, m->len, &type, node, &bm.body, &bm.len)) {
            atomic_fetch_add(&st_drop_in, 1);
        } else if (!strcmp(node, bus_node)) {
            /* no_echo: this is not our own frame but another node's with
             * our id, and the two would be taken for one. */
            atomic_fetch_add(&st_drop_in, 1);
            int64_t now = clock_mono_us();
            if (now - bus_dup_warned_us > 60 * 1000000LL || !bus_dup_warned_us) {
                bus_dup_warned_us = now;
                mosquitto_log_printf(MOSQ_LOG_ERR,
                                     "parley: cluster: another node uses node id %s; give every "
                                     "node its own plugin_opt_node_id",
                                     bus_node);
            }
        } else if (type >= BUS_T_COUNT || !bus_handlers[type]) {
            atomic_fetch_add(&st_drop_in, 1);
        } else {
            bm.type = (bus_type)type;
            bm.node = node;
            bus_handlers[type](&bm);
        }
    }
    free(m);
}

/* ---- libnats callbacks (libnats' threads: push tasks, nothing else) -------- */

static void bus_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    const char *subject = natsMsg_GetSubject(msg);
    int len = natsMsg_GetDataLength(msg);
    bus_kind kind;
    char id[BUS_ID_MAX + 1];
    if (len < 0 || !bus__parse_subject(subject, &kind, id, sizeof id) ||
        atomic_load(&bus_inflight) >= BUS_INFLIGHT_MAX) {
        atomic_fetch_add(&st_drop_in, 1);
        natsMsg_Destroy(msg);
        return;
    }
    bus_msg_task *m = malloc(sizeof *m + (size_t)len);
    if (!m) {
        atomic_fetch_add(&st_drop_in, 1);
        natsMsg_Destroy(msg);
        return;
    }
    memset(m, 0, sizeof *m);
    m->base.done = bus_msg_done;
    m->kind = kind;
    m->len = (size_t)len;
    memcpy(m->id, id, sizeof id);
    if (len)
        memcpy(m->data, natsMsg_GetData(msg), (size_t)len);
    natsMsg_Destroy(msg);
    atomic_fetch_add(&st_in, 1);
    atomic_fetch_add(&st_bytes_in, (uint64_t)len);
    atomic_fetch_add(&bus_inflight, 1);
    tasks__push(&m->base);
}

static void bus_url(natsConnection *nc, char *buf, size_t len)
{
    buf[0] = '\0';
    if (natsConnection_GetConnectedUrl(nc, buf, len) != NATS_OK || !buf[0])
        snprintf(buf, len, "(unknown server)");
}

static void bus_on_connected(natsConnection *nc, void *closure)
{
    (void)closure;
    char url[200];
    bus_url(nc, url, sizeof url);
    atomic_store(&st_connected, true);
    bus_event_push(BUS_EV_CONNECTED, "", url);
}

static void bus_on_reconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    char url[200];
    bus_url(nc, url, sizeof url);
    atomic_store(&st_connected, true);
    atomic_fetch_add(&st_reconnects, 1);
    bus_event_push(BUS_EV_RECONNECTED, "", url);
}

static void bus_on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    /* The URL is gone by now; the log line of the reconnect names the new one. */
    atomic_store(&st_connected, false);
    atomic_fetch_add(&st_disconnects, 1);
    bus_event_push(BUS_EV_DISCONNECTED, "", NULL);
}

static void bus_on_closed(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    atomic_store(&st_connected, false);
    bus_event_push(BUS_EV_CLOSED, "", NULL);
}

static void bus_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc, (void)closure;
    if (err == NATS_SLOW_CONSUMER) {
        int64_t dropped = 0;
        if (sub)
            natsSubscription_GetDropped(sub, &dropped);
        atomic_fetch_add(&st_drop_in, 1);
    }
    bus_event_push(BUS_EV_ERROR, "NATS error: ", natsStatus_GetText(err));
}

/* ---- the bus thread ------------------------------------------------------------ */

static void bus_sub_free(void *p)
{
    natsSubscription_Destroy(p);
}

static void bus_exec(natsConnection *nc, strmap *subs, bus_cmd *c)
{
    natsStatus s = NATS_OK;
    switch (c->op) {
    case BUS_CMD_PUB:
        s = nc ? natsConnection_Publish(nc, c->subject, c->data, (int)c->len)
               : NATS_CONNECTION_CLOSED;
        if (s == NATS_OK) {
            atomic_fetch_add(&st_out, 1);
            atomic_fetch_add(&st_bytes_out, c->len);
        } else {
            atomic_fetch_add(&st_drop_out, 1);
        }
        break;
    case BUS_CMD_SUB: {
        natsSubscription *sub = NULL;
        if (!nc || strmap_get(subs, c->subject))
            break;
        s = natsConnection_Subscribe(&sub, nc, c->subject, bus_on_msg, NULL);
        if (s == NATS_OK) {
            /* Bound what libnats holds for the delivery thread; beyond it
             * the error handler counts a slow consumer. */
            natsSubscription_SetPendingLimits(sub, 65536, 64 * 1024 * 1024);
            if (strmap_put(subs, c->subject, sub) != 0) {
                natsSubscription_Unsubscribe(sub);
                natsSubscription_Destroy(sub);
                s = NATS_NO_MEMORY;
            } else {
                atomic_fetch_add(&st_subs, 1);
            }
        }
        if (s != NATS_OK)
            bus_event_push(BUS_EV_ERROR, "cannot subscribe: ", natsStatus_GetText(s));
        break;
    }
    case BUS_CMD_UNSUB: {
        natsSubscription *sub = strmap_take(subs, c->subject);
        if (sub) {
            natsSubscription_Unsubscribe(sub);
            natsSubscription_Destroy(sub);
            atomic_fetch_sub(&st_subs, 1);
        }
        break;
    }
    case BUS_CMD_STOP: break;
    }
}

static void *bus_main(void *arg)
{
    natsOptions *opts = arg;
    natsConnection *nc = NULL;
    strmap *subs = strmap_new(bus_sub_free);
    natsStatus s = natsConnection_Connect(&nc, opts);
    if (s == NATS_OK) {
        bus_on_connected(nc, NULL);
    } else if (s == NATS_NOT_YET_CONNECTED) {
        bus_event_push(BUS_EV_NOT_YET, "", natsStatus_GetText(s));
    } else {
        bus_event_push(BUS_EV_ERROR, "the bus is down: cannot create the NATS connection: ",
                       natsStatus_GetText(s));
        nc = NULL;
    }
    bool stop = false;
    while (!stop) {
        pthread_mutex_lock(&bus_lock);
        while (!bus_head)
            pthread_cond_wait(&bus_cond, &bus_lock);
        bus_cmd *c = bus_head;
        bus_head = bus_tail = NULL;
        bus_queued_bytes = 0;
        pthread_mutex_unlock(&bus_lock);
        while (c) {
            bus_cmd *next = c->next;
            if (c->op == BUS_CMD_STOP)
                stop = true;
            else if (subs)
                bus_exec(nc, subs, c);
            free(c);
            c = next;
        }
    }
    if (nc) {
        natsConnection_FlushTimeout(nc, BUS_STOP_FLUSH_MS); /* the goodbye, if connected */
        natsConnection_Close(nc);
    }
    strmap_free(subs); /* destroys the subscriptions */
    natsConnection_Destroy(nc);
    return NULL;
}

/* Queue a command; publishes are refused beyond BUS_QUEUE_MAX_BYTES. */
/* Queue a command whose data is the concatenation of n parts. */
static int bus_queue_v(bus_op op, const char *subject, const bus_part *parts, size_t n)
{
    size_t sl = strlen(subject), len = 0;
    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    bus_cmd *c = malloc(sizeof *c + sl + 1 + len);
    if (!c)
        return -1;
    c->next = NULL;
    c->op = op;
    c->len = len;
    memcpy(c->subject, subject, sl + 1);
    c->data = (uint8_t *)c->subject + sl + 1;
    uint8_t *p = c->data;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len)
            memcpy(p, parts[i].data, parts[i].len);
        p += parts[i].len;
    }
    pthread_mutex_lock(&bus_lock);
    if (op == BUS_CMD_PUB && bus_queued_bytes + len > BUS_QUEUE_MAX_BYTES) {
        pthread_mutex_unlock(&bus_lock);
        free(c);
        return -1;
    }
    bus_queued_bytes += len;
    if (bus_tail)
        bus_tail->next = c;
    else
        bus_head = c;
    bus_tail = c;
    pthread_cond_signal(&bus_cond);
    pthread_mutex_unlock(&bus_lock);
    return 0;
}

static int bus_queue(bus_op op, const char *subject, const void *data, size_t len)
{
    bus_part part = {data, len};
    return bus_queue_v(op, subject, &part, 1);
}

/* ---- the API (broker thread) ------------------------------------------------------ */

bool bus__enabled(void)
{
    return bus_on;
}

const char *bus__node_id(void)
{
    return bus_on ? bus_node : "";
}

static int bus_options(const char *urls)
{
    char *copy = strdup(urls);
    const char *servers[BUS_MAX_SERVERS];
    int n = 0;
    natsStatus s = copy ? natsOptions_Create(&bus_opts) : NATS_NO_MEMORY;
    for (char *save = NULL, *tok = copy ? strtok_r(copy, ", ", &save) : NULL;
         tok && n < BUS_MAX_SERVERS; tok = strtok_r(NULL, ", ", &save))
        servers[n++] = tok;
    if (s == NATS_OK && n == 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: plugin_opt_cluster_nats names no server");
        free(copy);
        return -1;
    }
    char name[BUS_NODE_ID_MAX + 16];
    snprintf(name, sizeof name, "parley-%s", bus_node);
    if (s == NATS_OK)
        s = natsOptions_SetServers(bus_opts, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(bus_opts, name);
    if (s == NATS_OK) /* a node does not hear what it publishes */
        s = natsOptions_SetNoEcho(bus_opts, true);
    if (s == NATS_OK) /* subscriptions share libnats' delivery pool, not one thread each */
        s = natsOptions_UseGlobalMessageDelivery(bus_opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(bus_opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(bus_opts, BUS_RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(bus_opts, BUS_CONNECT_TIMEOUT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetWriteDeadline(bus_opts, BUS_WRITE_DEADLINE_MS);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(bus_opts, BUS_PING_INTERVAL_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(bus_opts, 2);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(bus_opts, true, bus_on_connected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(bus_opts, bus_on_reconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(bus_opts, bus_on_disconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(bus_opts, bus_on_closed, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(bus_opts, bus_on_error, NULL);
    free(copy); /* natsOptions_SetServers copied the URLs */
    if (s != NATS_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cluster: NATS options (%s): %s", urls,
                             natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

int bus__start(void)
{
    if (!pp.cfg.cluster_nats || !*pp.cfg.cluster_nats)
        return 0;
    if (pp.cfg.node_id && *pp.cfg.node_id) {
        snprintf(bus_node, sizeof bus_node, "%s", pp.cfg.node_id);
    } else {
        char r[IDS_SERVER_ID_LEN + 1];
        ids_random(r);
        snprintf(bus_node, sizeof bus_node, "%.12s", r);
    }
    bus_watches = strmap_new(free);
    if (!bus_watches || bus_options(pp.cfg.cluster_nats) != 0)
        goto fail;
    atomic_store(&bus_inflight, 0);
    bus_ever_connected = false;
    if (pthread_create(&bus_thread, NULL, bus_main, bus_opts) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cluster: cannot start the bus thread");
        goto fail;
    }
    bus_on = true;
    /* Every node hears the cluster-wide subject and its own. */
    char subject[BUS_SUBJECT_MAX];
    bus__subject(BUS_ALL, NULL, subject, sizeof subject);
    bus_queue(BUS_CMD_SUB, subject, NULL, 0);
    bus__subject(BUS_NODE, bus_node, subject, sizeof subject);
    bus_queue(BUS_CMD_SUB, subject, NULL, 0);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: cluster: node %s, NATS servers %s", bus_node,
                         pp.cfg.cluster_nats);
    return 0;
fail:
    natsOptions_Destroy(bus_opts);
    bus_opts = NULL;
    strmap_free(bus_watches);
    bus_watches = NULL;
    return -1;
}

void bus__stop(void)
{
    if (!bus_on)
        return;
    bus_queue(BUS_CMD_STOP, "", NULL, 0);
    pthread_join(bus_thread, NULL);
    bus_on = false;
    /* No libnats thread may call back into an unloaded plugin. */
    nats_CloseAndWait(2000);
    natsOptions_Destroy(bus_opts);
    bus_opts = NULL;
    pthread_mutex_lock(&bus_lock);
    bus_cmd *c = bus_head;
    bus_head = bus_tail = NULL;
    bus_queued_bytes = 0;
    pthread_mutex_unlock(&bus_lock);
    while (c) {
        bus_cmd *next = c->next;
        free(c);
        c = next;
    }
    strmap_free(bus_watches);
    bus_watches = NULL;
    memset(bus_handlers, 0, sizeof bus_handlers);
    bus_nresync = bus_nconnect = 0;
    atomic_store(&st_connected, false);
    atomic_store(&st_subs, 0);
}

static void bus_watch(bus_kind kind, const char *id, int delta)
{
    char subject[BUS_SUBJECT_MAX];
    if (!bus_on || bus__subject(kind, id, subject, sizeof subject) < 0)
        return;
    size_t *n = strmap_get(bus_watches, subject);
    if (delta > 0) {
        if (n) {
            (*n)++;
            return;
        }
        n = malloc(sizeof *n);
        if (!n || strmap_put(bus_watches, subject, n) != 0) {
            free(n);
            mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cluster: out of memory watching %s",
                                 subject);
            return;
        }
        *n = 1;
        if (bus_queue(BUS_CMD_SUB, subject, NULL, 0) != 0)
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: cluster: cannot queue the subscription of %s", subject);
    } else if (n && --*n == 0) {
        strmap_remove(bus_watches, subject);
        bus_queue(BUS_CMD_UNSUB, subject, NULL, 0);
    }
}

void bus__watch_user(const char *user)
{
    bus_watch(BUS_USER, user, 1);
}
void bus__unwatch_user(const char *user)
{
    bus_watch(BUS_USER, user, -1);
}
void bus__watch_group(const char *group_id)
{
    bus_watch(BUS_GROUP, group_id, 1);
}
void bus__unwatch_group(const char *group_id)
{
    bus_watch(BUS_GROUP, group_id, -1);
}

size_t bus__watching(bus_kind kind, const char *id)
{
    char subject[BUS_SUBJECT_MAX];
    if (!bus_on || bus__subject(kind, id, subject, sizeof subject) < 0)
        return 0;
    size_t *n = strmap_get(bus_watches, subject);
    return n ? *n : 0;
}

int bus__publish(bus_kind kind, const char *id, bus_type type, const void *bytes, size_t len)
{
    bus_part part = {bytes, len};
    return bus__publishv(kind, id, type, &part, 1);
}

int bus__publishv(bus_kind kind, const char *id, bus_type type, const bus_part *parts, size_t n)
{
    char subject[BUS_SUBJECT_MAX];
    uint8_t head[4 + BUS_NODE_ID_MAX];
    bus_part v[8];
    size_t len = 0;
    if (!bus_on)
        return -1;
    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    int hl = n < 8 ? bus__frame((uint8_t)type, bus_node, NULL, 0, head, sizeof head) : -1;
    if (hl < 0 || bus__subject(kind, id, subject, sizeof subject) < 0 || len > BUS_FRAME_MAX) {
        atomic_fetch_add(&st_drop_out, 1);
        return -1;
    }
    /* The frame's header (bus__frame), then the body's parts. */
    v[0] = (bus_part){head, (size_t)hl};
    memcpy(v + 1, parts, n * sizeof *parts);
    int rc = bus_queue_v(BUS_CMD_PUB, subject, v, n + 1);
    if (rc != 0)
        atomic_fetch_add(&st_drop_out, 1);
    return rc;
}

void bus__set_handler(bus_type type, bus_handler fn)
{
    if ((unsigned)type < BUS_T_COUNT)
        bus_handlers[type] = fn;
}

void bus__on_resync(bus_resync_fn fn)
{
    if (bus_nresync < BUS_MAX_HOOKS)
        bus_resync[bus_nresync++] = fn;
}

void bus__on_connect(bus_resync_fn fn)
{
    if (bus_nconnect < BUS_MAX_HOOKS)
        bus_connect_hooks[bus_nconnect++] = fn;
}

void bus__get_stats(bus_stats *out)
{
    out->msgs_in = atomic_load(&st_in);
    out->msgs_out = atomic_load(&st_out);
    out->bytes_in = atomic_load(&st_bytes_in);
    out->bytes_out = atomic_load(&st_bytes_out);
    out->dropped_out = atomic_load(&st_drop_out);
    out->dropped_in = atomic_load(&st_drop_in);
    out->disconnects = atomic_load(&st_disconnects);
    out->reconnects = atomic_load(&st_reconnects);
    out->subscriptions = atomic_load(&st_subs);
    out->connected = atomic_load(&st_connected);
}
