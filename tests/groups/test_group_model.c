/*
 * test_group_model.c - the broker's group model (groups.c, group_ops.c,
 * group_msg.c) without a broker: link-time fakes for the plugin functions
 * they call, the store writer wrapped (-Wl,--wrap=store_writer_submit) so
 * every write "commits" at once and is logged, and completion tasks run when
 * the test drains them (as MOSQ_EVT_TICK would). The load at init runs
 * against a real SQLite store in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group_int.h"
#include "groups.h"
#include "hardening.h"

/* ------------------------------------------------------------------ fakes */

pp_state pp;

void mosquitto_log_printf(int level, const char *fmt, ...)
{
}

const char *mosquitto_client_id(const struct mosquitto *client)
{
    return "test-client";
}

bool auth__user_exists(const char *user_id)
{
    return strcmp(user_id, "nobody") != 0;
}

/* Device lists: every user of the model has an implicit list (one device). */
uint64_t auth__devices_version(const char *user_id)
{
    (void)user_id;
    return 0;
}

size_t auth__device_count(const char *user_id)
{
    return auth__user_exists(user_id) ? 1 : 0;
}

void auth__sender_device(const char *user_id, const char *client_id, char out[DEVICES_ID_MAX + 1])
{
    (void)user_id;
    (void)client_id;
    out[0] = '\0';
}

bool limits__allow(const char *user, const char *client_id, size_t len)
{
    return true;
}

/* lookup.c (store lookups of users the key cache does not know) is not
 * linked: the cache fake is the whole truth here. */
lookup_answer lookup__user(const char *user_id)
{
    return auth__user_exists(user_id) ? LOOKUP_YES : LOOKUP_NO;
}

bool lookup__send_pending(const char *recipient)
{
    return false;
}

int lookup__defer_send(const char *me, const char *device, const char *recipient,
                       const void *payload, size_t len)
{
    return -1;
}

int lookup__defer_request(const char *me, const Parley__V1__Request *rq, char *const *users,
                          size_t n)
{
    return -1;
}

static pp_task *pending[256];
static size_t npending;

void tasks__push(pp_task *t)
{
    assert_true(npending < 256);
    pending[npending++] = t;
}

static void drain(void)
{
    for (size_t i = 0; i < npending; i++)
        pending[i]->done(pending[i], false);
    npending = 0;
}

/* What the code under test sent. */
typedef struct {
    char to[128];       /* topic or user */
    uint32_t status;    /* responses */
    char error[64];
    size_t n_members;   /* responses with a group */
    char chat_id[160];
    int rstatus;        /* receipts */
    char by[65];
    int all;
    int kind;           /* envelopes */
    uint64_t seq;
} sent_t;

static sent_t sent[512];
static size_t nsent;
static int ops_log[512];
static size_t nops;

static sent_t *sent_new(const char *to)
{
    assert_true(nsent < 512);
    sent_t *s = &sent[nsent++];
    memset(s, 0, sizeof *s);
    snprintf(s->to, sizeof s->to, "%s", to);
    return s;
}

int publish__msg(const char *topic, const ProtobufCMessage *msg, bool retain)
{
    sent_t *s = sent_new(topic);
    if (msg->descriptor == &parley__v1__response__descriptor) {
        const Parley__V1__Response *r = (const Parley__V1__Response *)msg;
        s->status = r->status;
        snprintf(s->error, sizeof s->error, "%s", r->error);
        if (r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUP) {
            s->n_members = r->group->n_members;
            snprintf(s->chat_id, sizeof s->chat_id, "%s", r->group->chat_id);
        }
    } else if (msg->descriptor == &parley__v1__receipt__descriptor) {
        const Parley__V1__Receipt *r = (const Parley__V1__Receipt *)msg;
        s->rstatus = r->status;
        snprintf(s->by, sizeof s->by, "%s", r->by);
        snprintf(s->error, sizeof s->error, "%s", r->error);
        s->all = r->all;
        s->seq = r->seq;
    } else if (msg->descriptor == &parley__v1__envelope__descriptor) {
        const Parley__V1__Envelope *e = (const Parley__V1__Envelope *)msg;
        s->kind = e->kind;
        s->seq = e->seq;
    }
    return MOSQ_ERR_SUCCESS;
}

/* route.c's deliveries are captured like any publish; one node: no bus. */
int route__user(const char *user, const char *leaf, const ProtobufCMessage *msg,
                const route_meta *meta)
{
    char topic[PP_TOPIC_MAX];
    (void)meta;
    snprintf(topic, sizeof topic, "parley/u/%s/%s", user, leaf);
    return publish__msg(topic, msg, false);
}

int route__group(const char *chat_id, const ProtobufCMessage *msg, const route_meta *meta)
{
    char topic[PP_TOPIC_MAX];
    (void)meta;
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", chat_id + 2);
    return publish__msg(topic, msg, false);
}

void route__remote(int kind, const char *id, const route_meta *meta, const char *topic,
                   const void *payload, size_t len)
{
}

bool presence__local_online(const char *user)
{
    return false;
}

void gsync__watch(const char *chat_id, int delta)
{
}

void gsync__announce(const char *chat_id)
{
}

void control__respond(const char *me, const char *req_id, uint32_t status, const char *error,
                      const char *message)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
    r.req_id = (char *)req_id;
    r.status = status;
    r.error = (char *)(error ? error : "");
    r.error_message = (char *)(message ? message : "");
    snprintf(topic, sizeof topic, "parley/u/%s/rsp", me);
    publish__msg(topic, &r.base, false);
}

void receipts__stored(const char *sender, const char *chat_id, uint64_t seq, const char *server_id,
                      const char *client_msg_id)
{
    sent_t *s = sent_new(sender);
    s->rstatus = PARLEY__V1__RECEIPT_STATUS__STORED;
    s->seq = seq;
}

/* Coalesced STORED (a send with Envelope.coalesce_receipts): recorded the same. */
void receipts__stored_later(const char *sender, const char *chat_id, uint64_t seq,
                            const char *server_id, const char *client_msg_id)
{
    receipts__stored(sender, chat_id, seq, server_id, client_msg_id);
}

void receipts__rejected(const char *sender, const char *client_msg_id, const char *chat_id,
                        pp_reject why, const char *message)
{
    sent_t *s = sent_new(sender);
    s->rstatus = PARLEY__V1__RECEIPT_STATUS__REJECTED;
}

const char *receipts__reject_code(pp_reject why)
{
    return "rejected";
}

void receipts__rejected_code(const char *sender, const char *client_msg_id, const char *chat_id,
                             const char *code, const char *message)
{
    sent_t *s = sent_new(sender);
    s->rstatus = PARLEY__V1__RECEIPT_STATUS__REJECTED;
    snprintf(s->error, sizeof s->error, "%s", code);
}

void receipts__group_cursor(const char *to, const char *chat_id, uint64_t seq, const char *by,
                            bool read, bool all)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.by = (char *)(by ? by : "");
    r.all = all;
    snprintf(topic, sizeof topic, "parley/u/%s/receipts", to);
    publish__msg(topic, &r.base, false);
}

void publish__discard(struct mosquitto_evt_message *ed)
{
    ed->topic = PP_DISCARD_TOPIC;
}

int publish__set_payload(struct mosquitto_evt_message *ed, const ProtobufCMessage *msg)
{
    fail_msg("nothing is routed in place: sends are consumed, delivered after the commit");
    return MOSQ_ERR_UNKNOWN;
}

/* The writer: every op commits at once, in submission order; a message put
 * with seq 0 gets its chat's next seq, a second put of (sender,
 * client_msg_id) stores nothing and reports STORE_EDUP with the original
 * seq, as the store does. */
static struct {
    char chat_id[IDS_CHAT_MAX + 1];
    uint64_t last;
} fw_chats[16];
static struct {
    char key[200];
    uint64_t seq;
} fw_msgs[512];
static size_t fw_nchats, fw_nmsgs;

static int fake_message_put(store_message *m)
{
    char key[200];
    snprintf(key, sizeof key, "%s\n%s", m->sender, m->client_msg_id);
    for (size_t i = 0; i < fw_nmsgs; i++)
        if (!strcmp(fw_msgs[i].key, key)) {
            m->seq = fw_msgs[i].seq;
            return STORE_EDUP;
        }
    size_t c = 0;
    while (c < fw_nchats && strcmp(fw_chats[c].chat_id, m->chat_id))
        c++;
    if (c == fw_nchats) {
        assert_true(fw_nchats < 16);
        snprintf(fw_chats[fw_nchats].chat_id, sizeof fw_chats[0].chat_id, "%s", m->chat_id);
        fw_chats[fw_nchats++].last = 0;
    }
    assert_int_equal(m->seq, 0); /* the store is the sequencer */
    m->seq = ++fw_chats[c].last;
    assert_true(fw_nmsgs < 512);
    snprintf(fw_msgs[fw_nmsgs].key, sizeof fw_msgs[0].key, "%s", key);
    fw_msgs[fw_nmsgs++].seq = m->seq;
    return STORE_OK;
}

int __wrap_store_writer_submit(store_writer *w, store_op *op, store_done_cb cb, void *ctx)
{
    int rc = STORE_OK;
    assert_true(nops < 512);
    ops_log[nops++] = (int)op->type;
    if (op->type == STORE_OP_MESSAGE_PUT)
        rc = fake_message_put(&op->u.message);
    cb(op, rc, ctx);
    store_op_free(op);
    return STORE_OK;
}

/* ------------------------------------------------------------------ helpers */

static const sent_t *last_rsp;

/* Send one request as me; drain; return the response. */
static const sent_t *request(const char *me, Parley__V1__Request *rq)
{
    char topic[PP_TOPIC_MAX];
    size_t before = nsent;
    snprintf(topic, sizeof topic, "parley/u/%s/rsp", me);
    rq->req_id = "r";
    groups__handle_request(me, rq);
    drain();
    last_rsp = NULL;
    for (size_t i = before; i < nsent; i++)
        if (!strcmp(sent[i].to, topic))
            last_rsp = &sent[i];
    assert_non_null(last_rsp);
    return last_rsp;
}

static char gid[160];

static const sent_t *create(const char *me, const char *name, char **members, size_t n)
{
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupCreate c = PARLEY__V1__GROUP_CREATE__INIT;
    c.name = (char *)name;
    c.members = members;
    c.n_members = n;
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
    rq.group_create = &c;
    const sent_t *r = request(me, &rq);
    if (r->status == 0)
        snprintf(gid, sizeof gid, "%s", r->chat_id);
    return r;
}

static const sent_t *members_op(const char *me, bool add, const char *user)
{
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupMembers m = PARLEY__V1__GROUP_MEMBERS__INIT;
    char *users[1] = {(char *)user};
    m.chat_id = gid;
    m.user_ids = users;
    m.n_user_ids = 1;
    rq.op_case = add ? PARLEY__V1__REQUEST__OP_GROUP_ADD : PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
    if (add)
        rq.group_add = &m;
    else
        rq.group_remove = &m;
    return request(me, &rq);
}

static const sent_t *set_role(const char *me, const char *user, Parley__V1__Role role)
{
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupSetRole s = PARLEY__V1__GROUP_SET_ROLE__INIT;
    s.chat_id = gid;
    s.user_id = (char *)user;
    s.role = role;
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE;
    rq.group_set_role = &s;
    return request(me, &rq);
}

static const sent_t *leave(const char *me)
{
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupLeave l = PARLEY__V1__GROUP_LEAVE__INIT;
    l.chat_id = gid;
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_LEAVE;
    rq.group_leave = &l;
    return request(me, &rq);
}

#define EXPECT(r, st, err) \
    do { \
        const sent_t *r_ = (r); \
        assert_int_equal(r_->status, st); \
        assert_string_equal(r_->error, err); \
    } while (0)

static int acl(const char *user, const char *leaf, int access)
{
    char rest[200];
    snprintf(rest, sizeof rest, "%s/%s", gid + 2, leaf);
    return groups__acl_check(user, rest, access);
}

static char tmpdir[] = "/tmp/parley-group-model.XXXXXX";

static int setup(void **state)
{
    memset(&pp, 0, sizeof pp);
    pp.cfg.max_group_size = 4;
    pp.cfg.max_groups_per_user = 512;
    pp.cfg.max_payload = 65536;
    nsent = nops = npending = 0;
    fw_nchats = fw_nmsgs = 0;
    gid[0] = '\0';
    store_t *s = NULL;
    char uri[256];
    snprintf(uri, sizeof uri, "sqlite:%s/empty.db", tmpdir);
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    assert_int_equal(groups__init(s), 0);
    store_close(s);
    return 0;
}

static int teardown(void **state)
{
    groups__cleanup();
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_create_and_acl(void **state)
{
    char *m[] = {"bob", "carol"};
    const sent_t *r = create("alice", "team", m, 2);
    EXPECT(r, 0, "");
    assert_int_equal(r->n_members, 3);
    assert_int_equal(strlen(gid), 2 + IDS_GROUP_ID_LEN);
    /* chat, three members, then the announcement, in that order. */
    int want[] = {STORE_OP_CHAT_PUT, STORE_OP_MEMBER_PUT, STORE_OP_MEMBER_PUT, STORE_OP_MEMBER_PUT,
                  STORE_OP_MESSAGE_PUT};
    assert_int_equal(nops, 5);
    assert_memory_equal(ops_log, want, sizeof want);

    const char *users[] = {"alice", "bob", "carol"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(acl(users[i], "inbox", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
        assert_int_equal(acl(users[i], "inbox", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
        assert_int_equal(acl(users[i], "typing", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
        assert_int_equal(acl(users[i], "#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
        assert_int_equal(acl(users[i], "receipts", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    }
    assert_int_equal(acl("mallory", "inbox", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    assert_int_equal(acl("mallory", "inbox", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
    assert_int_equal(acl("mallory", "#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
    assert_int_equal(groups__acl_check("alice", "+/inbox", MOSQ_ACL_SUBSCRIBE),
                     MOSQ_ERR_ACL_DENIED);
    assert_int_equal(groups__acl_check("alice", "#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
    assert_int_equal(groups__acl_check("alice", "", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    char rest[200];
    snprintf(rest, sizeof rest, "%s/inbox/x", gid + 2);
    assert_int_equal(groups__acl_check("alice", rest, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);

    /* Refusals. */
    char *dup[] = {"bob", "bob"};
    EXPECT(create("alice", "x", dup, 2), 400, "bad_request");
    char *unknown[] = {"nobody"};
    EXPECT(create("alice", "x", unknown, 1), 404, "unknown_user");
    char *many[] = {"b", "c", "d", "e"};
    EXPECT(create("alice", "x", many, 4), 413, "group_full");
    EXPECT(create("alice", "", NULL, 0), 400, "bad_request");
}

static void test_roles(void **state)
{
    char *m[] = {"bob", "carol"};
    EXPECT(create("alice", "club", m, 2), 0, "");
    EXPECT(members_op("bob", true, "dave"), 403, "forbidden");
    EXPECT(members_op("bob", false, "carol"), 403, "forbidden");
    EXPECT(members_op("mallory", true, "dave"), 403, "not_member");
    EXPECT(members_op("alice", true, "nobody"), 404, "unknown_user");
    EXPECT(members_op("alice", true, "bob"), 409, "already_member");
    EXPECT(members_op("alice", false, "dave"), 404, "not_member");
    EXPECT(members_op("alice", false, "alice"), 400, "bad_request");

    EXPECT(set_role("alice", "bob", PARLEY__V1__ROLE__ADMIN), 0, "");
    EXPECT(members_op("bob", true, "dave"), 0, "");
    EXPECT(members_op("bob", true, "erin"), 413, "group_full");
    EXPECT(members_op("bob", false, "dave"), 0, "");
    EXPECT(members_op("bob", false, "alice"), 403, "forbidden");
    EXPECT(set_role("bob", "carol", PARLEY__V1__ROLE__OWNER), 403, "forbidden");
    EXPECT(set_role("carol", "carol", PARLEY__V1__ROLE__ADMIN), 403, "forbidden");

    EXPECT(leave("alice"), 409, "last_owner");
    EXPECT(set_role("alice", "alice", PARLEY__V1__ROLE__MEMBER), 409, "last_owner");
    EXPECT(set_role("alice", "bob", PARLEY__V1__ROLE__OWNER), 0, "");
    EXPECT(leave("alice"), 0, "");
    assert_int_equal(acl("alice", "inbox", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupGet g = PARLEY__V1__GROUP_GET__INIT;
    g.chat_id = gid;
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
    rq.group_get = &g;
    EXPECT(request("alice", &rq), 403, "not_member");
    const sent_t *r = request("carol", &rq);
    EXPECT(r, 0, "");
    assert_int_equal(r->n_members, 2);
    g.chat_id = "g:AAAAAAAAAAAAAAAAAAAAAA";
    EXPECT(request("carol", &rq), 404, "unknown_chat");
}

static void test_remove_is_immediate(void **state)
{
    char *m[] = {"bob", "carol"};
    EXPECT(create("alice", "g", m, 2), 0, "");
    size_t before = nsent;
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupMembers mm = PARLEY__V1__GROUP_MEMBERS__INIT;
    char *users[1] = {"bob"};
    mm.chat_id = gid;
    mm.user_ids = users;
    mm.n_user_ids = 1;
    rq.req_id = "r";
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
    rq.group_remove = &mm;
    groups__handle_request("alice", &rq);
    /* Before any commit comes back, bob is out of the ACL. */
    assert_int_equal(acl("bob", "inbox", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    assert_int_equal(acl("bob", "inbox", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
    drain();
    /* The announcement went to the group topic and to bob's own inbox. */
    int on_group = 0, on_bob = 0;
    for (size_t i = before; i < nsent; i++) {
        if (sent[i].kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM && strstr(sent[i].to, "parley/g/"))
            on_group++;
        if (sent[i].kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM &&
            !strcmp(sent[i].to, "parley/u/bob/inbox"))
            on_bob++;
    }
    assert_int_equal(on_group, 1);
    assert_int_equal(on_bob, 1);
    uint64_t floor = 0;
    const char *err = NULL;
    assert_int_equal(groups__sync_check("bob", gid, &floor, &err), 403);
    assert_int_equal(groups__sync_check("carol", gid, &floor, &err), 0);
    assert_int_equal(floor, 0);
    /* dave joins after seq 2 (created, removed): he syncs from there. */
    EXPECT(members_op("alice", true, "dave"), 0, "");
    assert_int_equal(groups__sync_check("dave", gid, &floor, &err), 0);
    assert_int_equal(floor, 2);
}

/* Publish an Envelope as me to the group inbox; returns the seq delivered on
 * the group's topic after the commit (0 if refused or not delivered). */
static uint64_t send_msg(const char *me, const char *cmid)
{
    char topic[200];
    uint8_t buf[256];
    Parley__V1__Envelope e = PARLEY__V1__ENVELOPE__INIT;
    e.client_msg_id = (char *)cmid;
    e.body.data = (uint8_t *)"ciphertext";
    e.body.len = 10;
    size_t len = protobuf_c_message_pack(&e.base, buf);
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", gid + 2);
    struct mosquitto_evt_message ed = {0};
    ed.topic = topic;
    ed.payload = buf;
    ed.payloadlen = (uint32_t)len;
    size_t before = nsent;
    groups__handle_publish(&ed, me);
    assert_string_equal(ed.topic, PP_DISCARD_TOPIC); /* always consumed */
    for (size_t i = before; i < nsent; i++)
        assert_true(strcmp(sent[i].to, topic) != 0); /* nothing before the commit */
    drain();
    uint64_t seq = 0;
    for (size_t i = before; i < nsent; i++)
        if (!strcmp(sent[i].to, topic)) {
            assert_int_equal(seq, 0); /* delivered once */
            assert_int_equal(sent[i].kind, PARLEY__V1__ENVELOPE_KIND__CHAT);
            seq = sent[i].seq;
        }
    return seq;
}

static void ack(const char *me, uint64_t seq, bool read)
{
    Parley__V1__Ack a = PARLEY__V1__ACK__INIT;
    a.chat_id = gid;
    a.seq = seq;
    a.type = read ? PARLEY__V1__ACK_TYPE__ACK_READ : PARLEY__V1__ACK_TYPE__ACK_DELIVERED;
    groups__ack(me, "a", &a);
    drain();
}

static void test_receipts(void **state)
{
    char *m[] = {"bob", "carol"};
    EXPECT(create("alice", "g", m, 2), 0, "");
    assert_int_equal(send_msg("alice", "m1"), 2);
    assert_int_equal(send_msg("alice", "m1"), 0); /* a retry is not routed again */
    assert_int_equal(send_msg("mallory", "x"), 0);
    size_t before = nsent;
    ack("bob", 2, false);
    ack("carol", 2, false);
    ack("bob", 2, true);
    ack("carol", 2, true);
    /* Receipts to alice: DELIVERED bob, DELIVERED carol, DELIVERED all,
     * READ bob, READ carol, READ all. */
    const char *by[] = {"bob", "carol", "", "bob", "carol", ""};
    int st[] = {2, 2, 2, 3, 3, 3}, all[] = {0, 0, 1, 0, 0, 1};
    int k = 0;
    for (size_t i = before; i < nsent; i++) {
        if (strcmp(sent[i].to, "parley/u/alice/receipts"))
            continue;
        assert_true(k < 6);
        assert_string_equal(sent[i].by, by[k]);
        assert_int_equal(sent[i].rstatus, st[k]);
        assert_int_equal(sent[i].all, all[k]);
        assert_int_equal(sent[i].seq, 2);
        k++;
    }
    assert_int_equal(k, 6);
    /* Only admins may send once settings say so. */
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupUpdate u = PARLEY__V1__GROUP_UPDATE__INIT;
    Parley__V1__GroupSettings s = PARLEY__V1__GROUP_SETTINGS__INIT;
    s.send = PARLEY__V1__PERMISSION__ADMINS;
    u.chat_id = gid;
    u.settings = &s;
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_UPDATE;
    rq.group_update = &u;
    EXPECT(request("bob", &rq), 403, "forbidden");
    EXPECT(request("alice", &rq), 0, "");
    assert_int_equal(send_msg("bob", "b1"), 0);
    assert_string_equal(sent[nsent - 1].error, "forbidden");
    assert_int_equal(send_msg("alice", "m2"), 4); /* 3 was SETTINGS_UPDATED */
}

static void test_load_from_store(void **state)
{
    store_t *s = NULL;
    char uri[256];
    snprintf(uri, sizeof uri, "sqlite:%s/load.db", tmpdir);
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    store_chat c = {.chat_id = "g:BBBBBBBBBBBBBBBBBBBBBB",
                    .type = STORE_CHAT_GROUP,
                    .name = "loaded",
                    .created_by = "alice",
                    .settings = "send=2,edit_info=2,add_members=1",
                    .created_at = 1};
    assert_int_equal(store_chat_put(s, &c), STORE_OK);
    store_member a = {.chat_id = c.chat_id, .user_id = "alice", .role = STORE_ROLE_OWNER};
    store_member b = {.chat_id = c.chat_id,
                      .user_id = "bob",
                      .role = STORE_ROLE_MEMBER,
                      .joined_seq = 7};
    assert_int_equal(store_member_put(s, &a), STORE_OK);
    assert_int_equal(store_member_put(s, &b), STORE_OK);
    groups__cleanup();
    assert_int_equal(groups__init(s), 0);
    store_close(s);
    snprintf(gid, sizeof gid, "%s", c.chat_id);
    assert_int_equal(acl("bob", "inbox", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
    assert_int_equal(acl("carol", "inbox", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
    uint64_t floor = 0;
    const char *err = NULL;
    assert_int_equal(groups__sync_check("bob", gid, &floor, &err), 0);
    assert_int_equal(floor, 7);
    /* add_members = EVERYONE (from the stored settings): bob may add. */
    EXPECT(members_op("bob", true, "carol"), 0, "");
    /* send = ADMINS: bob may not send, alice may. */
    assert_int_equal(send_msg("bob", "b1"), 0);
    assert_int_equal(send_msg("alice", "a1"), 2);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_acl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_is_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_from_store, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
