/*
 * test_receipts.c - coalesced STORED receipts (receipts.c; docs/protocol.md,
 * "Coalesced STORED receipts"), with a link-time fake of route__user that
 * decodes what would be published: one receipt per sender per flush, the
 * messages in the order they were held, at most 256 per receipt, nothing
 * sent when the plugin is stopping, and a STORED sent at once stays alone;
 * STORED is framed for the bus only when the sender is connected to another
 * node (ROUTE_F_NO_BUS otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../broker-plugin/receipts.c"

pp_state pp;

typedef struct {
    char to[IDS_USER_MAX + 1];
    Parley__V1__Receipt *r;
    uint8_t flags;
} sent_receipt;
static const char *g_remote_user; /* connected on another node, for the fake below */

bool cluster__remote_online(const char *user)
{
    return g_remote_user && !strcmp(user, g_remote_user);
}
static sent_receipt g_sent[64];
static size_t g_nsent;

int route__user(const char *user, const char *leaf, const ProtobufCMessage *msg,
                const route_meta *meta)
{
    assert_string_equal(leaf, "receipts");
    assert_true(g_nsent < 64);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    protobuf_c_message_pack(msg, buf);
    snprintf(g_sent[g_nsent].to, sizeof g_sent[g_nsent].to, "%s", user);
    g_sent[g_nsent].r = parley__v1__receipt__unpack(NULL, len, buf);
    g_sent[g_nsent].flags = meta ? meta->flags : 0;
    assert_non_null(g_sent[g_nsent].r);
    g_nsent++;
    free(buf);
    return 0;
}

int publish__msg(const char *topic, const ProtobufCMessage *msg, bool retain)
{
    (void)topic, (void)msg, (void)retain;
    fail_msg("no direct publish expected");
    return 0;
}

static int reset(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_nsent; i++)
        parley__v1__receipt__free_unpacked(g_sent[i].r, NULL);
    g_nsent = 0;
    g_remote_user = NULL;
    memset(&pp, 0, sizeof pp);
    return 0;
}

static int teardown(void **state)
{
    reset(state);
    receipts__cleanup();
    return 0;
}

static void hold(const char *sender, const char *chat, uint64_t seq)
{
    char sid[IDS_SERVER_ID_LEN + 1], cmid[32];
    snprintf(sid, sizeof sid, "sid%019llu", (unsigned long long)seq);
    snprintf(cmid, sizeof cmid, "%s-%llu", sender, (unsigned long long)seq);
    receipts__stored_later(sender, chat, seq, sid, cmid);
}

/* The i-th message a receipt covers: its own fields, then more[i - 1]. */
static void covers(const Parley__V1__Receipt *r, size_t i, const char *chat, uint64_t seq,
                   const char *cmid)
{
    const char *c = i ? r->more[i - 1]->chat_id : r->chat_id;
    const char *m = i ? r->more[i - 1]->client_msg_id : r->client_msg_id;
    const char *s = i ? r->more[i - 1]->server_id : r->server_id;
    char sid[IDS_SERVER_ID_LEN + 1];
    snprintf(sid, sizeof sid, "sid%019llu", (unsigned long long)seq);
    assert_string_equal(c, chat);
    assert_int_equal(i ? r->more[i - 1]->seq : r->seq, seq);
    assert_string_equal(m, cmid);
    assert_string_equal(s, sid);
}

static void one_receipt_per_sender_in_order(void **state)
{
    (void)state;
    hold("alice", "d:alice:bob", 7);
    hold("bob", "d:alice:bob", 8);
    hold("alice", "g:AAAAAAAAAAAAAAAAAAAAAA", 3);
    hold("alice", "d:alice:bob", 9);
    hold("carol", "d:bob:carol", 1);
    assert_int_equal(g_nsent, 0); /* held until the turn ends */
    receipts__flush(false);
    assert_int_equal(g_nsent, 3);
    assert_int_equal(pp.m.stored_receipts_coalesced, 3);
    for (size_t i = 0; i < g_nsent; i++) {
        const Parley__V1__Receipt *r = g_sent[i].r;
        assert_int_equal(r->status, PARLEY__V1__RECEIPT_STATUS__STORED);
        assert_true(r->ts > 0);
        if (!strcmp(g_sent[i].to, "alice")) {
            assert_int_equal(r->n_more, 2);
            covers(r, 0, "d:alice:bob", 7, "alice-7");
            covers(r, 1, "g:AAAAAAAAAAAAAAAAAAAAAA", 3, "alice-3");
            covers(r, 2, "d:alice:bob", 9, "alice-9");
        } else if (!strcmp(g_sent[i].to, "bob")) {
            assert_int_equal(r->n_more, 0);
            covers(r, 0, "d:alice:bob", 8, "bob-8");
        } else {
            assert_string_equal(g_sent[i].to, "carol");
            assert_int_equal(r->n_more, 0);
            covers(r, 0, "d:bob:carol", 1, "carol-1");
        }
    }
    /* Flushed: the next turn starts empty. */
    receipts__flush(false);
    assert_int_equal(g_nsent, 3);
}

static void at_most_256_per_receipt(void **state)
{
    (void)state;
    for (uint64_t s = 1; s <= 600; s++)
        hold("alice", "d:alice:bob", s);
    receipts__flush(false);
    assert_int_equal(g_nsent, 3); /* 256 + 256 + 88 */
    uint64_t next = 1;
    for (size_t i = 0; i < g_nsent; i++) {
        const Parley__V1__Receipt *r = g_sent[i].r;
        assert_int_equal(r->n_more + 1, i < 2 ? 256 : 88);
        for (size_t k = 0; k <= r->n_more; k++, next++) {
            char cmid[32];
            snprintf(cmid, sizeof cmid, "alice-%llu", (unsigned long long)next);
            covers(r, k, "d:alice:bob", next, cmid);
        }
    }
    assert_int_equal(next, 601);
}

static void stopping_sends_nothing(void **state)
{
    (void)state;
    hold("alice", "d:alice:bob", 1);
    receipts__flush(true);
    assert_int_equal(g_nsent, 0);
    receipts__flush(false);
    assert_int_equal(g_nsent, 0);
}

static void a_stored_sent_at_once_is_alone(void **state)
{
    (void)state;
    hold("alice", "d:alice:bob", 1);
    receipts__stored("alice", "d:alice:bob", 2, "sid0000000000000000002", "old-client-2");
    assert_int_equal(g_nsent, 1);
    assert_int_equal(g_sent[0].r->n_more, 0);
    covers(g_sent[0].r, 0, "d:alice:bob", 2, "old-client-2");
    receipts__flush(false);
    assert_int_equal(g_nsent, 2);
    assert_int_equal(g_sent[1].r->n_more, 0);
    covers(g_sent[1].r, 0, "d:alice:bob", 1, "alice-1");
}

static void stored_on_the_bus_only_for_remote_senders(void **state)
{
    (void)state;
    g_remote_user = "bob";
    hold("alice", "d:alice:bob", 1);
    hold("bob", "d:alice:bob", 2);
    receipts__stored("alice", "d:alice:bob", 3, "sid0000000000000000003", "a-3");
    receipts__stored("bob", "d:alice:bob", 4, "sid0000000000000000004", "b-4");
    receipts__cursor("alice", "d:alice:bob", 4, "bob", true);
    receipts__flush(false);
    assert_int_equal(g_nsent, 5);
    assert_int_equal(g_sent[0].flags & ROUTE_F_NO_BUS, ROUTE_F_NO_BUS); /* alice: here only */
    assert_int_equal(g_sent[1].flags & ROUTE_F_NO_BUS, 0);              /* bob: elsewhere too */
    assert_int_equal(g_sent[2].flags & ROUTE_F_NO_BUS, 0);  /* READ: always on the bus */
    for (size_t i = 3; i < 5; i++)
        assert_int_equal(g_sent[i].flags & ROUTE_F_NO_BUS,
                         !strcmp(g_sent[i].to, "bob") ? 0 : ROUTE_F_NO_BUS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_receipt_per_sender_in_order, reset, teardown),
        cmocka_unit_test_setup_teardown(at_most_256_per_receipt, reset, teardown),
        cmocka_unit_test_setup_teardown(stopping_sends_nothing, reset, teardown),
        cmocka_unit_test_setup_teardown(a_stored_sent_at_once_is_alone, reset, teardown),
        cmocka_unit_test_setup_teardown(stored_on_the_bus_only_for_remote_senders, reset, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
