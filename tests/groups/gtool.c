/*
 * gtool.c - a test utility for group chats, used with mosquitto_pub /
 * mosquitto_sub and ptool (tests/tools/ptool.c) by the tests/groups scripts:
 *
 *   gtool create REQ_ID NAME [--desc D] [--send everyone|admins] [USER...]
 *   gtool get REQ_ID CHAT_ID
 *   gtool list REQ_ID
 *   gtool add REQ_ID CHAT_ID USER...
 *   gtool remove REQ_ID CHAT_ID USER...
 *   gtool role REQ_ID CHAT_ID USER member|admin|owner
 *   gtool leave REQ_ID CHAT_ID
 *   gtool update REQ_ID CHAT_ID [--name N] [--desc D] [--send everyone|admins]
 *        encoded parley.v1.Request on stdout
 *   gtool decode response|envelope|receipt
 *        reads one message per line as hex (mosquitto_sub -F %x), prints one
 *        flat JSON object per line:
 *          response: req_id status error chat_id name description members
 *                    ("user:role,..." sorted) last_seq groups ("g:..,g:..")
 *          envelope: chat_id seq sender kind client_msg_id body event actor users
 *          receipt:  status chat_id seq by all error client_msg_id
 *
 * Exit status: 0 ok, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley.pb-c.h"

static int usage(void)
{
    fprintf(stderr, "usage: gtool create|get|list|add|remove|role|leave|update|decode ... "
                    "(see tests/groups/gtool.c)\n");
    return 2;
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

static Parley__V1__Permission perm(const char *s)
{
    return !strcmp(s, "admins") ? PARLEY__V1__PERMISSION__ADMINS : PARLEY__V1__PERMISSION__EVERYONE;
}

static int cmd_request(const char *op, int argc, char **argv)
{
    Parley__V1__Request r = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupCreate create = PARLEY__V1__GROUP_CREATE__INIT;
    Parley__V1__GroupGet get = PARLEY__V1__GROUP_GET__INIT;
    Parley__V1__GroupList list = PARLEY__V1__GROUP_LIST__INIT;
    Parley__V1__GroupMembers mem = PARLEY__V1__GROUP_MEMBERS__INIT;
    Parley__V1__GroupSetRole role = PARLEY__V1__GROUP_SET_ROLE__INIT;
    Parley__V1__GroupLeave leave = PARLEY__V1__GROUP_LEAVE__INIT;
    Parley__V1__GroupUpdate upd = PARLEY__V1__GROUP_UPDATE__INIT;
    Parley__V1__GroupSettings st = PARLEY__V1__GROUP_SETTINGS__INIT;
    char *users[256];
    size_t n = 0;
    if (argc < 1)
        return usage();
    r.req_id = argv[0];
    if (!strcmp(op, "create") && argc >= 2) {
        create.name = argv[1];
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--desc") && i + 1 < argc)
                create.description = argv[++i];
            else if (!strcmp(argv[i], "--send") && i + 1 < argc) {
                st.send = perm(argv[++i]);
                create.settings = &st;
            } else if (n < 256)
                users[n++] = argv[i];
        }
        create.members = users;
        create.n_members = n;
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
        r.group_create = &create;
    } else if (!strcmp(op, "get") && argc == 2) {
        get.chat_id = argv[1];
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
        r.group_get = &get;
    } else if (!strcmp(op, "list") && argc == 1) {
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_LIST;
        r.group_list = &list;
    } else if ((!strcmp(op, "add") || !strcmp(op, "remove")) && argc >= 2) {
        mem.chat_id = argv[1];
        mem.user_ids = argv + 2;
        mem.n_user_ids = (size_t)(argc - 2);
        if (!strcmp(op, "add")) {
            r.op_case = PARLEY__V1__REQUEST__OP_GROUP_ADD;
            r.group_add = &mem;
        } else {
            r.op_case = PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
            r.group_remove = &mem;
        }
    } else if (!strcmp(op, "role") && argc == 4) {
        role.chat_id = argv[1];
        role.user_id = argv[2];
        role.role = !strcmp(argv[3], "owner")   ? PARLEY__V1__ROLE__OWNER
                    : !strcmp(argv[3], "admin")  ? PARLEY__V1__ROLE__ADMIN
                    : !strcmp(argv[3], "member") ? PARLEY__V1__ROLE__MEMBER
                                                 : PARLEY__V1__ROLE__ROLE_UNSPECIFIED;
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE;
        r.group_set_role = &role;
    } else if (!strcmp(op, "leave") && argc == 2) {
        leave.chat_id = argv[1];
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_LEAVE;
        r.group_leave = &leave;
    } else if (!strcmp(op, "update") && argc >= 2) {
        upd.chat_id = argv[1];
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--name"))
                upd.name = argv[i + 1];
            else if (!strcmp(argv[i], "--desc")) {
                upd.description = argv[i + 1];
                upd.set_description = 1;
            } else if (!strcmp(argv[i], "--send")) {
                st.send = perm(argv[i + 1]);
                upd.settings = &st;
            } else
                return usage();
        }
        r.op_case = PARLEY__V1__REQUEST__OP_GROUP_UPDATE;
        r.group_update = &upd;
    } else {
        return usage();
    }
    return write_msg(&r.base);
}

/* ------------------------------------------------------------------ decode */

static void json_s(const char *key, const char *s, size_t len, int *first)
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

static void json_str(const char *key, const char *s, int *first)
{
    json_s(key, s ? s : "", s ? strlen(s) : 0, first);
}

static void json_n(const char *key, long long v, int *first)
{
    printf("%s\"%s\":%lld", *first ? "" : ",", key, v);
    *first = 0;
}

static const char *role_name(int r)
{
    return r == 3 ? "owner" : r == 2 ? "admin" : r == 1 ? "member" : "none";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *event_name(int t)
{
    static const char *const names[] = {"unspecified",     "group_created", "members_added",
                                        "members_removed", "member_left",   "role_changed",
                                        "info_updated",    "settings_updated"};
    return t >= 0 && t <= 7 ? names[t] : "unknown";
}

static void print_response(const Parley__V1__Response *r)
{
    int f = 1;
    putchar('{');
    json_str("req_id", r->req_id, &f);
    json_n("status", r->status, &f);
    json_str("error", r->error, &f);
    if (r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUP) {
        const Parley__V1__GroupInfo *g = r->group;
        char members[8192] = "";
        char *list[1024];
        size_t n = 0;
        for (size_t i = 0; i < g->n_members && n < 1024; i++) {
            char *e = malloc(80);
            if (!e)
                break;
            snprintf(e, 80, "%s:%s", g->members[i]->user_id, role_name(g->members[i]->role));
            list[n++] = e;
        }
        qsort(list, n, sizeof *list, cmp_str);
        for (size_t i = 0; i < n; i++) {
            if (strlen(members) + strlen(list[i]) + 2 < sizeof members) {
                if (i)
                    strcat(members, ",");
                strcat(members, list[i]);
            }
            free(list[i]);
        }
        json_str("chat_id", g->chat_id, &f);
        json_str("name", g->name, &f);
        json_str("description", g->description, &f);
        json_str("members", members, &f);
        json_n("n_members", (long long)g->n_members, &f);
        json_n("last_seq", (long long)g->last_seq, &f);
        json_n("send", g->settings ? g->settings->send : 0, &f);
    } else if (r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUPS) {
        char ids[8192] = "";
        for (size_t i = 0; i < r->groups->n_groups; i++) {
            if (strlen(ids) + strlen(r->groups->groups[i]->chat_id) + 2 < sizeof ids) {
                if (i)
                    strcat(ids, ",");
                strcat(ids, r->groups->groups[i]->chat_id);
            }
        }
        json_str("groups", ids, &f);
        json_n("n_groups", (long long)r->groups->n_groups, &f);
    } else if (r->result_case == PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE) {
        const Parley__V1__SyncPage *p = r->sync_page;
        char seqs[8192] = "";
        for (size_t i = 0; i < p->n_messages; i++) {
            char one[32];
            snprintf(one, sizeof one, "%s%llu", i ? "," : "",
                     (unsigned long long)p->messages[i]->seq);
            if (strlen(seqs) + strlen(one) + 1 < sizeof seqs)
                strcat(seqs, one);
        }
        char events[4096] = "";
        for (size_t i = 0; i < p->n_messages; i++) {
            const Parley__V1__Envelope *e = p->messages[i];
            if (e->kind != PARLEY__V1__ENVELOPE_KIND__SYSTEM)
                continue;
            Parley__V1__SystemEvent *ev =
                parley__v1__system_event__unpack(NULL, e->body.len, e->body.data);
            const char *name = ev ? event_name(ev->type) : "undecodable";
            if (strlen(events) + strlen(name) + 2 < sizeof events) {
                if (events[0])
                    strcat(events, ",");
                strcat(events, name);
            }
            if (ev)
                parley__v1__system_event__free_unpacked(ev, NULL);
        }
        json_str("seqs", seqs, &f);
        json_str("events", events, &f);
        json_n("more", p->more, &f);
        json_n("last_seq", (long long)p->last_seq, &f);
    }
    putchar('}');
}

static void print_envelope(const Parley__V1__Envelope *e)
{
    int f = 1;
    putchar('{');
    json_str("chat_id", e->chat_id, &f);
    json_n("seq", (long long)e->seq, &f);
    json_str("sender", e->sender, &f);
    json_n("kind", e->kind, &f);
    json_str("client_msg_id", e->client_msg_id, &f);
    if (e->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM) {
        Parley__V1__SystemEvent *ev =
            parley__v1__system_event__unpack(NULL, e->body.len, e->body.data);
        if (ev) {
            char users[4096] = "";
            for (size_t i = 0; i < ev->n_users; i++) {
                if (strlen(users) + strlen(ev->users[i]) + 2 < sizeof users) {
                    if (i)
                        strcat(users, ",");
                    strcat(users, ev->users[i]);
                }
            }
            json_str("event", event_name(ev->type), &f);
            json_str("actor", ev->actor, &f);
            json_str("users", users, &f);
            json_str("role", role_name(ev->role), &f);
            json_str("name", ev->name, &f);
            parley__v1__system_event__free_unpacked(ev, NULL);
        } else {
            json_str("event", "undecodable", &f);
        }
    } else {
        json_s("body", (const char *)e->body.data, e->body.len > 200 ? 200 : e->body.len, &f);
    }
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
    if (!strcmp(what, "response")) {
        Parley__V1__Response *r = parley__v1__response__unpack(NULL, len, buf);
        if (!r)
            goto bad;
        print_response(r);
        parley__v1__response__free_unpacked(r, NULL);
    } else if (!strcmp(what, "envelope")) {
        Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, len, buf);
        if (!e)
            goto bad;
        print_envelope(e);
        parley__v1__envelope__free_unpacked(e, NULL);
    } else {
        Parley__V1__Receipt *r = parley__v1__receipt__unpack(NULL, len, buf);
        if (!r)
            goto bad;
        putchar('{');
        json_str("status", receipt_status(r->status), &f);
        json_str("chat_id", r->chat_id, &f);
        json_n("seq", (long long)r->seq, &f);
        json_str("by", r->by, &f);
        json_n("all", r->all, &f);
        json_str("error", r->error, &f);
        json_str("client_msg_id", r->client_msg_id, &f);
        putchar('}');
        parley__v1__receipt__free_unpacked(r, NULL);
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
    if (argc != 1 || (strcmp(argv[0], "response") && strcmp(argv[0], "envelope") &&
                      strcmp(argv[0], "receipt")))
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
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "decode"))
        return cmd_decode(argc - 2, argv + 2);
    return cmd_request(argv[1], argc - 2, argv + 2);
}
