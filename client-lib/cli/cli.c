/*
 * cli.c - main(): global options, dispatch through cli_commands[], and the
 * helpers every command shares.
 */
#define _GNU_SOURCE /* strptime */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile int cli_stop;

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("parley: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_fail(parley_client *c, int rc, const char *what)
{
    const char *detail = c ? parley_last_error(c) : "";
    int code = rc == PARLEY_EINVAL ? CLI_USAGE : rc == PARLEY_ETIMEOUT ? CLI_TIMEOUT : CLI_FAIL;
    if (detail && *detail)
        return cli_error(code, "%s: %s", what, detail);
    return cli_error(code, "%s: %s", what, parley_strerror(rc));
}

static const cli_command *find(const char *name)
{
    for (int i = 0; i < cli_ncommands; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

static void print_usage(FILE *f, const cli_command *cmd)
{
    fprintf(f, "usage: parley [GLOBAL OPTIONS] %s %s\n  %s\n", cmd->name, cmd->args, cmd->summary);
}

int cli_usage(const char *name)
{
    const cli_command *cmd = find(name);
    if (cmd)
        print_usage(stderr, cmd);
    return CLI_USAGE;
}

/* The two-word commands whose first word is `word` ("group"). false: none. */
static bool list_group(FILE *f, const char *word)
{
    size_t len = strlen(word);
    int shown = 0;
    for (int k = 0; k < cli_ncommands; k++) {
        const cli_command *cc = &cli_commands[k];
        if (strncmp(cc->name, word, len) == 0 && cc->name[len] == ' ')
            fprintf(f, "%s  parley %s %s\n", shown++ ? "" : "usage:\n", cc->name, cc->args);
    }
    return shown > 0;
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: parley [--home DIR] [--mqtt URL] [--keyserver URL] [--media URL] "
               "[--cafile FILE] COMMAND [ARGS]\n"
               "       parley --help | --version | help COMMAND | COMMAND --help\n\ncommands:\n");
    for (int i = 0; i < cli_ncommands; i++)
        fprintf(f, "  %s %s\n      %s\n", cli_commands[i].name, cli_commands[i].args,
                cli_commands[i].summary);
    fprintf(f, "\nURLs: --mqtt tcp://, ws://, ssl:// (mqtts://) or wss://HOST:PORT; "
               "--keyserver, --media http:// or https://HOST:PORT.\n"
               "TLS: certificates and host names are verified against --cafile FILE (PEM), "
               "else the system trust store.\n"
               "\nenvironment: PARLEY_HOME, PARLEY_MQTT_URL, PARLEY_KEYSERVER_URL, "
               "PARLEY_MEDIA_URL, PARLEY_CA_FILE\nexit codes: 0 ok, 1 usage, 2 network failure, "
               "server refusal or TLS certificate refused, 3 timeout\n");
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int nopts)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                argv[npos++] = argv[i];
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            argv[npos++] = argv[i];
            continue;
        }
        const cli_opt *o = NULL;
        for (int k = 0; k < nopts; k++)
            if (strcmp(opts[k].name, a) == 0)
                o = &opts[k];
        if (!o) {
            cli_error(CLI_USAGE, "%s: unknown option %s", cmd, a);
            return -1;
        }
        if (o->has_value) {
            if (i + 1 >= argc) {
                cli_error(CLI_USAGE, "%s: option %s needs a value", cmd, a);
                return -1;
            }
            *o->value = argv[++i];
        } else {
            *o->flag = true;
        }
    }
    return npos;
}

long cli_number(const char *s)
{
    char *end = NULL;
    if (!s || !*s)
        return -1;
    long v = strtol(s, &end, 10);
    return *end || v < 0 ? -1 : v;
}

/* The home parley_open would use (parley.h: --home, $PARLEY_HOME, ~/.parley). */
static const char *home_path(const cli_ctx *ctx, char *buf, size_t len)
{
    if (ctx->cfg.home)
        return ctx->cfg.home;
    const char *env = getenv("PARLEY_HOME");
    if (env && *env)
        return env;
    const char *h = getenv("HOME");
    snprintf(buf, len, "%s/.parley", h && *h ? h : ".");
    return buf;
}

parley_client *cli_open(cli_ctx *ctx, int transient, int *code)
{
    parley_client *c = NULL;
    parley_config cfg = ctx->cfg;
    cfg.transient = transient;
    /* Only `init` and `link` create a home: a mistyped --home must not look
     * like an empty identity (and must not leave an empty directory behind). */
    char buf[4096];
    const char *home = home_path(ctx, buf, sizeof buf);
    struct stat st;
    int creates = ctx->cmd &&
                  (strcmp(ctx->cmd->name, "init") == 0 || strcmp(ctx->cmd->name, "link") == 0);
    if (!creates && stat(home, &st) != 0) {
        *code = cli_error(CLI_USAGE,
                          "no Parley home at %s (mistyped --home or PARLEY_HOME? "
                          "`parley init USER` creates one)",
                          home);
        return NULL;
    }
    int rc = parley_open(&cfg, &c);
    if (rc != PARLEY_OK) {
        *code = cli_error(CLI_FAIL, "cannot open the home %s: %s",
                          cfg.home ? cfg.home : "(default)", parley_strerror(rc));
        return NULL;
    }
    return c;
}

parley_client *cli_open_args(cli_ctx *ctx, const char *cmd, int argc, char **argv,
                             const cli_opt *opts, int nopts, int npos, int *code)
{
    if (cli_parse(cmd, argc, argv, opts, nopts) != npos) {
        *code = cli_usage(cmd);
        return NULL;
    }
    return cli_open(ctx, 1, code);
}

int cli_connect(parley_client *c, const char *what, int timeout_s)
{
    int rc = parley_wait_connected(c, timeout_s * 1000);
    if (rc == PARLEY_OK)
        return CLI_OK;
    /* fail fast: no retry in a one-shot */
    if (rc == PARLEY_ENET || rc == PARLEY_EREFUSED || rc == PARLEY_ETLS)
        return cli_error(CLI_FAIL, "%s: cannot connect to the broker: %s", what,
                         parley_last_error(c));
    return cli_fail(c, rc, what);
}

int cli_connect_synced(parley_client *c, int timeout_s)
{
    int code = cli_connect(c, "connect", timeout_s);
    if (code != CLI_OK)
        return code;
    int rc = parley_sync(c, timeout_s * 1000);
    if (rc != PARLEY_OK)
        return cli_fail(c, rc, "sync");
    return CLI_OK;
}

typedef struct {
    const char *name;
    const char *direct; /* the direct chat id with a user named name, or NULL */
    int groups;         /* groups of that name */
    bool has_direct;    /* the local store has that direct chat */
    char first[160];
    char ids[1024];     /* the groups' ids, for the ambiguity error */
} name_walk;

static int name_each(void *ud, const parley_chat *ch)
{
    name_walk *w = ud;
    if (w->direct && strcmp(ch->chat_id, w->direct) == 0)
        w->has_direct = true;
    if (strncmp(ch->chat_id, "g:", 2) != 0 || !ch->name || strcmp(ch->name, w->name) != 0)
        return 0;
    if (!w->groups++)
        snprintf(w->first, sizeof w->first, "%s", ch->chat_id);
    size_t n = strlen(w->ids);
    if (n + strlen(ch->chat_id) + 3 < sizeof w->ids)
        snprintf(w->ids + n, sizeof w->ids - n, "%s%s", n ? ", " : "", ch->chat_id);
    return 0;
}

int cli_chat_resolve(parley_client *c, const char *cmd, const char *arg, char *chat_id,
                     size_t chat_len, char *to, size_t to_len)
{
    const char *me = parley_user_id(c);
    if (!me)
        return cli_fail(c, PARLEY_ENOIDENT, cmd);
    if (!*arg)
        return cli_error(CLI_USAGE, "%s: the chat is empty (a user id, a g:... id or a group name)",
                         cmd);
    if (strncmp(arg, "g:", 2) == 0) {
        snprintf(chat_id, chat_len, "%s", arg);
        if (to)
            snprintf(to, to_len, "%s", arg);
        return CLI_OK;
    }
    if (strncmp(arg, "d:", 2) == 0) {
        /* d:X:Y with this user as X or Y: the peer is the other one (user ids
         * have no ':'), and the id must be the canonical one of the pair. */
        char x[65] = "", want[160] = "";
        const char *colon = strchr(arg + 2, ':');
        size_t xl = colon ? (size_t)(colon - arg - 2) : 0;
        if (colon && xl < sizeof x) {
            memcpy(x, arg + 2, xl);
            x[xl] = '\0';
        }
        const char *peer = !colon                       ? NULL
                           : strcmp(x, me) == 0         ? colon + 1
                           : strcmp(colon + 1, me) == 0 ? x
                                                        : NULL;
        if (!peer || parley_direct_chat_id(c, peer, want, sizeof want) != PARLEY_OK ||
            strcmp(want, arg) != 0)
            return cli_error(CLI_USAGE, "%s: %s is not a direct chat of %s", cmd, arg, me);
        snprintf(chat_id, chat_len, "%s", arg);
        if (to)
            snprintf(to, to_len, "%s", peer);
        return CLI_OK;
    }
    char direct[160];
    bool user_ok = parley_direct_chat_id(c, arg, direct, sizeof direct) == PARLEY_OK;
    name_walk w = {.name = arg, .direct = user_ok ? direct : NULL};
    if (parley_chats(c, name_each, &w) != PARLEY_OK)
        return cli_fail(c, PARLEY_ESTORE, cmd);
    if (w.groups > 1)
        return cli_error(CLI_USAGE, "%s: '%s' names %d groups: %s (give the g:... id)", cmd, arg,
                         w.groups, w.ids);
    if (w.groups == 1 && w.has_direct)
        return cli_error(CLI_USAGE,
                         "%s: '%s' is both a contact and the group %s (give %s or the g:... id)",
                         cmd, arg, w.first, direct);
    if (w.groups == 1) {
        snprintf(chat_id, chat_len, "%s", w.first);
        if (to)
            snprintf(to, to_len, "%s", w.first);
        return CLI_OK;
    }
    if (!user_ok)
        return cli_error(
            CLI_USAGE,
            "%s: invalid recipient or chat '%s' (a user id, a d:/g: chat id, or the name of a "
            "group this home knows)",
            cmd, arg);
    snprintf(chat_id, chat_len, "%s", direct);
    if (to)
        snprintf(to, to_len, "%s", arg);
    return CLI_OK;
}

/* Sync before reading the local store, unless --offline. When the broker
 * cannot be reached (refused, unreachable, timeout), say so on stderr and
 * show the local copy: exit 0, the warning tells it may be stale. */
int cli_sync_first(parley_client *c, const char *cmd, bool offline, long t)
{
    if (offline)
        return CLI_OK;
    int rc = parley_wait_connected(c, (int)t * 1000);
    if (rc == PARLEY_OK)
        rc = parley_sync(c, (int)t * 1000);
    parley_disconnect(c);
    if (rc == PARLEY_ENET || rc == PARLEY_EREFUSED || rc == PARLEY_ETIMEOUT ||
        rc == PARLEY_ENOTCONN) {
        fprintf(stderr, "parley: %s: cannot sync with the broker (%s); showing the local copy\n",
                cmd, parley_last_error(c));
        return CLI_OK;
    }
    return rc == PARLEY_OK ? CLI_OK : cli_fail(c, rc, cmd);
}

const char *cli_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

int64_t cli_parse_since(const char *s)
{
    char *end = NULL;
    if (!s || !*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (end != s && v >= 0 && end[0] && !end[1]) { /* 90s, 15m, 2h, 7d: that long ago */
        long long unit = end[0] == 's'   ? 1
                         : end[0] == 'm' ? 60
                         : end[0] == 'h' ? 3600
                         : end[0] == 'd' ? 86400
                                         : 0;
        if (!unit || v > 100LL * 365 * 86400 / unit)
            return -1;
        return (int64_t)time(NULL) * 1000 - v * unit * 1000;
    }
    /* An absolute local time: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (or a space for T). */
    static const char *const formats[] = {"%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
                                          "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(s, formats[i], &tm);
        if (rest && !*rest) {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
        }
    }
    return -1;
}

/* "-h" or "--help" among a command's arguments (before a "--"). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static int run(cli_ctx *ctx, const cli_command *cmd, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        print_usage(stdout, cmd);
        return CLI_OK;
    }
    ctx->cmd = cmd;
    return cmd->run(ctx, argc, argv);
}

int main(int argc, char **argv)
{
    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.prog = argv[0];
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char **dst = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_all(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("parley %s (libparley %s)\n", PARLEY_PROJECT_VERSION, parley_version());
            return CLI_OK;
        }
        if (strcmp(argv[i], "--home") == 0)
            dst = &ctx.cfg.home;
        else if (strcmp(argv[i], "--mqtt") == 0)
            dst = &ctx.cfg.mqtt_url;
        else if (strcmp(argv[i], "--keyserver") == 0)
            dst = &ctx.cfg.keyserver_url;
        else if (strcmp(argv[i], "--media") == 0)
            dst = &ctx.cfg.media_url;
        else if (strcmp(argv[i], "--cafile") == 0)
            dst = &ctx.cfg.ca_file;
        if (!dst)
            return cli_error(CLI_USAGE, "unknown global option %s (see parley --help)", argv[i]);
        if (i + 1 >= argc)
            return cli_error(CLI_USAGE, "option %s needs a value", argv[i]);
        *dst = argv[++i];
    }
    if (i >= argc) {
        usage_all(stderr);
        return CLI_USAGE;
    }
    /* The library refuses an unreadable CA file too; say which and why here. */
    const char *ca = ctx.cfg.ca_file ? ctx.cfg.ca_file : getenv("PARLEY_CA_FILE");
    if (ca && *ca && access(ca, R_OK) != 0)
        return cli_error(CLI_USAGE, "%s %s: %s", ctx.cfg.ca_file ? "--cafile" : "PARLEY_CA_FILE",
                         ca, strerror(errno));
    /* Two-word commands ("group create") first, then one word. */
    if (i + 1 < argc) {
        char two[128];
        snprintf(two, sizeof two, "%s %s", argv[i], argv[i + 1]);
        const cli_command *cmd = find(two);
        if (cmd)
            return run(&ctx, cmd, argc - i - 2, argv + i + 2);
    }
    const cli_command *cmd = find(argv[i]);
    if (!cmd) {
        if (strcmp(argv[i], "help") == 0) {
            /* "parley help [COMMAND...]" */
            if (i + 1 < argc) {
                char name[128] = "";
                for (int k = i + 1; k < argc && k < i + 3; k++)
                    snprintf(name + strlen(name), sizeof name - strlen(name), "%s%s",
                             k > i + 1 ? " " : "", argv[k]);
                const cli_command *hc = find(name);
                if (!hc && i + 2 < argc) {
                    name[strlen(argv[i + 1])] = '\0';
                    hc = find(name);
                }
                if (hc) {
                    print_usage(stdout, hc);
                    return CLI_OK;
                }
                if (!list_group(stdout, argv[i + 1]))
                    return cli_error(CLI_USAGE, "help: unknown command '%s'", argv[i + 1]);
                return CLI_OK;
            }
            usage_all(stdout);
            return CLI_OK;
        }
        /* The first word of two-word commands: list them ("parley group --help": stdout, 0). */
        bool help = wants_help(argc - i - 1, argv + i + 1);
        if (list_group(help ? stdout : stderr, argv[i]))
            return help ? CLI_OK : CLI_USAGE;
        return cli_error(CLI_USAGE, "unknown command '%s' (see parley --help)", argv[i]);
    }
    return run(&ctx, cmd, argc - i - 1, argv + i + 1);
}
