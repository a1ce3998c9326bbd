/*
 * ptool.c - a test utility for driving the broker plugin with third-party
 * MQTT clients (mosquitto_pub / mosquitto_sub):
 *
 *   ptool keygen DIR                      identity key pair -> DIR/identity.{pk,sk}
 *   ptool register STORE_URI USER DIR     write USER with DIR's key into the store
 *   ptool token DIR USER CLIENT_ID [TTL_S] print a connect token (TTL may be < 0)
 *   ptool envelope --client-msg-id ID [--sender U] [--body TEXT] [--body-size N]
 *                  [--media-id M] [--ttl S]          encoded Envelope on stdout
 *   ptool typing [--on|--off] [--user U]             encoded Typing on stdout
 *   ptool request ack REQ_ID CHAT_ID SEQ delivered|read
 *   ptool request sync REQ_ID CHAT_ID [AFTER_SEQ [LIMIT]]
 *   ptool request list-chats REQ_ID
 *   ptool request group-list REQ_ID                  (a group op)
 *   ptool request none REQ_ID                        (a Request without an op)
 *   ptool decode envelope|receipt|response|presence|typing
 *        reads one message per line as hex (mosquitto_sub -F %x), prints one
 *        JSON object per line; an undecodable line prints {"error":"undecodable"}.
 *
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "ids.h"
#include "parley.pb-c.h"
#include "store.h"
#include "token.h"

static int usage(void)
{
    fprintf(stderr, "usage: ptool keygen|register|token|envelope|typing|request|decode ... "
                    "(see tests/tools/ptool.c)\n");
    return 2;
}

static int read_file(const char *dir, const char *name, uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ptool: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    if (n != len) {
        fprintf(stderr, "ptool: %s: short file\n", path);
        return -1;
    }
    return 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *buf, size_t len, int mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) {
        fprintf(stderr, "ptool: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    chmod(path, (mode_t)mode);
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    if (argc != 1)
        return usage();
    mkdir(argv[0], 0700);
    crypto_sign_keypair(pk, sk);
    int rc = write_file(argv[0], "identity.sk", sk, sizeof sk, 0600) ||
             write_file(argv[0], "identity.pk", pk, sizeof pk, 0644);
    sodium_memzero(sk, sizeof sk);
    return rc ? 1 : 0;
}

static int cmd_register(int argc, char **argv)
{
    store_t *s = NULL;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (argc != 3)
        return usage();
    if (read_file(argv[2], "identity.pk", pk, sizeof pk) != 0)
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
    char tok[TOKEN_MAX_LEN];
    if (argc < 3 || argc > 4)
        return usage();
    long long ttl = argc == 4 ? atoll(argv[3]) : TOKEN_DEFAULT_LIFETIME_S;
    if (read_file(argv[0], "identity.sk", sk, sizeof sk) != 0)
        return 1;
    int rc = token_mint(argv[1], argv[2], (int64_t)time(NULL) + ttl, sk, tok, sizeof tok);
    sodium_memzero(sk, sizeof sk);
    if (rc != TOKEN_OK) {
        fprintf(stderr, "ptool: token: %s\n", token_strerror(rc));
        return 1;
    }
    printf("%s\n", tok);
    return 0;
}

static int write_msg(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 1;
    protobuf_c_message_pack(m, buf);
    int rc = fwrite(buf, 1, len, stdout) == len ? 0 : 1;
    free(buf);
    return rc;
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
    int rc = write_msg(&e.base);
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
    return write_msg(&t.base);
}

static int cmd_request(int argc, char **argv)
{
    Parley__V1__Request r = PARLEY__V1__REQUEST__INIT;
    Parley__V1__Ack ack = PARLEY__V1__ACK__INIT;
    Parley__V1__SyncRequest sync = PARLEY__V1__SYNC_REQUEST__INIT;
    Parley__V1__ListChatsRequest list = PARLEY__V1__LIST_CHATS_REQUEST__INIT;
    Parley__V1__GroupList glist = PARLEY__V1__GROUP_LIST__INIT;
    if (argc < 2)
        return usage();
    r.req_id = argv[1];
    if (!strcmp(argv[0], "ack") && argc == 5) {
        ack.chat_id = argv[2];
        ack.seq = (uint64_t)atoll(argv[3]);
        ack.type = !strcmp(argv[4], "read") ? PARLEY__V1__ACK_TYPE__ACK_READ
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
    return write_msg(&r.base);
}

/* ------------------------------------------------------------------ decode */

static void json_str(const char *key, const char *s, size_t len, int *first)
{
    printf("%s\"%s\":\"", *first ? "" : ",", key);
    *first = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_s(const char *key, const char *s, int *first)
{
    json_str(key, s ? s : "", s ? strlen(s) : 0, first);
}

static void json_n(const char *key, long long v, int *first)
{
    printf("%s\"%s\":%lld", *first ? "" : ",", key, v);
    *first = 0;
}

static void print_envelope(const Parley__V1__Envelope *e)
{
    int f = 1;
    putchar('{');
    json_s("server_id", e->server_id, &f);
    json_s("chat_id", e->chat_id, &f);
    json_n("seq", (long long)e->seq, &f);
    json_s("sender", e->sender, &f);
    json_n("server_ts", (long long)e->server_ts, &f);
    json_s("client_msg_id", e->client_msg_id, &f);
    json_str("body", (const char *)e->body.data, e->body.len > 200 ? 200 : e->body.len, &f);
    json_n("body_len", (long long)e->body.len, &f);
    json_s("media_id", e->media_id, &f);
    json_n("ttl_s", e->ttl_s, &f);
    json_n("kind", e->kind, &f);
    json_s("recipient", e->recipient, &f);
    json_s("sender_client_id", e->sender_client_id, &f);
    putchar('}');
}

static const char *receipt_status(int s)
{
    static const char *const names[] = {"unspecified", "stored", "delivered", "read", "rejected"};
    return s >= 0 && s <= 4 ? names[s] : "unknown";
}

static void decode_one(const char *what, const uint8_t *buf, size_t len)
{
    int f = 1;
    if (!strcmp(what, "envelope")) {
        Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, len, buf);
        if (!e)
            goto bad;
        print_envelope(e);
        parley__v1__envelope__free_unpacked(e, NULL);
    } else if (!strcmp(what, "receipt")) {
        Parley__V1__Receipt *r = parley__v1__receipt__unpack(NULL, len, buf);
        if (!r)
            goto bad;
        putchar('{');
        json_s("status", receipt_status(r->status), &f);
        json_s("chat_id", r->chat_id, &f);
        json_n("seq", (long long)r->seq, &f);
        json_s("server_id", r->server_id, &f);
        json_s("client_msg_id", r->client_msg_id, &f);
        json_s("by", r->by, &f);
        json_n("ts", (long long)r->ts, &f);
        json_s("error", r->error, &f);
        json_s("error_message", r->error_message, &f);
        putchar('}');
        parley__v1__receipt__free_unpacked(r, NULL);
    } else if (!strcmp(what, "response")) {
        Parley__V1__Response *r = parley__v1__response__unpack(NULL, len, buf);
        if (!r)
            goto bad;
        putchar('{');
        json_s("req_id", r->req_id, &f);
        json_n("status", r->status, &f);
        json_s("error", r->error, &f);
        json_s("error_message", r->error_message, &f);
        if (r->result_case == PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE) {
            const Parley__V1__SyncPage *p = r->sync_page;
            printf(",\"sync_page\":{");
            f = 1;
            json_s("chat_id", p->chat_id, &f);
            json_n("more", p->more, &f);
            json_n("next_after_seq", (long long)p->next_after_seq, &f);
            json_n("last_seq", (long long)p->last_seq, &f);
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
                json_s("chat_id", c->chat_id, &f);
                json_n("type", c->type, &f);
                json_s("name", c->name, &f);
                json_s("peer", c->peer, &f);
                json_n("last_seq", (long long)c->last_seq, &f);
                json_n("delivered_seq", (long long)c->delivered_seq, &f);
                json_n("read_seq", (long long)c->read_seq, &f);
                json_n("last_message_at", (long long)c->last_message_at, &f);
                putchar('}');
            }
            putchar(']');
        }
        putchar('}');
        parley__v1__response__free_unpacked(r, NULL);
    } else if (!strcmp(what, "presence")) {
        Parley__V1__Presence *p = parley__v1__presence__unpack(NULL, len, buf);
        if (!p)
            goto bad;
        putchar('{');
        json_s("user", p->user, &f);
        json_s("state", p->state == 1 ? "online" : p->state == 2 ? "offline" : "unspecified", &f);
        json_n("last_seen", (long long)p->last_seen, &f);
        putchar('}');
        parley__v1__presence__free_unpacked(p, NULL);
    } else if (!strcmp(what, "typing")) {
        Parley__V1__Typing *t = parley__v1__typing__unpack(NULL, len, buf);
        if (!t)
            goto bad;
        putchar('{');
        json_s("user", t->user, &f);
        json_s("chat_id", t->chat_id, &f);
        json_n("typing", t->typing, &f);
        json_n("ts", (long long)t->ts, &f);
        putchar('}');
        parley__v1__typing__free_unpacked(t, NULL);
    }
    putchar('\n');
    return;
bad:
    printf("{\"error\":\"undecodable\"}\n");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int cmd_decode(int argc, char **argv)
{
    if (argc != 1 || (strcmp(argv[0], "envelope") && strcmp(argv[0], "receipt") &&
                      strcmp(argv[0], "response") && strcmp(argv[0], "presence") &&
                      strcmp(argv[0], "typing")))
        return usage();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        uint8_t *buf = malloc((size_t)n / 2 + 1);
        if (!buf)
            break;
        size_t len = 0;
        int ok = n % 2 == 0;
        for (ssize_t i = 0; ok && i < n; i += 2) {
            int hi = hexval(line[i]), lo = hexval(line[i + 1]);
            if (hi < 0 || lo < 0)
                ok = 0;
            else
                buf[len++] = (uint8_t)(hi << 4 | lo);
        }
        if (ok)
            decode_one(argv[0], buf, len);
        else
            printf("{\"error\":\"not hex\"}\n");
        fflush(stdout);
        free(buf);
    }
    free(line);
    return 0;
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
