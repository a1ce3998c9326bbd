/*
 * cluster.c - what the nodes of a cluster tell each other over the bus
 * (bus.h) today: presence, and the debug payload (docs/cluster.md).
 *
 * Presence is cluster-wide: a user is online when any node has one of its
 * connections. Each node announces its users on parley.all: a
 * PRESENCE_ON when a user's first connection on the node starts, a
 * PRESENCE_OFF when its last one ends, and every heartbeat interval a
 * HEARTBEAT listing every user connected there. The other nodes keep
 * (user, node) entries that expire 3 intervals after they were last
 * announced, so a node that dies or hangs stops counting within 3
 * intervals (plus the 500 ms expiry sweep); a node that stops cleanly says
 * NODE_LEFT and its entries go at once. Every node keeps the retained
 * parley/presence/{user} of its own broker in line with the cluster-wide
 * state: ONLINE when the user becomes online anywhere, OFFLINE when the
 * last node lets go.
 *
 * Body of PRESENCE_ON, PRESENCE_OFF and HEARTBEAT: the sender's heartbeat
 * interval in ms, then one user id per line ("2000\nalice\nbob\n").
 * Broker thread only.
 */
#include "plugin_int.h"
#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLUSTER_SWEEP_MS 500
#define CLUSTER_CHUNK 65536 /* bytes of users per HEARTBEAT message */
#define CLUSTER_EXPIRY_FACTOR 3

typedef struct {
    char node[BUS_NODE_ID_MAX + 1];
    int64_t expires_ms; /* monotonic */
} cl_entry;

typedef struct {
    size_t n;
    cl_entry *v;
} cl_user;

static strmap *cl_remote; /* user -> cl_user*: nodes where the user is connected */
static int64_t cl_next_heartbeat_ms, cl_next_sweep_ms;
static uint64_t cl_expired; /* entries dropped because their node went quiet */

static int64_t cl_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

static void cl_user_free(void *p)
{
    cl_user *u = p;
    if (u)
        free(u->v);
    free(u);
}

bool cluster__remote_online(const char *user)
{
    cl_user *u = cl_remote ? strmap_get(cl_remote, user) : NULL;
    return u && u->n > 0;
}

size_t cluster__remote_users(void)
{
    return cl_remote ? strmap_count(cl_remote) : 0;
}

uint64_t cluster__expired(void)
{
    return cl_expired;
}

/* ---- announcing this node's users ---------------------------------------------- */

static void cl_send(bus_type type, const char *users, size_t len)
{
    char head[24];
    int hl = snprintf(head, sizeof head, "%d\n", pp.cfg.cluster_heartbeat_ms);
    char *body = malloc((size_t)hl + len);
    if (!body)
        return;
    memcpy(body, head, (size_t)hl);
    memcpy(body + hl, users, len);
    bus__publish(BUS_ALL, NULL, type, body, (size_t)hl + len);
    free(body);
}

typedef struct {
    char *buf;
    size_t len, cap;
} cl_chunk;

static void cl_add_user(const char *user, void *ctx)
{
    cl_chunk *c = ctx;
    size_t n = strlen(user);
    if (c->len + n + 1 > c->cap) {
        cl_send(BUS_T_HEARTBEAT, c->buf, c->len);
        c->len = 0;
    }
    memcpy(c->buf + c->len, user, n);
    c->buf[c->len + n] = '\n';
    c->len += n + 1;
}

static void cl_heartbeat(void)
{
    cl_chunk c = {.buf = malloc(CLUSTER_CHUNK), .cap = CLUSTER_CHUNK};
    if (!c.buf)
        return;
    presence__foreach_online(cl_add_user, &c);
    /* Sent even when empty: it tells the others this node is alive. */
    cl_send(BUS_T_HEARTBEAT, c.buf, c.len);
    free(c.buf);
}

void cluster__local_online(const char *user)
{
    if (!bus__enabled())
        return;
    size_t n = strlen(user);
    char line[IDS_USER_MAX + 2];
    snprintf(line, sizeof line, "%s\n", user);
    cl_send(BUS_T_PRESENCE_ON, line, n + 1);
    if (pp.cfg.cluster_debug) {
        char body[128 + BUS_NODE_ID_MAX];
        int bl = snprintf(body, sizeof body, "user connected on node %s", bus__node_id());
        bus__publish(BUS_USER, user, BUS_T_TEST, body, (size_t)bl);
    }
}

void cluster__local_offline(const char *user)
{
    if (!bus__enabled())
        return;
    char line[IDS_USER_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", user);
    cl_send(BUS_T_PRESENCE_OFF, line, (size_t)n);
}

/* ---- what the others say ----------------------------------------------------------- */

/* The user has no entry left: offline cluster-wide unless connected here. */
static void cl_gone(const char *user)
{
    strmap_remove(cl_remote, user);
    if (!presence__local_online(user))
        presence__publish(user, false, clock_now_ms());
}

static void cl_remote_on(const char *user, const char *node, int64_t expires_ms)
{
    cl_user *u = strmap_get(cl_remote, user);
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u || strmap_put(cl_remote, user, u) != 0) {
            free(u);
            return;
        }
    }
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->v[i].node, node)) {
            u->v[i].expires_ms = expires_ms;
            return;
        }
    cl_entry *v = realloc(u->v, (u->n + 1) * sizeof *v);
    if (!v) {
        if (u->n == 0)
            strmap_remove(cl_remote, user);
        return;
    }
    u->v = v;
    snprintf(v[u->n].node, sizeof v[u->n].node, "%s", node);
    v[u->n].expires_ms = expires_ms;
    u->n++;
    if (u->n == 1 && !presence__local_online(user))
        presence__publish(user, true, clock_now_ms());
}

static void cl_remote_off(const char *user, const char *node)
{
    cl_user *u = strmap_get(cl_remote, user);
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->v[i].node, node)) {
            u->v[i] = u->v[--u->n];
            break;
        }
    if (u->n == 0)
        cl_gone(user);
}

/* Walk the lines of a presence body: the interval, then users. */
static void cl_presence(const bus_msg *m)
{
    if (m->kind != BUS_ALL)
        return;
    char *body = malloc(m->len + 1);
    if (!body)
        return;
    memcpy(body, m->body, m->len);
    body[m->len] = '\0';
    char *save = NULL, *line = strtok_r(body, "\n", &save);
    long interval = line ? strtol(line, NULL, 10) : 0;
    if (interval < 100 || interval > 3600000) {
        free(body);
        return;
    }
    int64_t expires = cl_mono_ms() + CLUSTER_EXPIRY_FACTOR * (int64_t)interval;
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!ids_valid_user(line))
            continue;
        if (pp.cfg.cluster_debug && m->type != BUS_T_HEARTBEAT)
            mosquitto_log_printf(MOSQ_LOG_NOTICE,
                                 "parley: cluster debug: presence of %s on node %s: %s", line,
                                 m->node, m->type == BUS_T_PRESENCE_ON ? "on" : "off");
        if (m->type == BUS_T_PRESENCE_OFF)
            cl_remote_off(line, m->node);
        else
            cl_remote_on(line, m->node, expires);
    }
    free(body);
}

typedef struct {
    const char *node;    /* drop this node's entries (NODE_LEFT), or */
    int64_t now_ms;      /* drop entries expired by now */
    char **gone;
    size_t n, cap;
} cl_sweep;

static void cl_sweep_user(const char *user, void *value, void *ctx)
{
    cl_user *u = value;
    cl_sweep *s = ctx;
    size_t keep = 0;
    for (size_t i = 0; i < u->n; i++) {
        bool drop = s->node ? !strcmp(u->v[i].node, s->node) : u->v[i].expires_ms <= s->now_ms;
        if (!drop)
            u->v[keep++] = u->v[i];
        else if (!s->node)
            cl_expired++;
    }
    u->n = keep;
    if (keep > 0)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **g = realloc(s->gone, cap * sizeof *g);
        if (!g)
            return; /* found again at the next sweep */
        s->gone = g;
        s->cap = cap;
    }
    if ((s->gone[s->n] = strdup(user)) != NULL)
        s->n++;
}

/* Drop entries, then the users left without one (collected first: the walk
 * must not change the map). */
static void cl_sweep_run(cl_sweep *s)
{
    strmap_foreach(cl_remote, cl_sweep_user, s);
    for (size_t i = 0; i < s->n; i++) {
        cl_gone(s->gone[i]);
        free(s->gone[i]);
    }
    free(s->gone);
}

static void cl_node_left(const bus_msg *m)
{
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: cluster: node %s left", m->node);
    cl_sweep s = {.node = m->node};
    cl_sweep_run(&s);
}

static void cl_debug(const bus_msg *m)
{
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "parley: cluster debug: test payload for %s %s from node %s: %.*s",
                         m->kind == BUS_USER    ? "user"
                         : m->kind == BUS_GROUP ? "group"
                                                : "node",
                         m->id, m->node, (int)(m->len > 200 ? 200 : m->len), (const char *)m->body);
}

/* After every connection to NATS: tell the others at once who is here (a
 * reconnect may have outlasted their expiry). */
static void cl_connected(void)
{
    cl_heartbeat();
    cl_next_heartbeat_ms = cl_mono_ms() + pp.cfg.cluster_heartbeat_ms;
}

static void cl_tell_resync(const char *user, void *ctx)
{
    size_t *n = ctx;
    receipts__resync(user);
    (*n)++;
}

static void cl_resync(void)
{
    /* What crossed the bus while this node was away is lost (core NATS is
     * at-most-once). Presence repairs itself with the heartbeats, groups
     * are read again (gsync.c), and every client here is told to sync. */
    size_t n = 0;
    presence__foreach_online(cl_tell_resync, &n);
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE,
        "parley: cluster: resync after reconnect (heartbeat sent, %zu user(s) told to sync)", n);
}

int cluster__init(void)
{
    if (!pp.cfg.cluster_nats || !*pp.cfg.cluster_nats)
        return 0;
    cl_remote = strmap_new(cl_user_free);
    if (!cl_remote)
        return -1;
    bus__set_handler(BUS_T_PRESENCE_ON, cl_presence);
    bus__set_handler(BUS_T_PRESENCE_OFF, cl_presence);
    bus__set_handler(BUS_T_HEARTBEAT, cl_presence);
    bus__set_handler(BUS_T_NODE_LEFT, cl_node_left);
    if (pp.cfg.cluster_debug)
        bus__set_handler(BUS_T_TEST, cl_debug);
    bus__on_connect(cl_connected);
    bus__on_resync(cl_resync);
    cl_next_heartbeat_ms = cl_mono_ms() + pp.cfg.cluster_heartbeat_ms;
    cl_next_sweep_ms = cl_mono_ms() + CLUSTER_SWEEP_MS;
    cl_expired = 0;
    return 0;
}

void cluster__leave(void)
{
    if (bus__enabled())
        bus__publish(BUS_ALL, NULL, BUS_T_NODE_LEFT, NULL, 0);
}

void cluster__cleanup(void)
{
    strmap_free(cl_remote);
    cl_remote = NULL;
}

void cluster__tick(void)
{
    if (!bus__enabled() || !cl_remote)
        return;
    int64_t now = cl_mono_ms();
    if (now >= cl_next_heartbeat_ms) {
        cl_next_heartbeat_ms = now + pp.cfg.cluster_heartbeat_ms;
        cl_heartbeat();
    }
    if (now >= cl_next_sweep_ms) {
        cl_next_sweep_ms = now + CLUSTER_SWEEP_MS;
        cl_sweep s = {.now_ms = now};
        cl_sweep_run(&s);
    }
}
