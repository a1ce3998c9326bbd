/*
 * gsync.c - group state across broker nodes (gsync.h, docs/cluster.md).
 *
 * Per group this node knows about, a gate:
 *   seen       the highest seq delivered to this node's subscribers;
 *   held       deliveries above seen + 1, sorted by seq, waiting for the
 *              missing ones (from another node, or lost on the bus);
 *   after      user-topic deliveries waiting for the next reload;
 *   reloading  a read of the group (and of missed messages) is running on
 *              the reader thread; nothing is delivered meanwhile.
 *
 * Why a membership change is applied before a later message: seqs are the
 * commit order. A SYSTEM envelope (membership, roles, settings) reaching
 * the gate in order makes the node reload the group from the store before
 * it delivers anything later; a hole below a delivery makes it wait
 * GSYNC_GAP_MS and then read the group and the missing messages from the
 * store. A delivery reaches the gate only after its commit, so a read that
 * starts after it arrived sees every lower seq, SYSTEM events included.
 * mosquitto's READ ACL (groups.c) then decides with the reloaded model.
 *
 * Broker thread only; the reads run on the reader thread (worker.c).
 */
#include "group_int.h"
#include "groups.h"
#include "bus.h"
#include "gsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An item's SYSTEM event is in the model (a reload read it, or this node
 * made it): it may be delivered. */
#define GS_APPLIED 0x40

typedef struct gs_item {
    struct gs_item *next;
    uint64_t seq;          /* 0 for an after-reload user delivery */
    uint8_t flags;
    char sender[IDS_USER_MAX + 1];
    char *topic;
    uint8_t *payload;
    size_t len;
} gs_item;

typedef struct {
    char chat_id[IDS_CHAT_MAX + 1];
    size_t watches;      /* local online members */
    bool loaded;         /* seen is known */
    bool reloading;
    bool again;          /* reload once more when this one ends */
    bool fetch;          /* the next reload also reads missed messages */
    uint64_t seen;
    gs_item *held;       /* ascending seq */
    size_t n_held;
    gs_item *after, **after_tail;
    int64_t gap_since_ms; /* 0: no hole */
} gs_gate;

static strmap *gs_gates; /* chat_id -> gs_gate* */
static gsync_stats gs_st;

static int64_t gs_now_ms(void)
{
    return clock_mono_us() / 1000;
}

static void gs_item_free(gs_item *it)
{
    if (!it)
        return;
    free(it->topic);
    free(it->payload);
    free(it);
}

static void gs_items_free(gs_item *it)
{
    while (it) {
        gs_item *next = it->next;
        gs_item_free(it);
        it = next;
    }
}

static void gs_gate_free(void *p)
{
    gs_gate *g = p;
    if (!g)
        return;
    gs_st.held -= g->n_held;
    gs_items_free(g->held);
    gs_items_free(g->after);
    free(g);
}

static gs_gate *gs_gate_get(const char *chat_id, bool create)
{
    gs_gate *g = gs_gates ? strmap_get(gs_gates, chat_id) : NULL;
    if (g || !create || !gs_gates)
        return g;
    if (!(g = calloc(1, sizeof *g)))
        return NULL;
    snprintf(g->chat_id, sizeof g->chat_id, "%s", chat_id);
    g->after_tail = &g->after;
    if (strmap_put(gs_gates, chat_id, g) != 0) {
        free(g);
        return NULL;
    }
    return g;
}

/* Forget a gate nobody needs any more (no watch, nothing waiting). */
static void gs_gate_gc(gs_gate *g)
{
    if (g && !g->watches && !g->reloading && !g->held && !g->after)
        strmap_remove(gs_gates, g->chat_id);
}

static gs_item *gs_item_new(uint64_t seq, uint8_t flags, const char *sender, const char *topic,
                            const void *payload, size_t len)
{
    gs_item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->seq = seq;
    it->flags = flags;
    snprintf(it->sender, sizeof it->sender, "%s", sender ? sender : "");
    it->topic = strdup(topic);
    it->payload = malloc(len ? len : 1);
    it->len = len;
    if (!it->topic || !it->payload) {
        gs_item_free(it);
        return NULL;
    }
    if (len)
        memcpy(it->payload, payload, len);
    return it;
}

/* ---- delivering ------------------------------------------------------------------- */

static void gs_reload(gs_gate *g, bool fetch);

/* Deliver one item here; the group model learns the seq and its sender. */
static void gs_deliver(gs_gate *gate, const gs_item *it)
{
    publish__raw(it->topic, it->payload, it->len);
    if (!it->seq)
        return;
    gate->seen = it->seq;
    group *g = group__find(gate->chat_id);
    if (g) {
        if (it->seq > g->last_seq)
            g->last_seq = it->seq;
        if (!(it->flags & ROUTE_F_SYSTEM) && it->sender[0])
            group_msg__note_sender(g, it->seq, it->sender);
    }
}

/* Deliver the held items that are next in order. A SYSTEM event made
 * elsewhere waits for a reload of the group first, so that it and
 * everything after it are delivered with the model it produced (a removed
 * member gets neither; it is told on its own inbox). */
static void gs_drain(gs_gate *g)
{
    while (g->held && !g->reloading) {
        gs_item *it = g->held;
        if (it->seq <= g->seen) { /* a copy of something delivered */
            g->held = it->next;
            g->n_held--;
            gs_st.held--;
            gs_st.duplicates++;
            gs_item_free(it);
            continue;
        }
        if (it->seq != g->seen + 1)
            break;
        if ((it->flags & ROUTE_F_SYSTEM) && !(it->flags & (ROUTE_F_LOCAL | GS_APPLIED))) {
            gs_reload(g, false);
            break;
        }
        g->held = it->next;
        g->n_held--;
        gs_st.held--;
        gs_deliver(g, it);
        gs_item_free(it);
    }
    if (!g->held)
        g->gap_since_ms = 0;
    else if (!g->gap_since_ms && !g->reloading)
        g->gap_since_ms = gs_now_ms();
    if (g->n_held > GSYNC_HELD_MAX && !g->reloading)
        gs_reload(g, true);
}

/* Insert in seq order (one item per seq). */
static void gs_hold(gs_gate *g, gs_item *it)
{
    gs_item **at = &g->held;
    while (*at && (*at)->seq < it->seq)
        at = &(*at)->next;
    if (*at && (*at)->seq == it->seq) {
        gs_st.duplicates++;
        gs_item_free(it);
        return;
    }
    it->next = *at;
    *at = it;
    g->n_held++;
    gs_st.held++;
}

void gsync__frame(const char *chat_id, const route_meta *meta, const char *topic,
                  const void *payload, size_t len)
{
    gs_gate *g = gs_gate_get(chat_id, false);
    if (!g || !g->watches) {
        /* No member of the group is connected here: nobody to order for. */
        publish__raw(topic, payload, len);
        return;
    }
    if (g->loaded && meta->seq <= g->seen) {
        gs_st.duplicates++;
        return;
    }
    gs_item *it = gs_item_new(meta->seq, meta->flags, meta->sender, topic, payload, len);
    if (!it)
        return; /* out of memory: the members sync */
    gs_hold(g, it);
    if (g->loaded)
        gs_drain(g);
}

void gsync__after_reload(const char *chat_id, const char *topic, const void *payload, size_t len)
{
    gs_gate *g = gs_gate_get(chat_id, true);
    gs_item *it = g ? gs_item_new(0, 0, NULL, topic, payload, len) : NULL;
    if (!it) {
        publish__raw(topic, payload, len); /* better early than never */
        return;
    }
    *g->after_tail = it;
    g->after_tail = &it->next;
    gs_reload(g, false);
}

/* ---- reloading -------------------------------------------------------------------- */

typedef struct {
    pp_task task;
    char chat_id[IDS_CHAT_MAX + 1];
    bool fetch;
    uint64_t after;
    gs_item *after_items; /* user deliveries that waited for this reload */
    store_chat chat;
    store_member *members;
    size_t n_members;
    store_message *msgs;
    size_t n_msgs;
} gs_task;

static void gs_task_free(gs_task *t)
{
    store_chat_free(&t->chat);
    store_member_array_free(t->members, t->n_members);
    store_message_array_free(t->msgs, t->n_msgs);
    gs_items_free(t->after_items);
    free(t);
}

/* Reader thread. */
static void gs_work(pp_task *task, store_t *s)
{
    gs_task *t = (gs_task *)task;
    t->task.rc = store_chat_get(s, t->chat_id, &t->chat);
    if (t->task.rc != STORE_OK)
        return;
    int rc = store_members_of_chat(s, t->chat_id, &t->members, &t->n_members);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        t->task.rc = rc;
        return;
    }
    if (t->fetch) {
        rc = store_messages_after(s, t->chat_id, t->after, GSYNC_FETCH_MAX, &t->msgs, &t->n_msgs);
        if (rc != STORE_OK && rc != STORE_ENOTFOUND)
            t->task.rc = rc;
    }
}

/* A stored message as the group topic's delivery. */
static gs_item *gs_item_from_store(const store_message *m, const char *chat_id)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Envelope env;
    uint32_t ttl = m->expires_at > m->server_ts ? (uint32_t)((m->expires_at - m->server_ts) / 1000)
                                                : 0;
    stamp__envelope(&env, m, ttl);
    size_t len = protobuf_c_message_get_packed_size(&env.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(&env.base, buf);
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", chat_id + 2);
    uint8_t flags = m->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM ? ROUTE_F_SYSTEM : 0;
    gs_item *it = gs_item_new(m->seq, flags, m->sender, topic, buf, len);
    free(buf);
    return it;
}

/* Broker thread. */
static void gs_done(pp_task *task, bool stopping)
{
    gs_task *t = (gs_task *)task;
    if (stopping)
        goto out;
    gs_st.reloads++;
    if (t->task.rc == STORE_OK)
        groups__reload(&t->chat, t->members, t->n_members);
    else if (t->task.rc == STORE_ENOTFOUND)
        groups__forget(t->chat_id);
    else
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: cluster: reloading group %s failed: %s",
                             t->chat_id, store_strerror(t->task.rc));
    /* The reload may have ended the last local membership: look again. */
    gs_gate *g = gs_gate_get(t->chat_id, false);
    if (!g)
        goto out;
    g->reloading = false;
    /* The events this read has seen are applied; after a failed read they
     * are delivered anyway (logged above) rather than held for ever. */
    for (gs_item *it = g->held; it; it = it->next)
        if (t->task.rc != STORE_OK || it->seq <= t->chat.last_seq)
            it->flags |= GS_APPLIED;
    if (t->task.rc == STORE_OK) {
        if (!g->loaded) {
            /* First load: what arrived meanwhile is delivered in order
             * (the members' clients sync what came before). */
            g->loaded = true;
            g->seen = g->held && g->held->seq - 1 < t->chat.last_seq ? g->held->seq - 1
                                                                     : t->chat.last_seq;
        }
        int64_t now = clock_now_ms();
        for (size_t i = 0; i < t->n_msgs; i++) {
            if (t->msgs[i].seq <= g->seen)
                continue;
            /* A tombstone or an expired message is not repaired live: the
             * clients see the hole and sync, which returns the tombstone
             * and skips the expired one (protocol.md, "Rich messages"). */
            if (t->msgs[i].kind == STORE_KIND_TOMBSTONE ||
                (t->msgs[i].expires_at > 0 && t->msgs[i].expires_at <= now))
                continue;
            gs_item *it = gs_item_from_store(&t->msgs[i], t->chat_id);
            if (it) {
                gs_st.repaired++;
                gs_hold(g, it);
            }
        }
        /* Whatever is still missing below a held item is not coming: the
         * clients see the hole and sync. */
        if (g->held && g->held->seq > g->seen + 1 && t->fetch)
            g->seen = g->held->seq - 1;
    } else {
        if (!g->loaded) {
            g->loaded = true; /* deliver rather than hold forever */
            g->seen = g->held ? g->held->seq - 1 : 0;
        }
        if (t->task.rc != STORE_ENOTFOUND && !g->gap_since_ms)
            g->gap_since_ms = gs_now_ms(); /* read again at the tick */
    }
    for (gs_item *it = t->after_items; it; it = it->next)
        publish__raw(it->topic, it->payload, it->len);
    if (g->again) {
        g->again = false;
        gs_reload(g, g->fetch);
    }
    gs_drain(g);
    gs_gate_gc(g);
out:
    gs_task_free(t);
}

/* Broker thread: every write this node submitted before the reload has
 * committed; now read. */
static void gs_barrier_done(pp_task *task, bool stopping)
{
    gs_task *t = (gs_task *)task;
    if (stopping) {
        gs_task_free(t);
        return;
    }
    t->task.rc = STORE_OK;
    t->task.done = gs_done;
    if (worker__submit(&t->task) != 0) {
        t->task.rc = STORE_EUNAVAIL; /* gs_done: logged, retried at the tick */
        gs_done(&t->task, false);
    }
}

static void gs_reload(gs_gate *g, bool fetch)
{
    if (g->reloading) {
        g->again = true;
        g->fetch = g->fetch || fetch;
        return;
    }
    gs_task *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->task.work = gs_work;
    t->task.done = gs_done;
    snprintf(t->chat_id, sizeof t->chat_id, "%s", g->chat_id);
    t->fetch = (fetch || g->fetch) && g->loaded;
    t->after = g->seen;
    /* The user deliveries waiting now go with this read, which starts
     * after they arrived. */
    t->after_items = g->after;
    g->after = NULL;
    g->after_tail = &g->after;
    /* The read goes behind this node's own writes (a group it created or
     * changed a moment ago must not be read back older than its model):
     * a barrier through the writer first, then the reader thread. */
    t->task.done = gs_barrier_done;
    if (writer__submit(store_op_new(STORE_OP_BARRIER), &t->task) != 0) {
        /* Reader queue full: deliver what waited, try again at the tick. */
        for (gs_item *it = t->after_items; it; it = it->next)
            publish__raw(it->topic, it->payload, it->len);
        gs_task_free(t);
        g->fetch = g->fetch || fetch;
        if (!g->gap_since_ms)
            g->gap_since_ms = gs_now_ms();
        return;
    }
    g->fetch = false;
    g->reloading = true;
    g->gap_since_ms = 0;
}

/* ---- watching, announcing, repairing ------------------------------------------------ */

void gsync__watch(const char *chat_id, int delta)
{
    if (!bus__enabled())
        return;
    gs_gate *g = gs_gate_get(chat_id, delta > 0);
    if (!g)
        return;
    if (delta > 0) {
        if (g->watches++ == 0) {
            gs_st.watched++;
            bus__watch_group(chat_id);
            /* Whatever the model says, read the group before delivering:
             * it may have changed while nobody here watched it. */
            g->loaded = false;
            gs_reload(g, false);
        }
        return;
    }
    if (g->watches == 0)
        return;
    if (--g->watches == 0) {
        gs_st.watched--;
        bus__unwatch_group(chat_id);
        gs_st.held -= g->n_held;
        gs_items_free(g->held);
        g->held = NULL;
        g->n_held = 0;
        g->loaded = false;
        gs_gate_gc(g);
    }
}

void gsync__announce(const char *chat_id)
{
    if (bus__enabled())
        bus__publish(BUS_ALL, NULL, BUS_T_GROUP_CHANGED, chat_id, strlen(chat_id));
}

/* Another node changed a group: read it again. */
static void gs_changed(const bus_msg *m)
{
    char chat_id[IDS_CHAT_MAX + 1];
    if (m->kind != BUS_ALL || m->len == 0 || m->len > IDS_CHAT_MAX)
        return;
    memcpy(chat_id, m->body, m->len);
    chat_id[m->len] = '\0';
    if (!ids_is_group_chat(chat_id) || !ids_valid_chat(chat_id))
        return;
    gs_gate *g = gs_gate_get(chat_id, true);
    if (g)
        gs_reload(g, false);
}

typedef struct {
    int64_t now;
    bool all; /* after a bus reconnect: every watched group */
    gs_gate **due;
    size_t n, cap;
} gs_scan;

static void gs_scan_gate(const char *key, void *value, void *ctx)
{
    gs_gate *g = value;
    gs_scan *s = ctx;
    bool due = s->all ? g->watches > 0
                      : g->gap_since_ms && s->now - g->gap_since_ms >= GSYNC_GAP_MS;
    if (!due || s->n == s->cap)
        return;
    s->due[s->n++] = g;
}

static void gs_repair(bool all)
{
    gs_scan s = {.now = gs_now_ms(), .all = all};
    if (!gs_gates || !(s.cap = strmap_count(gs_gates)))
        return;
    if (!(s.due = malloc(s.cap * sizeof *s.due)))
        return; /* found again at the next tick */
    strmap_foreach(gs_gates, gs_scan_gate, &s);
    /* A reload never frees a gate synchronously (it is reloading). */
    for (size_t i = 0; i < s.n; i++)
        gs_reload(s.due[i], true);
    free(s.due);
}

void gsync__tick(void)
{
    if (bus__enabled())
        gs_repair(false);
}

/* After a bus reconnect: what crossed the bus meanwhile may be lost. Read
 * every watched group and its missed messages again. */
static void gs_resync(void)
{
    gs_repair(true);
}

void gsync__get_stats(gsync_stats *out)
{
    *out = gs_st;
}

int gsync__init(void)
{
    memset(&gs_st, 0, sizeof gs_st);
    if (!pp.cfg.cluster_nats || !*pp.cfg.cluster_nats)
        return 0;
    if (!(gs_gates = strmap_new(gs_gate_free)))
        return -1;
    bus__set_handler(BUS_T_GROUP_CHANGED, gs_changed);
    bus__on_resync(gs_resync);
    return 0;
}

void gsync__cleanup(void)
{
    strmap_free(gs_gates);
    gs_gates = NULL;
}
