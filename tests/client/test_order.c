/*
 * test_order.c - unit tests of the inbound core (order.c: per-chat ordering
 * and sync; deliver.c: one envelope; dispatch.c: routing) without a network.
 * The broker is played by the test: publishes are captured with --wrap of
 * link__publish and link__subscribe (link.c); decryption is replaced
 * (--wrap of pairwise__decrypt) by a toy rule: a body "OK" + packed Content
 * decrypts, anything else fails authentication.
 *
 * Covered: per-chat ordering with chats interleaved; held envelopes released
 * in order by a sync answer; de-duplication across the three sources of one
 * message (live, the persistent session's queue, sync pages), in either
 * order, and of a retry re-stamped under a new seq; a gap the server never
 * fills; a group's SYSTEM events on our own inbox (recorded at once,
 * subscribed, members asked for, de-duplicated against the group topic's
 * and the sync's copies).
 *
 * Issue 11, "cursor poisoning" (these three were test_inbound_order.c): a
 * forged envelope with seq 1,000,000 must not move the chat's cursor past the
 * last_seq the server reported; it triggers a sync, is dropped when the
 * server does not confirm it, and the real messages that follow are still
 * shown. Live envelopes that fail to authenticate move nothing; STORED
 * receipts advance the cursor over our own messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley_int.h"
#include "e2e.pb-c.h"
#include "parley.pb-c.h"

#define BOB "d:alice:bob"
#define CAROL "d:alice:carol"
#define GROUP "g:AAAAAAAAAAAAAAAAAAAAAA"
#define GROUP_TOPIC "parley/g/AAAAAAAAAAAAAAAAAAAAAA/inbox"
#define INBOX "parley/u/alice/inbox"
#define FAR_FUTURE (INT64_MAX / 4)

/* ---- the broker, played by the test ---------------------------------------- */

typedef struct {
    char req_id[24];
    int op; /* Parley__V1__Request__OpCase */
    char chat_id[141];
    uint64_t after;
} captured_req;

static captured_req g_reqs[256];
static int g_nreqs;
static char g_subs[32][160];
static int g_nsubs;

int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len);
int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len)
{
    if (c->link.state != LINK_READY)
        return -1;
    size_t tl = strlen(topic);
    if (tl < 4 || strcmp(topic + tl - 4, "/ctl") != 0)
        return 0; /* an envelope or an ack: not needed here */
    Parley__V1__Request *r = parley__v1__request__unpack(NULL, len, payload);
    assert_non_null(r);
    assert_true(g_nreqs < 256);
    captured_req *q = &g_reqs[g_nreqs++];
    memset(q, 0, sizeof *q);
    snprintf(q->req_id, sizeof q->req_id, "%s", r->req_id);
    q->op = (int)r->op_case;
    if (r->op_case == PARLEY__V1__REQUEST__OP_SYNC) {
        snprintf(q->chat_id, sizeof q->chat_id, "%s", r->sync->chat_id);
        q->after = r->sync->after_seq;
    } else if (r->op_case == PARLEY__V1__REQUEST__OP_GROUP_GET) {
        snprintf(q->chat_id, sizeof q->chat_id, "%s", r->group_get->chat_id);
    }
    parley__v1__request__free_unpacked(r, NULL);
    return 0;
}

int __wrap_link__subscribe(parley_client *c, char *const *topics, int n);
int __wrap_link__subscribe(parley_client *c, char *const *topics, int n)
{
    if (c->link.state != LINK_READY)
        return -1;
    for (int i = 0; i < n; i++) {
        assert_true(g_nsubs < 32);
        snprintf(g_subs[g_nsubs++], sizeof g_subs[0], "%s", topics[i]);
    }
    return 0;
}

int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len);
int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len)
{
    (void)sender, (void)sender_device;
    if (len < 2 || memcmp(body, "OK", 2) != 0)
        return util__fail(c, PARLEY_ECRYPTO, "message authentication failed");
    *content_len = len - 2;
    *content = malloc(len - 1);
    assert_non_null(*content);
    memcpy(*content, body + 2, len - 2);
    return PARLEY_OK;
}

/* ---- the application ------------------------------------------------------- */

typedef struct {
    char chat[141];
    uint64_t seq;
    int system;
} shown_msg;

typedef struct {
    char dir[128];
    parley_client *c;
    shown_msg shown[64];
    int nshown;
    int undecryptable;
} fixture;

static void on_message(void *ud, const parley_message *m)
{
    fixture *f = ud;
    assert_true(f->nshown < 64);
    shown_msg *s = &f->shown[f->nshown++];
    snprintf(s->chat, sizeof s->chat, "%s", m->chat_id);
    s->seq = m->seq;
    s->system = m->system;
}

static void on_event(void *ud, const parley_event *e)
{
    fixture *f = ud;
    if (e->type == PARLEY_EVENT_UNDECRYPTABLE)
        f->undecryptable++;
}

/* ---- envelopes ------------------------------------------------------------- */

typedef struct {
    uint8_t buf[1024];
    size_t len;
    uint8_t body[512];
    Parley__V1__Envelope env;
    char chat[141], sender[65], sid[64], cmid[80];
} envelope;

static void pack(envelope *e)
{
    e->len = parley__v1__envelope__get_packed_size(&e->env);
    assert_true(e->len <= sizeof e->buf);
    parley__v1__envelope__pack(&e->env, e->buf);
}

/* A stamped direct message from sender in chat; its body authenticates. */
static void make_env(envelope *e, const char *chat, uint64_t seq, const char *sender,
                     const char *tag)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    memset(e, 0, sizeof *e);
    snprintf(e->chat, sizeof e->chat, "%s", chat);
    snprintf(e->sender, sizeof e->sender, "%s", sender);
    snprintf(e->sid, sizeof e->sid, "sid-%s-%s-%llu", sender, tag, (unsigned long long)seq);
    snprintf(e->cmid, sizeof e->cmid, "cmid-%s-%s", sender, tag);
    ct.text = "hello";
    ct.client_msg_id = e->cmid;
    size_t n = parley__e2e__v1__content__get_packed_size(&ct);
    assert_true(n + 2 <= sizeof e->body);
    memcpy(e->body, "OK", 2);
    parley__e2e__v1__content__pack(&ct, e->body + 2);
    e->env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    e->env.server_id = e->sid;
    e->env.chat_id = e->chat;
    e->env.seq = seq;
    e->env.sender = e->sender;
    e->env.client_msg_id = e->cmid;
    e->env.server_ts = 1700000000000 + (int64_t)seq;
    e->env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    e->env.recipient = "alice";
    e->env.body.data = e->body;
    e->env.body.len = n + 2;
    pack(e);
}

/* The same as make_env, but its body does not authenticate. */
static void make_bad(envelope *e, const char *chat, uint64_t seq, const char *sender,
                     const char *tag)
{
    make_env(e, chat, seq, sender, tag);
    memcpy(e->body, "XX", 2);
    pack(e);
}

/* A group's SYSTEM envelope as the broker stamps it. */
static void make_system(envelope *e, uint64_t seq, Parley__V1__SystemEvent__Type type,
                        const char *actor, char **users, size_t n, const char *name)
{
    Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    memset(e, 0, sizeof *e);
    ev.type = type;
    ev.actor = (char *)actor;
    ev.users = users;
    ev.n_users = n;
    ev.name = (char *)name;
    size_t bl = parley__v1__system_event__get_packed_size(&ev);
    assert_true(bl <= sizeof e->body);
    parley__v1__system_event__pack(&ev, e->body);
    snprintf(e->chat, sizeof e->chat, "%s", GROUP);
    snprintf(e->sender, sizeof e->sender, "%s", actor);
    snprintf(e->sid, sizeof e->sid, "sid-system-%llu", (unsigned long long)seq);
    snprintf(e->cmid, sizeof e->cmid, "sys-%s", e->sid);
    e->env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    e->env.server_id = e->sid;
    e->env.chat_id = e->chat;
    e->env.seq = seq;
    e->env.sender = e->sender;
    e->env.client_msg_id = e->cmid;
    e->env.server_ts = 1700000000000 + (int64_t)seq;
    e->env.kind = PARLEY__V1__ENVELOPE_KIND__SYSTEM;
    e->env.body.data = e->body;
    e->env.body.len = bl;
    pack(e);
}

static void deliver_on(fixture *f, const char *topic, const envelope *e)
{
    assert_int_equal(dispatch__message(f->c, topic, e->buf, e->len), 0);
}

static void live(fixture *f, const envelope *e)
{
    deliver_on(f, INBOX, e);
}

/* The last sync request for chat (it must exist), after `after`. */
static captured_req *sync_of(const char *chat, uint64_t after)
{
    for (int i = g_nreqs - 1; i >= 0; i--) {
        if (g_reqs[i].op == PARLEY__V1__REQUEST__OP_SYNC && strcmp(g_reqs[i].chat_id, chat) == 0) {
            assert_int_equal(g_reqs[i].after, after);
            return &g_reqs[i];
        }
    }
    fail_msg("no sync of %s", chat);
    return NULL;
}

/* The last captured request, which must be a sync of chat after `after`. */
static captured_req *last_sync(const char *chat, uint64_t after)
{
    assert_true(g_nreqs > 0);
    captured_req *q = &g_reqs[g_nreqs - 1];
    assert_int_equal(q->op, PARLEY__V1__REQUEST__OP_SYNC);
    assert_string_equal(q->chat_id, chat);
    assert_int_equal(q->after, after);
    return q;
}

static int count_ops(int op, const char *chat)
{
    int n = 0;
    for (int i = 0; i < g_nreqs; i++)
        n += g_reqs[i].op == op && (!chat || strcmp(g_reqs[i].chat_id, chat) == 0);
    return n;
}

static void respond(fixture *f, Parley__V1__Response *r)
{
    size_t n = parley__v1__response__get_packed_size(r);
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    parley__v1__response__pack(r, buf);
    assert_int_equal(dispatch__message(f->c, "parley/u/alice/rsp", buf, n), 0);
    free(buf);
}

static void answer_sync(fixture *f, const captured_req *q, envelope **msgs, int n, uint64_t last)
{
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__SyncPage p = PARLEY__V1__SYNC_PAGE__INIT;
    Parley__V1__Envelope *envs[8];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++)
        envs[i] = &msgs[i]->env;
    p.messages = envs;
    p.n_messages = (size_t)n;
    p.last_seq = last;
    r.req_id = (char *)q->req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE;
    r.sync_page = &p;
    respond(f, &r);
}

static lstore_chat chat(fixture *f, const char *id)
{
    lstore_chat ch;
    assert_int_equal(lstore_chat_get(f->c->store, id, &ch), 1);
    return ch;
}

static void assert_shown(fixture *f, int i, const char *chat_id, uint64_t seq)
{
    assert_true(i < f->nshown);
    assert_string_equal(f->shown[i].chat, chat_id);
    assert_int_equal(f->shown[i].seq, seq);
}

static int count_rows(void *ud, const lstore_msg *m)
{
    (void)m;
    (*(int *)ud)++;
    return 0;
}

static int rows(fixture *f, const char *chat_id)
{
    int n = 0;
    assert_int_equal(lstore_msg_each(f->c->store, chat_id, count_rows, &n), 0);
    return n;
}

/* ---- fixture: alice has seen seqs 1 and 2 of her chat with bob ------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-order.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK || parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    parley_callbacks cb = {.on_message = on_message, .on_event = on_event, .ud = f};
    parley_set_callbacks(f->c, &cb);
    f->c->link.state = LINK_READY; /* as if connected and subscribed */
    g_nreqs = g_nsubs = 0;

    /* The connect-time sync: list_chats says bob's chat ends at 2. */
    if (order__sync_start(f->c, 0) != 0 || g_nreqs != 1 ||
        g_reqs[0].op != PARLEY__V1__REQUEST__OP_LIST_CHATS)
        return -1;
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__ChatList cl = PARLEY__V1__CHAT_LIST__INIT;
    Parley__V1__ChatSummary s = PARLEY__V1__CHAT_SUMMARY__INIT, *sp = &s;
    s.chat_id = BOB;
    s.type = PARLEY__V1__CHAT_TYPE__DIRECT;
    s.peer = "bob";
    s.last_seq = 2;
    cl.chats = &sp;
    cl.n_chats = 1;
    r.req_id = g_reqs[0].req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_CHAT_LIST;
    r.chat_list = &cl;
    respond(f, &r);
    envelope e1, e2, *page[2] = {&e1, &e2};
    make_env(&e1, BOB, 1, "bob", "m1");
    make_env(&e2, BOB, 2, "bob", "m2");
    answer_sync(f, sync_of(BOB, 0), page, 2, 2);
    if (f->nshown != 2 || chat(f, BOB).synced_seq != 2 || !parley_is_synced(f->c))
        return -1;
    f->nshown = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    parley_close(f->c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- tests ----------------------------------------------------------------- */

/* Two chats at once: each one's messages reach the application in seq order;
 * a hole in one chat holds nothing of the other. */
static void chats_are_ordered_independently(void **state)
{
    fixture *f = *state;
    envelope b3, b4, b5, c1, c2;
    make_env(&b3, BOB, 3, "bob", "m3");
    make_env(&b4, BOB, 4, "bob", "m4");
    make_env(&b5, BOB, 5, "bob", "m5");
    make_env(&c1, CAROL, 1, "carol", "m1");
    make_env(&c2, CAROL, 2, "carol", "m2");

    live(f, &b3);
    live(f, &c1); /* a chat new to us starts at 1 */
    live(f, &b5); /* a hole at 4: held, bob's chat synced from the cursor */
    assert_int_equal(f->nshown, 2);
    assert_int_equal(f->c->order.nheld, 1);
    captured_req *q = sync_of(BOB, 2);
    live(f, &c2); /* carol's chat is not held up by bob's hole */
    live(f, &b4); /* fills the hole: 4, then the held 5 */
    assert_int_equal(f->nshown, 5);
    assert_shown(f, 0, BOB, 3);
    assert_shown(f, 1, CAROL, 1);
    assert_shown(f, 2, CAROL, 2);
    assert_shown(f, 3, BOB, 4);
    assert_shown(f, 4, BOB, 5);
    assert_int_equal(f->c->order.nheld, 0);

    /* The server confirms: every page copy is a duplicate, the cursor moves. */
    envelope *page[3] = {&b3, &b4, &b5};
    answer_sync(f, q, page, 3, 5);
    assert_int_equal(f->nshown, 5);
    assert_int_equal(chat(f, BOB).synced_seq, 5);
    assert_int_equal(rows(f, BOB), 5);
}

/* Envelopes seen live beyond a hole wait in memory; the sync answer brings
 * the missing one and releases the held ones after it, in seq order. */
static void held_envelopes_follow_the_sync(void **state)
{
    fixture *f = *state;
    envelope b3, b4, b5;
    make_env(&b3, BOB, 3, "bob", "m3");
    make_env(&b4, BOB, 4, "bob", "m4");
    make_env(&b5, BOB, 5, "bob", "m5");

    live(f, &b5);
    live(f, &b4); /* arrival order is not seq order */
    assert_int_equal(f->nshown, 0);
    assert_int_equal(f->c->order.nheld, 2);
    assert_int_equal(count_ops(PARLEY__V1__REQUEST__OP_SYNC, BOB), 2); /* setup's + one */
    envelope *page[1] = {&b3};
    answer_sync(f, sync_of(BOB, 2), page, 1, 5);
    assert_int_equal(f->nshown, 3);
    assert_shown(f, 0, BOB, 3);
    assert_shown(f, 1, BOB, 4);
    assert_shown(f, 2, BOB, 5);
    assert_int_equal(f->c->order.nheld, 0);
    assert_int_equal(chat(f, BOB).last_seq, 5);
    /* 4 and 5 were released as live envelopes right after the page's 3,
     * before the page's last_seq was recorded: they move no cursor. The
     * next sync (the background resync) does, and shows nothing twice. */
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(order__resync(f->c), 0);
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__ChatList cl = PARLEY__V1__CHAT_LIST__INIT;
    Parley__V1__ChatSummary s = PARLEY__V1__CHAT_SUMMARY__INIT, *sp = &s;
    s.chat_id = BOB;
    s.peer = "bob";
    s.last_seq = 5;
    cl.chats = &sp;
    cl.n_chats = 1;
    r.req_id = g_reqs[g_nreqs - 1].req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_CHAT_LIST;
    r.chat_list = &cl;
    respond(f, &r);
    envelope *rest[2] = {&b4, &b5};
    answer_sync(f, sync_of(BOB, 3), rest, 2, 5);
    assert_int_equal(f->nshown, 3);
    assert_int_equal(chat(f, BOB).synced_seq, 5);
    assert_int_equal(f->c->order.nconfirm, 0);
}

/* One message, three ways: live, again from the persistent session's queue
 * after a reconnect (indistinguishable from live), and in a sync page. It
 * is shown and stored once, whichever copy comes first. */
static void one_message_from_three_sources_is_shown_once(void **state)
{
    fixture *f = *state;
    envelope b3, b4;
    make_env(&b3, BOB, 3, "bob", "m3");
    make_env(&b4, BOB, 4, "bob", "m4");

    /* live first */
    live(f, &b3);
    assert_int_equal(f->nshown, 1);
    live(f, &b3); /* the queued copy */
    envelope *page[1] = {&b3};
    order__confirm_tick(f->c, FAR_FUTURE);
    answer_sync(f, sync_of(BOB, 2), page, 1, 3);
    assert_int_equal(f->nshown, 1);
    assert_int_equal(chat(f, BOB).synced_seq, 3);

    /* the sync page first (a reconnect's sync ran before the queue drained) */
    assert_int_equal(order__sync_start(f->c, 1), 0);
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__ChatList cl = PARLEY__V1__CHAT_LIST__INIT;
    Parley__V1__ChatSummary s = PARLEY__V1__CHAT_SUMMARY__INIT, *sp = &s;
    s.chat_id = BOB;
    s.peer = "bob";
    s.last_seq = 4;
    cl.chats = &sp;
    cl.n_chats = 1;
    r.req_id = g_reqs[g_nreqs - 1].req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_CHAT_LIST;
    r.chat_list = &cl;
    respond(f, &r);
    envelope *page4[1] = {&b4};
    answer_sync(f, sync_of(BOB, 3), page4, 1, 4);
    assert_int_equal(f->nshown, 2);
    live(f, &b4); /* the queued copy arrives late */
    live(f, &b3);
    assert_int_equal(f->nshown, 2);

    /* A retry the broker re-stamped after a restart: same (sender,
     * client_msg_id), new seq and server id. Dropped, the cursor moves on. */
    envelope again;
    make_env(&again, BOB, 5, "bob", "m4");
    page[0] = &again;
    assert_int_equal(order__sync_start(f->c, 1), 0);
    s.last_seq = 5;
    r.req_id = g_reqs[g_nreqs - 1].req_id;
    respond(f, &r);
    answer_sync(f, sync_of(BOB, 4), page, 1, 5);
    assert_int_equal(f->nshown, 2);
    assert_int_equal(chat(f, BOB).synced_seq, 5);
    assert_int_equal(rows(f, BOB), 4); /* 1..4: each message once */
}

/* A seq the server never stored (a failed store, a retry): the sync page
 * skips it and the client does not wait for it. */
static void a_gap_the_server_never_fills_is_skipped(void **state)
{
    fixture *f = *state;
    envelope b4, b5;
    make_env(&b4, BOB, 4, "bob", "m4");
    make_env(&b5, BOB, 5, "bob", "m5");

    live(f, &b4); /* 3 is missing: held */
    assert_int_equal(f->nshown, 0);
    envelope *page[1] = {&b4};
    answer_sync(f, sync_of(BOB, 2), page, 1, 4); /* the store has no 3 */
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, BOB, 4);
    assert_int_equal(chat(f, BOB).synced_seq, 4);
    assert_int_equal(f->c->order.nheld, 0);
    live(f, &b5); /* next after the gap: shown at once */
    assert_int_equal(f->nshown, 2);
    assert_shown(f, 1, BOB, 5);
}

static int subscribed(const char *topic)
{
    for (int i = 0; i < g_nsubs; i++)
        if (strcmp(g_subs[i], topic) == 0)
            return 1;
    return 0;
}

static void answer_group_get(fixture *f, const char **members, size_t n, uint64_t last)
{
    captured_req *q = NULL;
    for (int i = g_nreqs - 1; i >= 0 && !q; i--)
        if (g_reqs[i].op == PARLEY__V1__REQUEST__OP_GROUP_GET)
            q = &g_reqs[i];
    assert_non_null(q);
    assert_string_equal(q->chat_id, GROUP);
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__GroupInfo gi = PARLEY__V1__GROUP_INFO__INIT;
    Parley__V1__GroupMember gm[8], *gmp[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        gm[i] = (Parley__V1__GroupMember)PARLEY__V1__GROUP_MEMBER__INIT;
        gm[i].user_id = (char *)members[i];
        gmp[i] = &gm[i];
    }
    gi.chat_id = GROUP;
    gi.name = "friends";
    gi.last_seq = last;
    gi.members = gmp;
    gi.n_members = n;
    r.req_id = q->req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_GROUP;
    r.group = &gi;
    respond(f, &r);
}

static size_t others(fixture *f, char ***list)
{
    size_t n = 0;
    assert_int_equal(members__others(f->c, GROUP, list, &n), PARLEY_OK);
    return n;
}

/* GROUP_CREATED on our own inbox: the group is recorded and subscribed at
 * once, its members recorded; the copies on the group topic and in the
 * sync are the same message. */
static void group_created_on_own_inbox(void **state)
{
    fixture *f = *state;
    char *users[] = {"alice", "carol"};
    envelope created;
    make_system(&created, 1, PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED, "bob", users, 2,
                "friends");

    assert_int_equal(members__known(f->c, GROUP), 0);
    live(f, &created);
    assert_true(subscribed(GROUP_TOPIC));
    assert_int_equal(count_ops(PARLEY__V1__REQUEST__OP_GROUP_GET, GROUP), 1);
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, GROUP, 1);
    assert_int_equal(f->shown[0].system, 1);
    lstore_chat g = chat(f, GROUP);
    assert_string_equal(g.name, "friends");
    char **list = NULL;
    size_t n = others(f, &list); /* the event names them all: bob and carol */
    assert_int_equal(n, 2);
    members__free(list, n);

    deliver_on(f, GROUP_TOPIC, &created); /* the group topic's copy */
    envelope *page[1] = {&created};
    order__confirm_tick(f->c, FAR_FUTURE);
    answer_sync(f, sync_of(GROUP, 0), page, 1, 1); /* the sync's copy */
    assert_int_equal(f->nshown, 1);
    assert_int_equal(rows(f, GROUP), 1);
    assert_int_equal(chat(f, GROUP).synced_seq, 1);

    /* The refresh answers with the list as of seq 1: unchanged. */
    const char *m[] = {"bob", "alice", "carol"};
    answer_group_get(f, m, 3, 1);
    n = others(f, &list);
    assert_int_equal(n, 2);
    members__free(list, n);
}

/* MEMBERS_ADDED naming us, on our own inbox, in a group with history: the
 * event is beyond the chat's (empty) cursor, so it waits for the sync, but
 * the group is subscribed and its members asked for at once; the sync waits
 * for the member list too. */
static void members_added_on_own_inbox(void **state)
{
    fixture *f = *state;
    char *users[] = {"alice"};
    envelope added;
    make_system(&added, 7, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED, "bob", users, 1, NULL);

    /* As after a reconnect: the persistent session's queue delivers it
     * while the connect-time sync runs. */
    assert_int_equal(order__sync_start(f->c, 0), 0);
    captured_req *lc = &g_reqs[g_nreqs - 1];
    assert_int_equal(lc->op, PARLEY__V1__REQUEST__OP_LIST_CHATS);
    live(f, &added);
    assert_true(subscribed(GROUP_TOPIC));
    assert_int_equal(count_ops(PARLEY__V1__REQUEST__OP_GROUP_GET, GROUP), 1);
    assert_int_equal(f->nshown, 0); /* held: 1..6 are not ours to see, the sync says so */
    assert_int_equal(members__known(f->c, GROUP), 0);

    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__ChatList cl = PARLEY__V1__CHAT_LIST__INIT;
    Parley__V1__ChatSummary s = PARLEY__V1__CHAT_SUMMARY__INIT, *sp = &s;
    s.chat_id = BOB;
    s.peer = "bob";
    s.last_seq = 2;
    cl.chats = &sp;
    cl.n_chats = 1;
    r.req_id = lc->req_id;
    r.result_case = PARLEY__V1__RESPONSE__RESULT_CHAT_LIST;
    r.chat_list = &cl;
    respond(f, &r);
    envelope *page[1] = {&added};
    answer_sync(f, sync_of(GROUP, 0), page, 1, 7);
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, GROUP, 7);
    assert_int_equal(chat(f, GROUP).synced_seq, 7);
    assert_int_equal(f->c->order.nheld, 0);
    assert_false(parley_is_synced(f->c)); /* the member list is part of the sync */

    const char *m[] = {"bob", "dave", "alice"};
    answer_group_get(f, m, 3, 7);
    assert_true(parley_is_synced(f->c));
    char **list = NULL;
    size_t n = others(f, &list);
    assert_int_equal(n, 2);
    assert_true((strcmp(list[0], "bob") == 0 && strcmp(list[1], "dave") == 0) ||
                (strcmp(list[0], "dave") == 0 && strcmp(list[1], "bob") == 0));
    members__free(list, n);
    deliver_on(f, GROUP_TOPIC, &added); /* and the group topic's copy, late */
    assert_int_equal(f->nshown, 1);
}

/* Tick until no confirming sync of bob's chat is due; answer each with an
 * empty page that says the chat ends at last. Returns how many were answered
 * (bounded). */
static int answer_confirmations(fixture *f, uint64_t after, uint64_t last)
{
    int rounds = 0;
    for (; rounds < 20; rounds++) {
        int before = g_nreqs;
        order__confirm_tick(f->c, FAR_FUTURE);
        if (g_nreqs == before)
            return rounds;
        answer_sync(f, last_sync(BOB, after), NULL, 0, last);
    }
    fail_msg("confirming syncs never stopped");
    return rounds;
}

/* Issue 11: a forged huge seq never moves the cursor past what the server
 * vouched for, is dropped after a bounded number of confirming syncs, and
 * the real messages after it are shown. */
static void forged_huge_seq_never_moves_the_cursor(void **state)
{
    fixture *f = *state;
    envelope forged, real3, real4;

    /* The forgery even authenticates (a member forging the seq of its own
     * message): only the server's word on seqs counts. */
    make_env(&forged, BOB, 1000000, "bob", "forged");
    int before = g_nreqs;
    live(f, &forged);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(g_nreqs, before + 1); /* a sync from the cursor, at once */
    captured_req *q = last_sync(BOB, 2);
    answer_sync(f, q, NULL, 0, 2); /* the server: the chat ends at 2 */
    assert_int_equal(chat(f, BOB).synced_seq, 2);
    assert_int_equal(chat(f, BOB).last_seq, 2);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(f->c->order.nheld, 1); /* waits for a few more answers */

    /* A real message after it is shown at once... */
    make_env(&real3, BOB, 3, "bob", "m3");
    live(f, &real3);
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, BOB, 3);
    /* ...but the cursor waits for the server (3 is beyond last_seq 2). */
    assert_int_equal(chat(f, BOB).synced_seq, 2);
    order__confirm_tick(f->c, FAR_FUTURE);
    envelope *page[1] = {&real3};
    answer_sync(f, last_sync(BOB, 2), page, 1, 3);
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(f->nshown, 1); /* the page's copy is a duplicate */

    /* The server never confirms 1,000,000: dropped after a bounded number of
     * confirming syncs. */
    int rounds = answer_confirmations(f, 3, 3);
    assert_in_range(rounds, 1, 8);
    assert_int_equal(f->c->order.nheld, 0);
    assert_int_equal(f->c->order.nconfirm, 0);
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(chat(f, BOB).last_seq, 3);

    /* And the next real message is shown. */
    make_env(&real4, BOB, 4, "bob", "m4");
    live(f, &real4);
    assert_int_equal(f->nshown, 2);
    assert_shown(f, 1, BOB, 4);
    assert_int_equal(f->undecryptable, 0);
}

/* Issue 11: a live envelope that does not authenticate moves nothing; its
 * sync-page copy is reported once. */
static void unauthenticated_live_envelope_moves_nothing(void **state)
{
    fixture *f = *state;
    envelope bad3, forged, real4;

    /* Next in order but it does not decrypt: nothing stored, shown, moved. */
    make_bad(&bad3, BOB, 3, "bob", "bad");
    live(f, &bad3);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(f->undecryptable, 0);
    assert_int_equal(lstore_msg_has_server_id(f->c->store, bad3.sid), 0);
    assert_int_equal(chat(f, BOB).synced_seq, 2);

    /* A forged huge seq that does not decrypt either: held, never shown. */
    make_bad(&forged, BOB, 1000000, "bob", "forged");
    live(f, &forged);
    assert_int_equal(f->nshown, 0);

    /* The server has 3 (really undecryptable): its page copy is recorded and
     * reported once, and the cursor moves over it. */
    envelope *page[1] = {&bad3};
    answer_sync(f, last_sync(BOB, 2), page, 1, 3);
    assert_int_equal(f->undecryptable, 1);
    assert_int_equal(chat(f, BOB).synced_seq, 3);

    answer_confirmations(f, 3, 3);
    assert_int_equal(f->c->order.nheld, 0);
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(lstore_msg_has_server_id(f->c->store, forged.sid), 0);

    make_env(&real4, BOB, 4, "bob", "m4");
    live(f, &real4);
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, BOB, 4);
    assert_int_equal(f->undecryptable, 1);
}

/* Issue 11: only the broker's STORED receipt settles our own message and
 * moves the cursor over it; a forged echo does not. */
static void stored_receipt_advances_own_cursor(void **state)
{
    fixture *f = *state;
    static const uint8_t body[] = "ciphertext";
    envelope echo, real4;

    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(outbox__queue(f->c, "cmid-own-3", BOB, "parley/u/bob/inbox", body, sizeof body,
                                   "my text", NULL, NULL, 0),
                     PARLEY_OK);
    assert_int_equal(lstore_commit(f->c->store), 0);

    /* A forged echo of our own message (sender = us, seq 3) settles nothing:
     * only the broker's STORED receipt does. */
    make_env(&echo, BOB, 3, "alice", "own");
    snprintf(echo.cmid, sizeof echo.cmid, "cmid-own-3");
    pack(&echo);
    live(f, &echo);
    assert_int_equal(lstore_outbox_has(f->c->store, "cmid-own-3"), 1);
    assert_int_equal(chat(f, BOB).synced_seq, 2);

    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
    r.chat_id = BOB;
    r.seq = 3;
    r.server_id = "sid-own-000000000000003";
    r.client_msg_id = "cmid-own-3";
    r.ts = 1700000000003;
    size_t n = parley__v1__receipt__get_packed_size(&r);
    uint8_t buf[256];
    assert_true(n <= sizeof buf);
    parley__v1__receipt__pack(&r, buf);
    assert_int_equal(dispatch__message(f->c, "parley/u/alice/receipts", buf, n), 0);
    assert_int_equal(lstore_outbox_has(f->c->store, "cmid-own-3"), 0);
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(chat(f, BOB).last_seq, 3);

    /* bob's next message follows ours without a hole. */
    int before = g_nreqs;
    make_env(&real4, BOB, 4, "bob", "m4");
    live(f, &real4);
    assert_int_equal(f->nshown, 1);
    assert_shown(f, 0, BOB, 4);
    /* Beyond last_seq 3: confirmed by a sync, not by the envelope. */
    assert_int_equal(chat(f, BOB).synced_seq, 3);
    assert_int_equal(g_nreqs, before); /* the confirming sync waits CONFIRM_DELAY_MS */
    order__confirm_tick(f->c, FAR_FUTURE);
    envelope *page[1] = {&real4};
    answer_sync(f, last_sync(BOB, 3), page, 1, 4);
    assert_int_equal(chat(f, BOB).synced_seq, 4);
    assert_int_equal(f->nshown, 1);
}

static int g_receipts;
static void on_receipt_count(void *ud, const parley_receipt *r)
{
    (void)ud;
    assert_int_equal(r->status, PARLEY_RECEIPT_STORED);
    g_receipts++;
}

static void outbox_coalesce_flag(void *ud, const lstore_outbox *o)
{
    Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, o->body_len, o->body);
    assert_non_null(e);
    *(int *)ud = e->coalesce_receipts;
    parley__v1__envelope__free_unpacked(e, NULL);
}

static void coalesced_stored_receipt_settles_every_message(void **state)
{
    fixture *f = *state;
    static const uint8_t body[] = "ciphertext";
    static const char *const cmids[] = {"cmid-own-3", "cmid-own-4", "cmid-own-5"};

    assert_int_equal(lstore_begin(f->c->store), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(outbox__queue(f->c, cmids[i], BOB, "parley/u/bob/inbox", body, sizeof body,
                                       "my text", NULL, NULL, 0),
                         PARLEY_OK);
    assert_int_equal(lstore_commit(f->c->store), 0);
    /* Every envelope the client sends asks for coalesced receipts. */
    int flag = 0;
    assert_int_equal(lstore_outbox_get(f->c->store, cmids[1], outbox_coalesce_flag, &flag), 1);
    assert_int_equal(flag, 1);

    parley_callbacks cb = {.on_message = on_message,
                           .on_event = on_event,
                           .on_receipt = on_receipt_count,
                           .ud = f};
    parley_set_callbacks(f->c, &cb);
    g_receipts = 0;

    /* One receipt: seq 3 in its own fields, 4 and 5 in more (commit order,
     * as the broker lists them), between them an id this client never sent
     * (nothing to settle). */
    Parley__V1__StoredMessage m4 = PARLEY__V1__STORED_MESSAGE__INIT, m5 = m4, other = m4;
    m5.chat_id = m4.chat_id = BOB;
    m4.seq = 4;
    m4.server_id = "sid-own-000000000000004";
    m4.client_msg_id = "cmid-own-4";
    m5.seq = 5;
    m5.server_id = "sid-own-000000000000005";
    m5.client_msg_id = "cmid-own-5";
    other.chat_id = "d:alice:carol";
    other.seq = 7;
    other.server_id = "sid-other-0000000000007";
    other.client_msg_id = "cmid-not-mine";
    Parley__V1__StoredMessage *more[] = {&m4, &other, &m5};
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
    r.chat_id = BOB;
    r.seq = 3;
    r.server_id = "sid-own-000000000000003";
    r.client_msg_id = "cmid-own-3";
    r.ts = 1700000000003;
    r.more = more;
    r.n_more = 3;
    size_t n = parley__v1__receipt__get_packed_size(&r);
    uint8_t buf[512];
    assert_true(n <= sizeof buf);
    parley__v1__receipt__pack(&r, buf);
    assert_int_equal(dispatch__message(f->c, "parley/u/alice/receipts", buf, n), 0);

    for (int i = 0; i < 3; i++)
        assert_int_equal(lstore_outbox_has(f->c->store, cmids[i]), 0);
    assert_int_equal(g_receipts, 4); /* the application hears of each message */
    assert_int_equal(chat(f, BOB).synced_seq, 5);
    assert_int_equal(chat(f, BOB).last_seq, 5);
    assert_int_equal(lstore_chat_get(f->c->store, "d:alice:carol", &(lstore_chat){0}), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(chats_are_ordered_independently, setup, teardown),
        cmocka_unit_test_setup_teardown(held_envelopes_follow_the_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(one_message_from_three_sources_is_shown_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_gap_the_server_never_fills_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(group_created_on_own_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(members_added_on_own_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_huge_seq_never_moves_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthenticated_live_envelope_moves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stored_receipt_advances_own_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(coalesced_stored_receipt_settles_every_message, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
