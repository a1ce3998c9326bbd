/*
 * cmd_messages.c - send, listen, typing, read, chats (history, search and
 * export: cmd_history.c).
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_msg.h"
#include "cli_render.h"
#include "parley/group.h"

#define DEFAULT_TIMEOUT_S 30

static long timeout_arg(const char *s, long dflt)
{
    return s ? cli_number(s) : dflt;
}

/* The start of send, typing and chats: cli_parse with exactly NPOS positional
 * arguments, OPTS[0] being "--timeout" (its seconds in *t, DEFAULT_TIMEOUT_S
 * when absent), then a transient client. NULL with *code set on a usage error
 * (printed) or a failed open. */
static parley_client *open_timed(cli_ctx *ctx, const char *cmd, int argc, char **argv,
                                 const cli_opt *opts, int nopts, int npos, long *t, int *code)
{
    if (cli_parse(cmd, argc, argv, opts, nopts) != npos) {
        *code = cli_usage(cmd);
        return NULL;
    }
    *t = timeout_arg(*opts[0].value, DEFAULT_TIMEOUT_S);
    if (*t < 0) {
        *code = cli_error(CLI_USAGE, "%s: --timeout must be a number of seconds", cmd);
        return NULL;
    }
    return cli_open(ctx, 1, code);
}

/* ---- send ---------------------------------------------------------------- */

#define MAX_MENTIONS 64 /* Content.mentions (docs/protocol.md, "Rich messages") */

typedef struct {
    const char *text;
    const char *chat_id;
    uint64_t reply_seq; /* 0: not a reply */
    long timeout_s;
    /* the mentions found, user ids copied */
    char mentions[MAX_MENTIONS][65];
    size_t n_mentions;
} send_arg;

static bool user_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

typedef struct {
    char (*ids)[65];
    size_t n;
} member_list;

static void collect_members(void *ud, const parley_group *g)
{
    member_list *l = ud;
    l->ids = calloc(g->n_members ? g->n_members : 1, sizeof *l->ids);
    if (!l->ids)
        return;
    for (size_t i = 0; i < g->n_members; i++)
        if (strlen(g->members[i].user_id) < sizeof l->ids[0])
            snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", g->members[i].user_id);
}

static bool listed(char (*ids)[65], size_t n, const char *u, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) == len && strncmp(ids[i], u, len) == 0)
            return true;
    return false;
}

/* The "@user" words of a->text that name a member of the chat (the peer of
 * a direct chat, a member of a group; never this user): a->mentions.
 * PARLEY_OK or the error of fetching the group's members. */
static int find_mentions(parley_client *c, const char *to, send_arg *a)
{
    if (!strchr(a->text, '@'))
        return PARLEY_OK;
    member_list l = {0};
    if (strncmp(to, "g:", 2) == 0) {
        int rc = parley_group_info(c, to, collect_members, &l, (int)a->timeout_s * 1000);
        if (rc != PARLEY_OK) {
            free(l.ids);
            return rc;
        }
        if (!l.ids)
            return PARLEY_ENOMEM;
    } else {
        l.ids = calloc(1, sizeof *l.ids);
        if (!l.ids)
            return PARLEY_ENOMEM;
        snprintf(l.ids[0], sizeof l.ids[0], "%s", to);
        l.n = 1;
    }
    const char *me = parley_user_id(c);
    for (const char *p = a->text; (p = strchr(p, '@')) != NULL; p++) {
        if (p > a->text && user_char(p[-1])) /* an address: user@host */
            continue;
        size_t len = 0;
        while (user_char(p[1 + len]))
            len++;
        /* "@bob." or "@bob-" at the end of a sentence: try without them too */
        while (len && !listed(l.ids, l.n, p + 1, len) && (p[len] == '.' || p[len] == '-'))
            len--;
        if (!len || !listed(l.ids, l.n, p + 1, len) ||
            (strlen(me) == len && strncmp(me, p + 1, len) == 0) ||
            listed(a->mentions, a->n_mentions, p + 1, len) || a->n_mentions >= MAX_MENTIONS)
            continue;
        memcpy(a->mentions[a->n_mentions], p + 1, len);
        a->mentions[a->n_mentions++][len] = '\0';
    }
    free(l.ids);
    return PARLEY_OK;
}

static int queue_text(parley_client *c, const char *to, void *arg, char *cmid)
{
    send_arg *a = arg;
    parley_msgref ref = {0};
    cli_msg t;
    if (a->reply_seq) {
        int rc = cli_msg_at(c, a->chat_id, a->reply_seq, &t);
        if (rc == PARLEY_ENOTFOUND)
            return CLI_QUEUE_FAILED(cli_error(CLI_USAGE, "send: --reply: %s has no message #%llu",
                                              a->chat_id, (unsigned long long)a->reply_seq));
        if (rc != PARLEY_OK)
            return rc;
        if (t.system || t.kind == PARLEY_MSG_DELETED)
            return CLI_QUEUE_FAILED(cli_error(CLI_USAGE, "send: --reply: #%llu of %s is %s",
                                              (unsigned long long)a->reply_seq, a->chat_id,
                                              t.system ? "not a message of a member" : "deleted"));
        ref.sender = t.sender;
        ref.client_msg_id = t.client_msg_id;
    }
    int rc = find_mentions(c, to, a);
    if (rc != PARLEY_OK)
        return rc;
    if (!a->reply_seq && !a->n_mentions)
        return parley_send_text(c, to, a->text, cmid);
    const char *mentions[MAX_MENTIONS];
    for (size_t i = 0; i < a->n_mentions; i++)
        mentions[i] = a->mentions[i];
    parley_send_opts o = {.reply_to = a->reply_seq ? &ref : NULL,
                          .mentions = a->n_mentions ? mentions : NULL,
                          .n_mentions = a->n_mentions};
    return parley_send_text_opts(c, to, a->text, &o, cmid);
}

/* send, and group send (group_only: TO must name a group). */
static int send_cmd(cli_ctx *ctx, const char *name, int argc, char **argv, bool group_only)
{
    const char *timeout = NULL, *reply = NULL;
    bool json = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL},
                      {"--json", 0, NULL, &json},
                      {"--reply", 1, &reply, NULL}};
    if (cli_parse(name, argc, argv, opts, 3) != 2)
        return cli_usage(name);
    long t = timeout_arg(timeout, DEFAULT_TIMEOUT_S);
    if (t < 0)
        return cli_error(CLI_USAGE, "%s: --timeout must be a number of seconds", name);
    long seq = reply ? cli_number(reply) : 0;
    if (seq < 0 || (reply && seq == 0))
        return cli_error(CLI_USAGE, "%s: --reply wants a seq (a positive number), not '%s'", name,
                         reply);
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    char chat_id[160], to[160];
    code = cli_chat_resolve(c, name, argv[0], chat_id, sizeof chat_id, to, sizeof to);
    if (code == CLI_OK && group_only && strncmp(chat_id, "g:", 2) != 0)
        code = cli_error(CLI_USAGE, "%s: %s is not a group", name, argv[0]);
    if (code == CLI_OK) {
        send_arg *a = calloc(1, sizeof *a);
        if (!a) {
            code = cli_error(CLI_FAIL, "%s: out of memory", name);
        } else {
            a->text = argv[1];
            a->chat_id = chat_id;
            a->reply_seq = (uint64_t)seq;
            a->timeout_s = t;
            code = cli_send_and_wait(c, name, to, queue_text, a, t, json, a->reply_seq != 0);
            free(a);
        }
    }
    parley_close(c);
    return code;
}

int cmd_send(cli_ctx *ctx, int argc, char **argv)
{
    return send_cmd(ctx, "send", argc, argv, false);
}

int cmd_group_send(cli_ctx *ctx, int argc, char **argv)
{
    return send_cmd(ctx, "group send", argc, argv, true);
}

/* ---- listen -------------------------------------------------------------- */

typedef struct {
    parley_client *c;
    bool json, read;
    long count;    /* messages to wait for; 0: unlimited */
    long seen;
    int ack_failed;
} listen_ctx;

static void listen_on_message(void *ud, const parley_message *m)
{
    listen_ctx *l = ud;
    cli_print_message(l->c, m, l->json);
    l->seen++;
    int rc = l->read ? parley_ack_read(l->c, m->chat_id, m->seq)
                     : parley_ack_delivered(l->c, m->chat_id, m->seq);
    if (rc != PARLEY_OK)
        l->ack_failed = 1;
}

static void listen_on_receipt(void *ud, const parley_receipt *r)
{
    listen_ctx *l = ud;
    cli_print_receipt(r, l->json);
}

static void listen_on_event(void *ud, const parley_event *e)
{
    listen_ctx *l = ud;
    cli_print_event(e, l->json);
    if (e->type == PARLEY_EVENT_UNDECRYPTABLE) {
        l->seen++; /* it occupies its place in the sequence: ack it too */
        parley_ack_delivered(l->c, e->chat_id, e->seq);
    }
}

static void listen_on_presence(void *ud, const parley_presence *p)
{
    listen_ctx *l = ud;
    cli_print_presence(p, l->json);
}

static void listen_on_typing(void *ud, const parley_typing *t)
{
    listen_ctx *l = ud;
    cli_print_typing(t, l->json);
}

/* Watch every user of a comma-separated list. parley_rc. */
static int watch_list(parley_client *c, const char *list)
{
    char buf[1024], *save = NULL;
    if (strlen(list) >= sizeof buf)
        return PARLEY_EINVAL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        int rc = parley_watch_presence(c, u);
        if (rc != PARLEY_OK)
            return rc;
    }
    return PARLEY_OK;
}

int cmd_listen(cli_ctx *ctx, int argc, char **argv)
{
    const char *count = NULL, *timeout = NULL, *presence = NULL;
    bool json = false, read = false;
    int code = CLI_OK;
    cli_opt opts[] = {
        {"--count", 1, &count, NULL},       {"--timeout", 1, &timeout, NULL},
        {"--json", 0, NULL, &json},         {"--read", 0, NULL, &read},
        {"--presence", 1, &presence, NULL},
    };
    if (cli_parse("listen", argc, argv, opts, 5) != 0)
        return cli_usage("listen");
    long n = count ? cli_number(count) : 0;
    long t = timeout_arg(timeout, 0);
    if (n < 0 || t < 0)
        return cli_error(CLI_USAGE, "listen: --count and --timeout take numbers");
    parley_client *c = cli_open(ctx, 0, &code);
    if (!c)
        return code;
    /* One listener per home: two would share the MQTT client id and take
     * the session from each other in turn. */
    char lock_path[1100];
    snprintf(lock_path, sizeof lock_path, "%s/listen.lock", parley_home(c));
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        code = cli_error(CLI_FAIL, "listen: another `parley listen` is running for %s",
                         parley_home(c));
        if (lock_fd >= 0)
            close(lock_fd);
        parley_close(c);
        return code;
    }
    listen_ctx l = {.c = c, .json = json, .read = read, .count = n};
    parley_callbacks cb = {.on_message = listen_on_message,
                           .on_receipt = listen_on_receipt,
                           .on_event = listen_on_event,
                           .on_presence = listen_on_presence,
                           .on_typing = listen_on_typing,
                           .ud = &l};
    parley_set_callbacks(c, &cb);
    cli_install_signals();
    int rc = presence ? watch_list(c, presence) : PARLEY_OK;
    if (rc != PARLEY_OK) {
        code = rc == PARLEY_EINVAL ? cli_error(CLI_USAGE, "listen: --presence: invalid user list")
                                   : cli_fail(c, rc, "listen");
        goto done;
    }
    rc = parley_connect(c);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "listen");
        goto done;
    }
    int64_t deadline = t ? cli_now_ms() + t * 1000 : 0;
    while (!cli_stop && (!n || l.seen < n) && (!deadline || cli_now_ms() < deadline)) {
        rc = parley_poll(c, 200);
        if (rc < 0) {
            code = cli_fail(c, rc, "listen");
            goto done;
        }
    }
    /* Let the last acks reach the broker before leaving. */
    if (parley_is_connected(c))
        parley_flush(c, 5000);
    if (n && l.seen < n && !cli_stop)
        code = cli_error(CLI_TIMEOUT, "listen: %ld of %ld messages after %ld s", l.seen, n, t);
    parley_disconnect(c);

done:
    parley_close(c);
    close(lock_fd); /* releases the lock */
    return code;
}

/* ---- typing -------------------------------------------------------------- */

static void quiet_event(void *ud, const parley_event *e)
{
    (void)ud;
    if (e->type == PARLEY_EVENT_IDENTITY_CHANGED)
        cli_print_event(e, false);
}

int cmd_typing(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL;
    bool stop = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL}, {"--stop", 0, NULL, &stop}};
    long t;
    parley_client *c = open_timed(ctx, "typing", argc, argv, opts, 2, 1, &t, &code);
    if (!c)
        return code;
    parley_callbacks cb = {.on_event = quiet_event};
    parley_set_callbacks(c, &cb);
    code = cli_connect(c, "typing", (int)t);
    if (code != CLI_OK)
        goto done;
    int rc = parley_send_typing(c, argv[0], !stop);
    if (rc != PARLEY_OK) {
        code = rc == PARLEY_EINVAL ? cli_error(CLI_USAGE, "typing: invalid recipient %s", argv[0])
                                   : cli_fail(c, rc, "typing");
        goto done;
    }
    parley_disconnect(c); /* the publish goes out before the DISCONNECT */

done:
    parley_close(c);
    return code;
}

/* ---- read ---------------------------------------------------------------- */

typedef struct {
    const char *chat_id;
    int found;
    unsigned long long synced, last;
} last_seq_ctx;

static int find_last(void *ud, const parley_chat *ch)
{
    last_seq_ctx *x = ud;
    if (strcmp(ch->chat_id, x->chat_id) != 0)
        return 0;
    x->found = 1;
    x->synced = (unsigned long long)ch->synced_seq;
    x->last = (unsigned long long)ch->last_seq;
    return 1;
}

int cmd_read(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL;
    bool json = false;
    char chat_id[160];
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL}, {"--json", 0, NULL, &json}};
    int npos = cli_parse("read", argc, argv, opts, 2);
    if (npos != 1 && npos != 2)
        return cli_usage("read");
    long t = timeout_arg(timeout, DEFAULT_TIMEOUT_S);
    long seq = npos == 2 ? cli_number(argv[1]) : 0;
    if (t < 0 || seq < 0 || (npos == 2 && seq == 0))
        return cli_error(CLI_USAGE, "read: SEQ and --timeout must be positive numbers");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    int rc;
    code = cli_chat_resolve(c, "read", argv[0], chat_id, sizeof chat_id, NULL, 0);
    if (code != CLI_OK)
        goto done;
    code = cli_connect_synced(c, (int)t);
    if (code != CLI_OK)
        goto done;
    /* After the sync the local chat knows the server's last seq. */
    last_seq_ctx x = {chat_id, 0, 0, 0};
    rc = parley_chats(c, find_last, &x);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "read");
        goto disconnect;
    }
    if (!x.found) {
        code = cli_error(CLI_USAGE, "read: no chat %s", chat_id);
        goto disconnect;
    }
    if (!seq) {
        seq = (long)x.synced;
        if (!seq) {
            code = cli_error(CLI_FAIL, "read: no messages in %s", chat_id);
            goto disconnect;
        }
    } else if ((unsigned long long)seq > x.last) {
        /* The broker would refuse it (bad_seq) after we said "read". */
        code = cli_error(CLI_USAGE, "read: %s has no message %ld (its last is %llu)", chat_id, seq,
                         x.last);
        goto disconnect;
    }
    rc = parley_ack_read(c, chat_id, (uint64_t)seq);
    if (rc == PARLEY_OK)
        rc = parley_flush(c, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "read");
    else if (json)
        printf("{\"chat_id\":\"%s\",\"read_seq\":%ld}\n", chat_id, seq);
    else
        printf("read %s up to %ld\n", chat_id, seq);

disconnect:
    parley_disconnect(c);

done:
    parley_close(c);
    return code;
}

/* ---- chats / history ----------------------------------------------------- */

static int print_chat(void *ud, const parley_chat *ch)
{
    bool json = *(bool *)ud;
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "chat_id", ch->chat_id, "name",
                              ch->name, "last_seq", (json_int_t)ch->last_seq, "synced_seq",
                              (json_int_t)ch->synced_seq, "delivered_seq",
                              (json_int_t)ch->delivered_seq, "read_seq", (json_int_t)ch->read_seq,
                              "last_message_at", (json_int_t)ch->last_message_at);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%-40s %-20s last %llu  delivered %llu  read %llu\n", ch->chat_id, ch->name,
               (unsigned long long)ch->last_seq, (unsigned long long)ch->delivered_seq,
               (unsigned long long)ch->read_seq);
    }
    return 0;
}

int cmd_chats(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL;
    bool json = false, offline = false;
    int code = CLI_OK;
    cli_opt opts[] = {
        {"--timeout", 1, &timeout, NULL},
        {"--json", 0, NULL, &json},
        {"--offline", 0, NULL, &offline},
    };
    long t;
    parley_client *c = open_timed(ctx, "chats", argc, argv, opts, 3, 0, &t, &code);
    if (!c)
        return code;
    code = cli_sync_first(c, "chats", offline, t);
    if (code == CLI_OK) {
        int rc = parley_chats(c, print_chat, &json);
        if (rc != PARLEY_OK)
            code = cli_fail(c, rc, "chats");
    }
    parley_close(c);
    return code;
}
