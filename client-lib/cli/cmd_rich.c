/*
 * cmd_rich.c - react, edit, delete (for everyone) and timer: the actions on
 * a chat's messages (docs/client.md, "Replies, reactions, edits, deletes,
 * timers"). A message is named by its seq as `parley history` shows it; the
 * command syncs first, looks the seq up in the local history and sends the
 * action through the library (parley_send_reaction, parley_send_edit,
 * parley_delete_for_everyone, parley_set_timer), waiting for its stored
 * receipt like `send`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_msg.h"

#define RICH_TIMEOUT_S 30
#define TIMER_MAX_S 7776000 /* 90 days: the protocol's limit */

typedef enum { RICH_REACT, RICH_EDIT, RICH_DELETE, RICH_TIMER } rich_kind;

typedef struct {
    const char *cmd;
    rich_kind kind;
    const char *chat_id;
    uint64_t seq;     /* react, edit, delete */
    const char *text; /* react: the emoji ("" removes); edit: the new text */
    uint32_t timer_s; /* timer */
} rich_arg;

static int queue_rich(parley_client *c, const char *to, void *arg, char *cmid)
{
    rich_arg *a = arg;
    if (a->kind == RICH_TIMER)
        return parley_set_timer(c, to, a->timer_s, cmid);
    cli_msg t;
    int rc = cli_msg_at(c, a->chat_id, a->seq, &t);
    if (rc == PARLEY_ENOTFOUND)
        return CLI_QUEUE_FAILED(cli_error(CLI_USAGE, "%s: %s has no message #%llu", a->cmd,
                                          a->chat_id, (unsigned long long)a->seq));
    if (rc != PARLEY_OK)
        return rc;
    if (t.system)
        return CLI_QUEUE_FAILED(cli_error(CLI_USAGE, "%s: #%llu of %s is not a message of a member",
                                          a->cmd, (unsigned long long)a->seq, a->chat_id));
    if (t.kind == PARLEY_MSG_DELETED)
        return CLI_QUEUE_FAILED(cli_error(CLI_USAGE, "%s: #%llu of %s was deleted", a->cmd,
                                          (unsigned long long)a->seq, a->chat_id));
    parley_msgref ref = {t.sender, t.client_msg_id};
    switch (a->kind) {
    case RICH_REACT: return parley_send_reaction(c, to, &ref, a->text, cmid);
    case RICH_EDIT: return parley_send_edit(c, to, &ref, a->text, cmid);
    case RICH_DELETE: return parley_delete_for_everyone(c, to, &ref, cmid);
    case RICH_TIMER: break;
    }
    return PARLEY_EINVAL;
}

/* Parse "CHAT SEQ [TEXT]" plus --timeout/--json (and react's --remove). */
static int run_rich(cli_ctx *ctx, rich_arg *a, int argc, char **argv, int want, bool *remove)
{
    const char *timeout = NULL;
    bool json = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL},
                      {"--json", 0, NULL, &json},
                      {"--remove", 0, NULL, remove}};
    int npos = cli_parse(a->cmd, argc, argv, opts, remove ? 3 : 2);
    if (npos < 0)
        return cli_usage(a->cmd);
    if (remove && *remove)
        want--; /* react CHAT SEQ --remove: no emoji */
    if (npos != want)
        return cli_usage(a->cmd);
    long t = timeout ? cli_number(timeout) : RICH_TIMEOUT_S;
    if (t <= 0)
        return cli_error(CLI_USAGE, "%s: --timeout must be a positive number of seconds", a->cmd);
    long seq = cli_number(argv[1]);
    if (seq <= 0)
        return cli_error(CLI_USAGE, "%s: SEQ must be a message's seq (a positive number), not '%s'",
                         a->cmd, argv[1]);
    a->seq = (uint64_t)seq;
    if (a->kind == RICH_REACT)
        a->text = remove && *remove ? "" : argv[2];
    else if (a->kind == RICH_EDIT)
        a->text = argv[2];
    if (a->kind == RICH_REACT && !(remove && *remove) && !*a->text)
        return cli_error(CLI_USAGE, "react: the emoji is empty (--remove takes a reaction back)");
    if (a->kind == RICH_EDIT && !*a->text)
        return cli_error(CLI_USAGE,
                         "edit: the new text is empty (parley delete removes a message)");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    char chat_id[160], to[160];
    code = cli_chat_resolve(c, a->cmd, argv[0], chat_id, sizeof chat_id, to, sizeof to);
    if (code == CLI_OK) {
        a->chat_id = chat_id;
        code = cli_send_and_wait(c, a->cmd, to, queue_rich, a, t, json, true);
    }
    parley_close(c);
    return code;
}

int cmd_react(cli_ctx *ctx, int argc, char **argv)
{
    bool remove = false;
    rich_arg a = {.cmd = "react", .kind = RICH_REACT};
    return run_rich(ctx, &a, argc, argv, 3, &remove);
}

int cmd_edit(cli_ctx *ctx, int argc, char **argv)
{
    rich_arg a = {.cmd = "edit", .kind = RICH_EDIT};
    return run_rich(ctx, &a, argc, argv, 3, NULL);
}

int cmd_delete(cli_ctx *ctx, int argc, char **argv)
{
    rich_arg a = {.cmd = "delete", .kind = RICH_DELETE};
    return run_rich(ctx, &a, argc, argv, 2, NULL);
}

/* "off", "24h", "7d", "90d", "<N>s" (also <N>m, <N>h, <N>d): seconds, or -1. */
static long timer_value(const char *s)
{
    if (strcmp(s, "off") == 0)
        return 0;
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || !end[0] || end[1])
        return -1;
    unsigned long long unit = end[0] == 's'   ? 1
                              : end[0] == 'm' ? 60
                              : end[0] == 'h' ? 3600
                              : end[0] == 'd' ? 86400
                                              : 0;
    if (!unit || v > TIMER_MAX_S / unit)
        return -1;
    return (long)(v * unit);
}

static int show_timer(cli_ctx *ctx, const char *chat, bool offline, long t, bool json)
{
    int code = CLI_OK;
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    char chat_id[160], dur[32];
    uint32_t s = 0;
    code = cli_chat_resolve(c, "timer", chat, chat_id, sizeof chat_id, NULL, 0);
    if (code == CLI_OK)
        code = cli_sync_first(c, "timer", offline, t);
    if (code == CLI_OK) {
        int rc = parley_chat_timer(c, chat_id, &s);
        if (rc != PARLEY_OK)
            code = cli_fail(c, rc, "timer");
    }
    if (code == CLI_OK && json)
        printf("{\"chat_id\":\"%s\",\"timer_s\":%u}\n", chat_id, s);
    else if (code == CLI_OK)
        printf("%s: disappearing messages %s%s\n", chat_id, s ? "after " : "",
               cli_msg_duration(s, dur, sizeof dur));
    parley_close(c);
    return code;
}

int cmd_timer(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL;
    bool json = false, offline = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL},
                      {"--json", 0, NULL, &json},
                      {"--offline", 0, NULL, &offline}};
    int npos = cli_parse("timer", argc, argv, opts, 3);
    if (npos != 1 && npos != 2)
        return cli_usage("timer");
    long t = timeout ? cli_number(timeout) : RICH_TIMEOUT_S;
    if (t <= 0)
        return cli_error(CLI_USAGE, "timer: --timeout must be a positive number of seconds");
    if (npos == 1)
        return show_timer(ctx, argv[0], offline, t, json);
    if (offline)
        return cli_error(CLI_USAGE, "timer: --offline only shows the timer");
    long v = timer_value(argv[1]);
    if (v < 0)
        return cli_error(CLI_USAGE,
                         "timer: wants off, 24h, 7d, 90d or a number of seconds such as 30s "
                         "(at most 90 days), not '%s'",
                         argv[1]);
    rich_arg a = {.cmd = "timer", .kind = RICH_TIMER, .timer_s = (uint32_t)v};
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    char chat_id[160], to[160];
    code = cli_chat_resolve(c, "timer", argv[0], chat_id, sizeof chat_id, to, sizeof to);
    if (code == CLI_OK) {
        a.chat_id = chat_id;
        code = cli_send_and_wait(c, "timer", to, queue_rich, &a, t, json, true);
    }
    parley_close(c);
    return code;
}
