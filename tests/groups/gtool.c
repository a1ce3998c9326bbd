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
#include "testkit.h"

static int usage(void)
{
    fprintf(stderr, "usage: gtool create|get|list|add|remove|role|leave|update|decode ... "
                    "(see tests/groups/gtool.c)\n");
    return 2;
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
        role.role = !strcmp(argv[3], "owner")    ? PARLEY__V1__ROLE__OWNER
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
    return testkit_write_msg(&r.base);
}

/* ------------------------------------------------------------------ decode */

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
    static const char *const names[] = {"unspecified",     "group_created",   "members_added",
                                        "members_removed", "member_left",     "role_changed",
                                        "info_updated",    "settings_updated"};
    return t >= 0 && t <= 7 ? names[t] : "unknown";
}

static void print_response(const ProtobufCMessage *m)
{
    const Parley__V1__Response *r = (const Parley__V1__Response *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("req_id", r->req_id, &f);
    testkit_json_num("status", r->status, &f);
    testkit_json_str("error", r->error, &f);
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
        testkit_json_str("chat_id", g->chat_id, &f);
        testkit_json_str("name", g->name, &f);
        testkit_json_str("description", g->description, &f);
        testkit_json_str("members", members, &f);
        testkit_json_num("n_members", (long long)g->n_members, &f);
        testkit_json_num("last_seq", (long long)g->last_seq, &f);
        testkit_json_num("send", g->settings ? g->settings->send : 0, &f);
    } else if (r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUPS) {
        char ids[8192] = "";
        for (size_t i = 0; i < r->groups->n_groups; i++) {
            if (strlen(ids) + strlen(r->groups->groups[i]->chat_id) + 2 < sizeof ids) {
                if (i)
                    strcat(ids, ",");
                strcat(ids, r->groups->groups[i]->chat_id);
            }
        }
        testkit_json_str("groups", ids, &f);
        testkit_json_num("n_groups", (long long)r->groups->n_groups, &f);
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
            Parley__V1__SystemEvent *ev = parley__v1__system_event__unpack(NULL, e->body.len,
                                                                           e->body.data);
            const char *name = ev ? event_name(ev->type) : "undecodable";
            if (strlen(events) + strlen(name) + 2 < sizeof events) {
                if (events[0])
                    strcat(events, ",");
                strcat(events, name);
            }
            if (ev)
                parley__v1__system_event__free_unpacked(ev, NULL);
        }
        testkit_json_str("seqs", seqs, &f);
        testkit_json_str("events", events, &f);
        testkit_json_num("more", p->more, &f);
        testkit_json_num("last_seq", (long long)p->last_seq, &f);
    }
    putchar('}');
}

static void print_envelope(const ProtobufCMessage *m)
{
    const Parley__V1__Envelope *e = (const Parley__V1__Envelope *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("chat_id", e->chat_id, &f);
    testkit_json_num("seq", (long long)e->seq, &f);
    testkit_json_str("sender", e->sender, &f);
    testkit_json_num("kind", e->kind, &f);
    testkit_json_str("client_msg_id", e->client_msg_id, &f);
    if (e->kind == PARLEY__V1__ENVELOPE_KIND__SYSTEM) {
        Parley__V1__SystemEvent *ev = parley__v1__system_event__unpack(NULL, e->body.len,
                                                                       e->body.data);
        if (ev) {
            char users[4096] = "";
            for (size_t i = 0; i < ev->n_users; i++) {
                if (strlen(users) + strlen(ev->users[i]) + 2 < sizeof users) {
                    if (i)
                        strcat(users, ",");
                    strcat(users, ev->users[i]);
                }
            }
            testkit_json_str("event", event_name(ev->type), &f);
            testkit_json_str("actor", ev->actor, &f);
            testkit_json_str("users", users, &f);
            testkit_json_str("role", role_name(ev->role), &f);
            testkit_json_str("name", ev->name, &f);
            parley__v1__system_event__free_unpacked(ev, NULL);
        } else {
            testkit_json_str("event", "undecodable", &f);
        }
    } else {
        testkit_json_strn("body", (const char *)e->body.data, e->body.len > 200 ? 200 : e->body.len,
                          &f);
    }
    putchar('}');
}

static void print_receipt(const ProtobufCMessage *m)
{
    const Parley__V1__Receipt *r = (const Parley__V1__Receipt *)m;
    int f = 1;
    putchar('{');
    testkit_json_str("status", testkit_receipt_status(r->status), &f);
    testkit_json_str("chat_id", r->chat_id, &f);
    testkit_json_num("seq", (long long)r->seq, &f);
    testkit_json_str("by", r->by, &f);
    testkit_json_num("all", r->all, &f);
    testkit_json_str("error", r->error, &f);
    testkit_json_str("client_msg_id", r->client_msg_id, &f);
    putchar('}');
}

static const testkit_decoder decoders[] = {
    {"response", &parley__v1__response__descriptor, print_response},
    {"envelope", &parley__v1__envelope__descriptor, print_envelope},
    {"receipt", &parley__v1__receipt__descriptor, print_receipt},
    {NULL, NULL, NULL},
};

static int cmd_decode(int argc, char **argv)
{
    const testkit_decoder *d = argc == 1 ? testkit_decoder_find(decoders, argv[0]) : NULL;
    return d ? testkit_decode_hex_lines(d) : usage();
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "decode"))
        return cmd_decode(argc - 2, argv + 2);
    return cmd_request(argv[1], argc - 2, argv + 2);
}
