/*
 * receipts.c - Receipt messages on parley/u/{user}/receipts (QoS 1):
 * STORED after the commit, REJECTED with an error code, DELIVERED/READ when
 * the other member's cursor moves (1:1 and group). The one home for
 * receipts: every file that answers a send or moves a cursor calls here.
 *
 * Coalesced STORED (docs/protocol.md, "Coalesced STORED receipts"): the
 * STOREDs of messages sent with Envelope.coalesce_receipts wait here until
 * the end of the broker thread's turn over the completion queue (tasks.c,
 * receipts__flush), then each sender gets one receipt covering all of its
 * messages of that turn, at most RECEIPTS_PER_MSG each. The pending table
 * is kept across turns: no allocation per message.
 */
#include "plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIPTS_PER_MSG 256 /* messages one coalesced receipt covers at most */

typedef struct {
    char sender[IDS_USER_MAX + 1];
    char chat_id[IDS_CHAT_MAX + 1];
    char server_id[IDS_SERVER_ID_LEN + 1];
    char client_msg_id[IDS_CLIENT_MSG_MAX + 1];
    uint64_t seq;
    size_t ord; /* arrival order, kept within a sender */
} rc_stored;

static rc_stored *rc_pending;
static rc_stored **rc_sorted;
static size_t rc_n, rc_cap;

static const char *const reject_codes[PP_REJ_COUNT] = {PP_REJECTS(PP_ENUM_NAME)};

const char *receipts__reject_code(pp_reject why)
{
    return why < PP_REJ_COUNT ? reject_codes[why] : "internal";
}

static void receipts_send(const char *to, Parley__V1__Receipt *r)
{
    r->ts = clock_now_ms();
    /* The user may be connected to another node (route.c). */
    route__user(to, "receipts", &r->base, NULL);
}

/* STORED goes on the bus only when the sender is known to be connected to
 * another node too (cluster presence): it answers a publish made here, so
 * the sending connection is here, and a frame costs every message ~10 µs of
 * the broker thread. A device of the sender that connected elsewhere a
 * moment ago, before its presence arrived, misses it: its copy of the
 * message comes by sync, and a connection that moved before the commit
 * retries and gets STORED again (docs/cluster.md). */
static void receipts_send_stored(const char *to, Parley__V1__Receipt *r)
{
    route_meta meta = {.flags = cluster__remote_online(to) ? 0 : ROUTE_F_NO_BUS};
    r->ts = clock_now_ms();
    route__user(to, "receipts", &r->base, &meta);
}

void receipts__stored(const char *sender, const char *chat_id, uint64_t seq, const char *server_id,
                      const char *client_msg_id)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.server_id = (char *)server_id;
    r.client_msg_id = (char *)client_msg_id;
    receipts_send_stored(sender, &r);
}

static bool rc_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

void receipts__stored_later(const char *sender, const char *chat_id, uint64_t seq,
                            const char *server_id, const char *client_msg_id)
{
    if (rc_n == rc_cap) {
        size_t cap = rc_cap ? rc_cap * 2 : 64;
        rc_stored *v = realloc(rc_pending, cap * sizeof *v);
        if (v)
            rc_pending = v;
        rc_stored **sv = v ? realloc(rc_sorted, cap * sizeof *sv) : NULL;
        if (sv)
            rc_sorted = sv;
        if (!v || !sv)
            goto now;
        rc_cap = cap;
    }
    rc_stored *e = &rc_pending[rc_n];
    if (!rc_copy(e->sender, sizeof e->sender, sender) ||
        !rc_copy(e->chat_id, sizeof e->chat_id, chat_id) ||
        !rc_copy(e->server_id, sizeof e->server_id, server_id) ||
        !rc_copy(e->client_msg_id, sizeof e->client_msg_id, client_msg_id))
        goto now;
    e->seq = seq;
    e->ord = rc_n++;
    return;
now: /* out of memory, or an id the table has no room for: on its own */
    receipts__stored(sender, chat_id, seq, server_id, client_msg_id);
}

static int rc_cmp(const void *a, const void *b)
{
    const rc_stored *x = *(rc_stored *const *)a, *y = *(rc_stored *const *)b;
    int c = strcmp(x->sender, y->sender);
    return c ? c : (x->ord > y->ord) - (x->ord < y->ord);
}

void receipts__flush(bool discard)
{
    static Parley__V1__StoredMessage more[RECEIPTS_PER_MSG - 1];
    static Parley__V1__StoredMessage *more_p[RECEIPTS_PER_MSG - 1];
    size_t n = rc_n;
    rc_n = 0;
    if (discard || !n)
        return;
    for (size_t i = 0; i < n; i++)
        rc_sorted[i] = &rc_pending[i];
    qsort(rc_sorted, n, sizeof *rc_sorted, rc_cmp);
    for (size_t i = 0; i < n;) {
        const rc_stored *first = rc_sorted[i];
        size_t j = i + 1, k = 0;
        for (; j < n && j - i < RECEIPTS_PER_MSG && !strcmp(rc_sorted[j]->sender, first->sender);
             j++, k++) {
            const rc_stored *e = rc_sorted[j];
            more[k] = (Parley__V1__StoredMessage)PARLEY__V1__STORED_MESSAGE__INIT;
            more[k].chat_id = (char *)e->chat_id;
            more[k].seq = e->seq;
            more[k].server_id = (char *)e->server_id;
            more[k].client_msg_id = (char *)e->client_msg_id;
            more_p[k] = &more[k];
        }
        Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
        r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
        r.chat_id = (char *)first->chat_id;
        r.seq = first->seq;
        r.server_id = (char *)first->server_id;
        r.client_msg_id = (char *)first->client_msg_id;
        r.n_more = k;
        r.more = k ? more_p : NULL;
        receipts_send_stored(first->sender, &r);
        pp.m.stored_receipts_coalesced++;
        i = j;
    }
}

void receipts__cleanup(void)
{
    free(rc_pending);
    free(rc_sorted);
    rc_pending = NULL;
    rc_sorted = NULL;
    rc_n = rc_cap = 0;
}

void receipts__resync(const char *user)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__RESYNC;
    r.ts = clock_now_ms();
    /* This node's connections of the user only: the others did not miss
     * anything this node missed. */
    snprintf(topic, sizeof topic, "parley/u/%s/receipts", user);
    publish__msg(topic, &r.base, false);
}

void receipts__rejected(const char *sender, const char *client_msg_id, const char *chat_id,
                        pp_reject why, const char *message)
{
    receipts__rejected_code(sender, client_msg_id, chat_id, receipts__reject_code(why), message);
}

void receipts__cursor(const char *to, const char *chat_id, uint64_t seq, const char *by, bool read)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.by = (char *)by;
    receipts_send(to, &r);
}

void receipts__rejected_code(const char *sender, const char *client_msg_id, const char *chat_id,
                             const char *code, const char *message)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__REJECTED;
    r.chat_id = (char *)(chat_id ? chat_id : "");
    r.client_msg_id = (char *)(client_msg_id ? client_msg_id : "");
    r.error = (char *)code;
    r.error_message = (char *)message;
    receipts_send(sender, &r);
}

void receipts__group_cursor(const char *to, const char *chat_id, uint64_t seq, const char *by,
                            bool read, bool all)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.by = (char *)(by ? by : "");
    r.all = all;
    receipts_send(to, &r);
}
