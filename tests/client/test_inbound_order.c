/*
 * test_inbound_order.c - the client's per-chat ordering and cursors
 * (order.c, deliver.c, dispatch.c) without a network: the broker's side is played by the test.
 * Publishes (control requests) are captured with the linker's --wrap of
 * link__publish; end-to-end decryption is replaced (--wrap of
 * pairwise__decrypt) by a toy rule: a body "OK" + packed Content decrypts, any
 * other body fails authentication.
 *
 * Issue 11, "cursor poisoning": a forged envelope with seq 1,000,000 must not
 * move the chat's cursor past the last_seq the server reported; it triggers a
 * sync, is dropped when the server does not confirm it, and the real messages
 * that follow are still shown. Live envelopes that fail to authenticate move
 * nothing; STORED receipts advance the cursor over our own messages.
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

#define CHAT "d:alice:bob"
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
    }
    parley__v1__request__free_unpacked(r, NULL);
    return 0;
}

int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                           const uint8_t *body, size_t len, uint8_t **content, size_t *content_len);
int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                           const uint8_t *body, size_t len, uint8_t **content, size_t *content_len)
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
    char dir[128];
    parley_client *c;
    uint64_t shown[64];
    int nshown;
    int undecryptable;
} fixture;

static void on_message(void *ud, const parley_message *m)
{
    fixture *f = ud;
    assert_string_equal(m->chat_id, CHAT);
    assert_true(f->nshown < 64);
    f->shown[f->nshown++] = m->seq;
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
    char sid[32], cmid[32];
} envelope;

/* A stamped envelope of CHAT; good: its body authenticates. */
static void make_env(envelope *e, uint64_t seq, const char *sender, const char *tag, int good)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    snprintf(e->sid, sizeof e->sid, "sid-%s-%018llu", tag, (unsigned long long)seq);
    snprintf(e->cmid, sizeof e->cmid, "cmid-%s-%llu", tag, (unsigned long long)seq);
    ct.text = "hello";
    ct.client_msg_id = e->cmid;
    size_t n = parley__e2e__v1__content__get_packed_size(&ct);
    assert_true(n + 2 <= sizeof e->body);
    memcpy(e->body, good ? "OK" : "XX", 2);
    parley__e2e__v1__content__pack(&ct, e->body + 2);
    e->env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    e->env.server_id = e->sid;
    e->env.chat_id = CHAT;
    e->env.seq = seq;
    e->env.sender = (char *)sender;
    e->env.client_msg_id = e->cmid;
    e->env.server_ts = 1700000000000 + (int64_t)seq;
    e->env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    e->env.recipient = "alice";
    e->env.body.data = e->body;
    e->env.body.len = n + 2;
    e->len = parley__v1__envelope__get_packed_size(&e->env);
    assert_true(e->len <= sizeof e->buf);
    parley__v1__envelope__pack(&e->env, e->buf);
}

static void live(fixture *f, const envelope *e)
{
    assert_int_equal(dispatch__message(f->c, "parley/u/alice/inbox", e->buf, e->len), 0);
}

/* The last captured request, which must be a sync of CHAT after `after`. */
static captured_req *last_sync(uint64_t after)
{
    assert_true(g_nreqs > 0);
    captured_req *q = &g_reqs[g_nreqs - 1];
    assert_int_equal(q->op, PARLEY__V1__REQUEST__OP_SYNC);
    assert_string_equal(q->chat_id, CHAT);
    assert_int_equal(q->after, after);
    return q;
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

/* Answer sync request q with the envelopes msgs (one page) and last_seq. */
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

static lstore_chat chat(fixture *f)
{
    lstore_chat ch;
    assert_int_equal(lstore_chat_get(f->c->store, CHAT, &ch), 1);
    return ch;
}

/* ---- fixture: alice has seen seqs 1 and 2 of her chat with bob ------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-inbound.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK ||
        parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    parley_callbacks cb = {.on_message = on_message, .on_event = on_event, .ud = f};
    parley_set_callbacks(f->c, &cb);
    f->c->link.state = LINK_READY; /* as if connected and subscribed */
    g_nreqs = 0;

    /* Connect-time sync: list_chats says the chat ends at 2, a page brings 1, 2. */
    if (order__resync(f->c) != 0 || g_nreqs != 1 ||
        g_reqs[0].op != PARLEY__V1__REQUEST__OP_LIST_CHATS)
        return -1;
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__ChatList cl = PARLEY__V1__CHAT_LIST__INIT;
    Parley__V1__ChatSummary s = PARLEY__V1__CHAT_SUMMARY__INIT, *sp = &s;
    s.chat_id = CHAT;
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
    make_env(&e1, 1, "bob", "real", 1);
    make_env(&e2, 2, "bob", "real", 1);
    answer_sync(f, last_sync(0), page, 2, 2);
    if (f->nshown != 2 || chat(f).synced_seq != 2)
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

/* Tick until no confirming sync is due; answer each with an empty page that
 * says the chat ends at last. Returns how many were answered (bounded). */
static int answer_confirmations(fixture *f, uint64_t after, uint64_t last)
{
    int rounds = 0;
    for (; rounds < 20; rounds++) {
        int before = g_nreqs;
        order__confirm_tick(f->c, FAR_FUTURE);
        if (g_nreqs == before)
            return rounds;
        answer_sync(f, last_sync(after), NULL, 0, last);
    }
    fail_msg("confirming syncs never stopped");
    return rounds;
}

/* ---- tests ----------------------------------------------------------------- */

static void forged_huge_seq_never_moves_the_cursor(void **state)
{
    fixture *f = *state;
    envelope forged, real3, real4;

    /* The forgery even authenticates (a member forging the seq of its own
     * message): only the server's word on seqs counts. */
    make_env(&forged, 1000000, "bob", "forged", 1);
    int before = g_nreqs;
    live(f, &forged);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(g_nreqs, before + 1); /* a sync from the cursor, at once */
    captured_req *q = last_sync(2);
    answer_sync(f, q, NULL, 0, 2);   /* the server: the chat ends at 2 */
    assert_int_equal(chat(f).synced_seq, 2);
    assert_int_equal(chat(f).last_seq, 2);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(f->c->order.nheld, 1); /* waits for a few more answers */

    /* A real message after it is shown at once... */
    make_env(&real3, 3, "bob", "real", 1);
    live(f, &real3);
    assert_int_equal(f->nshown, 1);
    assert_int_equal(f->shown[0], 3);
    /* ...but the cursor waits for the server (3 is beyond last_seq 2). */
    assert_int_equal(chat(f).synced_seq, 2);
    order__confirm_tick(f->c, FAR_FUTURE);
    envelope *page[1] = {&real3};
    answer_sync(f, last_sync(2), page, 1, 3);
    assert_int_equal(chat(f).synced_seq, 3);
    assert_int_equal(f->nshown, 1); /* the page's copy is a duplicate */

    /* The server never confirms 1,000,000: dropped after a bounded number of
     * confirming syncs. */
    int rounds = answer_confirmations(f, 3, 3);
    assert_in_range(rounds, 1, 8);
    assert_int_equal(f->c->order.nheld, 0);
    assert_int_equal(f->c->order.nconfirm, 0);
    assert_int_equal(chat(f).synced_seq, 3);
    assert_int_equal(chat(f).last_seq, 3);

    /* And the next real message is shown. */
    make_env(&real4, 4, "bob", "real", 1);
    live(f, &real4);
    assert_int_equal(f->nshown, 2);
    assert_int_equal(f->shown[1], 4);
    assert_int_equal(f->undecryptable, 0);
}

static void unauthenticated_live_envelope_moves_nothing(void **state)
{
    fixture *f = *state;
    envelope bad3, forged, real4;

    /* Next in order but it does not decrypt: nothing stored, shown, moved. */
    make_env(&bad3, 3, "bob", "bad", 0);
    live(f, &bad3);
    assert_int_equal(f->nshown, 0);
    assert_int_equal(f->undecryptable, 0);
    assert_int_equal(lstore_msg_has_server_id(f->c->store, bad3.sid), 0);
    assert_int_equal(chat(f).synced_seq, 2);

    /* A forged huge seq that does not decrypt either: held, never shown. */
    make_env(&forged, 1000000, "bob", "forged", 0);
    live(f, &forged);
    assert_int_equal(f->nshown, 0);

    /* The server has 3 (really undecryptable): its page copy is recorded and
     * reported once, and the cursor moves over it. */
    envelope *page[1] = {&bad3};
    answer_sync(f, last_sync(2), page, 1, 3);
    assert_int_equal(f->undecryptable, 1);
    assert_int_equal(chat(f).synced_seq, 3);

    answer_confirmations(f, 3, 3);
    assert_int_equal(f->c->order.nheld, 0);
    assert_int_equal(chat(f).synced_seq, 3);
    assert_int_equal(lstore_msg_has_server_id(f->c->store, forged.sid), 0);

    make_env(&real4, 4, "bob", "real", 1);
    live(f, &real4);
    assert_int_equal(f->nshown, 1);
    assert_int_equal(f->shown[0], 4);
    assert_int_equal(f->undecryptable, 1);
}

static void stored_receipt_advances_own_cursor(void **state)
{
    fixture *f = *state;
    static const uint8_t body[] = "ciphertext";
    envelope echo, real4;

    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(outbox__queue(f->c, "cmid-own-3", CHAT, "parley/u/bob/inbox", body,
                                   sizeof body, "my text", NULL, NULL),
                     PARLEY_OK);
    assert_int_equal(lstore_commit(f->c->store), 0);

    /* A forged echo of our own message (sender = us, seq 3) settles nothing:
     * only the broker's STORED receipt does. */
    make_env(&echo, 3, "alice", "own", 1);
    snprintf(echo.cmid, sizeof echo.cmid, "cmid-own-3");
    echo.len = parley__v1__envelope__get_packed_size(&echo.env);
    parley__v1__envelope__pack(&echo.env, echo.buf);
    live(f, &echo);
    assert_int_equal(lstore_outbox_has(f->c->store, "cmid-own-3"), 1);
    assert_int_equal(chat(f).synced_seq, 2);

    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
    r.chat_id = CHAT;
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
    assert_int_equal(chat(f).synced_seq, 3);
    assert_int_equal(chat(f).last_seq, 3);

    /* bob's next message follows ours without a hole. */
    int before = g_nreqs;
    make_env(&real4, 4, "bob", "real", 1);
    live(f, &real4);
    assert_int_equal(f->nshown, 1);
    assert_int_equal(f->shown[0], 4);
    /* Beyond last_seq 3: confirmed by a sync, not by the envelope. */
    assert_int_equal(chat(f).synced_seq, 3);
    assert_int_equal(g_nreqs, before); /* the confirming sync waits CONFIRM_DELAY_MS */
    order__confirm_tick(f->c, FAR_FUTURE);
    envelope *page[1] = {&real4};
    answer_sync(f, last_sync(3), page, 1, 4);
    assert_int_equal(chat(f).synced_seq, 4);
    assert_int_equal(f->nshown, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(forged_huge_seq_never_moves_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthenticated_live_envelope_moves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stored_receipt_advances_own_cursor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
