/*
 * presence.c - connections and who is online. A connection counts from its
 * admission (successful BASIC_AUTH) until mosquitto's DISCONNECT event for
 * the same client object (mosquitto 2.0 raises it for every connection that
 * ends, session takeover included). A user's first connection publishes a
 * retained Presence{ONLINE} on parley/presence/{user}; the end of its last
 * one publishes Presence{OFFLINE, last_seen}.
 *
 * Bounds kept here: at most max_connections_per_user connections and
 * max_sessions_per_user persistent client ids (clean session off) per user;
 * a persistent client id not seen for session_expiry is forgotten (set it
 * to mosquitto's persistent_client_expiration). A connection is closed when
 * its token expires.
 *
 * Memory per connection (docs/benchmarks.md, "Connections"): one block per
 * connection (client pointer, expiry, heap index, user id and client id
 * together) in an open-addressing table keyed by the client pointer, one
 * pointer in the expiry heap, and an entry of pr_cids whose value is the
 * count itself; per online user one pr_users entry.
 */
#include "plugin_int.h"
#include "groups.h"
#include "bus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESENCE_SWEEP_MS 1000

typedef struct {
    struct mosquitto *client; /* the key in pr_conns */
    int64_t expires_at;       /* token expiry, Unix s */
    size_t heap_idx;          /* position in pr_heap */
    const char *client_id;    /* into ids */
    uint8_t device_key[DEVICES_KEY_LEN]; /* the key its token was verified with */
    char ids[];               /* the user id, '\0', the client id, '\0' */
} presence_conn;

#define CONN_USER(c) ((const char *)(c)->ids)

typedef struct {
    size_t connections;
    int64_t since;
} presence_user;

typedef struct {
    char *client_id;
    int64_t last_ms; /* last connect or disconnect */
} presence_session;

typedef struct {
    size_t n;
    presence_session *v;
} presence_sessions;

static strmap *pr_users;    /* user id -> presence_user* (online users) */
static strmap *pr_cids;     /* client id -> live connections with it (the count as the pointer) */
static strmap *pr_sessions; /* user id -> presence_sessions* */
static int64_t pr_next_sweep_ms, pr_next_session_sweep_ms;

/* ---- token expiry: a binary min-heap of connections by expires_at ----------
 * Each connection knows its index, so a disconnect removes it in O(log n)
 * and the sweep looks only at expired ones. */

static presence_conn **pr_heap;
static size_t pr_heap_n, pr_heap_cap;

static void heap_set(size_t i, presence_conn *c)
{
    pr_heap[i] = c;
    c->heap_idx = i;
}

static void heap_up(size_t i)
{
    presence_conn *c = pr_heap[i];
    while (i > 0 && pr_heap[(i - 1) / 2]->expires_at > c->expires_at) {
        heap_set(i, pr_heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(i, c);
}

static void heap_down(size_t i)
{
    presence_conn *c = pr_heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t best = c->expires_at;
        if (l < pr_heap_n && pr_heap[l]->expires_at < best)
            m = l, best = pr_heap[l]->expires_at;
        if (l + 1 < pr_heap_n && pr_heap[l + 1]->expires_at < best)
            m = l + 1;
        if (m == i)
            break;
        heap_set(i, pr_heap[m]);
        i = m;
    }
    heap_set(i, c);
}

static int heap_push(presence_conn *c)
{
    if (pr_heap_n == pr_heap_cap) {
        size_t cap = pr_heap_cap ? pr_heap_cap * 2 : 64;
        presence_conn **v = realloc(pr_heap, cap * sizeof *v);
        if (!v)
            return -1;
        pr_heap = v;
        pr_heap_cap = cap;
    }
    heap_set(pr_heap_n++, c);
    heap_up(pr_heap_n - 1);
    return 0;
}

static void heap_remove(presence_conn *c)
{
    size_t i = c->heap_idx;
    if (i >= pr_heap_n || pr_heap[i] != c)
        return;
    presence_conn *last = pr_heap[--pr_heap_n];
    if (i == pr_heap_n)
        return;
    heap_set(i, last);
    heap_up(i);
    heap_down(last->heap_idx);
}

/* ---- pr_conns: the connections by client pointer -----------------------
 * Open addressing with linear probing (at most half full) and backward-shift
 * deletion: one pointer per slot instead of a string-keyed entry. */

static presence_conn **pr_conns;
static size_t pr_conns_cap, pr_conns_n; /* cap: 0 or a power of two */

static size_t conns_slot(const struct mosquitto *client)
{
    uint64_t x = (uint64_t)(uintptr_t)client; /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return (size_t)(x ^ (x >> 31)) & (pr_conns_cap - 1);
}

static presence_conn *conns_get(const struct mosquitto *client)
{
    if (!pr_conns_cap)
        return NULL;
    for (size_t i = conns_slot(client); pr_conns[i]; i = (i + 1) & (pr_conns_cap - 1))
        if (pr_conns[i]->client == client)
            return pr_conns[i];
    return NULL;
}

static int conns_put(presence_conn *c)
{
    if (2 * (pr_conns_n + 1) > pr_conns_cap) {
        size_t old_cap = pr_conns_cap, cap = old_cap ? old_cap * 2 : 256;
        presence_conn **old = pr_conns, **v = calloc(cap, sizeof *v);
        if (!v)
            return -1;
        pr_conns = v;
        pr_conns_cap = cap;
        for (size_t j = 0; j < old_cap; j++) {
            if (!old[j])
                continue;
            size_t i = conns_slot(old[j]->client);
            while (pr_conns[i])
                i = (i + 1) & (cap - 1);
            pr_conns[i] = old[j];
        }
        free(old);
    }
    size_t i = conns_slot(c->client);
    while (pr_conns[i])
        i = (i + 1) & (pr_conns_cap - 1);
    pr_conns[i] = c;
    pr_conns_n++;
    return 0;
}

static presence_conn *conns_take(const struct mosquitto *client)
{
    if (!pr_conns_cap)
        return NULL;
    size_t mask = pr_conns_cap - 1, i = conns_slot(client);
    for (; pr_conns[i] && pr_conns[i]->client != client; i = (i + 1) & mask)
        ;
    presence_conn *c = pr_conns[i];
    if (!c)
        return NULL;
    /* Backward shift: move later entries of the run into the hole when
     * their home slot does not lie (cyclically) after the hole. */
    for (size_t j = (i + 1) & mask; pr_conns[j]; j = (j + 1) & mask) {
        size_t home = conns_slot(pr_conns[j]->client);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            pr_conns[i] = pr_conns[j];
            i = j;
        }
    }
    pr_conns[i] = NULL;
    pr_conns_n--;
    return c;
}

static void conns_free_all(void)
{
    for (size_t i = 0; i < pr_conns_cap; i++)
        free(pr_conns[i]);
    free(pr_conns);
    pr_conns = NULL;
    pr_conns_cap = pr_conns_n = 0;
}

static void sessions_free(void *p)
{
    presence_sessions *s = p;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].client_id);
    free(s->v);
    free(s);
}

int presence__init(void)
{
    pr_users = strmap_new(free);
    pr_cids = strmap_new(NULL);
    pr_sessions = strmap_new(sessions_free);
    return pr_users && pr_cids && pr_sessions ? 0 : -1;
}

void presence__cleanup(void)
{
    free(pr_heap);
    pr_heap = NULL;
    pr_heap_n = pr_heap_cap = 0;
    conns_free_all();
    strmap_free(pr_users);
    strmap_free(pr_cids);
    strmap_free(pr_sessions);
    pr_users = pr_cids = pr_sessions = NULL;
}

size_t presence__users_online(void)
{
    return pr_users ? strmap_count(pr_users) : 0;
}

size_t presence__connections(void)
{
    return pr_conns_n;
}

bool presence__local_online(const char *user)
{
    return pr_users && strmap_get(pr_users, user) != NULL;
}

typedef struct {
    void (*fn)(const char *user, void *ctx);
    void *ctx;
} presence_walk;

static void walk_user(const char *key, void *value, void *ctx)
{
    (void)value;
    presence_walk *w = ctx;
    w->fn(key, w->ctx);
}

void presence__foreach_online(void (*fn)(const char *user, void *ctx), void *ctx)
{
    presence_walk w = {fn, ctx};
    if (pr_users)
        strmap_foreach(pr_users, walk_user, &w);
}

void presence__publish(const char *user, bool online, int64_t when)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Presence p = PARLEY__V1__PRESENCE__INIT;
    p.user = (char *)user;
    p.state = online ? PARLEY__V1__PRESENCE__STATE__ONLINE : PARLEY__V1__PRESENCE__STATE__OFFLINE;
    p.last_seen = when;
    snprintf(topic, sizeof topic, "parley/presence/%s", user);
    publish__msg(topic, &p.base, true);
}

/* ---- persistent sessions -------------------------------------------------- */

/* Drop sessions of s unused for session_expiry and not connected now. */
static void sessions_expire(presence_sessions *s, int64_t now_ms)
{
    int64_t max_age_ms = pp.cfg.session_expiry_s * 1000;
    size_t keep = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (now_ms - s->v[i].last_ms > max_age_ms && !strmap_get(pr_cids, s->v[i].client_id)) {
            free(s->v[i].client_id);
            continue;
        }
        s->v[keep++] = s->v[i];
    }
    s->n = keep;
}

static presence_session *sessions_find(presence_sessions *s, const char *client_id)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->v[i].client_id, client_id))
            return &s->v[i];
    return NULL;
}

/* Record a persistent client id of user; false if the user is at the cap. */
static bool sessions_admit(const char *user, const char *client_id, int64_t now_ms)
{
    presence_sessions *s = strmap_get(pr_sessions, user);
    presence_session *e = sessions_find(s, client_id);
    if (e) {
        e->last_ms = now_ms;
        return true;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || strmap_put(pr_sessions, user, s) != 0) {
            free(s);
            return false;
        }
    }
    sessions_expire(s, now_ms);
    if (s->n >= pp.cfg.max_sessions_per_user)
        return false;
    presence_session *v = realloc(s->v, (s->n + 1) * sizeof *v);
    char *id = strdup(client_id);
    if (!v || !id) {
        if (v)
            s->v = v;
        free(id);
        return false;
    }
    s->v = v;
    s->v[s->n++] = (presence_session){.client_id = id, .last_ms = now_ms};
    return true;
}

/* ---- connections ------------------------------------------------------------ */

int presence__admit(struct mosquitto *client, const char *user, const char *client_id,
                    int64_t token_expires_at)
{
    if (conns_get(client))
        return 0;
    int64_t now = clock_now_ms();
    bool takeover = strmap_get(pr_cids, client_id) != NULL;
    presence_user *pu = strmap_get(pr_users, user);
    if (!takeover && pu && pu->connections >= pp.cfg.max_conns_per_user)
        return PP_AUTH_TOO_MANY_CONNS;
    if (!mosquitto_client_clean_session(client) && !sessions_admit(user, client_id, now))
        return PP_AUTH_TOO_MANY_SESSIONS;

    size_t ul = strlen(user), cl = strlen(client_id);
    presence_conn *c = malloc(sizeof *c + ul + 1 + cl + 1);
    uintptr_t cid_n = (uintptr_t)strmap_get(pr_cids, client_id);
    if (!c)
        return 0; /* out of memory: admit untracked rather than lock users out */
    c->client = client;
    c->expires_at = token_expires_at;
    c->heap_idx = SIZE_MAX; /* in no heap yet */
    memcpy(c->ids, user, ul + 1);
    memcpy(c->ids + ul + 1, client_id, cl + 1);
    c->client_id = c->ids + ul + 1;
    if (strmap_put(pr_cids, client_id, (void *)(cid_n + 1)) != 0) {
        free(c);
        return 0;
    }
    if (heap_push(c) != 0 || conns_put(c) != 0) {
        heap_remove(c);
        free(c);
        if (cid_n)
            strmap_put(pr_cids, client_id, (void *)cid_n); /* replaces: cannot fail */
        else
            strmap_remove(pr_cids, client_id);
        return 0;
    }
    /* One watch per tracked connection (the DISCONNECT of each one
     * unwatches): bus.c counts them and subscribes the user's subject
     * while any is left. */
    bus__watch_user(user);
    if (!pu) {
        pu = calloc(1, sizeof *pu);
        if (!pu || strmap_put(pr_users, user, pu) != 0) {
            free(pu);
            return 0;
        }
        pu->since = now;
        /* Online elsewhere in the cluster: the retained ONLINE is there. */
        if (!cluster__remote_online(user))
            presence__publish(user, true, pu->since);
        cluster__local_online(user);
        groups__user_online(user, true); /* cluster: watch its groups (gsync.c) */
    }
    pu->connections++;
    return 0;
}

int presence__disconnect_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    const char *client_id = mosquitto_client_id(ed->client);
    if (client_id)
        limits__forget(client_id);
    presence_conn *c = conns_take(ed->client);
    if (!c)
        return MOSQ_ERR_SUCCESS;
    heap_remove(c);
    int64_t now = clock_now_ms();
    const char *user = CONN_USER(c);
    uintptr_t cid_n = (uintptr_t)strmap_get(pr_cids, c->client_id);
    if (cid_n <= 1)
        strmap_remove(pr_cids, c->client_id);
    else
        strmap_put(pr_cids, c->client_id, (void *)(cid_n - 1)); /* replaces: cannot fail */
    presence_session *e = sessions_find(strmap_get(pr_sessions, user), c->client_id);
    if (e)
        e->last_ms = now;
    presence_user *pu = strmap_get(pr_users, user);
    bus__unwatch_user(user);
    if (pu && --pu->connections == 0) {
        strmap_remove(pr_users, user);
        cluster__local_offline(user);
        groups__user_online(user, false);
        /* Still connected on another node: stays ONLINE. */
        if (!cluster__remote_online(user))
            presence__publish(user, false, now);
    }
    free(c);
    return MOSQ_ERR_SUCCESS;
}

/* ---- closing connections ------------------------------------------------------ */

typedef struct {
    const char *user;
    char **ids;
    size_t n, cap;
} presence_pick;

static void pick_id(presence_pick *p, const char *client_id)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        char **v = realloc(p->ids, cap * sizeof *v);
        if (!v)
            return;
        p->ids = v;
        p->cap = cap;
    }
    if ((p->ids[p->n] = strdup(client_id)) != NULL)
        p->n++;
}

/* Close the picked connections: collected first, because each kick raises
 * the DISCONNECT event, which edits pr_conns. */
static void kick_picked(presence_pick *p, const char *why)
{
    for (size_t i = 0; i < p->n; i++) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: closing connection of client %s: %s",
                             p->ids[i], why);
        mosquitto_kick_client_by_clientid(p->ids[i], false);
        free(p->ids[i]);
    }
    free(p->ids);
}

void presence__set_device_key(struct mosquitto *client, const uint8_t key[DEVICES_KEY_LEN])
{
    presence_conn *c = conns_get(client);
    if (c)
        memcpy(c->device_key, key, DEVICES_KEY_LEN);
}

void presence__kick_devices(const char *user,
                            bool (*still_ok)(const char *client_id,
                                             const uint8_t key[DEVICES_KEY_LEN], void *ctx),
                            void *ctx, const char *why)
{
    if (!strmap_get(pr_users, user))
        return;
    presence_pick p = {.user = user};
    for (size_t i = 0; i < pr_conns_cap; i++) {
        const presence_conn *c = pr_conns[i];
        if (c && !strcmp(CONN_USER(c), user) && !still_ok(c->client_id, c->device_key, ctx))
            pick_id(&p, c->client_id);
    }
    kick_picked(&p, why);
}

void presence__kick_user(const char *user, const char *why)
{
    if (!strmap_get(pr_users, user))
        return;
    presence_pick p = {.user = user};
    for (size_t i = 0; i < pr_conns_cap; i++)
        if (pr_conns[i] && !strcmp(CONN_USER(pr_conns[i]), user))
            pick_id(&p, pr_conns[i]->client_id);
    kick_picked(&p, why);
}

static void expire_sessions(const char *key, void *value, void *ctx)
{
    (void)key;
    sessions_expire(value, *(const int64_t *)ctx);
}

void presence__sweep(int64_t now_ms)
{
    if (now_ms < pr_next_sweep_ms)
        return;
    pr_next_sweep_ms = now_ms + PRESENCE_SWEEP_MS;
    /* A token is valid through its expires_at second. */
    presence_pick p = {0};
    while (pr_heap_n > 0 && pr_heap[0]->expires_at < now_ms / 1000) {
        presence_conn *c = pr_heap[0];
        pick_id(&p, c->client_id);
        heap_remove(c); /* the DISCONNECT event will not find it again */
    }
    kick_picked(&p, "token expired");
    /* Sessions: a slower cadence is enough; entries only matter at the cap. */
    if (now_ms >= pr_next_session_sweep_ms) {
        pr_next_session_sweep_ms = now_ms + 60 * PRESENCE_SWEEP_MS;
        strmap_foreach(pr_sessions, expire_sessions, &now_ms);
    }
}
