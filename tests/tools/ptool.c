/*
 * ptool.c - a test utility for driving the broker plugin with third-party
 * MQTT clients (mosquitto_pub / mosquitto_sub):
 *
 *   ptool keygen DIR                      identity key pair -> DIR/identity.{pk,sk}
 *   ptool register STORE_URI USER DIR     write USER with DIR's key into the store
 *   ptool token DIR USER CLIENT_ID [TTL_S] [AUDIENCE]
 *                                         print a connect token (TTL may be < 0;
 *                                         audience "mqtt" unless given)
 *   ptool envelope --client-msg-id ID [--sender U] [--body TEXT] [--body-size N]
 *                  [--media-id M] [--ttl S] [--devices-version V]
 *                  [--own-devices-version V] [--sender-device D]
 *                  [--coalesce 0|1] (coalesce_receipts)
 *                  [--seq N] [--server-id S] [--chat-id C] [--server-ts T]
 *                  [--kind K] [--recipient U] [--sender-client-id C]
 *                  [--deleted-by U] [--deleted-at T]
 *                                         encoded Envelope on stdout (server fields a client may forge)
 *   ptool typing [--on|--off] [--user U]             encoded Typing on stdout
 *   ptool request ack REQ_ID CHAT_ID SEQ delivered|read
 *   ptool request sync REQ_ID CHAT_ID [AFTER_SEQ [LIMIT]]
 *   ptool request list-chats REQ_ID
 *   ptool request delete REQ_ID CHAT_ID SEQ          (delete_message; SEQ any uint64)
 *   ptool request group-list REQ_ID                  (a group op)
 *   ptool request none REQ_ID                        (a Request without an op)
 *   ptool decode envelope|receipt|response|presence|typing
 *        reads one message per line as hex (mosquitto_sub -F %x), prints one
 *        JSON object per line; an undecodable line prints {"error":"undecodable"}.
 *
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "ids.h"
#include "parley.pb-c.h"
#include "store.h"
#include "testkit.h"
#include "token.h"

static int usage(void)
{
    fprintf(stderr, "usage: ptool keygen|register|token|envelope|typing|request|decode ... "
                    "(see tests/tools/ptool.c)\n");
    return 2;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 1)
        return usage();
    mkdir(argv[0], 0700);
    return testkit_keygen("ptool", argv[0], "identity.sk", 0600, "identity.pk", 0644) ? 1 : 0;
}

static int cmd_register(int argc, char **argv)
{
    store_t *s = NULL;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (argc != 3)
        return usage();
    if (testkit_read_file("ptool", argv[2], "identity.pk", pk, sizeof pk) != 0)
        return 1;
    int rc = store_open(argv[0], NULL, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "ptool: store_open %s: %s\n", argv[0], store_strerror(rc));
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    store_user u = {.user_id = argv[1],
                    .created_at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    u.updated_at = u.created_at;
    memcpy(u.identity_key, pk, sizeof pk);
    rc = store_user_put(s, &u);
    if (rc == STORE_EEXIST)
        rc = store_user_set_key(s, argv[1], pk, u.updated_at);
    if (rc != STORE_OK)
        fprintf(stderr, "ptool: register %s: %s (%s)\n", argv[1], store_strerror(rc),
                store_last_error(s));
    store_close(s);
    return rc == STORE_OK ? 0 : 1;
}

static int cmd_token(int argc, char **argv)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    if (argc < 3 || argc > 5)
        return usage();
    long long ttl = argc >= 4 ? atoll(argv[3]) : TOKEN_DEFAULT_LIFETIME_S;
    const char *audience = argc == 5 ? argv[4] : "mqtt";
    if (testkit_read_file("ptool", argv[0], "identity.sk", sk, sizeof sk) != 0)
        return 1;
    int rc = testkit_print_token(audience, argv[1], argv[2], ttl, sk);
    if (rc != TOKEN_OK) {
        fprintf(stderr, "ptool: token: %s\n", token_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_envelope(int argc, char **argv)
{
    Parley__V1__Envelope e = PARLEY__V1__ENVELOPE__INIT;
    const char *body = "hello";
    long long body_size = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--client-msg-id"))
            e.client_msg_id = (char *)v;
        else if (!strcmp(a, "--sender"))
            e.sender = (char *)v;
        else if (!strcmp(a, "--body"))
            body = v;
        else if (!strcmp(a, "--body-size"))
            body_size = atoll(v);
        else if (!strcmp(a, "--media-id"))
            e.media_id = (char *)v;
        else if (!strcmp(a, "--ttl"))
            e.ttl_s = (uint32_t)atol(v);
        else if (!strcmp(a, "--seq"))
            e.seq = (uint64_t)atoll(v);
        else if (!strcmp(a, "--devices-version"))
            e.devices_version = (uint64_t)atoll(v);
        else if (!strcmp(a, "--own-devices-version"))
            e.own_devices_version = (uint64_t)atoll(v);
        else if (!strcmp(a, "--sender-device"))
            e.sender_device = (char *)v;
        else if (!strcmp(a, "--coalesce"))
            e.coalesce_receipts = atoi(v) != 0;
        else if (!strcmp(a, "--server-id"))
            e.server_id = (char *)v;
        else if (!strcmp(a, "--chat-id"))
            e.chat_id = (char *)v;
        else if (!strcmp(a, "--server-ts"))
            e.server_ts = atoll(v);
        else if (!strcmp(a, "--kind"))
            e.kind = (Parley__V1__EnvelopeKind)atoi(v);
        else if (!strcmp(a, "--recipient"))
            e.recipient = (char *)v;
        else if (!strcmp(a, "--sender-client-id"))
            e.sender_client_id = (char *)v;
        else if (!strcmp(a, "--deleted-by"))
            e.deleted_by = (char *)v;
        else if (!strcmp(a, "--deleted-at"))
            e.deleted_at = atoll(v);
        else
            return usage();
    }
    uint8_t *fill = NULL;
    if (body_size >= 0) {
        fill = malloc(body_size ? (size_t)body_size : 1);
        if (!fill)
            return 1;
        memset(fill, 'x', (size_t)body_size);
        e.body.data = fill;
        e.body.len = (size_t)body_size;
    } else {
        e.body.data = (uint8_t *)body;
        e.body.len = strlen(body);
    }
    int rc = testkit_write_msg(&e.base);
    free(fill);
    return rc;
}

static int cmd_typing(int argc, char **argv)
{
    Parley__V1__Typing t = PARLEY__V1__TYPING__INIT;
    t.typing = 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--off"))
            t.typing = 0;
        else if (!strcmp(argv[i], "--on"))
            t.typing = 1;
        else if (!strcmp(argv[i], "--user") && i + 1 < argc)
            t.user = argv[++i];
        else
            return usage();
    }
    return testkit_write_msg(&t.base);
}

static int cmd_request(int argc, char **argv)
{
    Parley__V1__Request r = PARLEY__V1__REQUEST__INIT;
    Parley__V1__Ack ack = PARLEY__V1__ACK__INIT;
    Parley__V1__SyncRequest sync = PARLEY__V1__SYNC_REQUEST__INIT;
    Parley__V1__ListChatsRequest list = PARLEY__V1__LIST_CHATS_REQUEST__INIT;
    Parley__V1__GroupList glist = PARLEY__V1__GROUP_LIST__INIT;
    Parley__V1__DeleteMessage del = PARLEY__V1__DELETE_MESSAGE__INIT;
    if (argc < 2)
        return usage();
    r.req_id = argv[1];
    if (!strcmp(argv[0], "ack") && argc == 5) {
        ack.chat_id = argv[2];
        ack.seq = (uint64_t)atoll(argv[3]);
        ack.type = !strcmp(argv[4], "read")        ? PARLEY__V1__ACK_TYPE__ACK_READ
                   : !strcmp(argv[4], "delivered") ? PARLEY__V1__ACK_TYPE__ACK_DELIVERED
                                                   : PARLEY__V1__ACK_TYPE__ACK_TYPE_UNSPECIFIED;
        r.op_case = PARLEY__V1__REQUEST__OP_ACK;
        r.ack = &ack;
    } else if (!strcmp(argv[0], "sync") && argc >= 3 && argc <= 5) {
        sync.chat_id = argv[2];
        sync.after_seq = argc > 3 ? (uint64_t)atoll(argv[3]) : 0;
        sync.limit = argc > 4 ? (uint32_t)atol(argv[4]) : 0;
        r.op_case = PARLEY__V1__REQUEST__OP_SYNC;
        r.sync = &sync;
    } else if (!strcmp(argv[0], "delete") && argc == 4) {
        del.chat_id = argv[2];
        del.seq = strtoull(argv[3], NULL, 10);
        r.op_case = PARLEY__V1__REQUEST__OP_DELETE_MESSAGE;
        r.delete_message = &del;
    } else if (!strcmp(argv[0], "list-chats") && argc == 2) {
        r.op_case = PARLEY__V1__REQUEST__OP_LIST_CHATS;
        r.list_chats = &list;
    } else if (!strcmp(argv[0], "none") && argc == 2) {
        /* a Request without an op */
    } else if (!strcmp(argv[0], "group-list") && argc == 2) {
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_LIST;
        r.group_list = &glist;
    } else {
        return usage();
    }
    return testkit_write_msg(&r.base);
}

/* ------------------------------------------------------------------ decode */

static void print_envelope(const Parley__V1__Envelope *e)
{
    int f = 1;
    putchar('{');
    testkit_json_str("server_id", e->server_id, &f);
    testkit_json_str("chat_id", e->chat_id, &f);
    testkit_json_num("seq", (long long)e->seq, &f);
    testkit_json_str("sender", e->sender, &f);
    testkit_json_num("server_ts", (long long)e->server_ts, &f);
    testkit_json_str("client_msg_id", e->client_msg_id, &f);
    testkit_json_strn("body", (const char *)e->body.data, e->body.len > 200 ? 200 : e->body.len,
                      &f);
    testkit_json_num("body_len", (long long)e->body.len, &f);
    testkit_json_str("media_id", e->media_id, &f);
    testkit_json_num("ttl_s", e->ttl_s, &f);
    testkit_json_num("kind", e->kind, &f);
    testkit_json_str("recipient", e->recipient, &f);
    testkit_json_str("sender_client_id", e->sender_client_id, &f);
    testkit_json_str("sender_device", e->sender_device, &f);
    if (e->coalesce_receipts)
        testkit_json_num("coalesce_receipts", 1, &f);
    if (e->deleted_by[0] || e->deleted_at) {
        testkit_json_str("deleted_by", e->deleted_by, &f);
        testkit_json_num("deleted_at", (long long)e->deleted_at, &f);
    }
    putchar('}');
}

static void print_envelope_msg(const ProtobufCMessage *m)
{
    print_envelope((const Parley__V1__Envelope *)m);
}

static void print_receipt(const ProtobufCMessage *m)
{
    const Parley__V1__Receipt *r = (const Parley__V1__Receipt *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("status", testkit_receipt_status(r->status), &f);
    testkit_json_str("chat_id", r->chat_id, &f);
    testkit_json_num("seq", (long long)r->seq, &f);
    testkit_json_str("server_id", r->server_id, &f);
    testkit_json_str("client_msg_id", r->client_msg_id, &f);
    testkit_json_str("by", r->by, &f);
    testkit_json_num("ts", (long long)r->ts, &f);
    testkit_json_str("error", r->error, &f);
    testkit_json_str("error_message", r->error_message, &f);
    if (r->n_more) {
        /* A coalesced STORED: the further messages, flat (space-separated). */
        size_t cap = 1;
        for (size_t i = 0; i < r->n_more; i++)
            cap += strlen(r->more[i]->client_msg_id) + strlen(r->more[i]->chat_id) + 2 + 44;
        char *ids = calloc(1, cap), *seqs = calloc(1, cap), *chats = calloc(1, cap);
        if (!ids || !seqs || !chats)
            abort();
        for (size_t i = 0; i < r->n_more; i++) {
            const char *sep = i ? " " : "";
            snprintf(ids + strlen(ids), cap - strlen(ids), "%s%s", sep, r->more[i]->client_msg_id);
            snprintf(seqs + strlen(seqs), cap - strlen(seqs), "%s%llu", sep,
                     (unsigned long long)r->more[i]->seq);
            snprintf(chats + strlen(chats), cap - strlen(chats), "%s%s", sep, r->more[i]->chat_id);
        }
        testkit_json_str("more_client_msg_ids", ids, &f);
        testkit_json_str("more_seqs", seqs, &f);
        testkit_json_str("more_chat_ids", chats, &f);
        free(ids);
        free(seqs);
        free(chats);
    }
    putchar('}');
}

static void print_response(const ProtobufCMessage *m)
{
    const Parley__V1__Response *r = (const Parley__V1__Response *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("req_id", r->req_id, &f);
    testkit_json_num("status", r->status, &f);
    testkit_json_str("error", r->error, &f);
    testkit_json_str("error_message", r->error_message, &f);
    if (r->result_case == PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE) {
        const Parley__V1__SyncPage *p = r->sync_page;
        printf(",\"sync_page\":{");
        f = 1;
        testkit_json_str("chat_id", p->chat_id, &f);
        testkit_json_num("more", p->more, &f);
        testkit_json_num("next_after_seq", (long long)p->next_after_seq, &f);
        testkit_json_num("last_seq", (long long)p->last_seq, &f);
        printf(",\"messages\":[");
        for (size_t i = 0; i < p->n_messages; i++) {
            if (i)
                putchar(',');
            print_envelope(p->messages[i]);
        }
        printf("]}");
    } else if (r->result_case == PARLEY__V1__RESPONSE__RESULT_CHAT_LIST) {
        printf(",\"chats\":[");
        for (size_t i = 0; i < r->chat_list->n_chats; i++) {
            const Parley__V1__ChatSummary *c = r->chat_list->chats[i];
            printf("%s{", i ? "," : "");
            f = 1;
            testkit_json_str("chat_id", c->chat_id, &f);
            testkit_json_num("type", c->type, &f);
            testkit_json_str("name", c->name, &f);
            testkit_json_str("peer", c->peer, &f);
            testkit_json_num("last_seq", (long long)c->last_seq, &f);
            testkit_json_num("delivered_seq", (long long)c->delivered_seq, &f);
            testkit_json_num("read_seq", (long long)c->read_seq, &f);
            testkit_json_num("last_message_at", (long long)c->last_message_at, &f);
            putchar('}');
        }
        putchar(']');
    }
    putchar('}');
}

static void print_presence(const ProtobufCMessage *m)
{
    const Parley__V1__Presence *p = (const Parley__V1__Presence *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("user", p->user, &f);
    testkit_json_str("state",
                     p->state == 1   ? "online"
                     : p->state == 2 ? "offline"
                                     : "unspecified",
                     &f);
    testkit_json_num("last_seen", (long long)p->last_seen, &f);
    putchar('}');
}

static void print_typing(const ProtobufCMessage *m)
{
    const Parley__V1__Typing *t = (const Parley__V1__Typing *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("user", t->user, &f);
    testkit_json_str("chat_id", t->chat_id, &f);
    testkit_json_num("typing", t->typing, &f);
    testkit_json_num("ts", (long long)t->ts, &f);
    putchar('}');
}

static const testkit_decoder decoders[] = {
    {"envelope", &parley__v1__envelope__descriptor, print_envelope_msg},
    {"receipt", &parley__v1__receipt__descriptor, print_receipt},
    {"response", &parley__v1__response__descriptor, print_response},
    {"presence", &parley__v1__presence__descriptor, print_presence},
    {"typing", &parley__v1__typing__descriptor, print_typing},
    {NULL, NULL, NULL},
};

static int cmd_decode(int argc, char **argv)
{
    const testkit_decoder *d = argc == 1 ? testkit_decoder_find(decoders, argv[0]) : NULL;
    return d ? testkit_decode_hex_lines(d) : usage();
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc, argv);
    if (!strcmp(cmd, "register"))
        return cmd_register(argc, argv);
    if (!strcmp(cmd, "token"))
        return cmd_token(argc, argv);
    if (!strcmp(cmd, "envelope"))
        return cmd_envelope(argc, argv);
    if (!strcmp(cmd, "typing"))
        return cmd_typing(argc, argv);
    if (!strcmp(cmd, "request"))
        return cmd_request(argc, argv);
    if (!strcmp(cmd, "decode"))
        return cmd_decode(argc, argv);
    return usage();
}
